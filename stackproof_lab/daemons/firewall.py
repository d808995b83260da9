"""The iptables rules the report's operator added, applied and saved.

The lab starts from the healthy site; faults then remove what the report found missing.
Rules come from the lab's own list (stackproof_lab.templates.iptables), written from the
site model and the report, never from the suite's expectations or remediations.
"""
from __future__ import annotations

import shlex

from stackproof_lab.templates.iptables import rules as iptables_rules

RULES_FILE = "/etc/iptables/rules.v4"     # lab hosts are Debian: netfilter-persistent's file


def apply_commands(site, host: str) -> list[str]:
    rules = iptables_rules(site, host)
    cmds = []
    # rules that must come first go (back) to the top, inserted in reverse so they end in
    # the intended order: a libvirt network restart puts its REJECTs ahead of them again
    for r in reversed([r for r in rules if r.first]):
        cmds.append(f"while {_cmd(r, '-D')} 2>/dev/null; do :; done; " + _cmd(r, "-I", 1))
    for r in (r for r in rules if not r.first):
        cmds.append(_cmd(r, "-C") + " 2>/dev/null || " + _cmd(r, "-A"))
    return cmds


def remove_commands(site, host: str) -> list[str]:
    """Every copy of the site's rules out of the live tables (nothing else)."""
    return [f"while {_cmd(r, '-D')} 2>/dev/null; do :; done"
            for r in iptables_rules(site, host)]


def _cmd(rule, action: str, position: int | None = None) -> str:
    where = f" {position}" if position else ""
    spec = " ".join(shlex.quote(w) for w in shlex.split(rule.spec))
    return f"iptables -w -t {rule.table} {action} {shlex.quote(rule.chain)}{where} {spec}"


def save_command() -> str:
    return (f"mkdir -p /etc/iptables && iptables-save > {RULES_FILE}.new && "
            f"mv -f {RULES_FILE}.new {RULES_FILE}")


def apply_rules(lab, site, host: str) -> None:
    cmds = apply_commands(site, host)
    if cmds:
        lab.shell(host).sh("\n".join(["set -e", *cmds, save_command()]))


def firewall_hook(lab, site) -> None:
    from stackproof_lab.pool import each
    each(site.hosts, lambda host: apply_rules(lab, site, host))
