"""`stackproof check | fix | plan` on the seed lab: every exit code, the compliance JSON of
a healthy, a red and a remediated run, JUnit properties, and the Ansible inventory path."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def stackproof(mode: str, inventory: Path, out: Path, *pytest_args: str):
    cmd = [sys.executable, "-m", "stackproof.cli", mode, "--inventory", str(inventory),
           "--json", str(out)]
    if pytest_args:
        cmd += ["--", "-p", "no:randomly", *pytest_args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads(out.read_text()) if out.is_file() else None
    return proc.returncode, proc.stdout + proc.stderr, report


def _records(report: dict, check: str) -> list[dict]:
    return [r for r in report["checks"] if r["check"] == check]


def test_healthy_site_exits_0_with_a_complete_report(seed_lab, tmp_path):
    rc, out, report = stackproof("check", seed_lab.inventory_path, tmp_path / "c.json")
    assert rc == 0, out
    assert report["complies"] is True
    assert report["totals"]["failed"] == 0 and report["totals"]["remediated"] == 0
    assert report["totals"]["passed"] > 50
    # every record carries its stable id, and per-host checks their host
    assert all(r["check"] for r in report["checks"])
    hosts = {r["host"] for r in _records(report, "bgp.neighbors-established")}
    assert hosts == set(n for n, h in seed_lab.site.hosts.items() if "bgp" in h.roles)
    assert report["remote_commands"]["total"] > 0
    assert "stackproof check: healthy" in out


def test_red_plan_fix_exit_codes_and_json(seed_lab, fault, tmp_path):
    host = fault(seed_lab, "hostname-drift")
    select = ("--check", "baseline.hostname")
    rc, out, red = stackproof("check", seed_lab.inventory_path, tmp_path / "red.json", *select)
    assert rc == 1, out
    [bad] = [r for r in _records(red, "baseline.hostname") if r["status"] == "failed"]
    assert bad["host"] == host
    assert bad["remediation"] == {"id": "hostname", "status": "not run", "detail": "",
                                  "plan": ""}
    assert "FAILED     baseline.hostname @ " + host in out

    rc, out, plan = stackproof("plan", seed_lab.inventory_path, tmp_path / "plan.json", *select)
    assert rc == 1, out
    [planned] = [r for r in _records(plan, "baseline.hostname") if r["host"] == host]
    assert planned["remediation"]["status"] == "planned"
    assert "remediation hostname" in planned["remediation"]["plan"]

    junit = tmp_path / "fix.xml"
    rc, out, fixed = stackproof("fix", seed_lab.inventory_path, tmp_path / "fix.json", *select,
                                f"--junitxml={junit}")
    assert rc == 3, out
    [rec] = [r for r in _records(fixed, "baseline.hostname") if r["host"] == host]
    assert rec["status"] == "remediated" and rec["remediation"]["status"] == "remediated"
    assert "was red, remediated, green now" in out
    props = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        if f"[{host}]" in case.get("name", ""):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props == {"check": "baseline.hostname", "remediated": "true",
                     "remediation": "hostname"}

    rc, out, again = stackproof("fix", seed_lab.inventory_path, tmp_path / "again.json", *select)
    assert rc == 0, out          # nothing left to apply: healthy
    assert again["remediations"]["remediated"] == 0


def test_usage_error_exits_2(seed_lab, tmp_path):
    rc, out, _ = stackproof("check", seed_lab.inventory_path, tmp_path / "x.json",
                            "--check", "no-such.check")
    assert rc == 2, out
    assert "no check was selected" in out


def test_ansible_inventory_path_reaches_the_lab(seed_lab, tmp_path):
    pytest.importorskip("ansible")
    inventory = seed_lab.ansible_inventory_path
    assert inventory.is_file()
    rc, out, report = stackproof("check", inventory, tmp_path / "a.json",
                                 "--check", "baseline.*", "--check", "bgp.*")
    assert rc == 0, out
    # the hosts were reached with the details Ansible's loader read from ansible-hosts.yml
    from stackproof.site import load_site
    site = load_site(inventory)
    assert site.ansible_inventory and site.ansible_inventory.endswith("ansible-hosts.yml")
    assert all(site.ssh_of(n).ssh_config == str(seed_lab.ssh_config) for n in site.hosts)
    import yaml
    assert not any("ssh" in h for h in yaml.safe_load(inventory.read_text())["hosts"].values())
    reached = report["remote_commands"]["per_host"]
    assert reached and set(reached) <= set(site.hosts)
    assert report["totals"]["passed"] >= len(reached)


# fault -> (the root cause's check id, the symptoms' check id): the symptoms are on other hosts
CAUSE_LINKS = {
    "bgpd-off": ("bgp.frr-running", "bgp.neighbors-established"),
    "nat-network-inactive": ("libvirt.networks-active", "bgp.prefixes-learned"),
}


@pytest.mark.remediation_fails      # no remediation runs: the check only reads the causes
@pytest.mark.parametrize("name", list(CAUSE_LINKS))
def test_symptoms_on_other_hosts_name_their_root_cause(seed_lab, fault, tmp_path, name):
    """The compliance JSON links each symptom to the root cause's check and host, for a BGP
    and a libvirt fault (sessions drop within the hold time: poll until the peers see it)."""
    import time
    root_check, symptom_check = CAUSE_LINKS[name]
    host = fault(seed_lab, name)
    deadline = time.monotonic() + 60
    while True:
        rc, out, report = stackproof("check", seed_lab.inventory_path, tmp_path / "c.json")
        symptoms = [r for r in _records(report, symptom_check)
                    if r["status"] == "failed" and r["host"] != host]
        if symptoms or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert rc == 1 and symptoms, out
    [root] = [r for r in _records(report, root_check) if r["host"] == host]
    assert root["status"] == "failed" and not root.get("cause"), root
    for s in symptoms:
        assert s["cause"] == {"check": root_check, "host": host}, s
    assert any(f"{root_check} @ {host}" in line for line in report["root_causes"]), \
        report["root_causes"]
