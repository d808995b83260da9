"""Derived expectations on both inventories: the report's own values on the seed site,
structural properties on the four-host eBGP site, and a property check that every derived
value comes from the inventory (no site value baked into code)."""
from __future__ import annotations

import ast
import ipaddress
import re
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from stackproof import expect
from stackproof.expect import (Address, IptablesRule, LearnedPrefix, Route, TimeIntent,
                               bgp_hosts, bgp_intent, floating_ip_plumbing, iptables_rules,
                               learned_prefixes, time_intent, vxlan_mesh, vxlan_port_name)
from stackproof.site import Overlay, parse_site

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"

# --- BGP neighbor mesh -------------------------------------------------------------------


def test_seed_ibgp_mesh(seed_site):
    it = bgp_intent(seed_site, "openstack-host")
    assert (it.asn, it.router_id, it.redistribute_connected) == (65000, "10.10.10.1", True)
    assert (it.keepalive, it.hold) == (3, 9)
    assert {(n.peer, n.address, n.remote_as) for n in it.neighbors} == {
        ("kubernetes-host", "10.10.10.2", 65000), ("compute-2-host", "10.10.10.3", 65000)}
    assert {n.update_source for n in it.neighbors} == {"enp7s0"}
    # iBGP: next-hop-self, and no policy needed
    assert all(n.next_hop_self and n.route_map is None for n in it.neighbors)
    assert {n.update_source for n in bgp_intent(seed_site, "kubernetes-host").neighbors} == {
        "enp0s20f0u2"}
    assert {n.update_source for n in bgp_intent(seed_site, "compute-2-host").neighbors} == {
        "enp2s0"}


def test_only_physical_bgp_hosts_peer(seed_site, four_site):
    assert sorted(bgp_hosts(seed_site)) == ["compute-2-host", "kubernetes-host",
                                            "openstack-host"]
    assert sorted(bgp_hosts(four_site)) == ["rack-a", "rack-b", "rack-c", "rack-d"]


def _check_mesh(site):
    hosts = bgp_hosts(site)
    intents = {h: bgp_intent(site, h) for h in hosts}
    ebgp = site.bgp.mode == "ebgp"
    for h, it in intents.items():
        me = site.hosts[h]
        peers = [n.peer for n in it.neighbors]
        assert sorted(peers) == sorted(p for p in hosts if p != h)   # every other, once
        assert it.router_id == str(me.underlay.address)
        assert it.asn == site.asn_of(h)
        for n in it.neighbors:
            assert n.remote_as == intents[n.peer].asn
            assert n.address == intents[n.peer].router_id
            assert n.update_source == me.underlay.interface
            assert n.next_hop_self is (not ebgp)
            assert (n.route_map is not None) is ebgp
    for a, b in combinations(hosts, 2):            # symmetric: b peers with a as a with b
        ab = next(n for n in intents[a].neighbors if n.peer == b)
        ba = next(n for n in intents[b].neighbors if n.peer == a)
        assert (ab.remote_as, ba.remote_as) == (intents[b].asn, intents[a].asn)
    return intents


def test_mesh_properties_seed(seed_site):
    intents = _check_mesh(seed_site)
    assert {it.asn for it in intents.values()} == {65000}


def test_mesh_properties_four_host_ebgp(four_site):
    intents = _check_mesh(four_site)
    assert len(intents) == 4
    assert all(len(it.neighbors) == 3 for it in intents.values())
    asns = [it.asn for it in intents.values()]
    assert len(set(asns)) == 4                               # every ASN distinct
    assert {n.route_map for it in intents.values() for n in it.neighbors} != {None}


def test_host_without_bgp_role_is_left_out_of_the_mesh(four_raw):
    four_raw["hosts"]["rack-d"]["roles"] = ["hypervisor"]
    site = parse_site(four_raw)
    assert "rack-d" not in bgp_hosts(site)
    for h in bgp_hosts(site):
        assert len(bgp_intent(site, h).neighbors) == 2
        assert all(p.origin != "rack-d" for p in learned_prefixes(site, h))


# --- learned prefixes --------------------------------------------------------------------

def _learned(site, host):
    return {(p.prefix, p.via, p.origin) for p in learned_prefixes(site, host)}


def test_seed_learned_prefixes(seed_site):
    # the report: `B>* 172.20.112.0/24 [200/0] via 10.10.10.2` on openstack-host
    assert _learned(seed_site, "openstack-host") == {
        ("172.20.112.0/24", "10.10.10.2", "kubernetes-host"),
        ("45.120.120.0/24", "10.10.10.3", "compute-2-host")}
    # the external network lives on openstack-host's virbr10: the others learn it from there
    assert _learned(seed_site, "kubernetes-host") == {
        ("192.168.100.0/24", "10.10.10.1", "openstack-host"),
        ("192.168.200.0/24", "10.10.10.1", "openstack-host"),
        ("45.120.120.0/24", "10.10.10.3", "compute-2-host")}
    assert _learned(seed_site, "compute-2-host") == {
        ("192.168.100.0/24", "10.10.10.1", "openstack-host"),
        ("192.168.200.0/24", "10.10.10.1", "openstack-host"),
        ("172.20.112.0/24", "10.10.10.2", "kubernetes-host")}


@pytest.mark.parametrize("which", ["seed_site", "four_site"])
def test_learned_prefixes_structure(which, request):
    site = request.getfixturevalue(which)
    ext = site.openstack.external_network
    for h in bgp_hosts(site):
        got = learned_prefixes(site, h)
        assert len(got) == len(set(got))                     # no duplicates
        want = {(str(nw.cidr), o) for o in bgp_hosts(site) if o != h
                for nw in site.hosts[o].nat_networks}
        if ext.gateway_on.host != h:
            want.add((str(ext.cidr), ext.gateway_on.host))
        assert {(p.prefix, p.origin) for p in got} == want
        own = {str(nw.cidr) for nw in site.hosts[h].nat_networks}
        assert not own & {p.prefix for p in got}             # never its own
        for p in got:
            assert p.via == str(site.hosts[p.origin].underlay.address)
            assert isinstance(p, LearnedPrefix)


def test_four_host_counts(four_site):
    # four NAT /24s and one external /24 (on rack-a): rack-a learns 3, the others 4
    assert {h: len(learned_prefixes(four_site, h)) for h in bgp_hosts(four_site)} == {
        "rack-a": 3, "rack-b": 4, "rack-c": 4, "rack-d": 4}


# --- VXLAN port mesh ---------------------------------------------------------------------

@pytest.mark.parametrize("ip, name", [
    ("45.120.120.154", "vxlan-2d78789a"),
    ("192.168.100.101", "vxlan-c0a86465"),
    ("172.16.100.51", "vxlan-ac106433"),     # seen in a real `ovs-vsctl show` of a neutron node
    ("10.0.0.1", "vxlan-0a000001"),          # zero-padded to 8 digits
])
def test_vxlan_port_name(ip, name):
    assert vxlan_port_name(ip) == name
    assert len(name) <= 15                   # an OVS/Linux interface name limit


def test_tunnel_port_name_follows_the_type():
    assert vxlan_port_name("10.0.0.1", "gre") == "gre-0a000001"


def test_seed_vxlan_mesh(seed_site):
    ports = {(p.name, p.local_ip, p.remote_ip, p.peer) for p in vxlan_mesh(seed_site, "compute")}
    # the report: compute has ports to 45.120.120.154 and 192.168.100.101
    assert ports == {("vxlan-2d78789a", "192.168.100.102", "45.120.120.154", "compute2"),
                     ("vxlan-c0a86465", "192.168.100.102", "192.168.100.101", "controller")}
    assert {p.remote_ip for p in vxlan_mesh(seed_site, "compute2")} == {
        "192.168.100.101", "192.168.100.102"}
    assert {p.local_ip for p in vxlan_mesh(seed_site, "compute2")} == {"45.120.120.154"}
    assert {p.remote_ip for p in vxlan_mesh(seed_site, "controller")} == {
        "192.168.100.102", "45.120.120.154"}


@pytest.mark.parametrize("which", ["seed_site", "four_site"])
def test_vxlan_full_mesh(which, request):
    site = request.getfixturevalue(which)
    nodes = site.with_role("ovs_agent")
    assert len(nodes) == 3
    meshes = {n: vxlan_mesh(site, n) for n in nodes}
    for n, ports in meshes.items():
        assert sorted(p.peer for p in ports) == sorted(o for o in nodes if o != n)
        assert len({p.name for p in ports}) == len(ports)
        for p in ports:
            assert p.local_ip == str(site.address_of(n))
            assert p.remote_ip == str(site.address_of(p.peer))
            assert p.name == "vxlan-%08x" % int(ipaddress.IPv4Address(p.remote_ip))
    for a, b in combinations(nodes, 2):
        ab = next(p for p in meshes[a] if p.peer == b)
        ba = next(p for p in meshes[b] if p.peer == a)
        assert (ab.local_ip, ab.remote_ip) == (ba.remote_ip, ba.local_ip)


# --- iptables ----------------------------------------------------------------------------

def _specs(site, host):
    return {(r.table, r.chain, r.spec) for r in iptables_rules(site, host)}


UNDER = "10.10.10.0/24"
VXLAN_IN = ("filter", "INPUT", "-p udp -m udp --dport 4789 -j ACCEPT")
SEED_RULES = {
    "openstack-host": {
        ("filter", "LIBVIRT_FWI", f"-s {UNDER} -d 192.168.100.0/24 -j ACCEPT"),
        ("filter", "LIBVIRT_FWI", f"-s {UNDER} -d 192.168.200.0/24 -j ACCEPT"),
        ("filter", "LIBVIRT_FWO", f"-s 192.168.100.0/24 -d {UNDER} -j ACCEPT"),
        ("filter", "FORWARD", "-s 192.168.200.0/24 -j ACCEPT"),
        ("filter", "FORWARD", "-d 192.168.200.0/24 -m state --state RELATED,ESTABLISHED "
                              "-j ACCEPT"),
        ("nat", "POSTROUTING", "-s 192.168.200.0/24 -j MASQUERADE"),
        VXLAN_IN,
    },
    "kubernetes-host": {
        ("filter", "LIBVIRT_FWI", f"-s {UNDER} -d 172.20.112.0/24 -j ACCEPT"),
        ("filter", "LIBVIRT_FWO", f"-s 172.20.112.0/24 -d {UNDER} -j ACCEPT"),
        VXLAN_IN,
    },
    "compute-2-host": {
        ("filter", "LIBVIRT_FWI", f"-s {UNDER} -d 45.120.120.0/24 -j ACCEPT"),
        ("filter", "LIBVIRT_FWO", f"-s 45.120.120.0/24 -d {UNDER} -j ACCEPT"),
        ("filter", "LIBVIRT_FWI", f"-s {UNDER} -d 192.168.200.0/24 -j ACCEPT"),
        ("filter", "FORWARD", "-s 192.168.200.0/24 -j ACCEPT"),
        ("filter", "FORWARD", "-d 192.168.200.0/24 -m state --state RELATED,ESTABLISHED "
                              "-j ACCEPT"),
        ("nat", "POSTROUTING", "-s 192.168.200.0/24 -j MASQUERADE"),
        ("filter", "FORWARD", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        ("filter", "FORWARD", "-s 45.120.120.0/24 -j ACCEPT"),
        ("filter", "FORWARD", "-d 45.120.120.0/24 -j ACCEPT"),
        ("nat", "POSTROUTING", f"-s 45.120.120.0/24 ! -d {UNDER} -j MASQUERADE"),
        VXLAN_IN,
        ("filter", "FORWARD", "-d 45.120.120.154/32 -p udp -m udp --dport 4789 -j ACCEPT"),
        ("filter", "FORWARD", "-s 45.120.120.154/32 -p udp -m udp --sport 4789 -j ACCEPT"),
    },
    # KVMs: only the VXLAN INPUT rule, and only where the OVS agent runs
    "controller": {VXLAN_IN}, "compute": {VXLAN_IN}, "compute2": {VXLAN_IN},
    "master": set(), "k8s-worker-1": set(), "k8s-worker-2": set(),
}


@pytest.mark.parametrize("host", sorted(SEED_RULES))
def test_seed_iptables_rules(seed_site, host):
    rules = iptables_rules(seed_site, host)
    assert _specs(seed_site, host) == SEED_RULES[host]
    assert len(rules) == len(SEED_RULES[host])                      # no duplicates


def test_iptables_rule_placement(seed_site):
    """filter ACCEPTs go ahead of libvirt's REJECTs; NAT rules are appended."""
    for host in SEED_RULES:
        for r in iptables_rules(seed_site, host):
            assert isinstance(r, IptablesRule) and r.why
            assert r.first is (r.table == "filter"), r


# `iptables-save` of the write-up's own commands, run in a scratch network namespace on this
# machine (iptables v1.8.9 nf_tables):  ip netns add T; ip netns exec T iptables -N
# LIBVIRT_FWI; ... the write-up's `iptables -I/-A` lines ...; ip netns exec T iptables-save
CAPTURED_IPTABLES_SAVE = """\
-A INPUT -p udp -m udp --dport 4789 -j ACCEPT
-A FORWARD -s 45.120.120.154/32 -p udp -m udp --sport 4789 -j ACCEPT
-A FORWARD -d 45.120.120.154/32 -p udp -m udp --dport 4789 -j ACCEPT
-A FORWARD -d 192.168.200.0/24 -m state --state RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -s 192.168.200.0/24 -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A LIBVIRT_FWI -s 10.10.10.0/24 -d 192.168.100.0/24 -j ACCEPT
-A POSTROUTING -s 192.168.200.0/24 -j MASQUERADE
-A POSTROUTING -s 45.120.120.0/24 ! -d 10.10.10.0/24 -j MASQUERADE
""".splitlines()


@pytest.mark.parametrize("line", CAPTURED_IPTABLES_SAVE)
def test_rules_use_iptables_save_spelling(seed_site, line):
    derived = {f"-A {c} {s}" for h in SEED_RULES for _, c, s in _specs(seed_site, h)}
    assert line in derived


def test_four_host_iptables_structure(four_site):
    s = four_site
    under = str(s.underlay_cidr)
    ext = str(s.openstack.external_network.cidr)
    front = s.openstack.external_network.gateway_on.host
    ext_rule = ("nat", "POSTROUTING", f"-s {ext} -j MASQUERADE")
    for h, ph in s.physical_hosts().items():
        rules = iptables_rules(s, h)
        specs = _specs(s, h)
        assert len(rules) == len(specs)                                    # no duplicates
        assert VXLAN_IN in specs
        for nw in ph.nat_networks:
            assert ("filter", "LIBVIRT_FWI", f"-s {under} -d {nw.cidr} -j ACCEPT") in specs
            assert ("filter", "LIBVIRT_FWO", f"-s {nw.cidr} -d {under} -j ACCEPT") in specs
        runs_agents = any(g.hypervisor == h and "ovs_agent" in g.roles
                          for g in s.guests().values())
        assert (ext_rule in specs) is runs_agents
        computes = [g for g, gh in s.guests().items()
                    if gh.hypervisor == h and "nova_compute" in gh.roles and h != front]
        masq = {x for x in specs if x[1] == "POSTROUTING" and "!" in x[2]}
        assert len(masq) == (1 if computes else 0)
        for g in computes:
            gip = s.hosts[g].address
            assert ("filter", "FORWARD",
                    f"-d {gip}/32 -p udp -m udp --dport 4789 -j ACCEPT") in specs
            assert ("filter", "FORWARD",
                    f"-s {gip}/32 -p udp -m udp --sport 4789 -j ACCEPT") in specs
    # concretely: kubernetes-like rack-b carries no OpenStack rules, rack-c/-d are remote
    assert {h for h in s.physical_hosts() if ext_rule in _specs(s, h)} == {
        "rack-a", "rack-c", "rack-d"}
    assert len(_specs(s, "rack-b")) == 3
    for g, gh in s.guests().items():
        assert _specs(s, g) == ({VXLAN_IN} if "ovs_agent" in gh.roles else set())


def test_two_computes_on_one_remote_host_give_each_rule_once(seed_raw):
    seed_raw["hosts"]["compute3"] = dict(seed_raw["hosts"]["compute2"], address="45.120.120.155",
                                         mac="52:54:00:74:a9:79")
    site = parse_site(seed_raw)
    rules = iptables_rules(site, "compute-2-host")
    specs = _specs(site, "compute-2-host")
    assert len(rules) == len(specs) == len(SEED_RULES["compute-2-host"]) + 2
    assert ("filter", "FORWARD",
            "-d 45.120.120.155/32 -p udp -m udp --dport 4789 -j ACCEPT") in specs


# --- floating IPs ------------------------------------------------------------------------

def test_seed_floating_ip_plumbing(seed_site):
    by_fip = {p.floating_ip: p for p in floating_ip_plumbing(seed_site)}
    assert set(by_fip) == {"192.168.200.106", "192.168.200.129"}
    w2 = by_fip["192.168.200.129"]
    assert w2.instance == "k8s-worker-2"
    # the report: openstack-host `ip route add 192.168.200.129/32 via 10.10.10.3`, then
    # compute-2-host routes it to the compute2 guest, which holds it on br-ex
    assert w2.routes == {
        "openstack-host": (Route("192.168.200.129/32", via="10.10.10.3"),),
        "compute-2-host": (Route("192.168.200.129/32", via="45.120.120.154"),)}
    assert w2.addresses == {
        "compute2": (Address("192.168.200.129/32", "br-ex"),),
        "k8s-worker-2": (Address("192.168.200.129/32", "lo"),)}
    # worker-1's compute sits on the fronting host: no host routes, only lo for kubelet
    w1 = by_fip["192.168.200.106"]
    assert w1.routes == {}
    assert w1.addresses == {"k8s-worker-1": (Address("192.168.200.106/32", "lo"),)}


def test_four_host_floating_ip_plumbing(four_site):
    s = four_site
    front = s.openstack.external_network.gateway_on.host
    plumbing = floating_ip_plumbing(s)
    assert {p.instance for p in plumbing} == set(s.instances())
    for p in plumbing:
        inst = s.hosts[p.instance]
        hv = s.hypervisor_of(inst.compute)
        assert hv != front
        assert p.floating_ip == str(inst.floating_ip)
        assert p.routes == {
            front: (Route(f"{p.floating_ip}/32", via=str(s.hosts[hv].underlay.address)),),
            hv: (Route(f"{p.floating_ip}/32", via=str(s.address_of(inst.compute))),)}
        assert p.addresses == {
            inst.compute: (Address(f"{p.floating_ip}/32", s.overlay.external_bridge),),
            p.instance: (Address(f"{p.floating_ip}/32", "lo"),)}


def test_instance_on_a_physical_compute_node(four_raw):
    """A physical compute node: the front routes to it, it holds the /32 itself."""
    rack_d = four_raw["hosts"]["rack-d"]
    rack_d["roles"] = ["bgp", "hypervisor", "nova_compute", "ovs_agent"]
    four_raw["hosts"]["kw-2"]["compute"] = "rack-d"
    site = parse_site(four_raw)
    assert site.hypervisor_of("kw-2") == "rack-d"
    [p] = [p for p in floating_ip_plumbing(site) if p.instance == "kw-2"]
    assert p.routes == {"rack-a": (Route("198.18.7.22/32", via="172.31.40.14"),)}
    assert p.addresses == {"rack-d": (Address("198.18.7.22/32", "br-ex"),),
                           "kw-2": (Address("198.18.7.22/32", "lo"),)}
    assert {x.remote_ip for x in vxlan_mesh(site, "rack-d")} == {
        "10.61.0.10", "10.63.0.10", "10.64.0.10"}


def test_no_openstack_no_plumbing(seed_raw):
    del seed_raw["openstack"]
    for h in ("k8s-worker-1", "k8s-worker-2"):
        del seed_raw["hosts"][h]
    seed_raw["kubernetes"]["nodes"] = seed_raw["kubernetes"]["nodes"][:1]
    site = parse_site(seed_raw)
    assert floating_ip_plumbing(site) == []
    # without an external network nobody learns it and no host gets its rules
    assert _learned(site, "kubernetes-host") == {
        ("192.168.100.0/24", "10.10.10.1", "openstack-host"),
        ("45.120.120.0/24", "10.10.10.3", "compute-2-host")}
    assert not any("192.168.200" in r.spec for r in iptables_rules(site, "openstack-host"))


# --- time --------------------------------------------------------------------------------

def test_seed_time_intent(seed_site):
    assert time_intent(seed_site, "controller") == TimeIntent(server=None, serves=True)
    for h in seed_site.hosts:
        if h != "controller":
            assert time_intent(seed_site, h) == TimeIntent(server="controller", serves=False)


def test_four_host_time_intent(four_site):
    served = [h for h in four_site.hosts if time_intent(four_site, h).serves]
    assert served == ["ctl"]


def test_no_time_section(seed_raw):
    del seed_raw["time"]
    assert time_intent(parse_site(seed_raw), "compute2") is None


# --- property: every derived value comes from the inventory ------------------------------

IPV4ISH = re.compile(r"^\d+\.\d+\.\d+\.\d+(/\d+)?$")
# iptables-save's own words and libvirt's chain names: syntax, not site values
IPTABLES_WORDS = {"-s", "-d", "-p", "-m", "-j", "!", "--dport", "--sport", "--state",
                  "--ctstate", "udp", "state", "conntrack", "RELATED,ESTABLISHED", "ACCEPT",
                  "MASQUERADE"}
CHAINS = {("filter", "INPUT"), ("filter", "FORWARD"), ("filter", "LIBVIRT_FWI"),
          ("filter", "LIBVIRT_FWO"), ("nat", "POSTROUTING")}


def _scalars(data) -> set[str]:
    if isinstance(data, dict):
        return set().union(*(_scalars(v) | {str(k)} for k, v in data.items())) if data else set()
    if isinstance(data, list):
        return set().union(*(_scalars(v) for v in data)) if data else set()
    return {str(data)}


def _derived(site):
    """(what, value) for every value an expectation derives, as strings."""
    for h in bgp_hosts(site):
        it = bgp_intent(site, h)
        yield "bgp.router_id", it.router_id
        yield "bgp.asn", str(it.asn)
        for n in it.neighbors:
            yield from (("bgp.peer", n.peer), ("bgp.address", n.address),
                        ("bgp.remote_as", str(n.remote_as)),
                        ("bgp.update_source", n.update_source))
        for p in learned_prefixes(site, h):
            yield from (("prefix", p.prefix), ("prefix.via", p.via), ("prefix.origin", p.origin))
    for h in site.with_role("ovs_agent"):
        for p in vxlan_mesh(site, h):
            yield from (("vxlan.local", p.local_ip), ("vxlan.remote", p.remote_ip),
                        ("vxlan.peer", p.peer))
            hexpart = p.name.split("-", 1)[1]
            yield "vxlan.name", str(ipaddress.IPv4Address(int(hexpart, 16)))
    for h in site.hosts:
        for r in iptables_rules(site, h):
            assert (r.table, r.chain) in CHAINS, r
            for word in r.spec.split():
                if word not in IPTABLES_WORDS:
                    yield "iptables", word
        t = time_intent(site, h)
        if t and t.server:
            yield "time.server", t.server
    for p in floating_ip_plumbing(site):
        yield "fip", p.floating_ip
        yield "fip.instance", p.instance
        for host, routes in p.routes.items():
            yield "fip.route.host", host
            for r in routes:
                yield "fip.route.prefix", r.prefix
                if r.via:
                    yield "fip.route.via", r.via
                if r.dev:
                    yield "fip.route.dev", r.dev
        for host, addrs in p.addresses.items():
            yield "fip.address.host", host
            for a in addrs:
                yield from (("fip.address", a.cidr), ("fip.address.dev", a.dev))


def test_derived_values_all_come_from_the_inventory(inventory):
    raw, site = inventory
    known = _scalars(raw)
    # the only names that may come from code: the loopback, and the model's own defaults
    # for OVS bridge names (neutron's conventions, overridable in the inventory)
    generic = {"lo"} | {str(f.default) for f in Overlay.model_fields.values()}
    seen = 0
    for what, value in _derived(site):
        seen += 1
        if IPV4ISH.match(value) and value.endswith("/32"):
            value = value[:-3]               # a host route/address: its address must be known
        assert value in known or value in generic, f"{what} {value!r} is not in the inventory"
    assert seen > 100


def test_the_two_inventories_share_no_derived_value(seed_site, four_site):
    """A site value leaking from code would show up in both."""
    a = {v for _, v in _derived(seed_site)}
    b = {v for _, v in _derived(four_site)}
    assert a & b <= {"4789", "lo", "br-ex"}


def _code_constants(path: Path):
    """String and number literals of a module, docstrings and comments excluded."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.body and isinstance(node.body[0], ast.Expr) \
                    and isinstance(node.body[0].value, ast.Constant):
                docstrings.add(id(node.body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings \
                and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
            yield node.lineno, node.value


def _site_specific_values():
    """Values of either inventory that would betray a hard-coded site in code."""
    out = set()
    for name in ("seed.yml", "four-host-ebgp.yml"):
        raw = yaml.safe_load((INVENTORIES / name).read_text())
        for v in _scalars(raw):
            if IPV4ISH.match(v) or re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", v):
                out.add(v)
        for h in raw["hosts"].values():
            if "underlay" in h:
                out.add(h["underlay"]["interface"])
            if "asn" in h:
                out.add(str(h["asn"]))
        if raw["bgp"].get("asn"):
            out.add(str(raw["bgp"]["asn"]))
    return out


@pytest.mark.parametrize("module", ["site.py", "expect.py"])
def test_no_inventory_value_in_the_model_code(module):
    values = _site_specific_values()
    bad = []
    for line, const in _code_constants(ROOT / "stackproof" / module):
        words = set(re.split(r"[\s\"'=,;()\[\]{}]+", str(const)))
        if str(const) in values or words & values:
            bad.append((line, const))
    assert not bad, f"site values in stackproof/{module}: {bad}"


def test_expect_module_reads_no_host():
    """expect.py is pure: derived from the model, it imports nothing that reaches a host."""
    tree = ast.parse(Path(expect.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "ipaddress", "dataclasses", "stackproof", "typing"}
