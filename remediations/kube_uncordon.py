"""Uncordon a node the inventory says takes workloads: `kubectl uncordon`, through the API
(the strategic-merge patch kubectl sends).

Managed scope: the node's spec.unschedulable, through the API.
"""
from __future__ import annotations

from remediations._kube import api, kubectl
from stackproof.facts.kubernetes import REQUEST_TIMEOUT
from stackproof.remedy import Call, Plan

ID = "kube_uncordon"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def plan(ctx, finding) -> Plan:
    node = finding.params["node"]
    client = api(ctx)
    patch = {"spec": {"unschedulable": None}}

    def uncordon():
        got = client.core.patch_node(node, patch, _request_timeout=REQUEST_TIMEOUT)
        return f"node {node} unschedulable={bool(got.spec.unschedulable)}"
    step = Call(finding.host, f"PATCH /api/v1/nodes/{node} (strategic merge) "
                f"{{\"spec\":{{\"unschedulable\":null}}}}    # "
                + kubectl(ctx, "uncordon", node), uncordon)
    return Plan(ID, f"uncordon node {node}", (step,),
                blocked=None if client else "no Kubernetes API client in this run")
