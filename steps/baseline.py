"""Host baseline steps: each sentence hands one check to the remediation engine."""
from __future__ import annotations

import pytest
from pytest_bdd import given, then

from stackproof.checks import baseline as checks


@given("the host is reachable over SSH")
def _reachable(remote, remedy):
    remedy.ensure(lambda: checks.reachable(remote))


@then("the running hostname is the inventory name")
def _hostname_runtime(site, remote, remedy):
    remedy.ensure(lambda: checks.hostname_runtime(site, remote))


@then("/etc/hostname holds the inventory name")
def _hostname_configured(site, remote, remedy):
    remedy.ensure(lambda: checks.hostname_configured(site, remote))


@then("/etc/fstab has no active swap entry")
def _fstab_swap(site, remote, remedy):
    remedy.ensure(lambda: checks.fstab_has_no_swap(site, remote))


@then("no swap device is in use")
def _no_swap(site, remote, remedy):
    if site.hosts[remote.name].kernel == "shared":
        pytest.skip(f"{remote.name} shares the machine's kernel (a lab host): /proc/swaps "
                    "is the machine's, and the lab never touches the machine's swap")
    remedy.ensure(lambda: checks.no_swap_in_use(site, remote))


@then("chrony is configured with the time server and iburst")
def _chrony_conf(site, remote, remedy):
    remedy.ensure(lambda: checks.chrony_uses_time_server(site, remote))


@then("chronyd runs with the time server selected as its source")
def _chrony_synced(site, remote, remedy):
    remedy.ensure(lambda: checks.chrony_synced_to_time_server(site, remote))


@then("chronyd serves time from its local clock to the site's networks")
def _chrony_serves(site, remote, remedy):
    remedy.ensure(lambda: checks.chrony_serves_time(site, remote))
