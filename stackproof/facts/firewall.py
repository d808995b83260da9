"""Firewall facts: the live ruleset (one `iptables-save` per host per run) and the saved one.

Both are parsed into the same typed records: per table, per chain, the policy and the
ordered rules, each rule's spec exactly as iptables-save prints it after `-A CHAIN `, so it
compares with `expect.iptables_rules()` as plain text.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stackproof.facts import FactError, fact
from stackproof.remote import Remote

if TYPE_CHECKING:
    from stackproof.expect import IptablesRule

# The built-in chains of each table, in iptables-save's order: a table that iptables-save
# does not list (nft creates tables on first use) still has them, empty, policy ACCEPT.
BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}
BLOCKING_TARGETS = ("REJECT", "DROP")
MISSING_RC = 100            # the saved-file read exits with this when the file is absent

_COUNTERS = re.compile(r"^\[\d+:\d+\]\s+")


@dataclass(frozen=True)
class Rule:
    position: int            # 1-based, as `iptables -L --line-numbers` counts
    spec: str                # after `-A CHAIN `, iptables-save's own spelling

    @property
    def target(self) -> str | None:
        """The `-j` target (ACCEPT, REJECT, a user chain ...), None for a rule without one."""
        try:
            words = shlex.split(self.spec)
        except ValueError:
            words = self.spec.split()
        for i, word in enumerate(words[:-1]):
            if word in ("-j", "--jump"):
                return words[i + 1]
        return None


@dataclass(frozen=True)
class Chain:
    name: str
    policy: str | None       # ACCEPT/DROP for a built-in chain, None for a user chain ("-")
    rules: tuple[Rule, ...] = ()

    @property
    def builtin(self) -> bool:
        return self.policy is not None

    def positions(self, spec: str) -> list[int]:
        return [r.position for r in self.rules if r.spec == spec]

    def listing(self) -> list[str]:
        """The chain as iptables-save prints it: what an operator compares by eye."""
        return [f"-A {self.name} {r.spec}" for r in self.rules]


@dataclass(frozen=True)
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)


@dataclass(frozen=True)
class Ruleset:
    """A parsed iptables-save text: live (`source="iptables-save"`) or a saved file."""
    source: str
    tables: dict[str, Table] = field(default_factory=dict)
    exists: bool = True                  # False: the saved file is missing (no rules)
    warnings: tuple[str, ...] = ()       # iptables-save's own `# Warning: ...` lines
    unparsed: tuple[str, ...] = ()       # lines that are not iptables-save syntax

    def chain(self, table: str, name: str) -> Chain | None:
        """A chain, or None when it does not exist. A built-in chain of a table that is not
        loaded yet exists (empty, ACCEPT): `iptables -t nat -A POSTROUTING ...` just works."""
        t = self.tables.get(table)
        if t is not None and name in t.chains:
            return t.chains[name]
        if name in BUILTIN_CHAINS.get(table, ()):
            return Chain(name, "ACCEPT")
        return None

    def has(self, table: str, chain: str, spec: str) -> bool:
        c = self.chain(table, chain)
        return c is not None and bool(c.positions(spec))

    def rejects(self, table: str, chain: str, _seen: frozenset[str] = frozenset()) -> bool:
        """Whether a packet can be rejected or dropped inside this chain (or a chain it jumps
        to): libvirt's LIBVIRT_FWI/FWO end in REJECT, so `-j LIBVIRT_FWI` in FORWARD can."""
        c = self.chain(table, chain)
        if c is None or chain in _seen:
            return False
        return any(self.blocks(table, r, _seen | {chain}) for r in c.rules)

    def blocks(self, table: str, rule: Rule, _seen: frozenset[str] = frozenset()) -> bool:
        target = rule.target
        if target in BLOCKING_TARGETS:
            return True
        t = self.tables.get(table)
        return bool(t and target in t.chains and not t.chains[target].builtin
                    and self.rejects(table, target, _seen))

    def first_blocking(self, table: str, chain: str) -> Rule | None:
        """The first rule of the chain that can reject/drop: an accept must sit ahead of it."""
        c = self.chain(table, chain)
        return next((r for r in c.rules if self.blocks(table, r)), None) if c else None


def parse_iptables_save(text: str, source: str = "iptables-save", stderr: str = "") -> Ruleset:
    """Parse iptables-save output (with or without `-c` counters) or a saved rules file.

    `stderr`: iptables-save's own warnings (e.g. iptables-nft saying iptables-legacy tables
    exist, whose rules it does not show) are kept with the ruleset."""
    tables: dict[str, dict[str, list]] = {}      # table -> chain -> [policy, [specs]]
    warnings, unparsed = [], []
    warnings += [ln.lstrip("# ").strip() for ln in stderr.splitlines()
                 if ln.lstrip("# ").lower().startswith("warning")]
    current: dict[str, list] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line[1:].strip().lower().startswith("warning"):
                warnings.append(line.lstrip("# ").strip())
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), {})
            continue
        if line == "COMMIT":
            current = None
            continue
        if current is None:
            unparsed.append(line)
            continue
        if line.startswith(":"):
            words = line[1:].split()
            if not words:
                unparsed.append(line)
                continue
            policy = words[1] if len(words) > 1 and words[1] != "-" else None
            entry = current.setdefault(words[0], [policy, []])
            entry[0] = policy
            continue
        line = _COUNTERS.sub("", line)
        if line.startswith("-A "):
            _, chain, *rest = line.split(" ", 2)
            current.setdefault(chain, [None, []])[1].append(rest[0].strip() if rest else "")
            continue
        unparsed.append(line)
    built = {
        tname: Table(tname, {
            cname: Chain(cname, policy, tuple(Rule(i, s) for i, s in enumerate(specs, 1)))
            for cname, (policy, specs) in chains.items()})
        for tname, chains in tables.items()}
    return Ruleset(source, built, True, tuple(warnings), tuple(unparsed))


def render_iptables_save(rules: Ruleset, tables: list[str] | None = None) -> str:
    """The ruleset as iptables-save text (counters zeroed): what iptables-restore reads."""
    out = []
    for tname in tables or list(rules.tables):
        table = rules.tables.get(tname, Table(tname))
        out.append(f"*{tname}")
        chains = dict(table.chains)
        for name in BUILTIN_CHAINS.get(tname, ()):
            chains.setdefault(name, Chain(name, "ACCEPT"))
        for c in chains.values():
            out.append(f":{c.name} {c.policy or '-'} [0:0]")
        for c in chains.values():
            out += c.listing()
        out.append("COMMIT")
    return "\n".join(out) + "\n"


@fact
def live_rules(remote: Remote) -> Ruleset:
    """The host's ruleset now: one `iptables-save` serves every firewall scenario."""
    res = remote.run("iptables-save")
    if not res.ok:
        raise FactError(remote.name, res, "read the firewall")
    return parse_iptables_save(res.stdout, "iptables-save", res.stderr)


@fact
def saved_rules(remote: Remote, path: str) -> Ruleset:
    """The rules file loaded at boot (/etc/sysconfig/iptables, /etc/iptables/rules.v4)."""
    q = shlex.quote(path)
    res = remote.run(f"[ -e {q} ] || exit {MISSING_RC}; cat {q}")
    if res.rc == MISSING_RC:
        return Ruleset(path, {}, exists=False)
    if not res.ok:
        raise FactError(remote.name, res, f"read {path}")
    return parse_iptables_save(res.stdout, path)


@dataclass(frozen=True)
class RuleState:
    """Where one expected rule stands in a ruleset."""
    rule: IptablesRule
    chain_exists: bool
    positions: tuple[int, ...]
    blocker: Rule | None           # the first rule that can reject, when `first` is violated

    @property
    def missing(self) -> bool:
        return self.chain_exists and not self.positions

    @property
    def misplaced(self) -> bool:
        return self.blocker is not None

    @property
    def ok(self) -> bool:
        return self.chain_exists and bool(self.positions) and self.blocker is None


def evaluate(ruleset: Ruleset, rule: IptablesRule) -> RuleState:
    chain = ruleset.chain(rule.table, rule.chain)
    if chain is None:
        return RuleState(rule, False, (), None)
    positions = tuple(chain.positions(rule.spec))
    blocker = None
    if rule.first and positions:
        first_block = ruleset.first_blocking(rule.table, rule.chain)
        if first_block is not None and min(positions) > first_block.position:
            blocker = first_block
    return RuleState(rule, True, positions, blocker)
