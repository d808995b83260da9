"""A broken fact, as checks report it: the only type checks share with the engine.

Its own module so that checks import neither the remediation engine nor the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cause:
    """The finding that explains another: its stable check id and host (a symptom's root).
    `fix` is the remediation that fixes the cause itself, when the check knows it: a
    symptom's finding that carries this same remediation fixes its cause at the root."""
    check: str
    host: str
    fix: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Finding:
    """A broken fact: which remediation fixes it, where, with what, and why it is broken.
    `caused_by` names the finding that explains it, when the check found one."""
    remediation: str
    host: str
    message: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    facts: dict = field(default_factory=dict, hash=False, compare=False)
    caused_by: Cause | None = field(default=None, compare=False)
