"""Sites without an openstack, kubernetes or time section: the model loads, the expectations
are empty rather than a crash, and the suite skips each missing layer with its reason."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stackproof import expect
from stackproof.absent import no_target_reason, section_missing
from stackproof.expect import floating_node_ip_hosts, kube_node_hosts
from stackproof.site import load_site, parse_site
from stackproof.targets import select_hosts

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "inventories" / "minimal-underlay.yml"

OPENSTACK_SELECTORS = ("nova_compute", "neutron_agent", "openstack_controller", "network_node",
                       "instance", "fip_route", "fip_address", "fip_front")
KUBE_SELECTORS = ("kube_node", "kube_floating_ip", "kube_control_plane", "kube_worker")


@pytest.fixture(scope="module")
def minimal():
    return load_site(MINIMAL)


def test_the_minimal_site_has_no_upper_layers(minimal):
    assert minimal.openstack is None and minimal.kubernetes is None and minimal.time is None
    assert len(minimal.physical_hosts()) == 3 and list(minimal.guests()) == ["runner"]


def test_expectations_of_missing_layers_are_empty(minimal):
    assert expect.floating_ip_plumbing(minimal) == []
    assert expect.external_gateway(minimal) is None
    assert expect.overlay_endpoints(minimal) == {}
    assert expect.remote_compute_hypervisors(minimal) == {}
    assert all(expect.vxlan_mesh(minimal, h) == [] for h in minimal.hosts)
    assert all(expect.time_intent(minimal, h) is None for h in minimal.hosts)
    assert kube_node_hosts(minimal) == [] and floating_node_ip_hosts(minimal) == []


def test_the_underlay_is_still_derived(minimal):
    hosts = expect.bgp_hosts(minimal)
    assert hosts == ["bench-north", "bench-south", "bench-east"]
    learned = {p.prefix for p in expect.learned_prefixes(minimal, "bench-north")}
    assert learned == {"10.171.5.0/24", "10.171.6.0/24"}
    rules = [r.spec for h in minimal.physical_hosts() for r in expect.iptables_rules(minimal, h)]
    assert rules and not any("4789" in r for r in rules)     # no overlay: no VXLAN accept


@pytest.mark.parametrize("selector", OPENSTACK_SELECTORS + KUBE_SELECTORS
                         + ("time_server", "time_client", "ovs_agent", "l2_population"))
def test_every_upper_layer_selector_selects_nobody_and_says_why(minimal, selector):
    assert select_hosts(minimal, selector) == []
    reason = no_target_reason(minimal, selector)
    if selector in OPENSTACK_SELECTORS:
        assert reason == "the inventory has no openstack section"
    elif selector in KUBE_SELECTORS:
        assert reason == "the inventory has no kubernetes section"
    elif selector.startswith("time_"):
        assert reason == "the inventory has no time section"
    else:
        assert "overlay node" in reason


def test_section_missing_names_the_section(minimal):
    seed = load_site(ROOT / "inventories" / "seed.yml")
    for section in ("openstack", "kubernetes", "time"):
        assert section_missing(minimal, section) == f"the inventory has no {section} section"
        assert section_missing(seed, section) is None
    with pytest.raises(ValueError, match="unknown section"):
        section_missing(minimal, "glance")


def test_a_site_with_openstack_but_no_kubernetes(tmp_path):
    data = yaml.safe_load((ROOT / "inventories" / "four-host-ebgp.yml").read_text())
    del data["kubernetes"]
    for h in data["hosts"].values():
        h["roles"] = [r for r in h.get("roles", []) if not r.startswith("kube_")]
    site = parse_site(data)
    assert kube_node_hosts(site) == []
    assert no_target_reason(site, "kube_node") == "the inventory has no kubernetes section"
    # the OpenStack layer still selects its hosts
    assert select_hosts(site, "nova_compute") == ["nova-c", "nova-d"]


def test_the_features_skip_every_missing_layer_without_a_lab():
    """The scenarios of missing layers skip before any host is reached: with no lab at all
    they all skip, each with its reason, and nothing crashes."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "features/", "-q", "-rs", "-p", "no:randomly",
         "--inventory", str(MINIMAL),
         "-m", "openstack or kubernetes or time or overlay or floating_ip",
         "-k", "not swap"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "passed" not in out and "failed" not in out and "error" not in out.lower(), out
    reasons = set(re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.+)$", out, re.M))
    assert reasons == {"the inventory has no openstack section",
                       "the inventory has no kubernetes section",
                       "the inventory has no time section",
                       "the inventory has no overlay node (no host with role ovs_agent)",
                       "the inventory asks no overlay node for l2_population"}, out
    gateway = subprocess.run(
        [sys.executable, "-m", "pytest", "features/", "-q", "-rs", "-p", "no:randomly",
         "--inventory", str(MINIMAL), "-k", "external_gateway"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert gateway.returncode == 0, gateway.stdout + gateway.stderr
    assert "1 skipped" in gateway.stdout and "no openstack section" in gateway.stdout
