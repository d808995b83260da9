"""The floating-IP layer against the lab: instances with real NICs, the compute nodes' NAT,
the /32 routes across hosts, pings inside the lab, SSH into the lab, the operator's command
line in a subprocess. Runs on the seed lab and on the four-host lab (shared fixtures).

For each DVR fault of the catalog (stackproof_lab/faults/dvr.py): the floating IP really
stops answering -> the floating-IP scenarios fail on exactly the expected hosts (the broken
hop, and reachability from the controller and from the fronting host) -> `--remediate`
names the expected fix and turns them green -> a second `--remediate` applies nothing.
Run: .venv/bin/pytest tests/lab/test_floating_ip_lab.py -v
"""
from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

import pytest
from pytest_bdd.scenario import make_python_name

from stackproof.expect import floating_ip_plumbing
from stackproof_lab.faults import get as get_fault
from stackproof.osfamily import profile
from stackproof.render.routes import fip_routes, keeper
from stackproof.targets import select_hosts

ROOT = Path(__file__).resolve().parents[2]
FEATURE = ROOT / "features" / "80_floating_ip.feature"
SUMMARY = "stackproof remediations"
PING = "ping -n -q -c 2 -i 0.2 -W 1"

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]


def scenario_tests() -> dict[str, str]:
    """Short key -> pytest-bdd test name of each scenario of the feature, in order."""
    titles = re.findall(r"^\s*Scenario:\s*(.+?)\s*$", FEATURE.read_text(), re.M)
    keys = ("route", "address", "from_controller", "from_front")
    assert len(titles) == len(keys), titles
    return {k: f"test_{make_python_name(t)}" for k, t in zip(keys, titles)}


TESTS = scenario_tests()
SELECTORS = {"route": "fip_route", "address": "fip_address",
             "from_controller": "openstack_controller", "from_front": "fip_front"}


def all_ids(site) -> set[str]:
    return {f"{TESTS[k]}[{h}]" for k, sel in SELECTORS.items() for h in select_hosts(site, sel)}


def ids(expected: dict[str, list[str]]) -> set[str]:
    return {f"{TESTS[k]}[{h}]" for k, hosts in expected.items() for h in hosts}


def run(run_suite, lab, label: str, *extra: str):
    t = time.monotonic()
    res = run_suite(lab, "-k", " or ".join(TESTS.values()), "-p", "no:cacheprovider", *extra)
    print(f"--- {label}: rc {res.rc} in {time.monotonic() - t:.1f} s\n{res.output[-2500:]}")
    return res


def passed(res) -> int:
    m = re.search(r"(\d+) passed", res.output)
    return int(m.group(1)) if m else 0


def answers(lab, host: str, address: str) -> bool:
    return lab.shell(host).run(["/bin/sh", "-c", f"{PING} {shlex.quote(address)}"],
                               check=False).returncode == 0


def remote_fip(site) -> str:
    """A floating IP whose instance sits behind another hypervisor (it has /32 routes)."""
    return next(p.floating_ip for p in floating_ip_plumbing(site) if p.routes)


def reach_hosts(site) -> list[str]:
    return [*select_hosts(site, "openstack_controller"), *select_hosts(site, "fip_front")]


def red_for(site, name: str, host: str) -> dict[str, list[str]]:
    """The scenarios a DVR fault turns red: its hop, and both reachability scenarios (every
    seed and four-host fault cuts a floating IP off: that is the report's symptom)."""
    hop = "address" if name == "dvr-fip-not-on-br-ex" else "route"
    return {hop: [host], "from_controller": select_hosts(site, "openstack_controller"),
            "from_front": select_hosts(site, "fip_front")}


FIXES = {"dvr-front-route-missing": "fip_route", "dvr-compute-route-missing": "fip_route",
         "dvr-fip-not-on-br-ex": "fip_address"}


@pytest.fixture
def green(any_lab, run_suite):
    """The lab's floating-IP scenarios, all green to start with (the lab builds the site
    healthy: nothing to remediate)."""
    lab = any_lab
    res = run(run_suite, lab, "healthy")
    assert res.rc == 0 and res.failed() == set(), res.output
    assert passed(res) == len(all_ids(lab.site)) > 0, res.output
    assert SUMMARY not in res.output
    return lab


def test_every_floating_ip_answers_and_the_workers_reach_the_time_server(green):
    lab, site = green, green.site
    fips = [p.floating_ip for p in floating_ip_plumbing(site)]
    assert fips
    for host in reach_hosts(site):
        for fip in fips:
            assert answers(lab, host, fip), f"{host} -> {fip}"
    # the instances' way out: through the compute node's SNAT to the time server, whose
    # chronyd they sync with (what the baseline feature checks on every host)
    server = str(site.address_of(site.time.server))
    for worker in site.instances():
        assert answers(lab, worker, server), f"{worker} -> {site.time.server} ({server})"
        deadline = time.monotonic() + 30
        while True:
            rows = lab.shell(worker).run(["chronyc", "-n", "-c", "sources"]).stdout
            if any(r.split(",")[1:3] == ["*", server] for r in rows.splitlines()):
                break
            assert time.monotonic() < deadline, f"{worker} chrony: {rows}"
            time.sleep(0.5)


@pytest.mark.parametrize("name", list(FIXES))
def test_dvr_fault_is_caught_and_remediated(green, run_suite, fault, name):
    lab, site = green, green.site
    host = fault(lab, name)
    assert host is not None
    fip = remote_fip(site)
    # the fault really cuts the floating IP off, from the controller and the fronting host
    for src in reach_hosts(site):
        assert not answers(lab, src, fip), f"{src} still reaches {fip} with {name} on {host}"

    res = run(run_suite, lab, f"{name}: red")
    assert res.failed() == ids(red_for(site, name, host)), res.output

    t = time.monotonic()
    res = run(run_suite, lab, f"{name}: remediate", "--remediate")
    took = time.monotonic() - t
    assert res.rc == 0, res.output
    assert re.search(rf"REMEDIATED\s+{FIXES[name]}\s+{re.escape(host)}\b", res.output), res.output
    # reachability has no fix of its own: the hop's fix, earlier in the feature, heals it
    applied = [ln for ln in res.remediations() if ln.strip()]
    assert len(applied) == 1 and applied[0].startswith("REMEDIATED"), applied
    for src in reach_hosts(site):
        assert answers(lab, src, fip), f"{src} -> {fip} after the remediation"
    print(f"{name} on {host}: remediated in {took:.1f} s (pytest start-up included)")

    res = run(run_suite, lab, f"{name}: again", "--remediate")
    assert res.rc == 0 and SUMMARY not in res.output, res.output
    assert passed(res) == len(all_ids(site))


def test_routes_not_kept_for_boot_are_kept_again(green, run_suite):
    """Only what is kept for boot is gone (the libvirt network's <route>, the route file's
    block): the route scenarios fail on those hosts alone; reachability holds."""
    lab, site = green, green.site
    saved = {}
    hosts = select_hosts(site, "fip_route")
    try:
        for host in hosts:
            shell = lab.shell(host)
            family = profile(site, host).family
            for k in {keeper(site, host, family, h.route) for h in fip_routes(site, host)}:
                if k.kind == "libvirt":
                    v = "virsh -q -c qemu:///system"
                    xml = shell.run(["/bin/sh", "-c", f"{v} net-dumpxml --inactive {k.target}"]
                                    ).stdout
                    saved[(host, k)] = xml
                    plain = "\n".join(ln for ln in xml.splitlines() if "<route " not in ln)
                    shell.run(["/bin/sh", "-c", f"cat > /root/.plain.xml && {v} net-define "
                                                f"/root/.plain.xml && rm /root/.plain.xml"],
                              input=plain + "\n")
                else:
                    saved[(host, k)] = shell.run(["cat", k.target]).stdout
                    shell.run(["/bin/sh", "-c", f"printf '' > {shlex.quote(k.target)}"])
        res = run(run_suite, lab, "not kept: red")
        assert res.failed() == ids({"route": hosts}), res.output
        assert "gone after the next reboot" in res.output
        res = run(run_suite, lab, "not kept: remediate", "--remediate")
        assert res.rc == 0, res.output
        for host in hosts:
            assert re.search(rf"REMEDIATED\s+fip_route\s+{re.escape(host)}\s+keep for boot",
                             res.output), res.output
        res = run(run_suite, lab, "not kept: again", "--remediate")
        assert res.rc == 0 and SUMMARY not in res.output, res.output
        saved.clear()                   # remediated: what is kept now is the intended state
    finally:
        for (host, k), content in saved.items():    # a failed test leaves the lab as it was
            shell = lab.shell(host)
            if k.kind == "libvirt":
                shell.run(["/bin/sh", "-c", "cat > /root/.orig.xml && virsh -q -c "
                           "qemu:///system net-define /root/.orig.xml && rm /root/.orig.xml"],
                          input=content, check=False)
            else:
                shell.run(["/bin/sh", "-c", f"cat > {shlex.quote(k.target)}"], input=content,
                          check=False)


def test_the_catalog_names_the_dvr_faults(any_lab):
    site = any_lab.site
    front = site.openstack.external_network.gateway_on.host
    assert get_fault("dvr-front-route-missing").target(site, None) == front
    hv = get_fault("dvr-compute-route-missing").target(site, None)
    assert hv != front and hv in select_hosts(site, "fip_route")
    assert get_fault("dvr-fip-not-on-br-ex").target(site, None) in \
        select_hosts(site, "fip_address")
