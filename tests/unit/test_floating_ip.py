"""Floating-IP layer (the report's DVR fixes): parsers, checks and remediation plans on real
`ip -j route` / `ip -j addr` / route files / libvirt definitions / ping sweeps captured from
the lab (tests/data/routes, see its README and capture.py), plus the lab's wiring plan."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from remediations import fip_address, fip_reachability, fip_route
from stackproof.checks import floating_ip as checks
from stackproof.facts import routes as facts
from stackproof_lab.daemons import fip as wiring
from stackproof.remedy import Context, Finding, WriteFile
from stackproof.remote import CommandResult
from stackproof.render.routes import (Keeper, StaticRoute, keeper, render_persisted,
                                      with_libvirt_routes)
from stackproof.route_files import parse_libvirt_routes, parse_persisted
from stackproof.site import parse_site
from stackproof.targets import select_hosts
from fakes import ReplayCache, stage_locally  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "routes"
FRONT, HV, COMPUTE, LOCAL, CTL = ("openstack-host", "compute-2-host", "compute2", "compute",
                                  "controller")
FIP1, FIP2 = "192.168.200.106", "192.168.200.129"


class Captured(ReplayCache):
    """A Remote answering the suite's commands with what the lab host printed
    (`<site>/<case>/<host>/<file>` through its COMMANDS file); any other command fails."""

    def __init__(self, site_dir: str, case: str, name: str):
        self.name, self.dir = name, DATA / site_dir / case / name
        assert self.dir.is_dir(), f"no capture {self.dir}"
        self._facts: dict = {}
        self.asked: list[str] = []
        self._by_command = dict(reversed(line.split(": ", 1)) for line in
                                (self.dir / "COMMANDS").read_text().splitlines())

    def run(self, command: str) -> CommandResult:
        self.asked.append(command)
        assert command in self._by_command, f"unexpected command on {self.name}: {command}"
        f = self.dir / self._by_command[command]
        rc, err = f.with_name(f.name + ".rc"), f.with_name(f.name + ".stderr")
        return CommandResult(command, int(rc.read_text()) if rc.exists() else 0, f.read_text(),
                             err.read_text() if err.exists() else "")



def cap(case: str, host: str, site_dir: str = "seed") -> Captured:
    return Captured(site_dir, case, host)


def text(case: str, host: str, file: str, site_dir: str = "seed") -> str:
    return (DATA / site_dir / case / host / file).read_text()


class Fleet(dict):
    pass


def ctx(site, *remotes: Captured) -> Context:
    return Context(site, Fleet({r.name: r for r in remotes}))


@pytest.fixture
def lab_seed(seed_raw):
    """The seed site as its lab inventory says: Debian hosts, sysv init (what was captured)."""
    seed_raw["os_family"], seed_raw["init"] = "debian", "sysv"
    return parse_site(seed_raw)


@pytest.fixture
def lab_four(four_raw):
    four_raw["init"] = "sysv"
    return parse_site(four_raw)


# --- parsers -----------------------------------------------------------------------------------
def test_addresses_show_the_fip_on_br_ex_and_the_instance_tap():
    links = facts.parse_addresses(text("healthy", COMPUTE, "ip-addr.json"))
    assert [a.cidr for a in links.on("br-ex")] == [f"{FIP2}/32"]
    assert [a.dev for a in links.holding(FIP2)] == ["br-ex"]
    taps = [d for d in links.devices if re.fullmatch(r"tap[0-9a-f]{8}-[0-9a-f]{2}", d)]
    assert len(taps) == 1 and [a.cidr for a in links.on(taps[0])] == ["10.0.0.1/32"]
    gone = facts.parse_addresses(text("fip-not-on-br-ex", COMPUTE, "ip-addr.json"))
    assert "br-ex" in gone.devices and gone.on("br-ex") == [] and gone.holding(FIP2) == []
    wrong = facts.parse_addresses(text("fip-wrong-prefix", COMPUTE, "ip-addr.json"))
    assert [a.cidr for a in wrong.on("br-ex")] == [f"{FIP2}/24"]
    assert "br-ex" not in facts.parse_addresses(text("no-br-ex", COMPUTE, "ip-addr.json")).devices


def test_covering_route_is_what_the_packet_follows_without_its_32():
    front = facts.parse_kernel_routes(text("front-route-missing", FRONT, "ip-route.json"))
    cover = facts.covering_route(front, FIP2)
    assert (cover.dst, cover.gateways, cover.dev, cover.protocol) == \
        ("192.168.200.0/24", (), "virbr10", "kernel")
    hv = facts.parse_kernel_routes(text("compute-route-missing", HV, "ip-route.json"))
    cover = facts.covering_route(hv, FIP2)
    assert (cover.dst, cover.gateways, cover.protocol) == ("192.168.200.0/24", ("10.10.10.1",),
                                                          "bgp")
    healthy = facts.parse_kernel_routes(text("healthy", HV, "ip-route.json"))
    assert facts.covering_route(healthy, FIP2).dst == f"{FIP2}/32"
    assert facts.covering_route(healthy, "203.0.113.9").dst == "default"


def test_route_files_debian_and_rhel():
    kept = facts.parse_route_files("debian", text("healthy", FRONT, "route-files.debian.txt"))
    assert set(kept.files) == {"/etc/network/interfaces"}
    assert kept.routes == {(f"{FIP2}/32", "10.10.10.3")}
    operator = facts.parse_route_files("debian", text("not-kept", FRONT, "route-files.debian.txt"))
    assert operator.routes == set() and "iface lo inet loopback" in \
        operator.files["/etc/network/interfaces"]
    rhel = facts.parse_route_files("rhel", text("rhel-files", FRONT, "route-files.rhel.txt"))
    # the backup a remediation leaves (route-enp7s0.stackproof-*.bak) is never read
    assert set(rhel.files) == {"/etc/sysconfig/network-scripts/route-enp7s0",
                               "/etc/sysconfig/network-scripts/route-legacy0"}
    assert rhel.routes == {(f"{FIP2}/32", "10.10.10.3")}
    legacy_only = parse_persisted("rhel", {"f": rhel.files[
        "/etc/sysconfig/network-scripts/route-legacy0"]})
    assert legacy_only == {(f"{FIP2}/32", "10.10.10.3")}       # ADDRESS0/NETMASK0/GATEWAY0
    assert facts.parse_route_files("rhel", text("rhel-empty", FRONT,
                                                "route-files.rhel.txt")).routes == set()


def test_libvirt_network_routes():
    net = facts.parse_network_routes(0, text("healthy", HV, "net-k3snat.xml"))
    assert net.exists and net.routes == {(f"{FIP2}/32", "45.120.120.154")}
    assert facts.parse_network_routes(0, text("not-kept", HV, "net-k3snat.xml")).routes == set()
    assert facts.parse_network_routes(0, text("healthy", FRONT, "net-default.xml")).routes == set()
    missing = facts.parse_network_routes(1, "", "error: failed to get network 'x'")
    assert not missing.exists and "failed to get network" in missing.error


# --- where routes are kept -----------------------------------------------------------------------
def test_keeper_by_device(lab_seed, seed_site):
    to_guest = StaticRoute(f"{FIP2}/32", "45.120.120.154", "virbr10")
    over_underlay = StaticRoute(f"{FIP2}/32", "10.10.10.3", "enp7s0")
    assert keeper(lab_seed, HV, "debian", to_guest) == Keeper("libvirt", "k3snat")
    assert keeper(lab_seed, FRONT, "debian", over_underlay) == \
        Keeper("debian", "/etc/network/interfaces")
    assert keeper(seed_site, FRONT, "rhel", over_underlay) == \
        Keeper("rhel", "/etc/sysconfig/network-scripts/route-enp7s0")


def test_render_persisted_keeps_the_operator_file_and_is_idempotent():
    operator = facts.parse_route_files("debian", text("not-kept", FRONT, "route-files.debian.txt")
                                       ).files["/etc/network/interfaces"]
    r1 = StaticRoute(f"{FIP2}/32", "10.10.10.3", "enp7s0")
    new = render_persisted("debian", operator, [r1])
    assert new.startswith(operator.rstrip("\n"))
    assert parse_persisted("debian", {"f": new}) == {(r1.prefix, r1.via)}
    assert render_persisted("debian", new, [r1]) == new
    # a second route on another device: one stanza per device, the first one kept
    r2 = StaticRoute("192.168.200.50/32", "10.10.10.2", "enp7s0")
    r3 = StaticRoute("192.168.200.51/32", "192.168.100.7", "virbr10")
    more = render_persisted("debian", new, [r2, r3])
    assert parse_persisted("debian", {"f": more}) == {(r.prefix, r.via) for r in (r1, r2, r3)}
    assert more.count("iface enp7s0 inet manual") == 1
    assert more.count("# --- stackproof: end ---") == 1
    # from nothing, the renderer persists the routes the lab's own file holds (the lab
    # writes it in an operator's words, not with the renderer)
    lab_file = text("healthy", FRONT, "cat-interfaces.txt")
    fresh = render_persisted("debian", None, [r1])
    assert parse_persisted("debian", {"f": fresh}) == parse_persisted("debian", {"f": lab_file})
    rhel = render_persisted("rhel", None, [r1])
    assert parse_persisted("rhel", {"route-enp7s0": rhel}) == parse_persisted(
        "rhel", {"route-enp7s0": text("rhel-files", FRONT, "cat-route-enp7s0.txt")})
    assert render_persisted("rhel", rhel, [r1]) == rhel


def test_libvirt_definition_gets_the_route_and_nothing_else_changes():
    plain = text("not-kept", HV, "net-k3snat.xml")
    r = StaticRoute(f"{FIP2}/32", "45.120.120.154", "virbr10")
    new = with_libvirt_routes(plain, [r])
    assert parse_libvirt_routes(new) == {(r.prefix, r.via)}
    assert [ln for ln in new.splitlines() if "<route " not in ln] == plain.splitlines()
    assert new == text("healthy", HV, "net-k3snat.xml")      # what the lab defined
    assert with_libvirt_routes(new, [r]) == new


# --- checks on the captured lab ------------------------------------------------------------------
def test_healthy_seed_is_green(lab_seed):
    for host in select_hosts(lab_seed, "fip_route"):
        r = cap("healthy", host)
        assert checks.routes_in_place(lab_seed, r) is None
        assert checks.routes_persisted(lab_seed, r) is None
    for host in select_hosts(lab_seed, "fip_address"):
        assert checks.addresses_in_place(lab_seed, cap("healthy", host)) is None
    for host in (CTL, FRONT):
        assert checks.floating_ips_reachable(lab_seed, cap("healthy", host)) is None


def test_front_route_missing(lab_seed):
    f = checks.routes_in_place(lab_seed, cap("front-route-missing", FRONT))
    assert f.remediation == "fip_route" and f.host == FRONT
    assert f.message == (f"no route for {FIP2}/32 (floating IP of k8s-worker-2) via 10.10.10.3; "
                         "it follows `192.168.200.0/24 dev virbr10 proto kernel`: the host ARPs "
                         "for it on virbr10 and answers Destination Host Unreachable")
    assert f.params["routes"] == [{"prefix": f"{FIP2}/32", "via": "10.10.10.3", "dev": "enp7s0",
                                   "floating_ip": FIP2, "instance": "k8s-worker-2"}]
    assert f.params["runtime"] and not f.params["persist"]
    # only the running route is gone: what is kept for boot is still there
    assert checks.routes_persisted(lab_seed, cap("front-route-missing", FRONT)) is None
    for host in (CTL, FRONT):
        r = checks.floating_ips_reachable(lab_seed, cap("front-route-missing", host))
        assert r.remediation == "fip_reachability" and r.params == {"unreachable": [FIP2]}
        assert r.message == f"{host} cannot reach {FIP2} (floating IP of k8s-worker-2)"


def test_compute_route_missing_follows_bgp_back(lab_seed):
    f = checks.routes_in_place(lab_seed, cap("compute-route-missing", HV))
    assert f.message == (f"no route for {FIP2}/32 (floating IP of k8s-worker-2) via "
                         "45.120.120.154; it follows `192.168.200.0/24 via 10.10.10.1 dev enp2s0 "
                         "proto bgp`, to 10.10.10.1 instead of 45.120.120.154")
    assert f.params["routes"][0]["dev"] == "virbr10"
    for host in (CTL, FRONT):
        assert checks.floating_ips_reachable(lab_seed, cap("compute-route-missing", host)
                                             ).params == {"unreachable": [FIP2]}


def test_route_pointing_elsewhere(lab_seed):
    f = checks.routes_in_place(lab_seed, cap("route-elsewhere", FRONT))
    assert f.message.startswith(f"{FIP2}/32 (floating IP of k8s-worker-2) goes `{FIP2}/32 via "
                                "10.10.10.2 dev enp7s0")
    assert f.message.endswith("expected via 10.10.10.3")
    plan = fip_route.plan(ctx(lab_seed), f)
    assert [s.command for s in plan.steps] == [f"ip route replace {FIP2}/32 via 10.10.10.3"]


def test_fip_not_on_br_ex(lab_seed):
    f = checks.addresses_in_place(lab_seed, cap("fip-not-on-br-ex", COMPUTE))
    assert f.remediation == "fip_address" and f.host == COMPUTE
    assert f.message == (f"floating IP {FIP2}/32 of k8s-worker-2: br-ex does not hold it; the "
                         "kernel does not accept packets for it")
    assert f.params["addresses"] == [{"cidr": f"{FIP2}/32", "dev": "br-ex",
                                      "instance": "k8s-worker-2", "device_exists": True,
                                      "wrong": []}]
    plan = fip_address.plan(ctx(lab_seed), f)
    assert plan.blocked is None
    assert [s.command for s in plan.steps] == [f"ip addr replace {FIP2}/32 dev br-ex"]
    for host in (CTL, FRONT):
        assert checks.floating_ips_reachable(lab_seed, cap("fip-not-on-br-ex", host)
                                             ).params == {"unreachable": [FIP2]}


def test_fip_with_the_wrong_prefix_and_without_br_ex(lab_seed):
    f = checks.addresses_in_place(lab_seed, cap("fip-wrong-prefix", COMPUTE))
    assert f"br-ex holds it as {FIP2}/24, not {FIP2}/32" in f.message
    plan = fip_address.plan(ctx(lab_seed), f)
    assert [s.command for s in plan.steps] == [f"ip addr del {FIP2}/24 dev br-ex",
                                               f"ip addr replace {FIP2}/32 dev br-ex"]
    gone = checks.addresses_in_place(lab_seed, cap("no-br-ex", COMPUTE))
    assert "there is no device br-ex" in gone.message
    blocked = fip_address.plan(ctx(lab_seed), gone)
    assert blocked.steps == () and "br-ex does not exist on compute2" in blocked.blocked


def test_not_kept_for_boot_and_the_plans_that_keep_them(lab_seed, tmp_path):
    front = cap("not-kept", FRONT)
    f = checks.routes_persisted(lab_seed, front)
    assert f.message == (f"not kept for boot: {FIP2}/32 via 10.10.10.3 (expected in "
                         "/etc/network/interfaces): gone after the next reboot")
    assert checks.routes_in_place(lab_seed, front) is None
    plan = fip_route.plan(ctx(lab_seed, front), f)
    assert plan.summary == f"keep for boot {FIP2}/32 via 10.10.10.3 on {FRONT}"
    mkdir, write = plan.steps
    assert mkdir.command == "mkdir -p /etc/network"
    assert isinstance(write, WriteFile) and write.path == "/etc/network/interfaces"
    assert write.mode is None                       # an existing file keeps its mode
    operator = text("not-kept", FRONT, "cat-interfaces.txt")
    assert write.content.startswith(operator)
    assert parse_persisted("debian", {"f": write.content}) == {(f"{FIP2}/32", "10.10.10.3")}
    # the engine's staging really writes that content (in a scratch directory here)
    target = tmp_path / "interfaces"
    target.write_text(operator)
    local = WriteFile("x", str(target), write.content, write.why)
    names, stage, commit = stage_locally(local, tmp_path / "backups")
    subprocess.run(["sh", "-c", f"{stage} && {commit}"], check=True)
    assert target.read_text() == write.content
    assert open(names.backup).read() == operator
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "interfaces"]

    hv = cap("not-kept", HV)
    f = checks.routes_persisted(lab_seed, hv)
    assert f.message == (f"not kept for boot: {FIP2}/32 via 45.120.120.154 (expected in libvirt "
                         "network k3snat (virsh net-dumpxml --inactive)): gone after the next "
                         "reboot")
    before, xml, define = fip_route.plan(ctx(lab_seed, hv), f).steps
    assert before.command == ("virsh -q -c qemu:///system net-dumpxml --inactive k3snat > "
                              "/root/stackproof-manual-k3snat-routes.xml.before")
    assert xml.path == "/root/stackproof-manual-k3snat-routes.xml"
    assert xml.content == text("healthy", HV, "net-k3snat.xml")
    assert define.command == ("virsh -q -c qemu:///system net-define "
                              "/root/stackproof-manual-k3snat-routes.xml")


def test_rhel_plan_writes_route_dev_file(seed_site):
    f = Finding("fip_route", FRONT, "x", {"routes": [
        {"prefix": f"{FIP2}/32", "via": "10.10.10.3", "dev": "enp7s0", "floating_ip": FIP2,
         "instance": "k8s-worker-2"}], "runtime": True, "persist": True})
    empty = cap("rhel-empty", FRONT)
    plan = fip_route.plan(ctx(seed_site, empty), f)
    run, mkdir, write = plan.steps
    assert run.command == f"ip route replace {FIP2}/32 via 10.10.10.3"
    assert mkdir.command == "mkdir -p /etc/sysconfig/network-scripts"
    assert write.path == "/etc/sysconfig/network-scripts/route-enp7s0" and write.mode == "0644"
    assert write.content == text("rhel-files", FRONT, "cat-route-enp7s0.txt")
    assert plan.summary == f"add and keep {FIP2}/32 via 10.10.10.3 on {FRONT}"
    # with the file already there (the report's line), the write changes nothing
    kept = cap("rhel-files", FRONT)
    again = fip_route.plan(ctx(seed_site, kept), f).steps[2]
    assert again.content == text("rhel-files", FRONT, "cat-route-enp7s0.txt")


def test_reachability_has_no_direct_fix(lab_seed):
    f = checks.floating_ips_reachable(lab_seed, cap("front-route-missing", CTL))
    plan = fip_reachability.plan(ctx(lab_seed), f)
    assert plan.steps == () and "no direct fix" in plan.blocked


def test_checks_ask_only_the_facts_commands(lab_seed):
    """One command per fact per host, cached: a second check reads no more."""
    r = cap("healthy", FRONT)
    checks.routes_in_place(lab_seed, r)
    checks.routes_persisted(lab_seed, r)
    checks.routes_in_place(lab_seed, r)
    assert len(r.asked) == len(set(r.asked)) == 2


# --- targets ---------------------------------------------------------------------------------------
def test_selectors(seed_site, four_site):
    assert select_hosts(seed_site, "fip_route") == [FRONT, HV]
    assert select_hosts(seed_site, "fip_address") == [COMPUTE]
    assert select_hosts(seed_site, "fip_front") == [FRONT]
    assert select_hosts(four_site, "fip_route") == ["rack-a", "rack-c", "rack-d"]
    assert select_hosts(four_site, "fip_address") == ["nova-c", "nova-d"]
    assert select_hosts(four_site, "fip_front") == ["rack-a"]


def test_no_floating_ips_no_hops(seed_raw):
    for h in seed_raw["hosts"].values():
        h.pop("floating_ip", None)
    site = parse_site(seed_raw)
    assert [select_hosts(site, s) for s in ("fip_route", "fip_address", "fip_front")] == \
        [[], [], []]


# --- the lab's wiring (pure command lists) -----------------------------------------------------------
def test_lab_ports_look_like_nova_and_neutron(seed_site, four_site):
    for site in (seed_site, four_site):
        ports = wiring.instance_ports(site)
        assert {p.instance for p in ports} == set(site.instances())
        for p in ports:
            assert re.fullmatch(r"tap[0-9a-f]{8}-[0-9a-f]{2}", p.tap) and len(p.tap) <= 15
            assert p.mac.startswith("fa:16:3e:")
            assert p.gateway == str(site.openstack.tenant_network.cidr.network_address + 1)
            assert p.ifname == site.hosts[p.instance].interface
    assert len({p.tap for p in wiring.instance_ports(seed_site)}) == 2
    assert wiring.tap_name(seed_site, "k8s-worker-1") == wiring.tap_name(seed_site,
                                                                         "k8s-worker-1")


def test_lab_nat_remote_compute_needs_the_fip_on_br_ex(seed_site):
    nats = {n.floating_ip: n for n in wiring.fip_nats(seed_site)}
    remote = nats[FIP2]
    assert (remote.bridge, remote.proxy_dev, remote.egress_gateway) == ("br-ex", None, None)
    cmds = wiring.nat_commands(remote)
    assert f"ip addr replace {FIP2}/32 dev br-ex" in cmds
    dnat = next(c for c in cmds if "DNAT" in c)
    assert "-m addrtype --dst-type LOCAL" in dnat and "--to-destination 10.0.0.12" in dnat
    assert not any("neigh" in c or "rule" in c for c in cmds)


def test_lab_nat_compute_on_the_external_bridge_answers_arp(seed_site):
    local = {n.floating_ip: n for n in wiring.fip_nats(seed_site)}[FIP1]
    assert (local.bridge, local.proxy_dev, local.egress_gateway) == \
        (None, "enp1s0", "192.168.200.1")
    cmds = wiring.nat_commands(local)
    assert f"ip neigh replace proxy {FIP1} dev enp1s0" in cmds
    assert "ip route replace default via 192.168.200.1 dev enp1s0 onlink table 3100" in cmds
    assert not any("br-ex" in c or "addrtype" in c for c in cmds)
    snat = next(c for c in cmds if "SNAT" in c)
    assert "-s 10.0.0.11/32 '!' -d 10.0.0.0/24 -j SNAT --to-source 192.168.200.106" in snat


def _lab_routes(site):
    return {h: [StaticRoute(r.prefix, r.via, r.dev) for r in rs]
            for h, rs in wiring.host_routes(site).items()}


def test_lab_routes_match_the_expectation(seed_site, four_site):
    assert _lab_routes(seed_site) == {
        FRONT: [StaticRoute(f"{FIP2}/32", "10.10.10.3", "enp7s0")],
        HV: [StaticRoute(f"{FIP2}/32", "45.120.120.154", "virbr10")]}
    four = _lab_routes(four_site)
    assert sorted(four) == ["rack-a", "rack-c", "rack-d"]
    assert [r.dev for r in four["rack-a"]] == ["eno1", "eno1"]
    assert four["rack-c"] == [StaticRoute("198.18.7.21/32", "10.63.0.10", "virbr3")]


# --- the four-host eBGP site ---------------------------------------------------------------------
def test_healthy_four_host_is_green(lab_four):
    for host in select_hosts(lab_four, "fip_route"):
        r = cap("healthy", host, "four-host-ebgp")
        assert checks.routes_in_place(lab_four, r) is None
        assert checks.routes_persisted(lab_four, r) is None
    for host in select_hosts(lab_four, "fip_address"):
        assert checks.addresses_in_place(lab_four, cap("healthy", host, "four-host-ebgp")) is None
    for host in ("ctl", "rack-a"):
        assert checks.floating_ips_reachable(lab_four, cap("healthy", host, "four-host-ebgp")
                                             ) is None
    kept = facts.parse_route_files("debian", text("healthy", "rack-a", "route-files.debian.txt",
                                                  "four-host-ebgp"))
    assert kept.routes == {("198.18.7.21/32", "172.31.40.13"), ("198.18.7.22/32", "172.31.40.14")}
    net = facts.parse_network_routes(0, text("healthy", "rack-c", "net-novanat-c.xml",
                                             "four-host-ebgp"))
    assert net.routes == {("198.18.7.21/32", "10.63.0.10")}


def test_four_host_front_routes_missing(lab_four):
    f = checks.routes_in_place(lab_four, cap("front-route-missing", "rack-a", "four-host-ebgp"))
    assert [r["prefix"] for r in f.params["routes"]] == ["198.18.7.21/32", "198.18.7.22/32"]
    assert f.message.count("Destination Host Unreachable") == 2
    plan = fip_route.plan(ctx(lab_four), f)
    assert [s.command for s in plan.steps] == ["ip route replace 198.18.7.21/32 via 172.31.40.13",
                                               "ip route replace 198.18.7.22/32 via 172.31.40.14"]
    for host in ("ctl", "rack-a"):
        r = checks.floating_ips_reachable(lab_four, cap("front-route-missing", host,
                                                        "four-host-ebgp"))
        assert r.params == {"unreachable": ["198.18.7.21", "198.18.7.22"]}
