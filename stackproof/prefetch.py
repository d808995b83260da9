"""Facts for many hosts at once: the scenario's first host shows what to read, a bounded
pool reads it on the scenario's other hosts while the scenarios go on.

Items run one after another, as (scenario, host) pairs in the runbook's order, and the
remediation engine keeps that order. What makes a large site slow is the waiting on each
host's commands, one host after another. So, while a scenario's first host runs, every fact
it reads on that host is recorded (`@fact` reports to the active `Recording`); when it ends,
the same facts are read on the scenario's other hosts in a pool of `--fact-workers` threads,
one task per host at a time (its facts in the recorded order, over its one connection). The
items of those hosts then find them cached; a fact still being read is waited for, never
queried twice (`Remote.fact`).

What is replayed on another host:
  - facts without arguments, always;
  - facts with arguments (paths, a unit name), only on hosts of the recording host's OS
    family: within one scenario the role is the same, so the arguments are too;
  - facts marked `@fact(per_host=True)` take arguments of the host's own (its neighbors,
    routes, intended configuration): only when the layer that knows those arguments has
    said how to make them for another host (`read_ahead_as`), and with those arguments.
A prefetched fact is used only while no remediation ran anywhere since it was read (the
fleet's Epoch); after one it is read again, as a run without the pool would read it then.
`--fact-workers 0` switches the pool off.
"""
from __future__ import annotations

import contextvars
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger("stackproof.prefetch")

DEFAULT_WORKERS = 16


@dataclass(frozen=True)
class FactCall:
    """One call of a `@fact` function, as a scenario made it on its host."""
    fn: Callable[..., Any]               # the cached fact function (its @fact wrapper)
    args: tuple
    per_host: bool

    @property
    def portable(self) -> bool:
        """Read on any host of the scenario, whatever its OS family."""
        return not self.args


@dataclass
class Recording:
    """The facts one scenario read on its host, in order, each once."""
    host: str
    calls: list[FactCall] = field(default_factory=list)

    def add(self, call: FactCall) -> None:
        if (not call.per_host or call.fn in _RETARGET) and call not in self.calls:
            self.calls.append(call)


# per-host facts another host can read ahead: fact -> retarget(site, host, recorded args),
# the arguments that host's own item will pass (None: it reads no such fact)
Retarget = Callable[[Any, str, tuple], "tuple | None"]
_RETARGET: dict[Callable[..., Any], Retarget] = {}


def read_ahead_as(fact_fn: Callable[..., Any], retarget: Retarget) -> None:
    """Let the pool read a per-host fact on a scenario's other hosts: `retarget(site, host,
    args)` turns the recording host's arguments into that host's (the check that reads the
    fact registers it, since only it knows how it makes them)."""
    _RETARGET[fact_fn] = retarget


RECORDING: contextvars.ContextVar[Recording | None] = contextvars.ContextVar(
    "stackproof_fact_recording", default=None)


def record(remote_name: str, call: FactCall) -> None:
    """Called by every `@fact` call: kept when it reads the recording scenario's host."""
    rec = RECORDING.get()
    if rec is not None and rec.host == remote_name:
        rec.add(call)


class Prefetcher:
    """The run's pool. `hosts_of` maps a scenario to its hosts in run order (from the
    collected items); `os_family_of` names a host's OS family."""

    def __init__(self, fleet, hosts_of: dict[str, list[str]],
                 os_family_of: Callable[[str], str], workers: int = DEFAULT_WORKERS,
                 site: Any = None):
        self.fleet, self.hosts_of, self.os_family_of = fleet, hosts_of, os_family_of
        self.site = site                     # what a per-host fact's retarget reads
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers,
                                        thread_name_prefix="stackproof-facts") \
            if workers > 0 else None
        self._done: set[str] = set()
        self._host_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.futures: list[Future] = []
        self.prefetched = 0                  # fact reads the pool made (for the summary)

    def start(self, scenario: str, host: str) -> contextvars.Token | None:
        """Before a scenario's item runs: record its facts if it is the scenario's first."""
        if self._pool is None or scenario in self._done:
            return None
        return RECORDING.set(Recording(host))

    def finish(self, scenario: str, token: contextvars.Token | None) -> None:
        """After the item: read what it read on the scenario's hosts still to come."""
        if token is None:
            return
        rec = RECORDING.get()
        RECORDING.reset(token)
        self._done.add(scenario)
        if rec is None or not rec.calls:
            return
        hosts = self.hosts_of.get(scenario, [])
        rest = hosts[hosts.index(rec.host) + 1:] if rec.host in hosts else []
        family = self.os_family_of(rec.host)
        for other in rest:
            calls = [self._on(c, other) if c.per_host else c for c in rec.calls
                     if c.portable or self.os_family_of(other) == family]
            calls = [c for c in calls if c is not None]
            if calls:
                self.futures.append(self._pool.submit(self._read, other, calls))

    def _on(self, call: FactCall, host: str) -> FactCall | None:
        """A per-host call as `host` will make it, or None (not read there, or its
        arguments cannot be made: the item then reads it itself)."""
        try:
            args = _RETARGET[call.fn](self.site, host, call.args)
        except Exception as exc:
            log.debug("[%s] no read-ahead of %s: %s", host, call.fn.__qualname__, exc)
            return None
        return None if args is None else FactCall(call.fn, tuple(args), True)

    def _read(self, host: str, calls: list[FactCall]) -> None:
        with self._lock:
            lock = self._host_locks.setdefault(host, threading.Lock())
        with lock:                           # one stream per host: its order is kept
            remote = self.fleet[host]
            for call in calls:
                try:
                    call.fn(remote, *call.args, _prefetch=True)
                    with self._lock:
                        self.prefetched += 1
                except Exception as exc:     # the item reads it again and reports it
                    log.debug("[%s] prefetch of %s failed: %s", host,
                              getattr(call.fn, "__qualname__", call.fn), exc)
                    if type(exc).__name__ == "HostUnreachable":
                        return

    def wait(self) -> None:
        """Until every read ahead so far is done."""
        for f in list(self.futures):
            f.exception()

    def close(self) -> None:
        """At the end of the run: reads not started yet are dropped."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
