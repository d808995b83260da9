"""The lab's real daemons (stackproof_lab.daemons) in throwaway labs: FRR (iBGP and eBGP),
libvirt (NAT networks, guest domains), chrony (-x). Needs root.

Each lab is built by `Lab` (whose daemon hooks are the code under test) from a small
inventory written here, in its own state dir, and always taken down by a finalizer.
Run: .venv/bin/pytest tests/lab/test_daemons.py -v -s   (-s shows the measured timings)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stackproof.expect import bgp_hosts, bgp_intent  # noqa: E402
from stackproof_lab.daemons import chrony as chronyd  # noqa: E402
from stackproof_lab.daemons import frr as frrd  # noqa: E402
from stackproof_lab.daemons import libvirt as libvirtd  # noqa: E402
from stackproof_lab.daemons.common import wait_until  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.render.frr import normalize_running_config, render_frr_conf  # noqa: E402
from stackproof.services import service_command  # noqa: E402

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]

RELOAD = "/usr/lib/frr/frr-reload.py"
TIMINGS: dict[str, float] = {}


def _nat(name, bridge, net):
    return {"name": name, "bridge": bridge, "cidr": f"{net}.0/24", "gateway": f"{net}.1",
            "dhcp_range": {"start": f"{net}.100", "end": f"{net}.200"}}


IBGP = {
    "site": "dtibgp", "os_family": "rhel",
    "underlay": {"cidr": "10.10.10.0/24"},
    "bgp": {"mode": "ibgp", "asn": 65000, "timers": {"keepalive": 3, "hold": 9}},
    "time": {"server": "controller"},
    "hosts": {
        "openstack-host": {"kind": "physical", "roles": ["bgp", "hypervisor"],
                           "underlay": {"interface": "enp7s0", "address": "10.10.10.1"},
                           "nat_networks": [_nat("default", "virbr10", "192.168.100")]},
        "compute-2-host": {"kind": "physical", "roles": ["bgp", "hypervisor"],
                           "underlay": {"interface": "enp2s0", "address": "10.10.10.3"},
                           "nat_networks": [_nat("k3snat", "virbr10", "45.120.120")]},
        "controller": {"kind": "guest", "hypervisor": "openstack-host", "network": "default",
                       "interface": "enp1s0", "mac": "52:54:00:1c:10:65",
                       "address": "192.168.100.101", "roles": ["openstack_controller"]},
        "compute2": {"kind": "guest", "hypervisor": "compute-2-host", "network": "k3snat",
                     "interface": "enp1s0", "mac": "52:54:00:74:a9:78",
                     "address": "45.120.120.154", "roles": ["nova_compute"]},
    },
}

EBGP = {
    "site": "dtebgp", "os_family": "debian",
    "underlay": {"cidr": "172.31.40.0/24"},
    "bgp": {"mode": "ebgp", "timers": {"keepalive": 3, "hold": 9}},
    "hosts": {
        "rack-a": {"kind": "physical", "roles": ["bgp", "hypervisor"], "asn": 64611,
                   "underlay": {"interface": "eno1", "address": "172.31.40.11"},
                   "nat_networks": [_nat("cloudnat", "virbr1", "10.61.0")]},
        "rack-b": {"kind": "physical", "roles": ["bgp", "hypervisor"], "asn": 64612,
                   "underlay": {"interface": "ens3f0", "address": "172.31.40.12"},
                   "nat_networks": [_nat("kubenat", "virbr2", "10.62.0")]},
    },
}


# --- root namespace: read-only snapshots --------------------------------------------------------
def root_snapshot() -> dict:
    save = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    routes = subprocess.run(["ip", "-j", "route", "show", "table", "all"], capture_output=True,
                            text=True, check=True).stdout
    return {"iptables": [line for line in save.splitlines() if not line.startswith("#")],
            "routes": json.loads(routes or "[]"),
            "links": sorted(link["ifname"] for link in json.loads(subprocess.run(
                ["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout))}


def _make_lab(tmp_path_factory, data: dict, label: str):
    d = tmp_path_factory.mktemp(label)
    inv = d / "inventory.yml"
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    # bare: these tests compare the daemons with what the hooks themselves configure
    lab = Lab(inv, state_dir=d / "state", bare=True, log=lambda line: print(line, flush=True))
    before = root_snapshot()
    t0 = time.monotonic()
    lab.up()
    TIMINGS[f"{label}: lab up with daemons"] = time.monotonic() - t0
    return lab, before


@pytest.fixture(scope="module")
def ibgp(tmp_path_factory):
    lab, before = _make_lab(tmp_path_factory, IBGP, "ibgp")
    try:
        yield lab, before
    finally:
        lab.down()
        # the lab is gone: so are its namespaces and processes
        assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                              text=True).stdout.split() if n.startswith(lab.prefix)]


@pytest.fixture(scope="module")
def ebgp(tmp_path_factory):
    lab, before = _make_lab(tmp_path_factory, EBGP, "ebgp")
    try:
        yield lab, before
    finally:
        lab.down()


def teardown_module(module):
    for what, seconds in TIMINGS.items():
        print(f"[timing] {what}: {seconds:.3f}")


# --- FRR ----------------------------------------------------------------------------------------
def bgp_routes(shell) -> dict[str, str]:
    out = shell.run(["ip", "-j", "route", "show"]).stdout
    return {r["dst"]: r.get("gateway") for r in json.loads(out) if r.get("protocol") == "bgp"}


def assert_bgp_healthy(lab):
    site = lab.site
    for host in bgp_hosts(site):
        sh = lab.shell(host)
        summary = json.loads(sh.run(["vtysh", "-c", "show bgp summary json"]).stdout)
        peers = summary["ipv4Unicast"]["peers"]
        want = {n.address: n.remote_as for n in bgp_intent(site, host).neighbors}
        assert {a: (p["state"], p["remoteAs"]) for a, p in peers.items()} == \
            {a: ("Established", asn) for a, asn in want.items()}, host
        assert summary["ipv4Unicast"]["as"] == site.asn_of(host)
        routes = bgp_routes(sh)
        for other in bgp_hosts(site):
            if other == host:
                continue
            for nw in site.hosts[other].nat_networks:
                assert routes.get(str(nw.cidr)) == str(site.hosts[other].underlay.address), \
                    (host, str(nw.cidr), routes)


def assert_round_trip(lab):
    """The running config is the rendered frr.conf, and frr-reload.py sees no difference."""
    for host in bgp_hosts(lab.site):
        sh = lab.shell(host)
        running = sh.run(["vtysh", "-c", "show running-config"]).stdout
        assert normalize_running_config(running) == \
            normalize_running_config(render_frr_conf(lab.site, host)), host
        assert sh.run(["cat", "/etc/frr/frr.conf"]).stdout == render_frr_conf(lab.site, host)
        assert sh.run([RELOAD, "--test", "/etc/frr/frr.conf"]).stdout == "", host


def test_ibgp_established_and_routes_in_kernel(ibgp):
    lab, _ = ibgp
    assert_bgp_healthy(lab)


def test_ebgp_established_and_routes_in_kernel(ebgp):
    lab, _ = ebgp
    assert_bgp_healthy(lab)
    # eBGP: the learned route's next hop is the peer itself (no next-hop-self needed)
    assert bgp_routes(lab.shell("rack-a")) == {"10.62.0.0/24": "172.31.40.12"}


def test_frr_running_config_round_trip_ibgp(ibgp):
    assert_round_trip(ibgp[0])


def test_frr_running_config_round_trip_ebgp(ebgp):
    assert_round_trip(ebgp[0])


def test_frr_drift_seen_by_frr_reload_and_repaired_by_reload(ibgp):
    lab, _ = ibgp
    site, host = lab.site, "openstack-host"
    sh = lab.shell(host)
    peer = bgp_intent(site, host).neighbors[0].address
    sh.run(["vtysh", "-c", "configure terminal", "-c", f"router bgp {site.asn_of(host)}",
            "-c", "address-family ipv4 unicast", "-c", f"no neighbor {peer} next-hop-self"])
    drift = sh.run([RELOAD, "--test", "/etc/frr/frr.conf"]).stdout
    assert "Lines To Add" in drift and f"neighbor {peer} next-hop-self" in drift
    sh.run(frrd.frr_command(site, host, "reload"), timeout=60)
    assert sh.run([RELOAD, "--test", "/etc/frr/frr.conf"]).stdout == ""


def test_frr_service_restart_converges(ibgp):
    """`service frr restart` (the command remediations use) brings the sessions and the
    routes back; measured."""
    lab, _ = ibgp
    site = lab.site
    sh = lab.shell("compute-2-host")
    t0 = time.monotonic()
    sh.run(frrd.frr_command(site, "compute-2-host", "restart"), timeout=120)
    TIMINGS["ibgp: service frr restart"] = time.monotonic() - t0
    frrd.wait_converged({h: lab.shell(h) for h in bgp_hosts(site)}, site, timeout=60)
    TIMINGS["ibgp: restart to converged (Established + kernel routes)"] = time.monotonic() - t0
    assert_bgp_healthy(lab)


# --- libvirt ------------------------------------------------------------------------------------
def test_libvirt_nat_networks_inside_the_hosts(ibgp):
    lab, _ = ibgp
    site = lab.site
    for host in site.physical_hosts():
        sh = lab.shell(host)
        for nw in site.hosts[host].nat_networks:
            listing = sh.run(["virsh", "net-list", "--all"]).stdout
            row = next(line.split() for line in listing.splitlines()
                       if line.split()[:1] == [nw.name])
            assert row[1:] == ["active", "yes", "yes"], row
            root = ET.fromstring(sh.run(["virsh", "net-dumpxml", nw.name]).stdout)
            assert root.find("forward").get("mode") == "nat"
            assert root.find("bridge").get("name") == nw.bridge
            assert root.find("ip").get("address") == str(nw.gateway)
            assert [h.attrib for h in root.iter("host")] == [
                {"mac": g.mac, "name": n, "ip": str(g.address)}
                for n, g in site.guests().items() if g.hypervisor == host]
            addrs = json.loads(sh.run(["ip", "-j", "addr", "show", "dev", nw.bridge]).stdout)
            assert {(a["local"], a["prefixlen"]) for a in addrs[0]["addr_info"]
                    if a["family"] == "inet"} == {(str(nw.gateway), nw.cidr.prefixlen)}
            save = sh.run(["iptables-save"]).stdout
            assert ":LIBVIRT_FWI - [0:0]" in save
            assert f"-A LIBVIRT_FWI -o {nw.bridge} -j REJECT --reject-with " \
                   "icmp-port-unreachable" in save
            assert f"-A LIBVIRT_PRT -s {nw.cidr} ! -d {nw.cidr} -j MASQUERADE" in save
            assert "dnsmasq" in sh.run(["ps", "-eo", "comm"]).stdout


def test_guest_domains_running_cheaply(ibgp):
    lab, _ = ibgp
    site = lab.site
    for host in site.physical_hosts():
        sh = lab.shell(host)
        listing = sh.run(["virsh", "list", "--all"]).stdout.splitlines()[2:]
        running = {line.split()[1]: line.split()[2] for line in listing if line.strip()}
        guests = libvirtd.guests_on(site, host)
        assert running == {g: "running" for g in guests}
        for g in guests:
            iflist = sh.run(["virsh", "domiflist", g]).stdout
            assert site.guests()[g].mac in iflist and site.guests()[g].network in iflist
    # CPU of one idle TCG domain over 10 s (utime + stime ticks of its qemu process)
    sh = lab.shell("openstack-host")
    pid = sh.run(["pgrep", "-x", "qemu-system-x86"]).stdout.split()[0]

    def ticks():
        fields = sh.run(["cat", f"/proc/{pid}/stat"]).stdout.rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    hz = os.sysconf("SC_CLK_TCK")
    a, t0 = ticks(), time.monotonic()
    time.sleep(10)                       # a measurement window, not a wait for a state
    b, t1 = ticks(), time.monotonic()
    share = (b - a) / hz / (t1 - t0)
    TIMINGS["one idle TCG domain: CPU seconds per second (share of a core)"] = share
    assert share < 0.10, f"an idle guest domain uses {share:.1%} of a core"


def test_guest_mac_stays_with_the_guest_namespace(ibgp):
    """The domain's NIC is link-down: the bridge learns the guest's MAC only on the port of
    the guest namespace (which answers on the guest's address), never on the domain's tap."""
    lab, _ = ibgp
    site = lab.site
    g = site.guests()["compute2"]
    nw = site.nat_network(g.hypervisor, g.network)
    hv = lab.shell(g.hypervisor)
    lab.shell("compute2").run(["ping", "-c", "1", "-W", "2", str(nw.gateway)])
    fdb = hv.run(["bridge", "fdb", "show", "br", nw.bridge]).stdout.splitlines()
    ports = {line.split()[2] for line in fdb if line.startswith(g.mac + " ")}
    domif = hv.run(["virsh", "domiflist", "compute2"]).stdout.splitlines()[2:]
    taps = {line.split()[0] for line in domif if line.strip()}
    assert len(ports) == 1 and len(taps) == 1, (fdb, domif)
    assert ports.isdisjoint(taps), (ports, taps)


def test_libvirtd_service_restart_keeps_guests_and_networks(ibgp):
    lab, _ = ibgp
    sh = lab.shell("compute-2-host")
    t0 = time.monotonic()
    sh.run(libvirtd.libvirtd_command(lab.site, "compute-2-host", "restart"))
    wait_until(lambda: sh.run(["virsh", "version"], check=False).returncode == 0, 30,
                    "libvirtd after restart")
    TIMINGS["service libvirtd restart until virsh answers"] = time.monotonic() - t0
    assert "running" in sh.run(["virsh", "domstate", "compute2"]).stdout
    assert "Active:         yes" in sh.run(["virsh", "net-info", "k3snat"]).stdout
    assert sh.run(libvirtd.libvirtd_command(lab.site, "compute-2-host", "status")).returncode == 0


def test_root_namespace_untouched(ibgp, ebgp):
    for lab, before in (ibgp, ebgp):
        assert root_snapshot() == before


# --- chrony -------------------------------------------------------------------------------------
def test_chrony_client_selects_the_time_server(ibgp):
    lab, _ = ibgp
    site = lab.site
    server = str(site.address_of("controller"))
    t0 = time.monotonic()
    chronyd.wait_synced(lab.shell("openstack-host"), server, timeout=30)
    TIMINGS["chrony: client on the server's bridge selected (after lab up)"] = \
        time.monotonic() - t0
    # across hosts: only once the report's rules accept the underlay into the NAT network
    front = lab.shell("openstack-host")
    nat = str(site.nat_network("openstack-host", "default").cidr)
    under = str(site.underlay_cidr)
    front.run(["iptables", "-I", "LIBVIRT_FWI", "1", "-s", under, "-d", nat, "-j", "ACCEPT"])
    front.run(["iptables", "-I", "LIBVIRT_FWO", "1", "-s", nat, "-d", under, "-j", "ACCEPT"])
    far = lab.shell("compute2")
    far.run(["chronyc", "burst", "4/4"], check=False)
    t0 = time.monotonic()
    chronyd.wait_synced(far, server, timeout=60)
    TIMINGS["chrony: guest behind another host selected (after burst)"] = time.monotonic() - t0
    rows = chronyd.sources(far)
    assert [r[:3] for r in rows] == [["^", "*", server]]


def test_chronyd_never_controls_the_clock(ibgp):
    lab, _ = ibgp
    for host in lab.site.hosts:
        sh = lab.shell(host)
        pid = chronyd.chronyd_pid(sh)
        assert pid is not None, host
        assert chronyd.clock_guard(sh, pid) == {"no_clock_control": True,
                                                "sys_time_dropped": True}, host
    # the remediation path: `service <chrony> restart` keeps -x
    sh = lab.shell("compute-2-host")
    sh.run(service_command("chrony", "restart", lab.site.os_family_of(sh.name), "sysv"))
    pid = wait_until(lambda: chronyd.chronyd_pid(sh), 10, "chronyd after restart")
    assert chronyd.clock_guard(sh, pid)["no_clock_control"] is True
    assert "-x" in sh.run(["cat", f"/proc/{pid}/cmdline"]).stdout.split("\0")


def test_hooks_run_again_change_nothing(ibgp):
    """Running every daemon hook a second time (a lab re-run, a remediation reusing the
    starters) leaves the same healthy site: FRR reloaded not doubled, networks and domains
    kept under their uuids, chronyd restarted with -x."""
    lab, _ = ibgp
    site = lab.site
    from stackproof_lab.daemons import DAEMON_HOOKS, GUEST_HOOKS
    uuids = {h: lab.shell(h).run(["virsh", "net-uuid", nw.name]).stdout
             for h in site.physical_hosts() for nw in site.hosts[h].nat_networks}
    for hook in (*DAEMON_HOOKS, *GUEST_HOOKS):
        hook(lab, site)
    assert_bgp_healthy(lab)
    assert_round_trip(lab)
    for h in site.physical_hosts():
        sh = lab.shell(h)
        assert sh.run(["pgrep", "-c", "-x", "watchfrr"]).stdout.strip() == "1", h
        for nw in site.hosts[h].nat_networks:
            assert sh.run(["virsh", "net-uuid", nw.name]).stdout == uuids[h]
        for g in libvirtd.guests_on(site, h):
            assert sh.run(["virsh", "domstate", g]).stdout.strip() == "running"
    for h in site.hosts:
        sh = lab.shell(h)
        assert chronyd.clock_guard(sh, chronyd.chronyd_pid(sh))["no_clock_control"]
