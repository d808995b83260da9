"""The VXLAN expectation follows Neutron's rules (stackproof.expect.vxlan_tunnels), on what
the real neutron-openvswitch-agents built in a seed lab (tests/data/ovs/real-agent) and the
port bindings Neutron's API listed at the same moment (tests/data/openstack/real-agent),
both captured by tests/data/ovs/capture_real.py. In that lab the two instance ports are
bound and ACTIVE on compute and compute2; the controller (l2_population) hosts no port."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackproof.checks import overlay as checks
from stackproof.expect import l2pop_peers, vxlan_mesh, vxlan_tunnels
from stackproof.facts import openstack as osf
from stackproof.facts import ovs as facts
from test_ovs import Captured

DATA = Path(__file__).resolve().parents[1] / "data"
CASE = "real-agent"


def ports() -> list[osf.Port]:
    return osf.parse_ports(json.loads((DATA / "openstack" / CASE / "ports.json").read_text()))


def bindings() -> dict[str, set[str]]:
    return osf.hosts_by_network(ports())


def built(host: str) -> set[str]:
    """The tunnel ports the real agent made on `host`."""
    st = facts.ovs_state(Captured(CASE, host))
    return {i.name for i in st.interfaces.values() if i.type == "vxlan"}


def with_l2pop(site, hosts):
    return site.model_copy(update={"overlay": site.overlay.model_copy(
        update={"l2_population": list(hosts)})})


def test_the_captured_bindings_put_the_instances_on_their_computes(seed_site):
    hbn = bindings()
    assert list(hbn.values()) == [{"compute", "compute2"}]        # one tenant network
    bound = {p.name: p.binding_host for p in ports() if p.device_owner == "compute:nova"}
    assert bound == {n: i.compute for n, i in seed_site.instances().items()}
    # a port that is not ACTIVE (the router's, bound nowhere) gives no host
    assert all(p.status != "ACTIVE" for p in ports() if p.device_owner.startswith("network:"))


@pytest.mark.parametrize("host", ["compute", "compute2"])
def test_without_l2pop_a_full_mesh_as_the_real_agent_built_it(seed_site, host):
    assert host not in seed_site.overlay.l2_population
    want = vxlan_tunnels(seed_site, host)
    assert want == vxlan_mesh(seed_site, host) and len(want) == 2
    assert built(host) == {t.name for t in want}
    assert checks.vxlan_mesh(seed_site, Captured(CASE, host)) is None


def test_with_l2pop_no_tunnel_where_the_node_hosts_no_port(seed_site):
    assert "controller" in seed_site.overlay.l2_population
    assert vxlan_tunnels(seed_site, "controller", bindings()) == []
    assert built("controller") == set()                 # Neutron agrees: none were made
    assert checks.vxlan_mesh(seed_site, Captured(CASE, "controller"), bindings()) is None


def test_with_l2pop_tunnels_only_to_hosts_sharing_a_network(seed_site):
    site = with_l2pop(seed_site, ["controller", "compute"])
    assert l2pop_peers(site, "compute", bindings()) == {"compute2"}
    [t] = vxlan_tunnels(site, "compute", bindings())
    assert t.peer == "compute2" and t.local_ip == str(site.address_of("compute"))
    # the full-mesh agent's extra tunnel (to the controller) is left alone
    assert checks.vxlan_mesh(site, Captured(CASE, "compute"), bindings()) is None
    # without the binding on compute2 the expectation drops that tunnel as well
    only_compute = {n: {"compute"} for n in bindings()}
    assert vxlan_tunnels(site, "compute", only_compute) == []


def test_a_full_mesh_demand_fails_where_the_real_l2pop_agent_is_right(seed_site):
    """The old rule (full mesh everywhere) against the real agent's controller: red."""
    site = with_l2pop(seed_site, [])
    f = checks.vxlan_mesh(site, Captured(CASE, "controller"))
    assert f is not None and len(f.params["missing"]) == 2


def test_an_l2pop_expectation_needs_the_bindings(seed_site):
    with pytest.raises(ValueError, match="l2_population"):
        vxlan_tunnels(seed_site, "controller")
