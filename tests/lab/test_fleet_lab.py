"""A fleet-shaped site in the lab: 10 hypervisors (a guest each, a worker per compute) with
two iBGP route reflectors, made by scripts/generate_site.py. One bring-up for the module:
the whole suite is green on it, then each reflector fault is caught (on the hosts and with
the cause the topology implies) and remediated, and a second run applies nothing.

It runs in `make test` (one xdist group: one worker brings it up). The lab uses the stand-in
OVS agent (`STACKPROOF_LAB_OVS_AGENT=standin`, which also means no Nova servers): these
tests are about the BGP topology, the real agents and servers have their own lab tests on
the seed and four-host sites, and eight real agents with their servers would double the
bring-up. Needs root and the lab. Run: .venv/bin/pytest tests/lab/test_fleet_lab.py -v -s
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import pytest
from pytest_bdd.scenario import make_python_name

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stackproof.expect import bgp_hosts  # noqa: E402
from stackproof.site import load_site  # noqa: E402

HYPERVISORS, REFLECTORS = 10, 2
GREEN_TIMEOUT = 120.0           # sessions take a moment to drop and to come back: poll
SUMMARY = "stackproof remediations"
FEATURE = next((ROOT / "features").glob("*bgp.feature"))

pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("fleet"),
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]


def _generator():
    spec = importlib.util.spec_from_file_location("generate_site",
                                                  ROOT / "scripts/generate_site.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bgp_tests() -> dict[str, str]:
    titles = re.findall(r"^\s*Scenario:\s*(.+?)\s*$", FEATURE.read_text(), re.M)
    keys = ("runs", "config", "forwarding", "established", "learned", "static")
    assert len(titles) == len(keys), titles
    return {k: f"test_{make_python_name(t)}" for k, t in zip(keys, titles)}


TESTS = bgp_tests()


@pytest.fixture(scope="module")
def fleet_lab(tmp_path_factory):
    from stackproof_lab.lab import Lab
    d = tmp_path_factory.mktemp("fleet-lab")
    inventory = d / "fleet.yml"
    gen = _generator()
    gen.write(gen.generate(HYPERVISORS, REFLECTORS), inventory)
    from stackproof_lab.daemons import ovs_real
    lab = Lab(inventory, state_dir=d / "state")
    t = time.monotonic()
    try:
        # only while it comes up: the worker's other labs (brought up later) stay real
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(ovs_real.ENV, ovs_real.STANDIN)
            lab.up()
        print(f"fleet lab ({len(lab.site.hosts)} hosts) up in {time.monotonic() - t:.1f} s")
        yield lab
    finally:
        lab.down()


def suite(run_suite, lab, *args: str):
    t = time.monotonic()
    run = run_suite(lab, *args, timeout=1200)
    print(f"--- suite {' '.join(args) or '(all)'}: rc {run.rc} in {time.monotonic() - t:.1f} s")
    return run


def bgp(run_suite, lab, *args: str):
    return suite(run_suite, lab, "-k", " or ".join(TESTS.values()), *args)


def until(probe, timeout: float = GREEN_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        ok, value = probe()
        if ok or time.monotonic() > deadline:
            return value
        time.sleep(1)


def remediated(run, remediation: str, host: str) -> bool:
    return any(re.search(rf"REMEDIATED\s+{remediation}\s+.*\b{re.escape(host)}\b", ln)
               for ln in run.remediations())


def test_fleet_site_is_green(fleet_lab, run_suite):
    run = until(lambda: ((r := suite(run_suite, fleet_lab)).rc == 0, r))
    assert run.rc == 0, run.output[-6000:]


def test_reflector_bgpd_stopped_is_caught_on_its_clients_and_fixed(fleet_lab, run_suite,
                                                                     fault):
    site = load_site(fleet_lab.inventory_path)
    rr = fault(fleet_lab, "rr-bgpd-stopped")
    assert rr == site.bgp.route_reflectors[0]
    clients = [h for h in bgp_hosts(site) if h not in site.bgp.route_reflectors]
    want = {f"{TESTS['established']}[{c}]" for c in clients}
    run = until(lambda: (want <= (r := bgp(run_suite, fleet_lab)).failed(), r))
    assert want <= run.failed(), run.output[-6000:]
    # each client's finding names the reflector as the cause (the failure messages)
    assert run.output.count(f"cause on {rr}") >= len(clients), run.output[-6000:]
    fixed = bgp(run_suite, fleet_lab, "--remediate")
    assert any(rr in ln and "REMEDIATED" in ln for ln in fixed.remediations()), fixed.output
    assert_settles_green(run_suite, fleet_lab)


def test_client_missing_reflector_client_is_fixed_on_the_reflector(fleet_lab, run_suite,
                                                                   fault):
    from stackproof_lab.faults.reflector import first_client
    site = load_site(fleet_lab.inventory_path)
    rr = fault(fleet_lab, "rr-client-not-reflected")
    client = first_client(site, rr)
    line = f"neighbor {client.address} route-reflector-client"

    def running(host):
        return fleet_lab.shell(host).run(
            ["vtysh", "-c", "show running-config"]).stdout.splitlines()
    assert f"  {line}" not in running(rr)
    # only the reflector's configuration differs: the other reflector still carries routes
    # (FRR resets the client's session on the change: poll until it is back)
    want = {f"{TESTS['config']}[{rr}]"}
    run = until(lambda: ((r := bgp(run_suite, fleet_lab)).failed() == want, r))
    assert run.failed() == want, run.output[-6000:]
    assert line in run.output
    fixed = bgp(run_suite, fleet_lab, "--remediate")
    assert remediated(fixed, "frr_config", rr), fixed.output[-6000:]
    assert f"  {line}" in running(rr)
    assert_settles_green(run_suite, fleet_lab)


def assert_settles_green(run_suite, lab):
    """Green once the sessions the fix reset are back; then a second --remediate applies
    nothing."""
    run = until(lambda: ((r := bgp(run_suite, lab)).rc == 0, r))
    assert run.rc == 0, run.output[-6000:]
    again = bgp(run_suite, lab, "--remediate")
    assert again.rc == 0 and SUMMARY not in again.output, again.output[-6000:]
