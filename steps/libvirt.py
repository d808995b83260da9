"""libvirt steps."""
from __future__ import annotations

from pytest_bdd import then

from stackproof.checks import libvirt as checks


@then("each NAT network is defined, active and autostarted")
def _active(site, remote, remedy):
    remedy.ensure(lambda: checks.networks_active(site, remote))


@then("each NAT network forwards with nat on the inventory's bridge, gateway and DHCP range")
def _shaped(site, remote, remedy):
    remedy.ensure(lambda: checks.networks_shaped(site, remote))


@then("every guest has its fixed DHCP reservation")
def _reservations(site, remote, remedy):
    remedy.ensure(lambda: checks.reservations_present(site, remote))


@then("every guest domain is running")
def _guests(site, remote, remedy):
    remedy.ensure(lambda: checks.guests_running(site, remote))
