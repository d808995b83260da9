"""Shared by the iptables remediations (iptables_rules, iptables_save): the smallest edit
that puts the expected rules in effect, validated on the whole resulting tables, and the
steps that save the live firewall to the file the host loads at boot. One module both
import, so neither remediation imports the other.
"""
from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

from stackproof.expect import IptablesRule
from stackproof.facts.firewall import BUILTIN_CHAINS, Chain, Rule, Ruleset, Table, \
    evaluate, render_iptables_save
from stackproof.osfamily import OsProfile
from stackproof.render.firewall import command
from stackproof.remedy import Run, Step, WriteFile

HEREDOC = "STACKPROOF_RULES"


# --- the rule edit -------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    kind: str                  # delete | insert | append
    rule: IptablesRule
    note: str = ""


def changes(live: Ruleset, wanted: list[IptablesRule]) -> list[Change]:
    """The smallest edit that puts every wanted rule in effect; nothing for a rule in place."""
    states = [evaluate(live, r) for r in wanted]
    out: list[Change] = []
    for st in states:
        if st.misplaced:
            for pos in st.positions:
                out.append(Change("delete", st.rule, f"at rule {pos}, behind rule "
                                  f"{st.blocker.position} `{st.blocker.spec}` which rejects"))
    # inserts at 1, chain by chain, last first: the intended order comes out on top
    to_insert = [st.rule for st in states if st.rule.first and (st.missing or st.misplaced)]
    chains = list(dict.fromkeys((r.table, r.chain) for r in to_insert))
    for key in chains:
        for r in reversed([r for r in to_insert if (r.table, r.chain) == key]):
            out.append(Change("insert", r, "ahead of any rule that rejects"))
    out += [Change("append", st.rule) for st in states if st.missing and not st.rule.first]
    return out


def absent_chains(live: Ruleset, wanted: list[IptablesRule]) -> list[str]:
    return sorted({f"{r.table} {r.chain}" for r in wanted if live.chain(r.table, r.chain) is None})


def blocked_reason(absent: list[str]) -> str:
    return (f"chain(s) {', '.join(absent)} do not exist: libvirt creates LIBVIRT_* chains when "
            "it starts a NAT network (see the libvirt scenarios); creating them by hand would "
            "hide that the network is down")


def apply_changes(live: Ruleset, todo: list[Change]) -> Ruleset:
    """The ruleset as it will be once the changes ran (rendered for validation and saving)."""
    tables: dict[str, dict[str, list]] = {
        t.name: {c.name: [c.policy, [r.spec for r in c.rules]] for c in t.chains.values()}
        for t in live.tables.values()}
    for ch in todo:
        r = ch.rule
        table = tables.setdefault(r.table, {n: ["ACCEPT", []]
                                            for n in BUILTIN_CHAINS.get(r.table, ())})
        specs = table.setdefault(r.chain, [None, []])[1]
        if ch.kind == "delete":
            specs.remove(r.spec)
        elif ch.kind == "insert":
            specs.insert(0, r.spec)
        else:
            specs.append(r.spec)
    return Ruleset(live.source, {
        tn: Table(tn, {cn: Chain(cn, pol, tuple(Rule(i, s) for i, s in enumerate(specs, 1)))
                       for cn, (pol, specs) in chains.items()})
        for tn, chains in tables.items()})


def validate_step(host: str, live: Ruleset, todo: list[Change]) -> Run:
    """`iptables-restore --test` on the complete resulting tables: parses every rule, commits
    nothing."""
    touched = list(dict.fromkeys(ch.rule.table for ch in todo))
    text = render_iptables_save(apply_changes(live, todo), touched)
    return Run(host, f"iptables-restore --test <<'{HEREDOC}'\n{text}{HEREDOC}",
               f"validate the resulting {'/'.join(touched)} table(s) before changing anything")


def change_steps(host: str, todo: list[Change]) -> list[Run]:
    steps = []
    for ch in todo:
        r = ch.rule
        if ch.kind == "delete":
            steps.append(Run(host, command(r, quote=True, action="-D", wait=True),
                             f"{r.why}: {ch.note}"))
            continue
        check = command(r, quote=True, action="-C", wait=True)
        add = command(r, quote=True, action="-I" if ch.kind == "insert" else "-A", wait=True)
        why = f"{r.why}" + (f" ({ch.note})" if ch.note else "")
        steps.append(Run(host, f"{check} 2>/dev/null || {add}", why))
    return steps


# --- the save ------------------------------------------------------------------------------
RHEL_SAVE_TOOL = "/usr/libexec/iptables/iptables.init"     # shipped by iptables-services
PROBE = ("command -v netfilter-persistent >/dev/null 2>&1 && echo netfilter-persistent; "
         f"[ -x {RHEL_SAVE_TOOL} ] && echo iptables-services; true")


def save_tools(remote) -> set[str]:
    """Which save tools the host has (read at plan time, never cached: a plan may install)."""
    return set(remote.run(PROBE).stdout.split())


def save_steps(os: OsProfile, host: str, tools: set[str], after: Ruleset) -> tuple[Step, ...]:
    """The steps that persist the firewall; `after` is the ruleset once the plan's earlier
    steps ran (the content written when no save tool exists)."""
    path = os.iptables_rules_file
    if os.family == "rhel" and "iptables-services" in tools:
        return (Run(host, os.iptables_save, f"save the live rules to {path}"),)
    if os.family == "debian" and "netfilter-persistent" in tools:
        return (Run(host, "netfilter-persistent save", f"save the live rules to {path}"),)
    loader = {"rhel": "iptables-services (`systemctl enable iptables`)",
              "debian": "iptables-persistent (netfilter-persistent)"}.get(os.family, "")
    why = f"iptables-save text, as the save tool would write it; loaded at boot by {loader}"
    return (Run(host, f"mkdir -p {shlex.quote(posixpath.dirname(path))}",
                "the rules file's directory"),
            WriteFile(host, path, render_iptables_save(after), why, mode="0600",
                      validate="iptables-restore --test {path}"))
