"""The firewall's verdict for one packet, computed from a parsed iptables-save (no host
access): which rule of which chain decides, following jumps and RETURN as netfilter does.

    verdict(ruleset, "filter", "FORWARD", Packet(src, dst, iif="eth1", oif="virbr1"))
    -> Verdict(target="REJECT", path=(("FORWARD", 3, "-j LIBVIRT_FWI"),
                                      ("LIBVIRT_FWI", 2, "-o virbr1 -j REJECT ...")))

The packet is a new ICMP echo (what the reachability pings send), so conntrack state matches
NEW only. A match this module does not understand makes the rule count as not matching, and
the verdict lists it under `unknown` so a reader can tell a guess from a certainty.
"""
from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field
from typing import Callable

from stackproof.facts.firewall import Ruleset

TERMINAL = ("ACCEPT", "DROP", "REJECT")
# targets that do not decide: the packet goes on to the next rule
NON_TERMINAL = ("LOG", "NFLOG", "MARK", "CONNMARK", "CHECKSUM", "TRACE", "CT", "NOTRACK",
                "TCPMSS", "CLASSIFY", "DSCP", "TOS", "AUDIT")
# match modules whose options need no packet field to decide for an ICMP echo
_HARMLESS = {"comment", "icmp", "addrtype", "limit", "pkttype"}


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    proto: str = "icmp"
    iif: str | None = None
    oif: str | None = None
    state: str = "NEW"


@dataclass(frozen=True)
class Verdict:
    target: str                                   # ACCEPT, DROP, REJECT
    path: tuple[tuple[str, int, str], ...]        # (chain, rule position or 0 for policy, spec)
    unknown: tuple[str, ...] = field(default=())  # rules with matches not understood

    @property
    def passes(self) -> bool:
        return self.target == "ACCEPT"

    def describe(self) -> str:
        """`FORWARD -> LIBVIRT_FWI rule 2 REJECT (-o virbr10)`"""
        parts = []
        for chain, pos, spec in self.path:
            parts.append(chain)
        last_chain, pos, spec = self.path[-1]
        where = f"rule {pos}" if pos else "policy"
        detail = _interesting(spec) if pos else ""
        text = " -> ".join(parts) + f" {where} {self.target}"
        return text + (f" ({detail})" if detail else "")


def _interesting(spec: str) -> str:
    """The rule's matches without the target part, for a short explanation."""
    words = _split(spec)
    out, i = [], 0
    while i < len(words):
        if words[i] in ("-j", "--jump"):
            break
        out.append(words[i])
        i += 1
    return " ".join(out)


def _split(spec: str) -> list[str]:
    try:
        return shlex.split(spec)
    except ValueError:
        return spec.split()


def _iface_matches(pattern: str, name: str | None) -> bool:
    if name is None:
        return False
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern


def _addr_matches(cidr: str, address: str) -> bool:
    try:
        return ipaddress.IPv4Address(address) in ipaddress.IPv4Network(cidr, strict=False)
    except ValueError:
        return False


def rule_matches(spec: str, pkt: Packet) -> bool | None:
    """True/False when every match is understood, None when one is not."""
    words = _split(spec)
    i, negate = 0, False
    result: bool = True
    unknown = False
    while i < len(words):
        w = words[i]
        if w == "!":
            negate = True
            i += 1
            continue
        if w in ("-j", "--jump", "-g", "--goto"):
            break
        arg = words[i + 1] if i + 1 < len(words) else ""
        hit: bool | None
        if w in ("-s", "--source"):
            hit = any(_addr_matches(a, pkt.src) for a in arg.split(","))
        elif w in ("-d", "--destination"):
            hit = any(_addr_matches(a, pkt.dst) for a in arg.split(","))
        elif w in ("-i", "--in-interface"):
            hit = _iface_matches(arg, pkt.iif)
        elif w in ("-o", "--out-interface"):
            hit = _iface_matches(arg, pkt.oif)
        elif w in ("-p", "--protocol"):
            hit = arg in (pkt.proto, "all", "0")
        elif w in ("-m", "--match"):
            if arg not in _HARMLESS and arg not in ("state", "conntrack", "tcp", "udp",
                                                    "multiport"):
                unknown = True
            i += 2
            continue
        elif w in ("--state", "--ctstate"):
            hit = pkt.state in arg.split(",")
        elif w in ("--dport", "--sport", "--dports", "--sports", "--destination-port",
                   "--source-port"):
            hit = False if pkt.proto == "icmp" else None
        elif w in ("--comment", "--icmp-type", "--limit", "--limit-burst", "--dst-type",
                   "--src-type", "--pkt-type"):
            i += 2
            continue
        elif w.startswith("-"):
            unknown = True
            i += 2 if arg and not arg.startswith("-") else 1
            continue
        else:
            i += 1
            continue
        if hit is None:
            unknown = True
        elif hit == negate:
            result = False
        negate = False
        i += 2
    if not result:
        return False
    return None if unknown else True


def _target(spec: str) -> tuple[str | None, bool]:
    """(target, is_goto)"""
    words = _split(spec)
    for i, w in enumerate(words[:-1]):
        if w in ("-j", "--jump"):
            return words[i + 1], False
        if w in ("-g", "--goto"):
            return words[i + 1], True
    return None, False


NAT_TERMINAL = ("MASQUERADE", "SNAT", "ACCEPT", "DROP")


def source_nat(rules: Ruleset, pkt: Packet, out_address: Callable[[], str | None]) -> str:
    """The packet's source after nat POSTROUTING: MASQUERADE takes the out device's address
    (`out_address()`, asked only then), SNAT its --to-source; otherwise unchanged."""
    v = verdict(rules, "nat", "POSTROUTING", pkt, terminal=NAT_TERMINAL)
    if v.target == "MASQUERADE":
        return out_address() or pkt.src
    if v.target == "SNAT":
        words = _split(v.path[-1][2])
        for i, w in enumerate(words[:-1]):
            if w == "--to-source":
                return words[i + 1].split(":")[0].split("-")[0]
    return pkt.src


def verdict(rules: Ruleset, table: str, chain: str, pkt: Packet,
            terminal: tuple[str, ...] = TERMINAL) -> Verdict:
    """Walk `chain` as netfilter would for this packet; `terminal`: the targets that
    decide (filter: ACCEPT/DROP/REJECT; nat POSTROUTING: MASQUERADE/SNAT/ACCEPT)."""
    unknown: list[str] = []
    path: list[tuple[str, int, str]] = []

    def walk(name: str, depth: int) -> str | None:
        c = rules.chain(table, name)
        if c is None or depth > 16:
            return None
        for rule in c.rules:
            m = rule_matches(rule.spec, pkt)
            if m is None:
                unknown.append(f"{name} rule {rule.position}: {rule.spec}")
                continue
            if not m:
                continue
            target, goto = _target(rule.spec)
            if target in terminal:
                path.append((name, rule.position, rule.spec))
                return target
            if target == "RETURN":
                return None
            if target is None or target in NON_TERMINAL:
                continue
            sub = rules.chain(table, target)
            if sub is None or sub.builtin:
                continue            # an extension target (MASQUERADE...) in the wrong table
            path.append((name, rule.position, rule.spec))
            decided = walk(target, depth + 1)
            if decided is not None:
                return decided
            path.pop()
            if goto:
                return None
        return None

    decided = walk(chain, 0)
    if decided is None:
        policy = (rules.chain(table, chain).policy if rules.chain(table, chain) else None) \
            or "ACCEPT"
        return Verdict(policy, ((chain, 0, ""),), tuple(unknown))
    return Verdict(decided, tuple(path), tuple(unknown))
