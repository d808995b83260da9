"""The firewall layer against the lab: real libvirt chains, real iptables, SSH into the lab.

fault (the LIBVIRT_FWI accept deleted on one host) -> the firewall scenarios fail on exactly
that host's libvirt scenario -> `--remediate` fixes it -> a second `--remediate` applies
nothing. Needs root and the lab (stackproof.lab.lab.Lab).
Run: .venv/bin/pytest tests/lab/test_firewall_lab.py -v
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pytest_bdd.scenario import make_python_name

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stackproof.checks.firewall import expected_rules  # noqa: E402
from stackproof.site import load_site  # noqa: E402

try:
    from stackproof.lab.lab import Lab
    LAB_MISSING = ""
except ImportError as exc:          # the lab is another part of the project
    Lab, LAB_MISSING = None, f"stackproof.lab.lab is not importable: {exc}"

SEED = ROOT / "inventories" / "seed.yml"
FEATURE = ROOT / "features" / "firewall.feature"
SUMMARY = "stackproof remediations"

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
              pytest.mark.skipif(Lab is None, reason=LAB_MISSING or "no lab")]


def scenario_tests() -> list[str]:
    """The pytest-bdd test names of the firewall feature's scenarios."""
    titles = re.findall(r"^\s*Scenario:\s*(.+?)\s*$", FEATURE.read_text(), re.M)
    return [f"test_{make_python_name(t)}" for t in titles]


def run_features(lab, tmp_path: Path, label: str, *extra: str) -> tuple[int, str, dict]:
    """Run the firewall scenarios against the lab; return rc, output and {test id: outcome}."""
    junit = tmp_path / f"{label}.xml"
    cmd = [sys.executable, "-m", "pytest", "features/", "--inventory", str(lab.inventory_path),
           "-k", " or ".join(scenario_tests()), "-p", "no:cacheprovider", "-q", "-rfEs",
           f"--junitxml={junit}", *extra]
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    print(f"--- {label}: rc {proc.returncode} in {time.monotonic() - t:.1f} s\n{out[-3000:]}")
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kids = {c.tag for c in case}
        outcomes[case.get("name")] = ("failed" if kids & {"failure", "error"} else
                                      "skipped" if "skipped" in kids else "passed")
    return proc.returncode, out, outcomes


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Lab(SEED, tmp_path_factory.mktemp("firewall-lab"), log=lambda line: None) as up:
        yield up


def test_fault_fails_one_scenario_and_remediation_converges(lab, tmp_path):
    site = load_site(lab.inventory_path)
    target, rule = next((h, r) for h in site.hosts for r in expected_rules(site, h, "libvirt")
                        if r.chain == "LIBVIRT_FWI")

    # a fresh lab has libvirt's chains and none of the site's rules: converge first
    rc, out, _ = run_features(lab, tmp_path, "converge", "--remediate")
    assert rc == 0, out
    rc, out, before = run_features(lab, tmp_path, "green")
    assert rc == 0, out
    assert SUMMARY not in out
    assert any(v == "passed" for v in before.values())

    lab.shell(target).run(["iptables", "-D", rule.chain, *shlex.split(rule.spec)])

    rc, out, after = run_features(lab, tmp_path, "fault")
    failed = sorted(name for name, v in after.items() if v == "failed")
    libvirt_test = scenario_tests()[0]
    assert failed == [f"{libvirt_test}[{target}]"], out
    assert f"missing `iptables -I LIBVIRT_FWI 1 {rule.spec}`" in out

    rc, out, fixed = run_features(lab, tmp_path, "remediate", "--remediate")
    assert rc == 0, out
    assert SUMMARY in out
    assert re.search(rf"REMEDIATED\s+iptables_rules\s+{re.escape(target)}\b", out), out
    assert fixed == before

    rc, out, again = run_features(lab, tmp_path, "again", "--remediate")
    assert rc == 0, out
    assert SUMMARY not in out            # nothing was broken, nothing applied
    assert again == before
    # the rule is back exactly once, ahead of libvirt's REJECT
    save = lab.shell(target).run(["iptables-save", "-t", "filter"]).stdout
    fwi = [ln for ln in save.splitlines() if ln.startswith("-A LIBVIRT_FWI ")]
    assert fwi.count(f"-A LIBVIRT_FWI {rule.spec}") == 1
    reject = next(i for i, ln in enumerate(fwi) if " -j REJECT" in ln)
    assert fwi.index(f"-A LIBVIRT_FWI {rule.spec}") < reject
