"""A broken fact, as checks report it: the only type checks share with the engine.

Its own module so that checks import neither the remediation engine nor the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """A broken fact: which remediation fixes it, where, with what, and why it is broken."""
    remediation: str
    host: str
    message: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    facts: dict = field(default_factory=dict, hash=False, compare=False)
