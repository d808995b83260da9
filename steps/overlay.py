"""Overlay steps (Open vSwitch and the Neutron OVS agent): each sentence hands one check to
the remediation engine."""
from __future__ import annotations

from pytest_bdd import then

from stackproof.checks import overlay as checks
from steps.common import then_ensures

then_ensures("Open vSwitch answers", checks.ovs_answers)
then_ensures("openvswitch_agent.ini sets local_ip, tunnel_bridge and tunnel_types from the "
             "inventory", checks.agent_ini_tunnels)
then_ensures("openvswitch_agent.ini enables l2_population", checks.agent_ini_l2_population)
then_ensures("the tunnel bridge exists next to the integration bridge",
             checks.tunnel_bridge_exists)
then_ensures("the patch ports of the integration and tunnel bridges name each other as peers",
             checks.patch_ports_peer)
then_ensures("no Open vSwitch interface reports an error", checks.no_interface_errors)


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
