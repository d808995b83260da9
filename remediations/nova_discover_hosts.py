"""A compute host is not mapped to a cell: `nova-manage cell_v2 discover_hosts` on the
controller (maps every unmapped compute node; a second run maps nothing).

Managed scope: the cell mappings of unmapped compute hosts (`nova-manage cell_v2
discover_hosts`).
"""
from __future__ import annotations

from stackproof.remedy import Plan, Run

ID = "nova_discover_hosts"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0


def plan(ctx, finding) -> Plan:
    ctl = finding.params["controller"]
    return Plan(ID, f"map {finding.host} to its cell (discover_hosts on {ctl})", (
        Run(ctl, "nova-manage cell_v2 discover_hosts --verbose",
            f"{finding.host}'s compute node has no host mapping"),))
