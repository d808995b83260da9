"""The lab's one wait: poll until something holds, or fail naming what and why.

Every wait of the lab (daemons up, sessions converged, agents alive, APIs answering, hosts
settled) goes through `wait_until`, so deadlines, intervals and timeout messages read alike.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


class WaitTimeout(RuntimeError):
    """A lab wait ran out of time (the message names what it waited for)."""


def wait_until(probe: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.2, describe: Callable[[], str] | None = None,
               error: type[Exception] = WaitTimeout) -> T:
    """Poll `probe` until it returns a truthy value, and return that value. After `timeout`
    seconds raise `error` ("timed out after N s waiting for WHAT[: describe()]"); `describe`
    says what is still missing at that moment (if it fails itself, the timeout says so)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f": {_described(describe)}" if describe else ""
            raise error(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def _described(describe: Callable[[], str]) -> str:
    try:
        return describe()
    except Exception as exc:       # the timeout's own message must survive a broken story
        return f"(could not say what is missing: {exc})"
