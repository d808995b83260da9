"""A floating IP that does not answer has no fix of its own: it follows from its hops.

Managed scope: none; it changes nothing.
"""
from __future__ import annotations

from stackproof.remedy import Plan

ID = "fip_reachability"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def plan(ctx, finding) -> Plan:
    return Plan(ID, f"reach {', '.join(finding.params['unreachable'])} from {finding.host}",
                (), blocked="no direct fix: a floating IP answers once its /32 routes and its "
                            "address on the compute node's external bridge are in place (the "
                            "scenarios above), and the firewall and overlay layers are green; "
                            "fix those and re-run")
