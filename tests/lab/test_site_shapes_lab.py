"""Sites of other shapes, end to end in the lab.

- minimal-underlay.yml: three physical hosts with BGP and libvirt, one guest, and no
  openstack, kubernetes or time section. The lab comes up without those layers, the whole
  acceptance suite is green, and every scenario of a missing layer is skipped with the reason
  (never pytest's bare "got empty parameter set", never a traceback). An underlay fault
  round-trips with --remediate.
- four-host-ebgp.yml (the shared `four_lab`): the whole acceptance suite is green, and no
  scenario is skipped for a missing layer (it has every section).
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "inventories" / "minimal-underlay.yml"

# Every scenario the minimal site cannot have, by the reason it is skipped.
EXPECTED_SKIPS = {
    "the inventory has no openstack section": 12,      # 70 (7), 80 (4), external gateway (1)
    "the inventory has no kubernetes section": 5,      # 90 (5); 95 is deselected
    "the inventory has no time section": 2,            # 55
    "the inventory has no overlay node (no host with role ovs_agent)": 4,
    "the inventory asks no overlay node for l2_population": 1,
}
LAYER_REASON = re.compile(r"the inventory has no \w+ section|no overlay node|"
                          r"got empty parameter set")


@pytest.fixture(scope="module")
def minimal_lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    from stackproof_lab.lab import Lab
    lab = Lab(MINIMAL, state_dir=tmp_path_factory.mktemp("minimal-lab") / "state")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def skip_reasons(output: str) -> Counter:
    """`SKIPPED [n] file:line: reason` lines of `-rs`, summed per reason."""
    got: Counter = Counter()
    for m in re.finditer(r"^SKIPPED \[(\d+)\] [^:]+:\d+: (.+)$", output, re.M):
        got[m.group(2).strip()] += int(m.group(1))
    return got


def passed(output: str) -> int:
    m = re.search(r"(\d+) passed", output)
    return int(m.group(1)) if m else 0


def test_minimal_lab_has_only_the_underlay(minimal_lab):
    roles = {p["role"] for p in minimal_lab.status()["processes"]}
    assert not any(r.startswith(("openstack:", "kube")) for r in roles), roles
    assert not (minimal_lab.state_dir / "openstack").exists()
    assert not (minimal_lab.state_dir / "kube").exists()
    data = minimal_lab.inventory_path.read_text()
    assert "openstack:" not in data and "kubernetes:" not in data


def test_minimal_site_is_green_with_every_missing_layer_skipped(minimal_lab, run_suite):
    run = run_suite(minimal_lab, "-rs")
    assert run.rc == 0, run.output
    assert not run.failed()
    assert "Traceback" not in run.output
    got = skip_reasons(run.output)
    layer = {reason: n for reason, n in got.items() if LAYER_REASON.search(reason)}
    assert layer == EXPECTED_SKIPS, run.output
    # the layers the site has run: baseline, libvirt, BGP, firewall, reachability
    assert passed(run.output) >= 40, run.output


def test_minimal_site_underlay_fault_round_trips(minimal_lab, run_suite, fault):
    host = fault(minimal_lab, "libvirt-fwi-accept-missing")
    red = run_suite(minimal_lab, "-m", "underlay")
    assert red.rc != 0
    failed = red.failed()
    assert f"test_libvirts_chains_let_the_underlay_reach_each_nat_network_and_back[{host}]" \
        in failed, red.output
    others = [h for h in minimal_lab.site.physical_hosts() if h != host]
    assert {f"test_physical_hosts_reach_each_others_nat_networks[{h}]" for h in others} \
        <= failed, red.output
    fixed = run_suite(minimal_lab, "-m", "underlay", "--remediate")
    assert fixed.rc == 0, fixed.output
    assert any(host in line for line in fixed.remediations()), fixed.output
    again = run_suite(minimal_lab, "-rs")
    assert again.rc == 0 and not again.failed(), again.output


def test_four_host_site_whole_acceptance_is_green(four_lab, run_suite):
    run = run_suite(four_lab, "-rs")
    assert run.rc == 0, run.output
    assert not run.failed()
    layer = {r: n for r, n in skip_reasons(run.output).items() if LAYER_REASON.search(r)}
    assert layer == {}, run.output
    assert passed(run.output) >= 100, run.output
