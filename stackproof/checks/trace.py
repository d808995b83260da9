"""Path trace: walk the path the model expects (stackproof.paths) and, at each hop, read the
host's live decision: the kernel's route (`ip route get`), the firewall's verdict for that
packet (computed from the parsed iptables-save), and the next hop's neighbor state. The
first hop whose decision differs from the model is where the packet dies.

    trace(site, fleet.__getitem__, "hv-a", "198.51.100.7").dies
    -> HopResult(host="hv-b", ok=False,
                 reason="FORWARD -> LIBVIRT_FWI rule 2 REJECT (-o virbr10)")
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from stackproof.facts.firewall import live_rules
from stackproof.facts.forwarding import KEY as FORWARDING_KEY
from stackproof.facts.forwarding import forwarding
from stackproof.finding import Cause
from stackproof.facts.route_decision import neighbor, route_get
from stackproof.facts.packet_filter import Packet, source_nat, verdict
from stackproof.paths import ExpectedPath, PathHop, expected_path
from stackproof.remote import HostUnreachable, Remote
from stackproof.site import Site

Hosts = Callable[[str], Remote]


@dataclass(frozen=True)
class HopResult:
    host: str
    expected: str              # the model's decision, in words
    live: str                  # what the host does
    firewall: str              # the verdict, or "" where no chain is crossed
    neighbor: str              # the next hop's ARP state, or ""
    ok: bool
    reason: str = ""           # why the packet dies here


@dataclass(frozen=True)
class TraceResult:
    src: str
    dst: str
    what: str
    hops: tuple[HopResult, ...]

    @property
    def dies(self) -> HopResult | None:
        return next((h for h in self.hops if not h.ok), None)

    @property
    def arrives(self) -> bool:
        return self.dies is None

    def summary(self) -> str:
        d = self.dies
        if d is None:
            return f"{self.src} -> {self.dst} ({self.what}): arrives"
        return f"{self.src} -> {self.dst} ({self.what}): dies at {d.host}: {d.reason}"

    def table(self) -> str:
        rows = [("host", "model", "live", "firewall", "neighbor", "")]
        for h in self.hops:
            rows.append((h.host, h.expected, h.live, h.firewall, h.neighbor,
                         "ok" if h.ok else f"DIES: {h.reason}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(widths[i]) if i < 5 else c for i, c in enumerate(r))
                 .rstrip() for r in rows]
        return "\n".join([self.summary(), *lines])


def _model_text(hop: PathHop) -> str:
    via = f"via {hop.via} " if hop.via else ""
    return f"{via}dev {hop.dev} ({hop.why})"


def _route_differs(hop: PathHop, live) -> str:
    if not live.ok:
        return f"no route to {hop.dst}: {live.error}"
    if live.kind == "local":
        return f"{hop.dst} is local here, the model sends it on {_model_text(hop)}"
    if live.dev == hop.dev and (live.gateway or None) == (hop.via or None):
        return ""
    follows = f"follows {live.text()}"
    if hop.why.startswith("/32"):
        return f"no /32 for {hop.dst}, {follows}"
    return f"expected {_model_text(hop)}, {follows}"


def _hop(remote: Remote, hop: PathHop, src: str) -> tuple[HopResult, str]:
    """The hop's result, and the packet's source as it leaves (after any source NAT)."""
    if hop.iif:
        # a packet that enters to be routed on: with forwarding off the kernel only answers
        # "No route to host", which hides the reason
        f = forwarding(remote)
        if f.runtime is not None and not f.on:
            return HopResult(hop.host, _model_text(hop), f"{FORWARDING_KEY} = {f.runtime}", "",
                             "", False, f"IPv4 forwarding is off ({FORWARDING_KEY} = "
                             f"{f.runtime}): nothing that enters on {hop.iif} is routed on"), src
    live = route_get(remote, hop.dst, src if hop.iif else None, hop.iif)
    differs = _route_differs(hop, live)
    if differs:
        return HopResult(hop.host, _model_text(hop), live.text(), "", "", False, differs), src
    chain = "FORWARD" if hop.iif else "OUTPUT"
    rules = live_rules(remote)
    pkt = Packet(src, hop.dst, iif=hop.iif, oif=hop.dev)
    v = verdict(rules, "filter", chain, pkt)
    fw = v.describe()
    if not v.passes:
        return HopResult(hop.host, _model_text(hop), live.text(), fw, "", False, fw), src
    # MASQUERADE takes the address the host itself would send from towards dst
    leaves_as = source_nat(rules, pkt, lambda: route_get(remote, hop.dst).prefsrc) \
        if hop.iif else src
    if leaves_as != src:
        fw += f"; source NAT to {leaves_as}"
    nexthop = hop.via or hop.dst
    n = neighbor(remote, nexthop, hop.dev)
    state = "/".join(n.states) or "no entry"
    if n.failed:
        return HopResult(hop.host, _model_text(hop), live.text(), fw, state, False,
                         f"no ARP answer from {nexthop} on {hop.dev} ({state})"), leaves_as
    return HopResult(hop.host, _model_text(hop), live.text(), fw, state, True), leaves_as


def _arrival(remote: Remote, path: ExpectedPath, src: str) -> HopResult:
    live = route_get(remote, path.dst, src if path.arrives_iif else None, path.arrives_iif)
    expected = f"holds {path.dst}"
    if not live.ok or live.kind != "local":
        return HopResult(remote.name, expected, live.text(), "", "", False,
                         f"{path.dst} is not on any interface of {remote.name} "
                         f"({live.text()})")
    v = verdict(live_rules(remote), "filter", "INPUT",
                Packet(src, path.dst, iif=path.arrives_iif))
    fw = v.describe()
    return HopResult(remote.name, expected, live.text(), fw, "", v.passes,
                     "" if v.passes else fw)


def trace(site: Site, hosts: Hosts, src: str, dst: str) -> TraceResult:
    path = expected_path(site, src, dst)
    results: list[HopResult] = []
    source = path.hops[0].src if path.hops else dst
    for hop in path.hops:
        try:
            result, source = _hop(hosts(hop.host), hop, source)
        except HostUnreachable as exc:
            result = HopResult(hop.host, _model_text(hop), "", "", "", False,
                               f"cannot be inspected: {exc.reason}")
        results.append(result)
        if not result.ok:
            return TraceResult(src, dst, path.what, tuple(results))
    if path.arrives is not None:
        try:
            results.append(_arrival(hosts(path.arrives), path, source))
        except HostUnreachable as exc:
            results.append(HopResult(path.arrives, f"holds {dst}", "", "", "", False,
                                     f"cannot be inspected: {exc.reason}"))
    return TraceResult(src, dst, path.what, tuple(results))


def trace_unreachable(site: Site, hosts: Hosts, src: str, addresses: list[str]
                      ) -> list[TraceResult]:
    """A trace per address a reachability finding names (the red path's only extra reads)."""
    out = []
    for dst in addresses:
        try:
            out.append(trace(site, hosts, src, dst))
        except Exception as exc:        # a trace explains; it must never hide the finding
            out.append(TraceResult(src, dst, f"not traced: {exc}", ()))
    return out


def cause_of(result: TraceResult) -> Cause | None:
    """The scenario whose fact explains where the packet dies, on the host where it dies:
    the firewall's chains, a floating IP's /32 or address, BGP's routes, the external
    gateway on its bridge. None for a death no scenario owns (a neighbor not answering)."""
    d = result.dies
    if d is None:
        return None
    if d.firewall and d.reason == d.firewall:
        return Cause("firewall.libvirt-accept", d.host)
    if d.reason.startswith("no /32"):
        return Cause("floating_ip.routes", d.host)
    if "is not on any interface" in d.reason:
        return Cause("floating_ip.compute-address", d.host)
    if "(external network" in d.expected:
        return Cause("libvirt.external-gateway-address", d.host)
    if "(BGP route for" in d.expected:
        return Cause("bgp.prefixes-learned", d.host)
    return None


def with_traces(finding, traces: list[TraceResult]):
    """The finding, its message naming where each packet dies, and the first death's owner
    as its cause."""
    from dataclasses import replace
    died = [t for t in traces if t.dies is not None]
    if not died:
        return finding
    cause = next((c for c in map(cause_of, died) if c is not None), None)
    return replace(finding, message=f"{finding.message}; path trace: " +
                   "; ".join(t.summary() for t in died),
                   facts={**finding.facts, "traces": [t.table() for t in traces]},
                   caused_by=finding.caused_by or cause)
