"""Facts: read a host's state once per run and return typed records.

Every fact function takes a `Remote` first and is wrapped by `@fact`, which caches the
result on that Remote until a remediation invalidates it.
"""
from __future__ import annotations

import functools
import json
import shlex
from typing import Any, Callable, TypeVar

from stackproof import prefetch
from stackproof.remote import CommandResult, Remote

T = TypeVar("T")


class FactError(Exception):
    """A command that should have answered did not: names the host and the command."""

    def __init__(self, host: str, result: CommandResult, what: str = ""):
        self.host, self.result = host, result
        detail = (result.stderr or result.stdout).strip()[:300]
        super().__init__(f"[{host}] {what or 'command'} failed: `{result.command}` -> "
                         f"rc {result.rc}: {detail}")


class ReadFailed(FactError):
    """A file that exists (or may) could not be read: never taken for an empty file."""


def read_command(path: str) -> str:
    return f"cat {shlex.quote(path)}"


def _missing(res: CommandResult) -> bool:
    """cat's own words for a path that does not exist (coreutils and busybox alike; remote
    commands run without a translated locale)."""
    return res.rc == 1 and "No such file or directory" in res.stderr


def read_file(remote: Remote, path: str) -> str | None:
    """A file's text; None only when it does not exist. Any other failure (permission, I/O,
    a directory, a dead connection) raises ReadFailed with the reason, so nothing is built
    from an empty text that is not really empty."""
    res = remote.run(read_command(path))
    if res.ok:
        return res.stdout
    if _missing(res):
        return None
    raise ReadFailed(remote.name, res, f"read {path}")


def fact(fn: Callable[..., T] | None = None, *, per_host: bool = False):
    """Cache a fact function on its Remote. `@fact(per_host=True)` marks a fact whose
    arguments are the host's own (its neighbors, routes, intended file): the prefetch
    (stackproof.prefetch) never reads it on another host with these arguments."""
    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def cached(remote: Remote, *args: Any, _prefetch: bool = False) -> T:
            key = (fn.__module__, fn.__qualname__, *args)
            if _prefetch:
                return remote.fact(key, lambda: fn(remote, *args), prefetch=True)
            prefetch.record(remote.name, prefetch.FactCall(cached, args, per_host))
            return remote.fact(key, lambda: fn(remote, *args))
        return cached
    return wrap(fn) if fn is not None else wrap


def run_ok(remote: Remote, command: str, what: str = "") -> str:
    res = remote.run(command)
    if not res.ok:
        raise FactError(remote.name, res, what)
    return res.stdout


def json_int(value) -> int | None:
    """An integer field of a command's JSON, None when absent or not an integer (JSON's
    true/false are Python ints: not taken for numbers)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_json(remote: Remote, command: str, what: str = "") -> Any:
    out = run_ok(remote, command, what)
    try:
        return json.loads(out) if out.strip() else None
    except json.JSONDecodeError as exc:
        raise FactError(remote.name, CommandResult(command, 0, out[:200], str(exc)),
                        f"{what or 'command'} (not JSON)") from None
