"""Steps every layer shares, and `then_ensures`, which the step modules use to list their
plain steps as the runbook does."""
from __future__ import annotations

from typing import Callable

from pytest_bdd import given, then

from stackproof.checks import baseline as checks
from stackproof.finding import Finding


@given("the host is reachable over SSH")
def _reachable(remote, remedy):
    remedy.ensure(lambda: checks.reachable(remote))


def then_ensures(sentence: str, check: Callable[..., Finding | None], *,
                 with_fleet: bool = False) -> Callable[..., None]:
    """Register `Then <sentence>` in the calling step module: the step hands
    `check(site, remote)` on the scenario's host to the remediation engine, as

        @then(sentence)
        def _step(site, remote, remedy):
            remedy.ensure(lambda: check(site, remote))

    would. With `with_fleet=True` the check also reads other hosts and gets the fleet's
    lookup as its third argument: `check(site, remote, fleet.__getitem__)`. A step that does
    more (a skip, a reboot check, an attachment, a trace) keeps a function of its own.

    pytest-bdd finds a step through the fixture its decorator adds to the namespace of the
    module that applies it: `stacklevel=2` adds it to the caller's (the step module that
    conftest.py loads as a plugin), exactly where `@then` written there would."""
    if with_fleet:
        def step(site, remote, fleet, remedy):
            remedy.ensure(lambda: check(site, remote, fleet.__getitem__))
    else:
        def step(site, remote, remedy):
            remedy.ensure(lambda: check(site, remote))
    step.__name__ = step.__qualname__ = f"_{check.__name__}"
    return then(sentence, stacklevel=2)(step)


def traced(site, fleet, remote, check):
    """A reachability check whose first failure attaches a hop-by-hop trace to each packet
    that did not arrive and names where it dies (stackproof.checks.trace). A green run never
    traces; verification polls after a fix reuse the plain check."""
    from stackproof import report
    from stackproof.checks.trace import trace_unreachable, with_traces
    traced_once = False

    def run():
        nonlocal traced_once
        finding = check()
        if finding is None or traced_once:
            return finding
        traced_once = True
        traces = trace_unreachable(site, fleet.__getitem__, remote.name,
                                   list(finding.params.get("unreachable", ())))
        if traces:
            report.attach_text(f"path trace: {remote.name}",
                               "\n\n".join(t.table() for t in traces))
        return with_traces(finding, traces)
    return run
