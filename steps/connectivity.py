"""Connectivity steps."""
from __future__ import annotations

from pytest_bdd import then

from stackproof.checks import connectivity as checks


@then("it reaches every other host, their NAT gateways and guests, and the way out")
def _reaches(site, remote, remedy):
    remedy.ensure(lambda: checks.reaches_everything(site, remote))
