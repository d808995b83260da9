"""Path traces on the seed lab: for every fault that breaks reachability, the trace names the
host where the packet dies and the reason; on a healthy lab every reach target arrives; a
red reachability scenario carries the trace in its message. Hosts and addresses come from
the site model."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stackproof.checks.trace import trace
from stackproof.expect import bgp_hosts, floating_ip_plumbing, reach_targets
from stackproof.remote import Fleet

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab
DEADLINE = 60.0          # BGP withdraws a route within its hold time (9 s in the lab)


def _trace_until(site, src, dst, want_dies: bool):
    """Trace until the packet dies (or arrives), reading fresh facts each time."""
    deadline = time.monotonic() + DEADLINE
    while True:
        fleet = Fleet(site)
        try:
            result = trace(site, fleet.__getitem__, src, dst)
        finally:
            fleet.close()
        if (result.dies is not None) == want_dies or time.monotonic() > deadline:
            return result
        time.sleep(1)


@pytest.fixture
def site(seed_lab):
    """The lab inventory as the suite reads it (ssh into the lab)."""
    from stackproof.site import load_site
    return load_site(seed_lab.inventory_path)


def _remote_fip(site):
    front = site.openstack.external_network.gateway_on.host
    return next(p for p in floating_ip_plumbing(site) if front in p.routes)


def _local_fip(site):
    front = site.openstack.external_network.gateway_on.host
    return next(p for p in floating_ip_plumbing(site) if front not in p.routes)


def test_healthy_lab_every_reach_target_arrives(seed_lab, site):
    fleet = Fleet(site)
    try:
        for host in [h for h in site.hosts if site.hosts[h].kind == "physical"][:2]:
            for t in reach_targets(site, host):
                result = trace(site, fleet.__getitem__, host, t.address)
                assert result.arrives, result.table()
        controller = site.with_role("openstack_controller")[0]
        for p in floating_ip_plumbing(site):
            result = trace(site, fleet.__getitem__, controller, p.floating_ip)
            assert result.arrives, result.table()
    finally:
        fleet.close()


def _case(site, name):
    """(fault host or None, src, dst, dying host, reason pattern) for one fault."""
    hosts = bgp_hosts(site)
    front = site.openstack.external_network.gateway_on.host
    controller = site.with_role("openstack_controller")[0]
    remote = _remote_fip(site)
    remote_hv = next(h for h in remote.routes if h != front)
    compute = next(h for h, a in remote.addresses.items() if h != remote.instance and a)
    if name == "libvirt-fwi-accept-missing":
        # a hypervisor without a compute guest: no FORWARD accept of the report covers it
        from stackproof.expect import remote_compute_hypervisors
        h = next(x for x in hosts if x not in remote_compute_hypervisors(site)
                 and any(g.hypervisor == x for g in site.guests().values()))
        guest = next(g for g, gh in site.guests().items() if gh.hypervisor == h)
        src = next(x for x in hosts if x != h)
        return h, src, str(site.hosts[guest].address), h, r"LIBVIRT_FWI rule \d+ REJECT"
    if name == "bgpd-off":
        h = hosts[0]
        other = next(x for x in hosts if x != h)
        gw = str(site.hosts[other].nat_networks[0].gateway)
        return None, h, gw, h, r"expected via .* \(BGP route for .*\), follows"
    if name in ("bgp-neighbor-removed", "bgp-wrong-remote-as"):
        # h's session to its first peer is gone: h no longer learns the peer's networks
        h, peer = hosts[0], hosts[1]
        gw = str(site.hosts[peer].nat_networks[0].gateway)
        return h, h, gw, h, r"expected via .* \(BGP route for .*\), follows"
    if name == "frr-config-drift":
        # h stops announcing its connected networks: a peer no longer learns them
        h, peer = hosts[0], hosts[1]
        gw = str(site.hosts[h].nat_networks[0].gateway)
        return h, peer, gw, peer, r"expected via .* \(BGP route for .*\), follows"
    if name == "frr-stopped":
        h = hosts[0]
        other = next(x for x in hosts if x != h)
        gw = str(site.hosts[other].nat_networks[0].gateway)
        return h, h, gw, h, r"expected via .* \(BGP route for .*\), follows"
    if name == "ip-forward-off":
        # another BGP host sends to a guest behind h: h must route it on to its NAT network
        h = hosts[0]
        guest = next(g for g, gh in site.guests().items() if gh.hypervisor == h)
        src = next(x for x in hosts if x != h)
        return h, src, str(site.hosts[guest].address), h, r"IPv4 forwarding is off"
    if name == "nat-network-inactive":
        from stackproof_lab.faults.libvirt import _new_compute_host
        h = _new_compute_host(site)
        src = next(x for x in hosts if x != h)
        return h, src, str(site.hosts[h].nat_networks[0].gateway), src, r"follows|no route"
    if name == "dvr-front-route-missing":
        return None, controller, remote.floating_ip, front, \
            rf"no /32 for {re.escape(remote.floating_ip)}, follows"
    if name == "dvr-compute-route-missing":
        return None, controller, remote.floating_ip, remote_hv, \
            rf"no /32 for {re.escape(remote.floating_ip)}, follows"
    if name == "dvr-fip-not-on-br-ex":
        return None, controller, remote.floating_ip, compute, \
            rf"{re.escape(remote.floating_ip)} is not on any interface of {compute}"
    if name == "external-gateway-missing":
        local = _local_fip(site)
        return None, controller, local.floating_ip, front, r"expected dev .*external network .*, follows"
    raise KeyError(name)


@pytest.mark.remediation_fails       # no remediation runs: the fault's own change stays
@pytest.mark.parametrize("name", ["libvirt-fwi-accept-missing", "bgpd-off", "frr-stopped",
                                  "bgp-neighbor-removed", "bgp-wrong-remote-as",
                                  "frr-config-drift", "ip-forward-off", "nat-network-inactive", "dvr-front-route-missing",
                                  "dvr-compute-route-missing", "dvr-fip-not-on-br-ex",
                                  "external-gateway-missing"])
def test_trace_names_where_the_packet_dies(seed_lab, site, fault, name):
    host, src, dst, dies_at, reason = _case(site, name)
    # a fault healed just before (a restarted FRR) may still be converging
    assert _trace_until(site, src, dst, want_dies=False).arrives
    fault(seed_lab, name, host)
    result = _trace_until(site, src, dst, want_dies=True)
    assert result.dies is not None, result.table()
    assert result.dies.host == dies_at, result.table()
    assert re.search(reason, result.dies.reason), result.table()


@pytest.mark.remediation_fails       # no remediation runs: the fault's own change stays
def test_cli_trace_exit_codes_and_red_scenario_message(seed_lab, site, fault, run_suite):
    host, src, dst, dies_at, _ = _case(site, "libvirt-fwi-accept-missing")
    # a fault healed just before (a restarted FRR) may still be converging
    assert _trace_until(site, src, dst, want_dies=False).arrives
    cmd = [sys.executable, "-m", "stackproof.cli", "trace", "--inventory",
           str(seed_lab.inventory_path), src, dst]
    ok = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "arrives" in ok.stdout
    fault(seed_lab, "libvirt-fwi-accept-missing", host)
    bad = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"dies at {dies_at}: FORWARD -> LIBVIRT_FWI" in bad.stdout
    red = run_suite(seed_lab, "--check", "connectivity.nat-networks")
    assert red.rc == 1
    assert f"path trace: {src} -> {dst}" in red.output and f"dies at {dies_at}" in red.output
