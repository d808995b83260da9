"""Root causes first: the causes this run has fixed, so that a symptom of one is re-verified
before its own remediation runs (sessions, routes and agents follow their cause by seconds).

Keyed by what a `Cause` names: the stable check id and the host. Only the engine writes it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from stackproof.finding import Finding

# The most a symptom waits, counted from its cause's verified fix: a BGP session is up
# ~1-2 s after bgpd starts, its routes ~1 s later; an agent reports within its interval.
SYMPTOM_SETTLE = 30.0


@dataclass(frozen=True)
class FixedCause:
    check: str
    host: str
    remediation: str      # the fix that made its check hold
    at: float             # time.monotonic() when that fix was verified
    settle: float         # its symptoms get until `at + settle` to clear on their own

    def describe(self) -> str:
        return f"{self.check} on {self.host}"

    @property
    def deadline(self) -> float:
        return self.at + self.settle


def fixed_at_root(finding: Finding) -> bool:
    """The symptom's finding carries its cause's own fix (bgp `_on`, `_because_frr`): once
    remediated, the cause is fixed too."""
    c = finding.caused_by
    return c is not None and c.fix is not None and c.fix == finding.remediation


class FixedCauses:
    """Every (check, host) a remediation of this run made hold."""

    def __init__(self) -> None:
        self._fixed: dict[tuple[str, str], FixedCause] = {}

    def record(self, check: str | None, host: str, finding: Finding, settle: float,
               at: float | None = None) -> None:
        """A remediated finding of scenario `check` on `host`: that scenario's fact holds now,
        and so does its cause's when the fix was aimed at the root."""
        at = time.monotonic() if at is None else at
        keys = [(check, host)] if check else []
        if fixed_at_root(finding):
            keys.append((finding.caused_by.check, finding.caused_by.host))
        for c, h in keys:
            self._fixed[(c, h)] = FixedCause(c, h, finding.remediation, at, settle)

    def cleared(self, check: str | None, host: str, root: FixedCause) -> None:
        """A symptom that cleared holds because of `root`: its own symptoms (routes after
        a session) are symptoms of that root, with the root's deadline."""
        if check:
            self._fixed.setdefault((check, host), root)

    def cause_of(self, finding: Finding, check: str | None, host: str) -> FixedCause | None:
        """The fixed cause this finding names, unless it names its own scenario."""
        c = finding.caused_by
        if c is None or (c.check, c.host) == (check, host):
            return None
        return self._fixed.get((c.check, c.host))

    def __len__(self) -> int:
        return len(self._fixed)
