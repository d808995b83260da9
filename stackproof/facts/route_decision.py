"""The kernel's forwarding decision for one packet (`ip -j route get`) and the neighbor
(ARP) state of a next hop (`ip -j neigh show`). Read only by path traces, which run only
for red reachability scenarios: a green run never pays for them."""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from stackproof.facts import fact
from stackproof.remote import Remote

GOOD_NEIGHBOR = ("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP")
BAD_NEIGHBOR = ("FAILED", "INCOMPLETE")


@dataclass(frozen=True)
class RouteDecision:
    ok: bool
    kind: str = "unicast"          # unicast, local, unreachable, blackhole, prohibit ...
    dev: str | None = None
    gateway: str | None = None
    prefsrc: str | None = None
    error: str = ""

    def text(self) -> str:
        if not self.ok:
            return self.error or "no route"
        if self.kind == "local":
            return "local (the host holds the address)"
        via = f"via {self.gateway} " if self.gateway else ""
        return f"{via}dev {self.dev}".strip() if self.kind == "unicast" else self.kind


@dataclass(frozen=True)
class NeighborState:
    address: str
    dev: str
    states: tuple[str, ...]        # () when the kernel has no entry (never tried yet)

    @property
    def failed(self) -> bool:
        return any(s in BAD_NEIGHBOR for s in self.states)


def route_get_command(dst: str, src: str | None = None, iif: str | None = None) -> str:
    cmd = f"ip -j -4 route get {shlex.quote(dst)}"
    if iif:
        cmd += f" from {shlex.quote(src or '0.0.0.0')} iif {shlex.quote(iif)}"
    return cmd


def parse_route_get(rc: int, stdout: str, stderr: str = "") -> RouteDecision:
    """`ip -j route get`: a one-element list; `RTNETLINK answers: ...` and rc 2 without a
    route (unreachable, or forwarding off for an input interface)."""
    if rc != 0:
        return RouteDecision(False, "unreachable",
                             error=(stderr or stdout).strip().removeprefix(
                                 "RTNETLINK answers: ") or f"rc {rc}")
    try:
        data = json.loads(stdout or "[]")
    except json.JSONDecodeError:
        return RouteDecision(False, error=f"not JSON: {stdout[:200]}")
    if not data:
        return RouteDecision(False, error="no answer")
    r = data[0]
    kind = r.get("type", "unicast")
    return RouteDecision(kind in ("unicast", "local"), kind, r.get("dev"), r.get("gateway"),
                         r.get("prefsrc"), "" if kind in ("unicast", "local") else kind)


def parse_neighbor(address: str, dev: str, stdout: str) -> NeighborState:
    try:
        data = json.loads(stdout or "[]")
    except json.JSONDecodeError:
        data = []
    states: tuple[str, ...] = ()
    for n in data or []:
        if n.get("dst") == address:
            states = tuple(n.get("state", ()))
    return NeighborState(address, dev, states)


@fact(per_host=True)
def route_get(remote: Remote, dst: str, src: str | None = None,
              iif: str | None = None) -> RouteDecision:
    res = remote.run(route_get_command(dst, src, iif))
    return parse_route_get(res.rc, res.stdout, res.stderr)


@fact(per_host=True)
def neighbor(remote: Remote, address: str, dev: str) -> NeighborState:
    res = remote.run(f"ip -j -4 neigh show to {shlex.quote(address)} "
                     f"dev {shlex.quote(dev)}")
    return parse_neighbor(address, dev, res.stdout if res.ok else "")
