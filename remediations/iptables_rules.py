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

from remediations._iptables import absent_chains, apply_changes, blocked_reason, \
    change_steps, changes, save_steps, save_tools, validate_step
from stackproof.expect import IptablesRule
from stackproof.facts import firewall as facts
from stackproof.osfamily import profile
from stackproof.remedy import Plan

ID = "iptables_rules"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
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
    save = save_steps(os, host, save_tools(remote), apply_changes(live, todo))
    return Plan(ID, summary, (validate_step(host, live, todo), *change_steps(host, todo),
                              *save))
