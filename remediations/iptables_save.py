"""Save the live firewall to the file the host loads at boot, the way its OS family does.

RHEL with iptables-services: `service iptables save` (writes /etc/sysconfig/iptables).
Debian with netfilter-persistent: `netfilter-persistent save` (writes /etc/iptables/rules.v4).
Without either tool: the same iptables-save text written atomically (validated with
`iptables-restore --test`, old file backed up) to the OS family's rules file.
Expected rules that are not live yet are added first, so the saved file holds them.

Managed scope: the persisted rules file, written from the complete live ruleset (every
table, chain and rule, the operator's included) plus the expected rules not live yet;
nothing live is removed.
"""
from __future__ import annotations

from remediations._iptables import absent_chains, apply_changes, blocked_reason, \
    change_steps, changes, save_steps, save_tools, validate_step
from stackproof.expect import IptablesRule
from stackproof.facts import firewall as facts
from stackproof.osfamily import profile
from stackproof.remedy import Plan

ID = "iptables_save"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    os = profile(ctx.site, host)
    remote = ctx.fleet[host]
    wanted = [IptablesRule(**r) for r in finding.params["rules"]]
    live = facts.live_rules(remote)
    todo = changes(live, wanted)
    absent = absent_chains(live, wanted)
    summary = f"save the firewall of {host} to {os.iptables_rules_file}"
    if absent:
        return Plan(ID, summary, (), blocked=blocked_reason(absent))
    steps = (validate_step(host, live, todo), *change_steps(host, todo)) if todo else ()
    if todo:
        summary += f" after adding {len(todo)} rule change(s) that were not live"
    after = apply_changes(live, todo)
    return Plan(ID, summary, (*steps, *save_steps(os, host, save_tools(remote), after)))
