"""Overlay steps (Open vSwitch and the Neutron OVS agent): each sentence hands one check to
the remediation engine."""
from __future__ import annotations

from pytest_bdd import then

from stackproof.checks import overlay as checks


@then("Open vSwitch answers")
def _ovs_answers(site, remote, remedy):
    remedy.ensure(lambda: checks.ovs_answers(site, remote))


@then("openvswitch_agent.ini sets local_ip, tunnel_bridge and tunnel_types from the inventory")
def _ini_tunnels(site, remote, remedy):
    remedy.ensure(lambda: checks.agent_ini_tunnels(site, remote))


@then("openvswitch_agent.ini enables l2_population")
def _ini_l2pop(site, remote, remedy):
    remedy.ensure(lambda: checks.agent_ini_l2_population(site, remote))


@then("the tunnel bridge exists next to the integration bridge")
def _tunnel_bridge(site, remote, remedy):
    remedy.ensure(lambda: checks.tunnel_bridge_exists(site, remote))


@then("the patch ports of the integration and tunnel bridges name each other as peers")
def _patch_peers(site, remote, remedy):
    remedy.ensure(lambda: checks.patch_ports_peer(site, remote))


@then("no Open vSwitch interface reports an error")
def _no_errors(site, remote, remedy):
    remedy.ensure(lambda: checks.no_interface_errors(site, remote))


@then("every overlay endpoint Neutron tunnels to has exactly one VXLAN port with this "
      "host's local_ip and the endpoint's remote_ip")
def _vxlan_mesh(site, remote, remedy, request):
    if remote.name not in site.overlay.l2_population:
        remedy.ensure(lambda: checks.vxlan_mesh(site, remote))
        return
    # l2_population: the tunnels follow the API's port bindings, read afresh on re-checks
    from steps.openstack import ensure
    cloud = request.getfixturevalue("cloud")
    ensure(remedy, cloud, lambda: checks.vxlan_mesh(site, remote, cloud.hosts_by_network()))
