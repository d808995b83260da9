"""Firewall steps: each sentence hands one family of expected iptables rules to the engine."""
from __future__ import annotations

import pytest
from pytest_bdd import then

from stackproof.checks import firewall as checks


def _expecting(site, remote, family: str | None, what: str) -> None:
    """Skip (saying why) on a host where the site expects no rule of this family."""
    if not checks.expected_rules(site, remote.name, family):
        pytest.skip(f"{remote.name}: the site expects no {what} here")


@then("libvirt's forward chains accept the underlay to and from each NAT network ahead of "
      "their REJECT")
def _libvirt_chains(site, remote, remedy):
    _expecting(site, remote, "libvirt", "LIBVIRT_FWI/LIBVIRT_FWO rule")
    remedy.ensure(lambda: checks.libvirt_chains_accept(site, remote))


@then("FORWARD accepts the external and compute NAT networks ahead of any rule that rejects, "
      "and nat POSTROUTING masquerades them")
def _forward_masquerade(site, remote, remedy):
    _expecting(site, remote, "forward", "FORWARD or MASQUERADE rule")
    remedy.ensure(lambda: checks.forward_and_masquerade(site, remote))


@then("the overlay's VXLAN port is accepted in INPUT, and forwarded to and from compute "
      "guests behind this host")
def _vxlan(site, remote, remedy):
    _expecting(site, remote, "vxlan", "VXLAN rule")
    remedy.ensure(lambda: checks.vxlan_accepted(site, remote))


@then("every expected rule is in the rules file the host loads at boot")
def _saved(site, remote, remedy, reboot_check):
    _expecting(site, remote, None, "iptables rule")
    if reboot_check.enabled:
        from stackproof.checks import boot as after_boot
        remedy.ensure(reboot_check.after_boot(
            remote.name, lambda: after_boot.firewall_rules(site, remote)))
        return
    remedy.ensure(lambda: checks.rules_saved(site, remote))
