"""Cordon and drain a node before its host goes down: `kubectl cordon` and `kubectl drain
--ignore-daemonsets --delete-emptydir-data`, through the API.

- cordon: PATCH spec.unschedulable=true (strategic merge, as kubectl sends it);
- drain: every pod on the node except DaemonSet pods (they stop with the node; their
  controller would only recreate them there) and mirror pods (the kubelet's static pods)
  is evicted through the policy/v1 Eviction subresource, so PodDisruptionBudgets are
  honoured: a 429 (the budget allows no disruption now) is retried until the replacement
  pods elsewhere are Ready, up to DRAIN_TIMEOUT; then the drain waits for the evicted pods to
  be gone. Pods with emptyDir volumes lose that data: the plan says which, and is marked
  destructive then (`--allow-destructive`, like kubectl's explicit flag).
- a pod no controller owns would be lost for good: the plan refuses (kubectl wants --force).

Managed scope: the node's spec.unschedulable and evictions of its pods through the API;
nothing on the host is edited.
"""
from __future__ import annotations

import time

from remediations._kube import api, kubectl
from stackproof.facts.kubernetes import REQUEST_TIMEOUT, KubeFacts, PodFact
from stackproof.remedy import Call, Plan, RemediationFailed

ID = "kube_drain"
DESTRUCTIVE = False           # per plan: destructive when emptyDir data would be deleted
VERIFY_TIMEOUT = 30.0
DRAIN_TIMEOUT = 120.0
RETRY_INTERVAL = 1.0


def pods_to_evict(pods: list[PodFact]) -> list[PodFact]:
    return [p for p in pods if not (p.daemonset or p.mirror) and not p.terminating
            and p.phase not in ("Succeeded", "Failed")]


def _pods_now(client, node: str) -> list[PodFact]:
    # a fresh KubeFacts each time: the drain watches the pods go, a cached list would not
    return KubeFacts(client).pods_on(node)


def cordon(client, node: str) -> str:
    got = client.core.patch_node(node, {"spec": {"unschedulable": True}},
                                 _request_timeout=REQUEST_TIMEOUT)
    return f"node {node} unschedulable={bool(got.spec.unschedulable)}"


def drain(client, node: str, timeout: float = DRAIN_TIMEOUT,
          retry_interval: float = RETRY_INTERVAL) -> str:
    from kubernetes import client as k8s
    from kubernetes.client.exceptions import ApiException
    deadline = time.monotonic() + timeout
    todo = pods_to_evict(_pods_now(client, node))
    unmanaged = [p.ref for p in todo if not p.owner_kind]
    if unmanaged:
        raise RemediationFailed(f"pods no controller owns would be lost: {', '.join(unmanaged)}"
                                " (delete or move them yourself)")
    pending = {p.ref: p for p in todo}
    evicted: list[PodFact] = []
    blocked: dict[str, str] = {}
    while pending:
        for ref, p in list(pending.items()):
            body = k8s.V1Eviction(api_version="policy/v1", kind="Eviction",
                                  metadata=k8s.V1ObjectMeta(name=p.name, namespace=p.namespace))
            try:
                client.core.create_namespaced_pod_eviction(p.name, p.namespace, body,
                                                           _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 404:             # gone already
                    pending.pop(ref)
                    continue
                if exc.status == 429:             # a budget says not now: retry
                    blocked[ref] = _cause(exc)
                    continue
                raise RemediationFailed(f"evicting {ref}: HTTP {exc.status} {_cause(exc)}") \
                    from None
            pending.pop(ref)
            evicted.append(p)
        if pending:
            if time.monotonic() >= deadline:
                raise RemediationFailed(
                    f"drain of {node} timed out after {timeout:.0f} s: still blocked by "
                    "PodDisruptionBudgets: " + "; ".join(f"{r}: {blocked.get(r, '?')}"
                                                          for r in pending))
            time.sleep(retry_interval)
    # wait for the evicted pods to be gone (a replacement may reuse no name: compare uids)
    while True:
        left = {(p.namespace, p.name, p.uid) for p in _pods_now(client, node)}
        still = [p.ref for p in evicted if (p.namespace, p.name, p.uid) in left]
        if not still:
            break
        if time.monotonic() >= deadline:
            raise RemediationFailed(f"evicted pods still terminating on {node}: "
                                    f"{', '.join(still)}")
        time.sleep(retry_interval / 2)
    waited = f"; {len(blocked)} waited for a PodDisruptionBudget" if blocked else ""
    return f"evicted {len(evicted)} pod(s) from {node}: " + \
        ", ".join(p.ref for p in evicted) + waited


def _cause(exc) -> str:
    import json
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason or "")
    causes = ((body.get("details") or {}).get("causes") or [])
    return "; ".join(c.get("message", "") for c in causes) or body.get("message", "")


def plan(ctx, finding) -> Plan:
    node = finding.params["node"]
    client = api(ctx)
    if client is None:
        return Plan(ID, f"cordon and drain {node}", (),
                    blocked="no Kubernetes API client in this run")
    facts = ctx.extras.get("kube_facts")
    current = facts.node(node) if facts else None
    pods = pods_to_evict(facts.pods_on(node) if facts else _pods_now(client, node))
    steps = []
    if current is None or not current.unschedulable:
        steps.append(Call(finding.host, f"PATCH /api/v1/nodes/{node} (strategic merge) "
                          "{\"spec\":{\"unschedulable\":true}}    # "
                          + kubectl(ctx, "cordon", node), lambda: cordon(client, node)))
    budgets = {f"{b.namespace}/{b.name} (allows {b.disruptions_allowed} now)"
               for p in pods for b in (facts.budgets_for(p) if facts else [])}
    emptydir = [f"{p.ref} ({', '.join(p.emptydir_volumes)})" for p in pods if p.emptydir_volumes]
    if pods:
        what = (f"evict {len(pods)} pod(s) through policy/v1 Eviction, retrying while a "
                f"PodDisruptionBudget says no: {', '.join(p.ref for p in pods)}")
        if budgets:
            what += f"; budgets: {', '.join(sorted(budgets))}"
        if emptydir:
            what += f"; emptyDir data deleted: {', '.join(emptydir)}"
        what += "    # " + kubectl(ctx, "drain", node, "--ignore-daemonsets",
                                "--delete-emptydir-data")
        steps.append(Call(finding.host, what, lambda: drain(client, node)))
    unmanaged = [p.ref for p in pods if not p.owner_kind]
    blocked = (f"pods no controller owns would be lost: {', '.join(unmanaged)} (kubectl "
               "drain refuses them without --force): delete or move them yourself"
               if unmanaged else None)
    return Plan(ID, f"cordon {node} and evict its pods (DaemonSet pods stay)", tuple(steps),
                destructive=bool(emptydir), blocked=blocked)
