"""Host baseline steps: each sentence hands one check to the remediation engine."""
from __future__ import annotations

import pytest
from pytest_bdd import then

from stackproof.checks import baseline as checks
from stackproof.checks import boot as after_boot
from steps.common import then_ensures


then_ensures("the running hostname is the inventory name", checks.hostname_runtime)


@then("/etc/hostname holds the inventory name")
def _hostname_configured(site, remote, remedy, reboot_check):
    if reboot_check.enabled:
        remedy.ensure(reboot_check.after_boot(remote.name,
                                              lambda: after_boot.hostname(site, remote)))
        return
    remedy.ensure(lambda: checks.hostname_configured(site, remote))


@then("/etc/fstab has no active swap entry")
def _fstab_swap(site, remote, remedy, reboot_check):
    if reboot_check.enabled:
        remedy.ensure(reboot_check.after_boot(remote.name,
                                              lambda: after_boot.swap(site, remote)))
        return
    remedy.ensure(lambda: checks.fstab_has_no_swap(site, remote))


@then("no swap device is in use")
def _no_swap(site, remote, remedy):
    if site.hosts[remote.name].kernel == "shared":
        pytest.skip(f"{remote.name} shares the machine's kernel (a lab host): /proc/swaps "
                    "is the machine's, and the lab never touches the machine's swap")
    remedy.ensure(lambda: checks.no_swap_in_use(site, remote))
