"""Bounded concurrency for bringing up many lab hosts: one call per host, at most `workers`
at a time, every call finished before the first error is raised.

The work is mostly waiting on child processes (nsenter, virsh, vtysh, daemons starting), not
Python: threads suffice, and the bound keeps a small machine from starting a hundred daemons
at once. `STACKPROOF_LAB_WORKERS=1` runs everything one after another (debugging).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")

PER_CPU = 4             # calls in flight per CPU: they mostly wait on child processes
MAX_WORKERS = 16


def workers(n: int | None = None) -> int:
    """The pool size for `n` calls on this machine (env STACKPROOF_LAB_WORKERS overrides)."""
    env = os.environ.get("STACKPROOF_LAB_WORKERS")
    size = int(env) if env else min(MAX_WORKERS, PER_CPU * (os.cpu_count() or 1))
    size = max(1, size)
    return size if n is None else max(1, min(size, n))


def each(items: Iterable[T], fn: Callable[[T], R], size: int | None = None) -> list[R]:
    """fn(item) for every item, concurrently (bounded), results in the items' order. All calls
    run to the end; then the first failure (in item order) is raised, the others attached as
    notes, so a half-started host is never left running unseen by the caller."""
    items = list(items)
    if not items:
        return []
    n = size or workers(len(items))
    if n == 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="lab") as ex:
        futures = [ex.submit(fn, i) for i in items]
        errors = [(i, f.exception()) for i, f in zip(items, futures) if f.exception()]
    if errors:
        first = errors[0][1]
        for item, exc in errors[1:]:
            first.add_note(f"also failed: {item}: {exc}")
        raise first
    return [f.result() for f in futures]


class Phases:
    """Wall time of each named phase of a bring-up, said as it ends."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.times: dict[str, float] = {}
        self._t = time.monotonic()

    def done(self, name: str, detail: str = "") -> None:
        now = time.monotonic()
        self.times[name] = now - self._t
        self._t = now
        self.say(f"phase {name}: {self.times[name]:.1f} s{f' ({detail})' if detail else ''}")
