"""A node NotReady for a reason the suite cannot fix by itself has no fix of its own: the
check's message says where to look (kubelet's status and log on the node's host).

Managed scope: none; it changes nothing.
"""
from __future__ import annotations

from stackproof.remedy import Plan

ID = "kube_node_ready"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
    p = finding.params
    why = f"kubelet reports {p.get('reason') or 'no reason'}: {p.get('message') or '(no message)'}"
    return Plan(ID, f"find out why node {p['node']} is not Ready", (),
                blocked=f"{why}: no known fix; the finding says where to look")
