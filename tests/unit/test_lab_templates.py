"""The lab's templates (stackproof_lab.templates) and the suite's expectations
(stackproof.expect, stackproof.render) are separate code: where they must agree on the
site, each is compared with facts read straight from the inventory's YAML, never with each
other, so a test fails whichever side gets the inventory wrong.

The raw facts below read only the YAML mapping (no Site model, no helper of either side).
"""
from __future__ import annotations

import configparser
import ipaddress
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from stackproof import expect
from stackproof_lab.templates import bgp as lbgp
from stackproof_lab.templates import chrony as lchrony
from stackproof_lab.templates import fip as lfip
from stackproof_lab.templates import iptables as lipt
from stackproof_lab.templates import kubelet as lkube
from stackproof_lab.templates import libvirt as llibvirt
from stackproof_lab.templates import neutron as lneutron
from stackproof.render import chrony as rchrony
from stackproof.render import frr as rfrr
from stackproof.render import libvirt as rlibvirt
from stackproof.render import neutron as rneutron
from stackproof.site import parse_site


# --- facts straight from the YAML ------------------------------------------------------------
def raw_hosts(raw, kind):
    return {n: h for n, h in raw["hosts"].items() if h["kind"] == kind}


def raw_speakers(raw):
    return [n for n, h in raw_hosts(raw, "physical").items() if "bgp" in h.get("roles", [])]


def raw_asn(raw, host):
    return raw["bgp"]["asn"] if raw["bgp"]["mode"] == "ibgp" else raw["hosts"][host]["asn"]


def raw_neighbors(raw, host) -> set[tuple[str, int]]:
    """(address, remote-as) of each neighbor: everyone, or with route reflectors a client
    only the reflectors (the inventory's stated rule)."""
    rrs = set(raw["bgp"].get("route_reflectors", []))
    out = set()
    for p in raw_speakers(raw):
        if p == host or (rrs and host not in rrs and p not in rrs):
            continue
        out.add((raw["hosts"][p]["underlay"]["address"], raw_asn(raw, p)))
    return out


def raw_address(raw, host):
    h = raw["hosts"][host]
    return h["underlay"]["address"] if h["kind"] == "physical" else h["address"]


def raw_hypervisor(raw, host):
    h = raw["hosts"][host]
    if h["kind"] == "guest":
        return h["hypervisor"]
    if h["kind"] == "instance":
        c = raw["hosts"][h["compute"]]
        return h["compute"] if c["kind"] == "physical" else c["hypervisor"]
    return None


# --- readers of the texts both sides write ----------------------------------------------------
def frr_facts(text: str) -> dict:
    router = re.search(r"^router bgp (\d+)$", text, re.M)
    return {"asn": int(router.group(1)),
            "router_id": re.search(r"^ bgp router-id (\S+)$", text, re.M).group(1),
            "neighbors": {(a, int(n)) for a, n in
                          re.findall(r"^ neighbor (\S+) remote-as (\d+)$", text, re.M)},
            "next_hop_self": set(re.findall(r"^  neighbor (\S+) next-hop-self$", text, re.M)),
            "rr_clients": set(re.findall(r"^  neighbor (\S+) route-reflector-client$", text,
                                         re.M)),
            "redistribute": "  redistribute connected" in text.splitlines()}


def ini(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    return cp


def reservations(xml: str) -> set[tuple[str, str, str]]:
    root = ET.fromstring(xml)
    return {(h.get("mac"), h.get("name"), h.get("ip")) for h in root.iter("host")}


# --- BGP ---------------------------------------------------------------------------------------
def _check_frr(raw, text, host):
    f = frr_facts(text)
    assert f["asn"] == raw_asn(raw, host)
    assert f["router_id"] == raw["hosts"][host]["underlay"]["address"]
    assert f["neighbors"] == raw_neighbors(raw, host)
    assert f["redistribute"]
    addresses = {a for a, _ in raw_neighbors(raw, host)}
    if raw["bgp"]["mode"] == "ibgp":
        assert f["next_hop_self"] == addresses
    rrs = raw["bgp"].get("route_reflectors", [])
    clients = {raw["hosts"][p]["underlay"]["address"] for p in raw_speakers(raw)
               if p not in rrs} if host in rrs else set()
    assert f["rr_clients"] == clients - {raw["hosts"][host]["underlay"]["address"]}


def test_both_frr_confs_peer_as_the_inventory_says(inventory):
    raw, site = inventory
    assert raw_speakers(raw)
    for host in raw_speakers(raw):
        _check_frr(raw, lbgp.frr_conf(site, host), host)
        _check_frr(raw, rfrr.render_frr_conf(site, host), host)


def test_both_frr_confs_follow_route_reflectors(seed_raw):
    seed_raw["bgp"]["route_reflectors"] = ["openstack-host"]
    site = parse_site(seed_raw)
    client = "compute-2-host"
    assert raw_neighbors(seed_raw, client) == {("10.10.10.1", 65000)}   # the rule at work
    for host in raw_speakers(seed_raw):
        _check_frr(seed_raw, lbgp.frr_conf(site, host), host)
        _check_frr(seed_raw, rfrr.render_frr_conf(site, host), host)


def test_the_lab_waits_for_the_routes_bgp_teaches(inventory):
    raw, site = inventory
    for host in raw_speakers(raw):
        want = {str(ipaddress.ip_network(nw["cidr"])): raw["hosts"][o]["underlay"]["address"]
                for o in raw_speakers(raw) if o != host
                for nw in raw["hosts"][o].get("nat_networks", [])}
        assert lbgp.nat_routes(site, host) == want
        assert {p.prefix: p.via for p in expect.learned_prefixes(site, host)
                if p.prefix in want} == want


# --- chrony --------------------------------------------------------------------------------------
def test_both_chrony_confs_use_the_inventorys_time_server(inventory):
    raw, site = inventory
    server = raw["time"]["server"]
    for host in raw["hosts"]:
        for text in (lchrony.chrony_conf(site, host), rchrony.chrony_conf(site, host)):
            lines = text.splitlines()
            if host == server:
                assert "local stratum 10" in lines
                assert f"allow {raw['underlay']['cidr']}" in lines
                assert not any(ln.startswith("server ") for ln in lines)
            else:
                assert [ln for ln in lines if ln.startswith("server ")] == \
                    [f"server {server} iburst"]


# --- iptables ------------------------------------------------------------------------------------
def test_both_rule_sets_accept_the_underlay_into_each_nat_network(inventory):
    raw, site = inventory
    under = raw["underlay"]["cidr"]
    port = raw.get("overlay", {}).get("udp_port", 4789)
    for host, h in raw["hosts"].items():
        lab = {(r.table, r.chain, r.spec) for r in lipt.rules(site, host)}
        product = {(r.table, r.chain, r.spec) for r in expect.iptables_rules(site, host)}
        want = set()
        for nw in h.get("nat_networks", []):
            want |= {("filter", "LIBVIRT_FWI", f"-s {under} -d {nw['cidr']} -j ACCEPT"),
                     ("filter", "LIBVIRT_FWO", f"-s {nw['cidr']} -d {under} -j ACCEPT")}
        if "ovs_agent" in h.get("roles", []):
            want.add(("filter", "INPUT", f"-p udp -m udp --dport {port} -j ACCEPT"))
        assert want <= lab, host
        assert want <= product, host
        if h["kind"] == "instance":
            assert not lab and not product


# --- libvirt -------------------------------------------------------------------------------------
def test_both_network_definitions_reserve_each_guests_address(inventory):
    raw, site = inventory
    for host, h in raw_hosts(raw, "physical").items():
        for nw in h.get("nat_networks", []):
            want = {(g["mac"].lower(), n, g["address"]) for n, g in raw_hosts(raw, "guest").items()
                    if g["hypervisor"] == host and g["network"] == nw["name"]}
            model = site.nat_network(host, nw["name"])
            for xml in (llibvirt.network_xml(site, host, model),
                        rlibvirt.network_xml(site, host, model)):
                assert {(m.lower(), n, ip) for m, n, ip in reservations(xml)} == want
                root = ET.fromstring(xml)
                assert root.find("bridge").get("name") == nw["bridge"]
                assert root.find("ip").get("address") == nw["gateway"]


# --- floating IPs --------------------------------------------------------------------------------
def raw_fip_routes(raw) -> dict[str, set[tuple[str, str]]]:
    """host -> (prefix, via): the report's /32s, from the YAML alone."""
    front = raw["openstack"]["external_network"]["gateway_on"]["host"]
    out: dict[str, set] = {}
    for name, inst in raw_hosts(raw, "instance").items():
        if not inst.get("floating_ip"):
            continue
        hv, compute = raw_hypervisor(raw, name), inst["compute"]
        if hv == front:
            continue
        fip = f"{inst['floating_ip']}/32"
        out.setdefault(front, set()).add((fip, raw["hosts"][hv]["underlay"]["address"]))
        if compute != hv:
            out.setdefault(hv, set()).add((fip, raw_address(raw, compute)))
    return out


def test_both_sides_route_each_floating_ip_as_the_report_does(inventory):
    raw, site = inventory
    want = raw_fip_routes(raw)
    assert want
    lab = {h: {(r.prefix, r.via) for r in lfip.hops(site, h)} for h in site.hosts}
    product: dict[str, set] = {}
    for p in expect.floating_ip_plumbing(site):
        for h, routes in p.routes.items():
            product.setdefault(h, set()).update((r.prefix, r.via) for r in routes)
    assert {h: r for h, r in lab.items() if r} == want
    assert product == want


# --- Neutron OVS agent ---------------------------------------------------------------------------
def test_both_agent_inis_carry_the_inventorys_tunnel_settings(inventory):
    raw, site = inventory
    ov = raw.get("overlay", {})
    for host, h in raw["hosts"].items():
        if "ovs_agent" not in h.get("roles", []):
            continue
        for text in (lneutron.agent_ini(site, host), rneutron.render_agent_ini(site, host)):
            cp = ini(text)
            assert cp.get("ovs", "local_ip") == raw_address(raw, host)
            assert cp.get("ovs", "tunnel_bridge") == ov.get("tunnel_bridge", "br-tun")
            assert cp.get("agent", "tunnel_types") == ",".join(ov.get("tunnel_types", ["vxlan"]))
            l2pop = cp.get("agent", "l2_population", fallback="False")
            assert (l2pop.lower() == "true") == (host in ov.get("l2_population", []))


# --- kubelet -------------------------------------------------------------------------------------
def test_both_sides_give_each_worker_its_inventory_node_ip(inventory):
    raw, site = inventory
    for node in raw["kubernetes"]["nodes"]:
        host = node.get("host")
        if host not in raw["hosts"]:
            continue
        h = raw["hosts"][host]
        on_lo = h["kind"] == "instance" and h.get("floating_ip") == node["internal_ip"]
        control = "kube_control_plane" in h.get("roles", [])
        lab, product = lkube.node_host(site, host), expect.kubelet_intent(site, host)
        for side in (lab, product):
            assert (side.node, side.node_ip, side.control_plane, side.on_lo) == \
                (node["name"], node["internal_ip"], control, on_lo)
        if not control:
            cfg = lkube.join_config(endpoint=lkube.api_endpoint(site), token="t",
                                    ca_cert_hash="h", node=lab.node, node_ip=lab.node_ip)
            doc = yaml.safe_load(lkube.join_config_text(cfg))
            assert doc["nodeRegistration"]["kubeletExtraArgs"]["node-ip"] == node["internal_ip"]
            assert f"--node-ip={node['internal_ip']}" in lkube.kubeadm_flags_text(lab.node_ip)
    if raw["kubernetes"].get("api_endpoint"):
        assert lkube.api_endpoint(site) == expect.api_endpoint(site) == \
            raw["kubernetes"]["api_endpoint"]


@pytest.mark.parametrize("value", [None, "192.0.2.9"])
def test_the_labs_ini_edit_keeps_the_rest(value):
    text = "# ops note\n[ovs]\nlocal_ip = 192.0.2.1\nfoo = 1\n\n[agent]\ntunnel_types = vxlan\n"
    new = lneutron.edit_option(text, "ovs", "local_ip", value)
    cp = ini(new)
    assert cp.get("ovs", "local_ip", fallback=None) == value
    assert cp.get("ovs", "foo") == "1" and cp.get("agent", "tunnel_types") == "vxlan"
    assert new.startswith("# ops note\n")


@pytest.mark.parametrize("family", ["debian", "rhel"])
def test_the_labs_route_files_bring_back_the_inventorys_routes(inventory, family):
    """What the lab keeps for boot, read by the suite's parser of those files, is what the
    YAML asks for; writing twice adds nothing, and the operator's lines stay."""
    from stackproof.route_files import parse_libvirt_routes, parse_persisted
    raw, site = inventory
    for host, want in raw_fip_routes(raw).items():
        hops = lfip.hops(site, host)
        kept: set[tuple[str, str]] = set()
        for dev in {h.dev for h in hops}:
            mine = [h for h in hops if h.dev == dev]
            net = lfip.libvirt_network_of(site, host, dev)
            if net:
                xml = f"<network>\n  <name>{net}</name>\n</network>\n"
                new = lfip.with_libvirt_routes(xml, mine)
                assert lfip.with_libvirt_routes(new, mine) == new
                kept |= parse_libvirt_routes(new)
                continue
            ops = "# operator\nauto lo\n" if family == "debian" else "10.99.0.0/16 via 10.1.1.1\n"
            new = lfip.with_routes(family, ops, mine)
            assert new.startswith(ops) and lfip.with_routes(family, new, mine) == new
            kept |= parse_persisted(family, {"f": new}) - parse_persisted(family, {"f": ops})
        assert kept == want, host
