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

import posixpath
import shlex

from stackproof.expect import IptablesRule
from stackproof.facts import firewall as facts
from stackproof.facts.firewall import Ruleset, render_iptables_save
from stackproof.osfamily import OsProfile, profile
from stackproof.remedy import Plan, Run, Step, WriteFile

ID = "iptables_save"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0

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


def plan(ctx, finding) -> Plan:
    from remediations import iptables_rules as rules_fix    # one-way at call time
    host = finding.host
    os = profile(ctx.site, host)
    remote = ctx.fleet[host]
    wanted = [IptablesRule(**r) for r in finding.params["rules"]]
    live = facts.live_rules(remote)
    changes = rules_fix.changes(live, wanted)
    absent = rules_fix.absent_chains(live, wanted)
    summary = f"save the firewall of {host} to {os.iptables_rules_file}"
    if absent:
        return Plan(ID, summary, (), blocked=rules_fix.blocked_reason(absent))
    steps = (rules_fix.validate_step(host, live, changes), *rules_fix.change_steps(host, changes)) \
        if changes else ()
    if changes:
        summary += f" after adding {len(changes)} rule change(s) that were not live"
    after = rules_fix.apply_changes(live, changes)
    return Plan(ID, summary, (*steps, *save_steps(os, host, save_tools(remote), after)))
