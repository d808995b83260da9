"""Add the missing iptables rules at the right place, then save the firewall.

A rule that must come first is inserted at position 1 (several in one chain are inserted in
reverse, so they end up in the intended order); one behind a REJECT (libvirt re-adds its
rules on a network restart) is deleted and inserted again at 1; the rest are appended.
Every command is guarded by `iptables -C` (a second run adds no duplicate), and the whole
resulting table is checked with `iptables-restore --test` before anything changes.

Managed scope: the rules the site model expects (expect.iptables_rules), added or moved
ahead of a REJECT; no other rule or chain is deleted or changed, and the save keeps every
live rule (the operator's chains and rules included).
"""
from __future__ import annotations

from dataclasses import dataclass

from stackproof.checks.firewall import command, evaluate
from stackproof.expect import IptablesRule
from stackproof.facts import firewall as facts
from stackproof.facts.firewall import BUILTIN_CHAINS, Chain, Rule, Ruleset, Table, \
    render_iptables_save
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "iptables_rules"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0
HEREDOC = "STACKPROOF_RULES"


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


def plan(ctx, finding) -> Plan:
    from remediations import iptables_save
    host = finding.host
    remote = ctx.fleet[host]
    wanted = [IptablesRule(**r) for r in finding.params["rules"]]
    live = facts.live_rules(remote)
    todo = changes(live, wanted)
    n_add = sum(ch.kind != "delete" for ch in todo)
    summary = f"put {n_add} iptables rule(s) in effect on {host}, then save the firewall"
    absent = absent_chains(live, wanted)
    if absent:
        return Plan(ID, summary, (), blocked=blocked_reason(absent))
    if not todo:
        return Plan(ID, f"nothing to change on {host}: every rule is in effect", ())
    os = profile(ctx.site, host)
    save = iptables_save.save_steps(os, host, iptables_save.save_tools(remote),
                                    apply_changes(live, todo))
    return Plan(ID, summary, (validate_step(host, live, todo), *change_steps(host, todo),
                              *save))
