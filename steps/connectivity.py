"""Connectivity steps."""
from __future__ import annotations

from pytest_bdd import then

from stackproof.checks import connectivity as checks
from steps.common import traced


@then("it reaches every other host, their NAT gateways and guests, and the way out")
def _reaches(site, remote, fleet, remedy):
    remedy.ensure(traced(site, fleet, remote, lambda: checks.reaches_everything(site, remote)))
