"""Time steps: chrony on every host, served by the site's time server."""
from __future__ import annotations

from pytest_bdd import then

from stackproof.checks import baseline as checks


@then("chrony is configured with the time server and iburst")
def _chrony_conf(site, remote, remedy):
    remedy.ensure(lambda: checks.chrony_uses_time_server(site, remote))


@then("chronyd runs with the time server selected as its source")
def _chrony_synced(site, remote, remedy):
    remedy.ensure(lambda: checks.chrony_synced_to_time_server(site, remote))


@then("chronyd serves time from its local clock to the site's networks")
def _chrony_serves(site, remote, remedy):
    remedy.ensure(lambda: checks.chrony_serves_time(site, remote))
