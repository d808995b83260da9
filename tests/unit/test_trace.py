"""Path traces: the expected path from the model, and the firewall verdict for one packet
computed from captured real iptables-save output (tests/data/firewall, libvirt 9)."""
from __future__ import annotations

from pathlib import Path

import pytest

from stackproof.facts.firewall import parse_iptables_save
from stackproof.facts.route_decision import parse_neighbor, parse_route_get
from stackproof.facts.packet_filter import Packet, rule_matches, verdict
from stackproof.paths import PathError, expected_path, resolve_destination
from stackproof.site import load_site

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "tests" / "data" / "firewall"


@pytest.fixture(scope="module")
def seed():
    return load_site(ROOT / "inventories" / "seed.yml")


@pytest.fixture(scope="module")
def four():
    return load_site(ROOT / "inventories" / "four-host-ebgp.yml")


def _nat(site, host):
    return site.hosts[host].nat_networks[0]


def test_host_to_a_remote_nat_gateway_crosses_bgp_then_arrives(seed):
    a, b = "openstack-host", "compute-2-host"
    nw = _nat(seed, b)
    path = expected_path(seed, a, str(nw.gateway))
    assert [h.host for h in path.hops] == [a]
    hop = path.hops[0]
    assert hop.dev == seed.hosts[a].underlay.interface
    assert hop.via == str(seed.hosts[b].underlay.address) and hop.next == b
    assert hop.why.startswith("BGP route for")
    assert path.arrives == b and path.arrives_iif == seed.hosts[b].underlay.interface


def test_host_to_a_remote_guest_is_forwarded_into_the_nat_bridge(seed):
    path = expected_path(seed, "openstack-host", str(seed.hosts["compute2"].address))
    assert [h.host for h in path.hops] == ["openstack-host", "compute-2-host"]
    fwd = path.hops[1]
    assert fwd.iif == seed.hosts["compute-2-host"].underlay.interface
    assert fwd.dev == seed.nat_network("compute-2-host", "k3snat").bridge
    assert fwd.src == str(seed.hosts["openstack-host"].underlay.address)
    assert path.arrives == "compute2" and path.arrives_iif == seed.hosts["compute2"].interface


def test_controller_to_a_remote_floating_ip_follows_the_32s(seed):
    fip = resolve_destination(seed, "k8s-worker-2")
    path = expected_path(seed, "controller", fip)
    assert [h.host for h in path.hops] == ["controller", "openstack-host", "compute-2-host"]
    assert path.hops[0].via == str(seed.nat_network("openstack-host", "default").gateway)
    assert path.hops[1].why.startswith("/32 for")
    assert path.hops[1].via == str(seed.hosts["compute-2-host"].underlay.address)
    assert path.hops[2].via == str(seed.hosts["compute2"].address)
    assert path.arrives == "compute2"


def test_the_way_out_leaves_the_site(seed):
    path = expected_path(seed, "master", str(seed.underlay.gateway))
    assert path.arrives is None
    assert [h.host for h in path.hops] == ["master", "kubernetes-host"]
    assert path.hops[-1].next is None and path.hops[-1].via is None


def test_every_reach_target_of_the_four_host_site_has_a_path(four):
    from stackproof.expect import reach_targets
    for host in four.hosts:
        if four.hosts[host].kind == "instance":
            continue
        for t in reach_targets(four, host):
            path = expected_path(four, host, t.address)
            assert path.hops or path.arrives == host


def test_bad_destination_is_a_path_error(seed):
    with pytest.raises(PathError, match="not an IPv4 address"):
        expected_path(seed, "controller", "nowhere")
    with pytest.raises(PathError, match="not a host"):
        expected_path(seed, "no-such-host", "192.0.2.1")


# --- the firewall verdict on captured rulesets ---------------------------------------------
def _rules(name):
    return parse_iptables_save((FW / name).read_text())


def test_libvirt_rejects_underlay_traffic_into_its_nat_network():
    rules = _rules("compute-2-host.libvirt.txt")
    v = verdict(rules, "filter", "FORWARD",
                Packet("10.10.10.1", "45.120.120.154", iif="enp2s0", oif="virbr10"))
    assert v.target == "REJECT"
    assert [c for c, _, _ in v.path] == ["FORWARD", "LIBVIRT_FWI"]
    assert v.describe() == "FORWARD -> LIBVIRT_FWI rule 2 REJECT (-o virbr10)"


def test_the_reports_accept_lets_it_through():
    rules = _rules("compute-2-host.report.txt")
    v = verdict(rules, "filter", "FORWARD",
                Packet("10.10.10.1", "45.120.120.154", iif="enp2s0", oif="virbr10"))
    assert v.passes, v.describe()


def test_restarted_network_puts_the_reject_ahead_again():
    rules = _rules("compute-2-host.net-restarted.txt")
    v = verdict(rules, "filter", "FORWARD",
                Packet("10.10.10.1", "45.120.120.154", iif="enp2s0", oif="virbr10"))
    assert v.target == "REJECT"


def test_guest_traffic_out_is_accepted_by_libvirt():
    rules = _rules("compute-2-host.libvirt.txt")
    v = verdict(rules, "filter", "FORWARD",
                Packet("45.120.120.154", "10.10.10.254", iif="virbr10", oif="enp2s0"))
    assert v.passes and v.path[-1][0] == "LIBVIRT_FWO"


def test_policy_decides_when_no_rule_matches():
    rules = _rules("guest.empty.txt")
    v = verdict(rules, "filter", "INPUT", Packet("192.0.2.1", "192.0.2.2", iif="eth0"))
    assert v.target == "ACCEPT" and v.describe() == "INPUT policy ACCEPT"


@pytest.mark.parametrize("spec, pkt, want", [
    ("-s 10.0.0.0/8 -j ACCEPT", Packet("10.1.2.3", "192.0.2.1"), True),
    ("! -s 10.0.0.0/8 -j ACCEPT", Packet("10.1.2.3", "192.0.2.1"), False),
    ("-s 10.0.0.0/8 ! -d 10.0.0.0/8 -j MASQUERADE", Packet("10.1.2.3", "192.0.2.1"), True),
    ("-i vir+ -j ACCEPT", Packet("a", "b", iif="virbr10"), True),
    ("-p udp -m udp --dport 4789 -j ACCEPT", Packet("10.0.0.1", "10.0.0.2"), False),
    ("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", Packet("a", "b"), False),
    ("-m state --state NEW -j ACCEPT", Packet("a", "b"), True),
    ("-m physdev --physdev-in tap0 -j DROP", Packet("a", "b"), None),
])
def test_rule_matches(spec, pkt, want):
    assert rule_matches(spec, pkt) is want


TRACE = ROOT / "tests" / "data" / "trace"      # captured by tests/data/trace/capture.py


def _captured(name):
    rc = TRACE / f"{name}.rc"
    err = TRACE / f"{name}.stderr"
    return (int(rc.read_text()) if rc.exists() else 0, (TRACE / f"{name}.json").read_text(),
            err.read_text() if err.exists() else "")


def test_route_get_parsing_on_captured_outputs(seed):
    ok = parse_route_get(*_captured("route-get-bgp"))
    assert ok.ok and ok.kind == "unicast"
    assert ok.gateway == str(seed.hosts["kubernetes-host"].underlay.address)
    assert ok.text() == f"via {ok.gateway} dev {seed.hosts['openstack-host'].underlay.interface}"
    fwd = parse_route_get(*_captured("route-get-forward"))
    assert fwd.ok and fwd.gateway is None
    assert fwd.dev == seed.nat_network("kubernetes-host", "default").bridge
    local = parse_route_get(*_captured("route-get-local"))
    assert local.kind == "local" and local.text().startswith("local")
    bad = parse_route_get(*_captured("route-get-unreachable"))
    assert not bad.ok and bad.error == "Network is unreachable"


def test_neighbor_parsing_on_captured_outputs(seed):
    dev = seed.hosts["openstack-host"].underlay.interface
    rc, out, _ = _captured("neigh-failed")
    failed = parse_neighbor(json_dst(out), dev, out)
    assert failed.failed and failed.states
    rc, out, _ = _captured("neigh-reachable")
    good = parse_neighbor(json_dst(out), dev, out)
    assert not good.failed and good.states


def json_dst(text: str) -> str:
    import json
    return json.loads(text)[0]["dst"]


def test_source_nat_on_the_captured_libvirt_nat_table():
    from stackproof.facts.packet_filter import source_nat
    rules = _rules("compute-2-host.report.txt")
    out = Packet("45.120.120.154", "10.10.10.254", iif="virbr10", oif="enp2s0")
    assert source_nat(rules, out, lambda: "10.10.10.3") == "10.10.10.3"
    # the underlay's packets into the NAT network keep their source (no rule matches)
    inward = Packet("10.10.10.1", "45.120.120.154", iif="enp2s0", oif="virbr10")
    assert source_nat(rules, inward, lambda: "unused") == "10.10.10.1"


def test_where_a_packet_dies_names_the_scenario_that_owns_it():
    from stackproof.checks.trace import HopResult, TraceResult, cause_of, with_traces
    from stackproof.finding import Cause, Finding

    def died(hop):
        return TraceResult("a", "192.0.2.9", "guest x", (hop,))
    fw = "FORWARD -> LIBVIRT_FWI rule 2 REJECT (-o virbr10)"
    assert cause_of(died(HopResult("hv", "dev virbr10 (connected NAT network n)", "dev virbr10",
                                   fw, "", False, fw))) == Cause("firewall.libvirt-accept", "hv")
    assert cause_of(died(HopResult("hv", "via 1.2.3.4 dev e (/32 for x)", "dev v", "", "",
                                   False, "no /32 for x, follows dev v"))) == \
        Cause("floating_ip.routes", "hv")
    assert cause_of(died(HopResult("hv", "via g dev e (BGP route for n from b)", "via u", "", "",
                                   False, "expected ..., follows via u"))) == \
        Cause("bgp.prefixes-learned", "hv")
    assert cause_of(died(HopResult("hv", "m", "l", "", "FAILED", False,
                                   "no ARP answer from g on e (FAILED)"))) is None
    f = with_traces(Finding("reachability", "a", "a cannot reach 192.0.2.9"),
                    [died(HopResult("hv", "m", "l", fw, "", False, fw))])
    assert f.caused_by == Cause("firewall.libvirt-accept", "hv")
    assert f.message.endswith(f"path trace: a -> 192.0.2.9 (guest x): dies at hv: {fw}")
