"""Reachability has no fix of its own: it follows from the layers below it.

Managed scope: none; it changes nothing.
"""
from __future__ import annotations

from stackproof.remedy import Plan

ID = "reachability"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def plan(ctx, finding) -> Plan:
    return Plan(ID, f"reach {', '.join(finding.params['unreachable'])} from {finding.host}", (),
                blocked="no direct fix: reachability follows from the libvirt, BGP and "
                        "firewall scenarios above; fix those (they run first) and re-run")
