"""Kubernetes facts through the official client: nodes (listed once per run), pods per node,
PodDisruptionBudgets, as typed records.

`KubeFacts` holds one run's cache; `invalidate()` drops it (the remediation engine's verify
loop re-reads through it). The parsers take the client's models, so unit tests feed them
captured API responses deserialized by the same client.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

REQUEST_TIMEOUT = 10.0
DAEMONSET_OWNER = "DaemonSet"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class KubeUnavailable(Exception):
    """The API did not answer (or refused us): names the server and the reason."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeFact:
    name: str
    internal_ips: tuple[str, ...]
    addresses: tuple[tuple[str, str], ...]          # (type, address)
    ready: str                                      # True | False | Unknown | "" (none)
    ready_reason: str
    ready_message: str
    unschedulable: bool
    taints: tuple[Taint, ...]
    control_plane: bool
    kubelet_version: str
    os_image: str

    @property
    def internal_ip(self) -> str | None:
        return self.internal_ips[0] if self.internal_ips else None


@dataclass(frozen=True)
class PodFact:
    namespace: str
    name: str
    uid: str
    node: str
    phase: str
    ready: bool
    owner_kind: str          # DaemonSet, ReplicaSet, Node (mirror pod), ... or "" (none)
    owner_name: str
    mirror: bool
    emptydir_volumes: tuple[str, ...]
    terminating: bool
    labels: tuple[tuple[str, str], ...]

    @property
    def daemonset(self) -> bool:
        return self.owner_kind == DAEMONSET_OWNER

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PdbFact:
    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...]
    disruptions_allowed: int
    current_healthy: int
    desired_healthy: int
    expected_pods: int


def parse_node(node: Any) -> NodeFact:
    st, spec, meta = node.status, node.spec, node.metadata
    addresses = tuple((a.type, a.address) for a in (st.addresses or []))
    ready = next((c for c in (st.conditions or []) if c.type == "Ready"), None)
    labels = meta.labels or {}
    info = st.node_info
    return NodeFact(
        name=meta.name,
        internal_ips=tuple(a for t, a in addresses if t == "InternalIP"),
        addresses=addresses,
        ready=ready.status if ready else "",
        ready_reason=(ready.reason or "") if ready else "",
        ready_message=(ready.message or "") if ready else "no Ready condition",
        unschedulable=bool(spec.unschedulable) if spec else False,
        taints=tuple(Taint(t.key, t.value or "", t.effect) for t in (spec.taints or []))
        if spec else (),
        control_plane="node-role.kubernetes.io/control-plane" in labels,
        kubelet_version=info.kubelet_version if info else "",
        os_image=info.os_image if info else "")


def parse_pod(pod: Any) -> PodFact:
    meta, spec, st = pod.metadata, pod.spec, pod.status
    owner = next((o for o in (meta.owner_references or []) if o.controller), None)
    conds = (st.conditions or []) if st else []
    ready = any(c.type == "Ready" and c.status == "True" for c in conds)
    return PodFact(
        namespace=meta.namespace, name=meta.name, uid=meta.uid or "",
        node=(spec.node_name or "") if spec else "",
        phase=(st.phase or "") if st else "", ready=ready,
        owner_kind=owner.kind if owner else "", owner_name=owner.name if owner else "",
        mirror=MIRROR_ANNOTATION in (meta.annotations or {}),
        emptydir_volumes=tuple(v.name for v in (spec.volumes or []) if v.empty_dir is not None)
        if spec else (),
        terminating=meta.deletion_timestamp is not None,
        labels=tuple(sorted((meta.labels or {}).items())))


def parse_pdb(pdb: Any) -> PdbFact:
    sel = pdb.spec.selector.match_labels if pdb.spec and pdb.spec.selector else None
    st = pdb.status
    return PdbFact(pdb.metadata.namespace, pdb.metadata.name, tuple(sorted((sel or {}).items())),
                   st.disruptions_allowed if st else 0, st.current_healthy if st else 0,
                   st.desired_healthy if st else 0, st.expected_pods if st else 0)


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


class KubeFacts:
    """One run's view of the cluster. Nodes are listed once (one GET /api/v1/nodes) and
    pods once per node, until `invalidate()`."""

    def __init__(self, api, server: str = "", timeout: float = REQUEST_TIMEOUT):
        self.api, self.server, self.timeout = api, server, timeout
        self._nodes: dict[str, NodeFact] | None = None
        self._pods: dict[str, list[PodFact]] = {}
        self._pdbs: list[PdbFact] | None = None
        self._lock = threading.RLock()
        self.calls = 0

    def _call(self, what: str, fn, *args, **kwargs):
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError
        self.calls += 1
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except (ApiException, HTTPError, OSError) as exc:
            raise KubeUnavailable(f"the Kubernetes API {self.server or ''} did not answer "
                                  f"{what}: {_reason(exc)}".replace("  ", " ")) from None

    def nodes(self) -> dict[str, NodeFact]:
        with self._lock:
            if self._nodes is None:
                listed = self._call("GET /api/v1/nodes", self.api.core.list_node)
                self._nodes = {n.metadata.name: parse_node(n) for n in listed.items}
            return self._nodes

    def node(self, name: str) -> NodeFact | None:
        return self.nodes().get(name)

    def pods_on(self, node: str) -> list[PodFact]:
        with self._lock:
            if node not in self._pods:
                listed = self._call(f"GET /api/v1/pods?fieldSelector=spec.nodeName={node}",
                                    self.api.core.list_pod_for_all_namespaces,
                                    field_selector=f"spec.nodeName={node}")
                self._pods[node] = [parse_pod(p) for p in listed.items]
            return self._pods[node]

    def pdbs(self) -> list[PdbFact]:
        with self._lock:
            if self._pdbs is None:
                listed = self._call("GET /apis/policy/v1/poddisruptionbudgets",
                                    self.api.policy.list_pod_disruption_budget_for_all_namespaces)
                self._pdbs = [parse_pdb(p) for p in listed.items]
            return self._pdbs

    def budgets_for(self, pod: PodFact) -> list[PdbFact]:
        labels = dict(pod.labels)
        return [b for b in self.pdbs() if b.namespace == pod.namespace and b.selector
                and all(labels.get(k) == v for k, v in b.selector)]

    def invalidate(self) -> None:
        with self._lock:
            self._nodes, self._pdbs = None, None
            self._pods.clear()
