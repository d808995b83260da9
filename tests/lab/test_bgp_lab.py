"""The BGP layer against the lab: real FRR (watchfrr, zebra, bgpd) in every BGP host, SSH into
the lab, the operator's command line in a subprocess.

For each fault the field report met: inject it with `lab.shell(host)` -> the BGP scenarios
fail on exactly the expected hosts -> `--remediate` turns them green and names the expected
remediation -> a second `--remediate` applies nothing. Runs on the seed lab (iBGP) and the
four-host lab (eBGP). Needs root and the lab (stackproof_lab.lab.Lab).
Run: .venv/bin/pytest tests/lab/test_bgp_lab.py -v
"""
from __future__ import annotations

import json
import os
import re
import shlex
import sys
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml
from pytest_bdd.scenario import make_python_name

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stackproof.expect import bgp_hosts, bgp_intent, learned_prefixes  # noqa: E402
from stackproof_lab.lived_in import reseed  # noqa: E402
from stackproof.render.frr import render_frr_conf  # noqa: E402
from stackproof.site import Site, load_site  # noqa: E402
from stackproof.suite import suite_command  # noqa: E402

try:
    from stackproof_lab.lab import Lab
    LAB_MISSING = ""
except ImportError as exc:          # the lab is another part of the project
    Lab, LAB_MISSING = None, f"stackproof_lab.lab is not importable: {exc}"

FEATURE = next((ROOT / "features").glob("*bgp.feature"))   # layer-ordered: NN_bgp.feature
SUMMARY = "stackproof remediations"
GREEN_TIMEOUT = 30.0

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
              pytest.mark.skipif(Lab is None, reason=LAB_MISSING or "no lab")]


def scenario_tests() -> dict[str, str]:
    """Short key -> pytest-bdd test name of each scenario of the BGP feature, in order."""
    titles = re.findall(r"^\s*Scenario:\s*(.+?)\s*$", FEATURE.read_text(), re.M)
    keys = ("runs", "config", "forwarding", "established", "learned", "static")
    assert len(titles) == len(keys), titles
    return {k: f"test_{make_python_name(t)}" for k, t in zip(keys, titles)}


TESTS = scenario_tests()


def run_features(lab, tmp_path: Path, label: str, *extra: str, inventory: Path | None = None
                 ) -> tuple[int, str, dict]:
    """Run the BGP scenarios against the lab as an operator does; rc, output, {id: outcome}."""
    junit = tmp_path / f"{label}.xml"
    cmd = suite_command("features/", inventory or lab.inventory_path,
                         "-k", " or ".join(TESTS.values()), "-p", "no:cacheprovider", "-q",
                         "-rfEs", f"--junitxml={junit}", *extra)
    t = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    print(f"--- {label}: rc {proc.returncode} in {time.monotonic() - t:.1f} s\n{out[-4000:]}")
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kids = {c.tag for c in case}
        outcomes[case.get("name")] = ("failed" if kids & {"failure", "error"} else
                                      "skipped" if "skipped" in kids else "passed")
    return proc.returncode, out, outcomes


def ids(expected: dict[str, list[str]]) -> list[str]:
    return sorted(f"{TESTS[k]}[{h}]" for k, hosts in expected.items() for h in hosts)


def sh(lab, host: str, script: str, input: str | None = None) -> str:
    proc = lab.shell(host).run(["/bin/sh", "-c", script], input=input, check=False)
    assert proc.returncode == 0, f"[{host}] {script}: {proc.stderr or proc.stdout}"
    return proc.stdout


# --- faults ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """inject(lab, site, a, b) breaks something; red(site, a, b) the scenarios that must fail;
    fix: the remediation (id, host) that must be applied."""
    inject: Callable
    red: Callable[[Site, str, str], dict[str, list[str]]]
    fix: Callable[[str, str], tuple[str, str]]


def bgpd_off(lab, site, a, b):
    sh(lab, a, "sed -i 's/^bgpd=.*/bgpd=no/' /etc/frr/daemons && service frr reload")


def wrong_remote_as(lab, site, a, b):
    addr = bgp_intent(site, b).router_id
    sh(lab, a, "vtysh -c 'configure terminal' -c " + shlex.quote(f"router bgp {site.asn_of(a)}")
       + " -c " + shlex.quote(f"neighbor {addr} remote-as {site.asn_of(b) + 99}"))


def wrong_remote_as_in_file(lab, site, a, b):
    """The report's case: frr.conf itself says the wrong AS, and FRR was reloaded with it
    (the host's own file edited, so a lived-in host keeps its other lines)."""
    addr = bgp_intent(site, b).router_id
    current = sh(lab, a, "cat /etc/frr/frr.conf")
    wrong = current.replace(f"neighbor {addr} remote-as {site.asn_of(b)}\n",
                            f"neighbor {addr} remote-as {site.asn_of(b) + 99}\n")
    assert wrong != current
    sh(lab, a, "cat > /etc/frr/frr.conf && service frr reload", input=wrong)


def drift(lab, site, a, b):
    """Hand edits in vtysh: `redistribute connected` (and iBGP's next-hop-self) removed."""
    cmds = ["configure terminal", f"router bgp {site.asn_of(a)}", "address-family ipv4 unicast",
            "no redistribute connected"]
    cmds += [f"no neighbor {n.address} next-hop-self" for n in bgp_intent(site, a).neighbors
             if n.next_hop_self]
    sh(lab, a, "vtysh " + " ".join(f"-c {shlex.quote(c)}" for c in cmds))


def neighbor_removed(lab, site, a, b):
    addr = bgp_intent(site, b).router_id
    sh(lab, a, "vtysh -c 'configure terminal' -c " + shlex.quote(f"router bgp {site.asn_of(a)}")
       + " -c " + shlex.quote(f"no neighbor {addr}"))


def static_route(lab, site, a, b):
    """The report's leftover `ip route add <other host's NAT network> via <other host>`."""
    p = next(p for p in learned_prefixes(site, a) if p.origin == b)
    sh(lab, a, f"ip route add {shlex.quote(p.prefix)} via {shlex.quote(p.via)}")


def forwarding_off(lab, site, a, b):
    sh(lab, a, "sysctl -qw net.ipv4.ip_forward=0")


def _all(site):
    return bgp_hosts(site)


def _pair(site, a, b):
    """Hosts that lose routes when the a-b session is down: a and b under iBGP (no transit
    in a full mesh); nobody under eBGP with a third host, which re-announces b's networks to
    a with b's own address as next hop (same segment), so the route stays as intended."""
    return [a, b] if site.bgp.mode == "ibgp" or len(bgp_hosts(site)) < 3 else []


FAULTS = {
    "bgpd-off": Fault(
        bgpd_off,
        lambda s, a, b: {"runs": [a], "config": [a], "established": _all(s),
                         "learned": _all(s)},
        lambda a, b: ("frr_enable_bgpd", a)),
    "wrong-remote-as": Fault(
        wrong_remote_as,
        lambda s, a, b: {"config": [a], "established": [a, b], "learned": _pair(s, a, b)},
        lambda a, b: ("frr_config", a)),
    "wrong-remote-as-in-frr.conf": Fault(
        wrong_remote_as_in_file,
        lambda s, a, b: {"config": [a], "established": [a, b], "learned": _pair(s, a, b)},
        lambda a, b: ("frr_config", a)),
    "config-drift": Fault(
        drift,
        lambda s, a, b: {"config": [a], "learned": [h for h in _all(s) if h != a]},
        lambda a, b: ("frr_config", a)),
    "neighbor-removed": Fault(
        neighbor_removed,
        lambda s, a, b: {"config": [a], "established": [a, b], "learned": _pair(s, a, b)},
        lambda a, b: ("frr_config", a)),
    "forwarding-off": Fault(
        forwarding_off,
        lambda s, a, b: {"forwarding": [a]},
        lambda a, b: ("ip_forward", a)),
    "static-route": Fault(
        static_route,
        lambda s, a, b: {"learned": [a], "static": [a]},
        lambda a, b: ("static_route", a)),
}


# --- the lab, healthy --------------------------------------------------------------------------
def external_gateway(site: Site) -> tuple[str, str, str] | None:
    """(host, bridge, address/len) of the external network's gateway: the OpenStack layer
    puts it up; this test does it itself so that BGP is judged alone."""
    if site.openstack is None:
        return None
    ext = site.openstack.external_network
    return ext.gateway_on.host, ext.gateway_on.bridge, f"{ext.gateway}/{ext.cidr.prefixlen}"


def heal(lab, site: Site) -> None:
    """Undo whatever a failed test left: daemons, frr.conf, static routes; restart FRR."""
    for h in bgp_hosts(site):
        for p in learned_prefixes(site, h):
            lab.shell(h).run(["ip", "route", "del", p.prefix, "proto", "boot"], check=False)
        sh(lab, h, "sed -i 's/^bgpd=.*/bgpd=yes/' /etc/frr/daemons && cat > /etc/frr/frr.conf "
                   "&& chown frr:frr /etc/frr/frr.conf && service frr restart",
           input=render_frr_conf(site, h))
        reseed(lab, h)          # a lived-in host gets the operator's items back


@pytest.fixture
def healthy_lab(any_lab, tmp_path, unmanaged_snapshot):
    """A lab whose BGP scenarios are all green (polled, with a deadline), restored after."""
    lab = any_lab
    site = load_site(lab.inventory_path)
    gw = external_gateway(site)
    added = False
    if gw is not None:
        host, bridge, cidr = gw
        present = lab.shell(host).run(["ip", "-4", "-o", "addr", "show", "dev", bridge]).stdout
        if f" {cidr} " not in present:
            lab.shell(host).run(["ip", "addr", "add", cidr, "dev", bridge])
            added = True
    deadline = time.monotonic() + GREEN_TIMEOUT
    while True:
        rc, out, outcomes = run_features(lab, tmp_path, "baseline")
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert rc == 0, f"the lab's BGP layer is not green to start with:\n{out}"
    unmanaged_snapshot.take(lab)           # the operator's items, before any fault
    state = {"green": False, "unmanaged": unmanaged_snapshot}
    yield lab, site, outcomes, state
    if not state["green"]:
        heal(lab, site)
    if added:
        lab.shell(gw[0]).run(["ip", "addr", "del", gw[2], "dev", gw[1]], check=False)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_is_caught_and_remediated(healthy_lab, tmp_path, name):
    lab, site, before, state = healthy_lab
    assert set(before) == {f"{t}[{h}]" for t in TESTS.values() for h in bgp_hosts(site)}
    fault = FAULTS[name]
    a, b = bgp_hosts(site)[:2]
    fault.inject(lab, site, a, b)

    # red on exactly the expected scenarios; sessions may take a moment to drop: poll
    want = ids(fault.red(site, a, b))
    deadline = time.monotonic() + GREEN_TIMEOUT
    while True:
        rc, out, after = run_features(lab, tmp_path, "fault")
        failed = sorted(n for n, v in after.items() if v == "failed")
        if failed == want or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert failed == want, out

    t = time.monotonic()
    rc, out, fixed = run_features(lab, tmp_path, "remediate", "--remediate")
    took = time.monotonic() - t
    assert rc == 0, out
    remediation, host = fault.fix(a, b)
    assert re.search(rf"REMEDIATED\s+{remediation}\s+{re.escape(host)}\b", out), out
    assert "FAILED" not in out and "REFUSED" not in out
    assert fixed == before
    print(f"{name}: remediated in {took:.1f} s (pytest startup included)")

    rc, out, again = run_features(lab, tmp_path, "again", "--remediate")
    assert rc == 0, out
    assert SUMMARY not in out            # nothing was broken, nothing applied
    assert again == before
    state["green"] = True
    # nothing outside the remediations' scope changed; the MD5 session is Established
    state["unmanaged"].assert_unchanged()



# --- a lived-in FRR: the operator's configuration survives the frr.conf fix -----------------------
PASSWORD = "lab-md5-key"
# what an operator adds and the inventory does not describe (FRR prints these lines back as is)
OPERATOR_LINES = ["log file /var/log/frr/operator.log informational",
                  "ip route 203.0.113.0/24 Null0",
                  "ip prefix-list OPERATOR-IN seq 10 permit 198.51.100.0/24",
                  "route-map OPERATOR-IN permit 10",
                  " match ip address prefix-list OPERATOR-IN"]


def operator_config(conf: str, peer: str) -> str:
    """`conf` with an MD5 password on the session to `peer` (after its update-source, as
    FRR needs the neighbor first) and the operator's lines appended."""
    out = []
    for line in conf.splitlines():
        out.append(line)
        if line.startswith(f" neighbor {peer} update-source "):
            out += [" ! operator: MD5 on this session", f" neighbor {peer} password {PASSWORD}"]
    out += ["! operator configuration", *OPERATOR_LINES, "exit", "!"]
    return "\n".join(out) + "\n"


def peer_state(lab, host: str, peer: str) -> str:
    out = sh(lab, host, f"vtysh -c {shlex.quote(f'show bgp neighbors {peer} json')}")
    return json.loads(out).get(peer, {}).get("bgpState", "absent")


def wait_established(lab, host: str, peer: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (state := peer_state(lab, host, peer)) != "Established":
        assert time.monotonic() < deadline, f"{host} -> {peer}: {state}"
        time.sleep(0.5)


def operator_lines_everywhere(lab, host: str, peer: str) -> list[str]:
    """The operator's lines missing from frr.conf (byte for byte) or from the running config."""
    conf = sh(lab, host, "cat /etc/frr/frr.conf").splitlines()
    running = [ln.rstrip() for ln in sh(lab, host, "vtysh -c 'show running-config'").splitlines()]
    want = OPERATOR_LINES + [f" neighbor {peer} password {PASSWORD}"]
    return [f"frr.conf: {w}" for w in want + [" ! operator: MD5 on this session"]
            if w not in conf] + [f"running: {w}" for w in want if w not in running]


def test_operator_frr_config_survives_the_drift_fix(seed_lab, tmp_path):
    from stackproof_lab import faults
    from stackproof_lab.faults.bgp import restore_frr
    lab, site = seed_lab, load_site(seed_lab.inventory_path)
    a, b = bgp_hosts(site)[:2]
    addr = {h: bgp_intent(site, h).router_id for h in (a, b)}
    try:
        for me, peer in ((a, b), (b, a)):
            conf = sh(lab, me, "cat /etc/frr/frr.conf")
            sh(lab, me, "cat > /etc/frr/frr.conf && service frr reload",
               input=operator_config(conf, addr[peer]))
        wait_established(lab, a, addr[b])
        assert operator_lines_everywhere(lab, a, addr[b]) == []
        # the operator's configuration is not drift
        rc, out, before = run_features(lab, tmp_path, "lived-in")
        assert rc == 0, out
        faults.inject(lab, "frr-config-drift", a)
        rc, out, _ = run_features(lab, tmp_path, "drift")
        assert rc != 0 and f"{TESTS['config']}[{a}]" in out
        rc, out, fixed = run_features(lab, tmp_path, "remediate", "--remediate")
        assert rc == 0, out
        assert re.search(rf"REMEDIATED\s+frr_config\s+{re.escape(a)}\b", out), out
        assert fixed == before
        for me, peer in ((a, b), (b, a)):
            assert operator_lines_everywhere(lab, me, addr[peer]) == [], me
        assert peer_state(lab, a, addr[b]) == "Established"    # the password held
        assert PASSWORD not in out                               # and never printed
    finally:
        for h in (a, b):
            restore_frr(lab, site, h)
        wait_established(lab, a, addr[b])


def test_exact_mode_plan_is_destructive_and_needs_allow_destructive(seed_lab, tmp_path):
    from stackproof_lab import faults
    from stackproof_lab.faults.bgp import restore_frr
    lab, site = seed_lab, load_site(seed_lab.inventory_path)
    a = bgp_hosts(site)[0]
    raw = yaml.safe_load(Path(lab.inventory_path).read_text())
    raw["bgp"]["config"] = "exact"
    exact = Path(lab.inventory_path).parent / "exact-mode.yml"
    exact.write_text(yaml.safe_dump(raw))
    try:
        faults.inject(lab, "frr-config-drift", a)
        rc, out, _ = run_features(lab, tmp_path, "plan", "--remediate", "--plan",
                                  inventory=exact)
        assert re.search(rf"PLANNED\s+frr_config\s+{re.escape(a)}\b", out), out
        assert "[DESTRUCTIVE]" in out
        rc, out, _ = run_features(lab, tmp_path, "refused", "--remediate", inventory=exact)
        assert rc != 0
        assert re.search(rf"REFUSED\s+frr_config\s+{re.escape(a)}\s+destructive", out), out
        rc, out, _ = run_features(lab, tmp_path, "allowed", "--remediate",
                                  "--allow-destructive", inventory=exact)
        assert rc == 0, out
        assert re.search(rf"REMEDIATED\s+frr_config\s+{re.escape(a)}\b", out), out
    finally:
        exact.unlink(missing_ok=True)
        restore_frr(lab, site, a)


def test_forwarding_fix_writes_only_its_own_sysctl_file(seed_lab, tmp_path):
    """ip_forward: sysctl -w and our own file; the frr.conf fix never touches forwarding."""
    from stackproof.facts.forwarding import OUR_FILE
    from stackproof_lab import faults
    lab, site = seed_lab, load_site(seed_lab.inventory_path)
    a = bgp_hosts(site)[0]
    # every sysctl file but ours (and the engine's backups of ours), names and contents
    snapshot = ("for f in /etc/sysctl.conf /etc/sysctl.d/*; do case $f in "
                f"{OUR_FILE}*) continue;; esac; echo \"== $f\"; cat \"$f\"; done")
    others = sh(lab, a, snapshot)
    try:
        faults.inject(lab, "ip-forward-off", a)
        faults.inject(lab, "frr-config-drift", a)
        rc, out, _ = run_features(lab, tmp_path, "both")
        assert f"{TESTS['forwarding']}[{a}]" in out and f"{TESTS['config']}[{a}]" in out
        # the frr.conf fix alone (its scenario only): forwarding stays off
        rc, out, _ = run_features(lab, tmp_path, "config-only", "--remediate", "-k",
                                  TESTS["config"])
        assert re.search(rf"REMEDIATED\s+frr_config\s+{re.escape(a)}\b", out), out
        assert sh(lab, a, "cat /proc/sys/net/ipv4/ip_forward").strip() == "0"
        rc, out, _ = run_features(lab, tmp_path, "all", "--remediate")
        assert rc == 0, out
        assert re.search(rf"REMEDIATED\s+ip_forward\s+{re.escape(a)}\b", out), out
        assert sh(lab, a, "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"
        assert sh(lab, a, f"cat {OUR_FILE}").rstrip().endswith("net.ipv4.ip_forward = 1")
        assert sh(lab, a, snapshot) == others
    finally:
        faults.heal(lab, "ip-forward-off", a)
        faults.heal(lab, "frr-config-drift", a)


# --- a BGP host that is not a hypervisor comes up with forwarding off -----------------------------
ROUTER_INVENTORY = ROOT / "tests" / "data" / "inventories" / "bgp-router-host.yml"


@pytest.fixture(scope="module")
def router_lab(tmp_path_factory):
    """A small lab (three physical hosts, no guests) of the role variation."""
    lab = Lab(ROUTER_INVENTORY, state_dir=tmp_path_factory.mktemp("router-lab") / "state")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def test_a_bgp_router_without_the_hypervisor_role_is_flagged_and_fixed(router_lab, tmp_path):
    lab, site = router_lab, load_site(router_lab.inventory_path)
    routers = [h for h in bgp_hosts(site) if "hypervisor" not in site.hosts[h].roles]
    assert routers
    for h in bgp_hosts(site):
        want = "0" if h in routers else "1"
        assert sh(lab, h, "cat /proc/sys/net/ipv4/ip_forward").strip() == want, h
    rc, out, outcomes = run_features(lab, tmp_path, "router")
    failed = sorted(n for n, v in outcomes.items() if v == "failed")
    assert failed == sorted(f"{TESTS['forwarding']}[{h}]" for h in routers), out
    rc, out, _ = run_features(lab, tmp_path, "router-fix", "--remediate")
    assert rc == 0, out
    for h in routers:
        assert re.search(rf"REMEDIATED\s+ip_forward\s+{re.escape(h)}\b", out), out
        assert sh(lab, h, "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"


def test_forwarding_set_only_at_runtime_dies_at_the_reboot_until_the_fix_keeps_it(
        router_lab, tmp_path):
    """Issue 12's runtime-only sysctl: red from the files alone, red again after a real
    reboot (forwarding off), the fix survives the next reboot, and a last boot stays green."""
    from stackproof.facts.forwarding import OUR_FILE
    from stackproof_lab import faults
    lab = router_lab
    host = faults.inject(lab, "ip-forward-runtime-only")
    only = ("-k", f"{TESTS['forwarding']} and {host}")
    try:
        assert sh(lab, host, "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"
        rc, out, outcomes = run_features(lab, tmp_path, "files", *only)
        assert rc == 1 and "on only at runtime" in out, out
        assert [n for n, v in outcomes.items() if v == "failed"] == \
            [f"{TESTS['forwarding']}[{host}]"], out

        rc, out, _ = run_features(lab, tmp_path, "booted", *only, "--reboot-check")
        assert rc == 1 and "after a reboot" in out and "is 0 in the kernel" in out, out
        assert sh(lab, host, "cat /proc/sys/net/ipv4/ip_forward").strip() == "0"

        rc, out, _ = run_features(lab, tmp_path, "fixed", *only, "--reboot-check",
                                  "--remediate")
        assert rc == 0 and re.search(rf"REMEDIATED\s+ip_forward\s+{re.escape(host)}\b",
                                     out), out
        rc, out, _ = run_features(lab, tmp_path, "again", *only, "--reboot-check")
        assert rc == 0 and "REMEDIATED" not in out, out
        assert sh(lab, host, "cat /proc/sys/net/ipv4/ip_forward").strip() == "1"
        assert sh(lab, host, f"cat {OUR_FILE}").rstrip().endswith("net.ipv4.ip_forward = 1")
    finally:
        faults.heal(lab, "ip-forward-runtime-only", host)
