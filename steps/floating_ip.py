"""Floating-IP steps (the report's DVR fixes): each sentence hands one check to the
remediation engine."""
from __future__ import annotations

import pytest
from pytest_bdd import then

from stackproof.checks import floating_ip as checks
from steps.common import then_ensures, traced


then_ensures("every floating IP routed through this host has its /32 route towards the "
             "next hop", checks.routes_in_place)


@then("those routes are kept for the next boot")
def _routes_persisted(site, remote, remedy, reboot_check):
    if reboot_check.enabled:
        from stackproof.checks import boot as after_boot
        remedy.ensure(reboot_check.after_boot(remote.name,
                                              lambda: after_boot.fip_routes(site, remote)))
        return
    remedy.ensure(lambda: checks.routes_persisted(site, remote))


then_ensures("every floating IP of an instance on this compute node is on its external "
             "bridge", checks.addresses_in_place)


@then("every floating IP of the site answers a ping")
def _reachable(site, remote, fleet, remedy):
    if not checks.reach_hosts(site):
        pytest.skip("the inventory gives no instance a floating IP")
    remedy.ensure(traced(site, fleet, remote,
                         lambda: checks.floating_ips_reachable(site, remote)))
