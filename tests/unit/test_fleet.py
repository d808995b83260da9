"""Route reflectors in the site model, on sites made by scripts/generate_site.py: validation,
the full-mesh warning, BGP expectations, the rendered frr.conf and the FRR managed scope."""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest

from stackproof.expect import bgp_hosts, bgp_intent, learned_prefixes
from stackproof.render.frr import render_frr_conf
from stackproof.render.frr_scope import MANAGED, UNMANAGED, classify, frr_scope, merge_frr_conf
from stackproof.site import InventoryError, SiteWarning, load_site, parse_site

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("generate_site", ROOT / "scripts/generate_site.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


@pytest.fixture(scope="module")
def rr_site():
    return parse_site(gen.generate(10, 2))


def _addr(site, host):
    return str(site.hosts[host].underlay.address)


def test_generated_site_is_valid_and_sized(tmp_path):
    out = tmp_path / "fleet.yml"
    gen.write(gen.generate(34, 2), out)
    site = load_site(out)
    assert len(site.hosts) == 100
    assert len(bgp_hosts(site)) == 34
    assert site.bgp.route_reflectors == ["hv-00", "hv-01"]
    assert len(site.instances()) == 32


def test_client_peers_only_with_the_reflectors(rr_site):
    intent = bgp_intent(rr_site, "hv-05")
    assert [n.peer for n in intent.neighbors] == ["hv-00", "hv-01"]
    assert not any(n.route_reflector_client for n in intent.neighbors)


def test_reflector_peers_with_everyone_and_reflects_to_clients_only(rr_site):
    intent = bgp_intent(rr_site, "hv-00")
    assert [n.peer for n in intent.neighbors] == [h for h in bgp_hosts(rr_site) if h != "hv-00"]
    clients = {n.peer for n in intent.neighbors if n.route_reflector_client}
    assert clients == set(bgp_hosts(rr_site)) - {"hv-00", "hv-01"}


def test_rendered_reflector_conf_marks_each_client(rr_site):
    text = render_frr_conf(rr_site, "hv-01")
    for h in bgp_hosts(rr_site):
        line = f"  neighbor {_addr(rr_site, h)} route-reflector-client"
        assert (line in text.splitlines()) == (h not in ("hv-00", "hv-01")), h
    # FRR's order inside the address family: route-reflector-client, then next-hop-self
    lines = text.splitlines()
    a = _addr(rr_site, "hv-03")
    assert lines.index(f"  neighbor {a} route-reflector-client") + 1 == \
        lines.index(f"  neighbor {a} next-hop-self")


def test_rendered_client_conf_has_two_neighbors_and_no_reflection(rr_site):
    text = render_frr_conf(rr_site, "hv-07")
    assert "route-reflector-client" not in text
    assert text.count(" remote-as ") == 2


def test_client_learns_every_prefix_via_its_origin(rr_site):
    got = {p.prefix: (p.via, p.origin) for p in learned_prefixes(rr_site, "hv-07")}
    for h in bgp_hosts(rr_site):
        if h == "hv-07":
            continue
        nat = str(rr_site.hosts[h].nat_networks[0].cidr)
        # the reflector does not change the next hop: the origin's own address
        assert got[nat] == (_addr(rr_site, h), h)


def test_full_mesh_is_unchanged_without_reflectors():
    site = parse_site(gen.generate(5, 0))
    intent = bgp_intent(site, "hv-02")
    assert len(intent.neighbors) == 4
    assert "route-reflector-client" not in render_frr_conf(site, "hv-02")


def test_scope_owns_the_reflector_lines(rr_site):
    scope = frr_scope(rr_site, "hv-00")
    client, other_rr = _addr(rr_site, "hv-04"), _addr(rr_site, "hv-01")
    router = f"router bgp {rr_site.bgp.asn}"
    af = "address-family ipv4 unicast"
    assert classify(scope, (router, af, f"neighbor {client} route-reflector-client")) == MANAGED
    # the other reflector is no client: a route-reflector-client line on it is not ours
    assert classify(scope, (router, af, f"neighbor {other_rr} route-reflector-client")) == \
        UNMANAGED


def test_merge_puts_a_missing_reflector_line_back(rr_site):
    intent = bgp_intent(rr_site, "hv-00")
    rendered = render_frr_conf(rr_site, "hv-00")
    client = _addr(rr_site, "hv-06")
    broken = rendered.replace(f"  neighbor {client} route-reflector-client\n", "")
    assert broken != rendered
    merged = merge_frr_conf(frr_scope(rr_site, "hv-00"), intent, broken)
    assert f"  neighbor {client} route-reflector-client" in merged.splitlines()


@pytest.mark.parametrize("change, problem", [
    (lambda d: d["bgp"].update(route_reflectors=["controller"]),
     "bgp.route_reflectors[0]: controller: not a physical host with role bgp"),
    (lambda d: d["bgp"].update(route_reflectors=["nope"]),
     "bgp.route_reflectors[0]: nope: not a physical host with role bgp"),
    (lambda d: d["bgp"].update(route_reflectors=["hv-00", "hv-00"]),
     "bgp.route_reflectors[1]: hv-00: listed twice"),
])
def test_reflector_field_errors(change, problem):
    data = gen.generate(4, 1)
    change(data)
    with pytest.raises(InventoryError) as exc:
        parse_site(data)
    assert problem in exc.value.problems


def test_reflectors_are_ibgp_only():
    data = gen.generate(4, 1)
    data["bgp"] = {"mode": "ebgp", "route_reflectors": ["hv-00"]}
    for i, h in enumerate(n for n, v in data["hosts"].items() if v["kind"] == "physical"):
        data["hosts"][h]["asn"] = 64600 + i
    with pytest.raises(InventoryError) as exc:
        parse_site(data)
    assert any(p.startswith("bgp.route_reflectors: ") and "iBGP only" in p
               for p in exc.value.problems)


def test_large_full_mesh_warns_and_reflectors_silence_it():
    with pytest.warns(SiteWarning, match="iBGP full mesh of 21 hosts"):
        site = parse_site(gen.generate(21, 0))
    assert site.warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_site(gen.generate(21, 2)).warnings == []
        assert parse_site(gen.generate(20, 0)).warnings == []
