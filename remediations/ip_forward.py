"""Turn IPv4 forwarding on for a BGP host, now and at boot.

Managed scope: the kernel's `net.ipv4.ip_forward` (`sysctl -w`), and our own file
/etc/sysctl.d/90-stackproof-ip-forward.conf holding that one key. No other sysctl file is
ever edited: a file read after ours that sets the key to something else wins at boot, so the
plan is then blocked and names it (the operator decides about their file).
"""
from __future__ import annotations

from stackproof.facts.forwarding import OUR_FILE
from stackproof.facts.forwarding import KEY
from stackproof.remedy import Plan, Run, WriteFile

ID = "ip_forward"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0
CONTENT = (f"# Written by stackproof (remediation ip_forward): this host routes between its\n"
           f"# underlay and its networks. Managed: this file, this one key.\n{KEY} = 1\n")


def plan(ctx, finding) -> Plan:
    host = finding.host
    conflicts = finding.params.get("conflicts") or []
    blocked = None
    if conflicts:
        blocked = "; ".join(f"{c['path']} line {c['line']} sets {KEY} = {c['value']} and is "
                            f"read after {OUR_FILE}" for c in conflicts) + \
            ": stackproof does not edit other sysctl files; change or remove that line"
    return Plan(ID, f"turn IPv4 forwarding on on {host}, now and at boot", (
        Run(host, f"sysctl -w {KEY}=1", "the kernel's value now"),
        WriteFile(host, OUR_FILE, CONTENT, "our own sysctl file (read at boot), one key",
                  mode="0644"),
    ), blocked=blocked)
