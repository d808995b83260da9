"""Steps every layer shares."""
from __future__ import annotations

from pytest_bdd import given

from stackproof.checks import baseline as checks


@given("the host is reachable over SSH")
def _reachable(remote, remedy):
    remedy.ensure(lambda: checks.reachable(remote))
