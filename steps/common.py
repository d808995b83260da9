"""Steps every layer shares."""
from __future__ import annotations

from pytest_bdd import given

from stackproof.checks import baseline as checks


@given("the host is reachable over SSH")
def _reachable(remote, remedy):
    remedy.ensure(lambda: checks.reachable(remote))


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
