"""Reachability as the host itself sees it: one parallel ping sweep per host per run."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from stackproof.facts import fact, run_ok
from stackproof.remote import Remote


@dataclass(frozen=True)
class PingResult:
    address: str
    reachable: bool


def sweep_command(addresses: tuple[str, ...], wait_s: int = 1, count: int = 1) -> str:
    """All pings at once (one SSH round trip). One echo each: an answer ends the sweep in
    a round trip, where two echoes 0.2 s apart cost every sweep 0.2 s; what it misses gets
    the second, slower sweep (`ping_sweep`)."""
    quoted = " ".join(shlex.quote(a) for a in addresses)
    return (f"for ip in {quoted}; do (if ping -n -q -c {count} -i 0.2 -W {wait_s} \"$ip\" "
            f">/dev/null 2>&1; then echo \"$ip ok\"; else echo \"$ip fail\"; fi) & done; wait")


def parse_sweep(output: str) -> dict[str, bool]:
    result = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] in ("ok", "fail"):
            result[parts[0]] = parts[1] == "ok"
    return result


# The second look at what the first sweep missed: slower and longer.
RETRY_WAIT_S, RETRY_COUNT = 2, 3


def retry_command(missed: tuple[str, ...]) -> str:
    return sweep_command(missed, RETRY_WAIT_S, RETRY_COUNT)


@fact(per_host=True)
def ping_sweep(remote: Remote, addresses: tuple[str, ...]) -> tuple[PingResult, ...]:
    """An address is unreachable only when a second, slower sweep of the ones the first
    missed fails too: a loaded host (the 100-host lab at load 21) or a cold ARP cache lost
    first replies. When every address answers at once, that costs nothing."""
    if not addresses:
        return ()
    seen = parse_sweep(run_ok(remote, sweep_command(addresses), "ping sweep"))
    missed = tuple(a for a in addresses if not seen.get(a, False))
    if missed:
        seen.update(parse_sweep(run_ok(remote, retry_command(missed),
                                       "ping sweep (again, for what the first missed)")))
    return tuple(PingResult(a, seen.get(a, False)) for a in addresses)
