"""OpenStack steps: each sentence hands one check to the remediation engine.

API facts are cached for the run; the engine drops them after a remediation, so its
re-verification reads the cloud afresh."""
from __future__ import annotations

import pytest
from pytest_bdd import given, then

from stackproof.absent import section_missing

from stackproof.checks import openstack as checks


def ensure(remedy, cloud, check) -> None:
    """The cloud's facts are a source registered with the engine (fixture `cloud`): it drops
    them before every re-verification, as it drops SSH facts."""
    remedy.ensure(check)


@given("the cloud answers")
def _cloud_answers(cloud):
    cloud.compute_services()
    cloud.networks()


@then("nova-compute is enabled and up on the host")
def _nova_compute_up(site, cloud, remote, remedy):
    ensure(remedy, cloud, lambda: checks.nova_compute_up(site, cloud, remote))


@then("the host is mapped to a cell as a hypervisor")
def _host_mapped(site, cloud, target, remedy):
    ensure(remedy, cloud, lambda: checks.host_mapped(site, cloud, target))


@then("every expected neutron agent on the host is alive and UP")
def _agents(site, cloud, target, remedy, request):
    if "ovs_agent" in site.hosts[target].roles:
        # a dead agent whose bus is wrong: the fix is its transport, not a restart
        remote = request.getfixturevalue("fleet")[target]
        ensure(remedy, cloud, lambda: checks.agent_transport(site, remote))
    ensure(remedy, cloud, lambda: checks.agents_alive(site, cloud, target))


@then("the external network is flat and external with the expected CIDR, gateway and pool")
def _external(site, cloud, remedy):
    ensure(remedy, cloud, lambda: checks.external_network(site, cloud))


@then("no external or tenant subnet overlaps a libvirt NAT network")
def _overlap(site, cloud, remedy):
    ensure(remedy, cloud, lambda: checks.no_nat_overlap(site, cloud))


@then("the external gateway address is on the inventory's host bridge")
def _gateway_on_bridge(site, fleet, remedy):
    missing = section_missing(site, "openstack")   # also when a feature lacks @needs:openstack
    if missing:
        pytest.skip(missing)
    remote = fleet[site.openstack.external_network.gateway_on.host]
    remedy.ensure(lambda: checks.gateway_on_bridge(site, remote))


@then("the router's external gateway is the external network")
def _router(site, cloud, remedy):
    ensure(remedy, cloud, lambda: checks.router_gateway(site, cloud))


@then("the instance's floating IP is attached to its port")
def _fip(site, cloud, target, remedy):
    ensure(remedy, cloud, lambda: checks.floating_ip_attached(site, cloud, target))


@then("the instance's port is bound to its compute host")
def _port_bound(site, cloud, target, remedy):
    ensure(remedy, cloud, lambda: checks.instance_port_bound(site, cloud, target))


@then("the catalog's image and placement services answer")
def _server_services(site, cloud, remedy):
    from stackproof.facts.openstack_endpoints import probe_all
    ensure(remedy, cloud, lambda: checks.server_services_answer(site, probe_all(cloud.conn)))

