"""The cluster state behind the API stand-in: nodes, pods, budgets, and the controllers that
keep them moving (node lifecycle taints, DaemonSet, ReplicaSet, scheduler, kubelet pod
start and termination), all in memory and thread-safe.

Node status is not stored: each node's kubelet view is observed from the lab host it runs
on (`kubelet.py`), every second in the background and again on any request once the last
look is older than `max_age`. Timings are shortened for a lab: a replacement pod becomes
Ready `startup_delay` seconds after it is scheduled, and a deleted pod is gone after
`terminate_delay` seconds whatever its grace period.
"""
from __future__ import annotations

import copy
import os
import platform
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from stackproof_lab.kube import apps
from stackproof_lab.kube import objects as ob
from stackproof_lab.kube import patch as patchmod
from stackproof_lab.kube.events import EventLog
from stackproof_lab.kube.kubelet import KubeletView
from stackproof_lab.kube.objects import ApiError, not_found, rfc3339
from stackproof_lab.kube.selectors import (SelectorError, match_fields, match_labels,
                                           parse_field_selector, parse_label_selector)
from stackproof_lab.kube.workloads import (Budget, Workload, cluster_budgets,
                                           cluster_workloads, static_workloads)

NODE_FIELDS = {"metadata.name", "spec.unschedulable"}
POD_FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
              "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
              "status.phase", "status.podIP", "status.nominatedNodeName"}
PDB_FIELDS = {"metadata.name", "metadata.namespace"}
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
STATUS_REPOST = 60.0          # kubelet re-posts an unchanged status this often (seconds)
LEASE_RENEW = 10.0            # kubelet renews its node lease this often (seconds)
LEASE_DURATION = 40
LEASE_NAMESPACE = "kube-node-lease"
LEASE_FIELDS = {"metadata.name", "metadata.namespace"}


def _selectors(label_selector: str | None, field_selector: str | None, fields):
    """Both selectors of a list request, or the API server's 400 BadRequest."""
    try:
        return (parse_label_selector(label_selector),
                parse_field_selector(field_selector, fields))
    except SelectorError as exc:
        raise ApiError(400, "BadRequest", str(exc)) from None


@dataclass(frozen=True)
class NodeConfig:
    name: str
    control_plane: bool
    internal_ip: str                   # the inventory's; used when the node has no lab host
    host: str | None = None
    pid: int | None = None
    start: int | None = None
    join_config: str = "/etc/kubernetes/join-config.yaml"


Observer = Callable[[NodeConfig], KubeletView]


def static_observer(cfg: NodeConfig) -> KubeletView:
    """A node with no lab host behind it: Ready with the inventory's address."""
    return KubeletView(cfg.internal_ip, "inventory", cfg.internal_ip, "True",
                       "KubeletReady", "kubelet is posting ready status", "Linux")


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


@dataclass
class NodeRec:
    cfg: NodeConfig
    index: int
    meta_spec: dict                    # metadata + spec (what PATCH changes)
    boot_id: str
    view: KubeletView | None = None
    status: dict = field(default_factory=dict)
    posted_at: float = 0.0
    transitions: dict[str, str] = field(default_factory=dict)
    renewed_at: float | None = None    # kubelet's last node lease renewal
    lease_rv: int = 0


@dataclass
class PodRec:
    workload: Workload
    namespace: str
    name: str
    uid: str
    created: float
    node: str | None = None
    scheduled_at: float | None = None
    running_at: float | None = None    # when containers start (Ready from then on)
    deleting_at: float | None = None   # deletionTimestamp
    gone_at: float | None = None
    grace: int = 30
    pod_ip: str | None = None
    rv: int = 0
    unschedulable_msg: str = ""
    container_ids: dict[str, str] = field(default_factory=dict)

    @property
    def owner_kind(self) -> str:
        return {"Static": "Node"}.get(self.workload.kind, self.workload.kind)


class Cluster:
    def __init__(self, nodes: list[NodeConfig], *, cluster_id: str,
                 observer: Observer = static_observer, startup_delay: float = 1.0,
                 terminate_delay: float = 0.5, clock: Callable[[], float] = time.time,
                 seed_age: float = 3600.0):
        self.cluster_id = cluster_id
        self.observer = observer
        self.startup_delay, self.terminate_delay = startup_delay, terminate_delay
        self.clock = clock
        self.lock = threading.RLock()
        self._observe_lock = threading.Lock()
        self.rv = 1000
        self.events = EventLog(self._bump, clock)
        self.rng = random.Random(cluster_id)
        self.kernel = os.uname().release
        self.arch = _arch()
        self.observed_at = 0.0
        now = clock()
        self.created = now - seed_age
        self.nodes: dict[str, NodeRec] = {}
        for i, cfg in enumerate(nodes):
            skel = ob.node_skeleton(cfg.name, cluster_id=cluster_id, index=i,
                                    control_plane=cfg.control_plane,
                                    created=self.created + i * 60, arch=self.arch)
            self.nodes[cfg.name] = NodeRec(cfg, i, skel, str(uuid.UUID(int=self.rng.getrandbits(128))))
        workers = sum(1 for c in nodes if not c.control_plane)
        self.workloads = cluster_workloads(cluster_id, workers)
        self.statics = {c.name: static_workloads(cluster_id, c.name)
                        for c in nodes if c.control_plane}
        self.budgets: list[Budget] = cluster_budgets(cluster_id, self.workloads)
        self.pods: dict[tuple[str, str], PodRec] = {}
        self._ip_next: dict[str, int] = {}
        self._seeded = False
        self.refresh(max_age=0)
        with self.lock:
            self._reconcile(seeding=True)        # what ran before the stand-in started
            self._seeded = True

    # --- versions ----------------------------------------------------------------------------
    def _bump(self) -> int:
        self.rv += 1
        return self.rv

    # --- node status ---------------------------------------------------------------------------
    def refresh(self, max_age: float = 0.5) -> None:
        """Observe every node's kubelet view unless the last look is fresher than max_age."""
        if self.clock() - self.observed_at < max_age:
            return
        with self._observe_lock:
            if self.clock() - self.observed_at < max_age:
                return
            def look(rec: NodeRec) -> KubeletView:
                try:
                    return self.observer(rec.cfg)
                except Exception as exc:         # the host is gone: kubelet stopped posting
                    return KubeletView(None, "unreachable", None, "Unknown",
                                       "NodeStatusUnknown", str(exc)[:200])
            recs = list(self.nodes.values())
            # one look per host, side by side: a round costs one nsenter, not one per node
            with ThreadPoolExecutor(max_workers=min(8, len(recs) or 1)) as pool:
                views = dict(zip((r.cfg.name for r in recs), pool.map(look, recs)))
            with self.lock:
                now = self.clock()
                for name, view in views.items():
                    rec = self.nodes[name]
                    # a running kubelet renews its lease whatever it posts as Ready
                    if view.ready != "Unknown" and (rec.renewed_at is None or
                                                    now - rec.renewed_at >= LEASE_RENEW):
                        rec.renewed_at = now
                        rec.lease_rv = self._bump()
                    self._post_status(rec, view)
                self.observed_at = self.clock()
                if self._seeded:
                    self._reconcile()

    def _post_status(self, rec: NodeRec, view: KubeletView) -> None:
        now = self.clock()
        old = rec.view
        if old is not None and old.ready == "Unknown" and view.ready == "Unknown":
            return                                 # nobody posts for a silent kubelet
        changed = old is None or (old.ready, old.reason, old.message, old.internal_ip,
                                  old.os_image) != (view.ready, view.reason, view.message,
                                                    view.internal_ip, view.os_image)
        if not changed and now - rec.posted_at < STATUS_REPOST:
            return
        stamp = rfc3339(now)
        if old is None:
            created = rec.meta_spec["metadata"]["creationTimestamp"]
            rec.transitions = {t: created for t in ("MemoryPressure", "DiskPressure",
                                                    "PIDPressure", "Ready")}
            if view.ready != "True":
                rec.transitions["Ready"] = stamp
        elif old.ready != view.ready:
            rec.transitions["Ready"] = stamp
            if view.ready in ("True", "False"):      # kubelet's own event about its node
                self.events.node_event(rec.cfg.name, "NodeReady" if view.ready == "True"
                                       else "NodeNotReady")
            if "Unknown" in (old.ready, view.ready):
                rec.transitions.update({t: stamp for t in ("MemoryPressure", "DiskPressure",
                                                           "PIDPressure")})
        heartbeat = stamp if view.ready != "Unknown" else (
            rec.status.get("conditions", [{}])[0].get("lastHeartbeatTime", stamp))
        conditions = ob.node_conditions(view.ready, view.reason, view.message, heartbeat,
                                        rec.transitions)
        info = ob.node_info(cluster_id=self.cluster_id, name=rec.cfg.name,
                            boot_id=rec.boot_id, kernel=self.kernel,
                            os_image=view.os_image or (old.os_image if old else ""),
                            arch=self.arch)
        internal = view.internal_ip
        if view.ready == "Unknown" and old is not None:
            internal = old.internal_ip             # the last posted addresses stay
        rec.status = ob.node_status(internal_ip=internal, hostname=rec.cfg.name,
                                    conditions=conditions, node_info=info)
        rec.view = view if view.ready != "Unknown" or old is None else \
            KubeletView(old.node_ip, old.source, old.internal_ip, "Unknown",
                        view.reason, view.message, old.os_image)
        rec.posted_at = now
        rec.meta_spec["metadata"]["resourceVersion"] = str(self._bump())

    def ready(self, name: str) -> str:
        rec = self.nodes[name]
        return rec.view.ready if rec.view else "Unknown"

    def _node_taints(self, rec: NodeRec) -> None:
        """The node lifecycle controller's taints, in step with spec and Ready."""
        spec = rec.meta_spec["spec"]
        want: list[dict] = []
        if spec.get("unschedulable"):
            want.append({"key": ob.UNSCHEDULABLE_TAINT, "effect": "NoSchedule"})
        ready = self.ready(rec.cfg.name)
        for key, on in ((ob.NOT_READY_TAINT, ready == "False"),
                        (ob.UNREACHABLE_TAINT, ready == "Unknown")):
            if on:
                want.append({"key": key, "effect": "NoSchedule"})
                want.append({"key": key, "effect": "NoExecute"})
        taints = spec.get("taints") or []
        keep = [t for t in taints if t.get("key") not in ob.CONTROLLER_TAINTS]
        have = [t for t in taints if t.get("key") in ob.CONTROLLER_TAINTS]
        merged = []
        for w in want:
            prev = next((t for t in have if t["key"] == w["key"]
                         and t["effect"] == w["effect"]), None)
            if prev is None:
                prev = dict(w)
                if w["effect"] == "NoExecute":
                    prev["timeAdded"] = rfc3339(self.clock())
            merged.append(prev)
        new = keep + merged
        if new != taints:
            if new:
                spec["taints"] = new
            else:
                spec.pop("taints", None)
            rec.meta_spec["metadata"]["resourceVersion"] = str(self._bump())

    # --- rendering ---------------------------------------------------------------------------
    def node_object(self, name: str, *, item: bool = False) -> dict:
        rec = self.nodes[name]
        body = {"kind": "Node", "apiVersion": "v1"}
        body.update(copy.deepcopy(rec.meta_spec))
        body["status"] = copy.deepcopy(rec.status)
        if item:
            del body["kind"], body["apiVersion"]
        return body

    def _pod_phase(self, p: PodRec) -> str:
        return "Running" if p.running_at is not None and self.clock() >= p.running_at \
            else "Pending"

    def pod_ready(self, p: PodRec) -> bool:
        return self._pod_phase(p) == "Running" and p.deleting_at is None and \
            p.node is not None and self.ready(p.node) == "True"

    def pod_object(self, p: PodRec, *, item: bool = False) -> dict:
        w = p.workload
        now = self.clock()
        meta: dict = {"name": p.name, "namespace": p.namespace, "uid": p.uid,
                      "resourceVersion": str(p.rv), "creationTimestamp": rfc3339(p.created),
                      "labels": dict(w.labels)}
        if w.kind != "Static":
            meta["generateName"] = f"{w.name}-"
        if w.annotations:
            meta["annotations"] = dict(w.annotations)
            meta["annotations"]["kubernetes.io/config.seen"] = \
                time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime(p.created))
        if w.kind == "Static":
            node_uid = self.nodes[p.node].meta_spec["metadata"]["uid"]
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": p.node,
                                        "uid": node_uid, "controller": True}]
        else:
            meta["ownerReferences"] = [ob.owner_ref(w.kind, w.name, w.uid)]
        if p.deleting_at is not None:
            meta["deletionTimestamp"] = rfc3339(p.deleting_at + p.grace)
            meta["deletionGracePeriodSeconds"] = p.grace
        spec: dict = {"containers": copy.deepcopy(w.containers)}
        if w.volumes:
            spec["volumes"] = copy.deepcopy(w.volumes)
        spec.update({"restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirstWithHostNet" if w.host_network else "ClusterFirst",
                     "serviceAccountName": "default", "serviceAccount": "default",
                     "securityContext": {}, "schedulerName": "default-scheduler",
                     "tolerations": copy.deepcopy(w.tolerations),
                     "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
                     "priority": 0})
        if p.node:
            spec["nodeName"] = p.node
        if w.host_network:
            spec["hostNetwork"] = True
        if w.priority_class:
            spec["priorityClassName"] = w.priority_class
            spec["priority"] = {"system-node-critical": 2000001000,
                                "system-cluster-critical": 2000000000}[w.priority_class]
        status = self._pod_status(p, now)
        body = {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec,
                "status": status}
        if item:
            del body["kind"], body["apiVersion"]
        return body

    def _pod_status(self, p: PodRec, now: float) -> dict:
        w = p.workload
        created = rfc3339(p.created)
        if p.node is None:
            return {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                 "lastTransitionTime": created, "reason": "Unschedulable",
                 "message": p.unschedulable_msg}], "qosClass": "BestEffort"}
        phase = self._pod_phase(p)
        ready = self.pod_ready(p)
        sched = rfc3339(p.scheduled_at)
        started = rfc3339(p.running_at) if p.running_at is not None else sched
        names = [c["name"] for c in w.containers]
        conds = []
        for typ, ok, t in (("PodReadyToStartContainers", phase == "Running", started),
                           ("Initialized", True, sched), ("Ready", ready, started),
                           ("ContainersReady", ready, started), ("PodScheduled", True, sched)):
            c = {"type": typ, "status": "True" if ok else "False", "lastProbeTime": None,
                 "lastTransitionTime": t}
            if not ok and typ in ("Ready", "ContainersReady"):
                c["reason"] = "ContainersNotReady"
                c["message"] = f"containers with unready status: [{' '.join(names)}]"
            conds.append(c)
        node_ip = self._node_ip(p.node)
        status: dict = {"phase": phase, "conditions": conds}
        if node_ip:
            status["hostIP"] = node_ip
            status["hostIPs"] = [{"ip": node_ip}]
        pod_ip = node_ip if w.host_network else p.pod_ip
        if pod_ip and phase == "Running":
            status["podIP"] = pod_ip
            status["podIPs"] = [{"ip": pod_ip}]
        status["startTime"] = sched
        statuses = []
        for c in w.containers:
            cs = {"name": c["name"], "image": c["image"],
                  "imageID": "", "ready": ready, "restartCount": 0,
                  "started": phase == "Running"}
            if phase == "Running":
                cid = p.container_ids.setdefault(c["name"], "%064x" % self.rng.getrandbits(256))
                cs["imageID"] = c["image"].split(":")[0] + "@sha256:" + \
                    uuid.uuid5(uuid.NAMESPACE_URL, c["image"]).hex * 2
                cs["containerID"] = f"cri-o://{cid}"
                cs["state"] = {"running": {"startedAt": started}}
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(cs)
        status["containerStatuses"] = statuses
        status["qosClass"] = "BestEffort"
        return status

    def _node_ip(self, node: str | None) -> str | None:
        if node is None or node not in self.nodes:
            return None
        rec = self.nodes[node]
        return rec.view.internal_ip if rec.view else None

    # --- controllers -------------------------------------------------------------------------
    def _new_pod(self, w: Workload, name: str | None = None) -> PodRec:
        now = self.clock()
        if name is None:
            suffix = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
            name = f"{w.name}-{suffix}"
        p = PodRec(w, w.namespace, name, str(uuid.UUID(int=self.rng.getrandbits(128))), now)
        p.rv = self._bump()
        self.pods[(p.namespace, p.name)] = p
        return p

    def _bind(self, p: PodRec, node: str, *, seeding: bool) -> None:
        now = self.clock()
        p.node = node
        p.scheduled_at = p.created if seeding else now
        p.running_at = p.created + 5 if seeding else now + self.startup_delay
        if not p.workload.host_network:
            n = self._ip_next.get(node, 2)
            self._ip_next[node] = n + 1
            p.pod_ip = f"10.244.{self.nodes[node].index}.{n}"
        p.rv = self._bump()

    def _live(self, p: PodRec) -> bool:
        return p.deleting_at is None

    def _reconcile(self, seeding: bool = False) -> None:
        now = self.clock()
        for rec in self.nodes.values():
            self._node_taints(rec)
        # the kubelet finishes terminating pods
        for key, p in list(self.pods.items()):
            if p.gone_at is not None and now >= p.gone_at:
                del self.pods[key]
        # DaemonSets and static pods: one live pod per node
        for w in self.workloads:
            if w.kind != "DaemonSet":
                continue
            for node in self.nodes:
                if not any(p.workload is w and p.node == node and self._live(p)
                           for p in self.pods.values()):
                    p = self._new_pod(w)
                    if seeding:
                        p.created = self.created + 30
                    self._bind(p, node, seeding=seeding)
        for node, statics in self.statics.items():
            for w in statics:
                if (w.namespace, w.name) not in self.pods:
                    p = self._new_pod(w, w.name)
                    if seeding:
                        p.created = self.created + 5
                    self._bind(p, node, seeding=True)
        # ReplicaSets: replace what is gone or going
        for w in self.workloads:
            if w.kind != "ReplicaSet":
                continue
            live = [p for p in self.pods.values() if p.workload is w and self._live(p)]
            for _ in range(w.replicas - len(live)):
                p = self._new_pod(w)
                if seeding:
                    p.created = self.created + 120
        # the scheduler
        for p in sorted(self.pods.values(), key=lambda x: x.created):
            if p.node is None and self._live(p):
                node, why = self._schedule(p)
                if node is not None:
                    self._bind(p, node, seeding=seeding)
                elif why != p.unschedulable_msg:
                    p.unschedulable_msg = why
                    p.rv = self._bump()

    @staticmethod
    def _tolerates(tolerations: list[dict], taint: dict) -> bool:
        for t in tolerations:
            if t.get("effect") and t["effect"] != taint.get("effect"):
                continue
            if not t.get("key"):
                if t.get("operator") == "Exists":
                    return True
                continue
            if t["key"] != taint.get("key"):
                continue
            if t.get("operator") == "Exists" or t.get("value", "") == taint.get("value", ""):
                return True
        return False

    def _schedule(self, p: PodRec) -> tuple[str | None, str]:
        w = p.workload
        reasons: dict[str, int] = {}
        fits = []
        for name, rec in self.nodes.items():
            spec = rec.meta_spec["spec"]
            taints = [t for t in spec.get("taints") or []
                      if t.get("effect") in ("NoSchedule", "NoExecute")]
            if spec.get("unschedulable") and not self._tolerates(
                    w.tolerations, {"key": ob.UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
                why = "node(s) were unschedulable"
            else:
                bad = next((t for t in taints if not self._tolerates(w.tolerations, t)), None)
                why = (f"node(s) had untolerated taint {{{bad['key']}: {bad.get('value', '')}}}"
                       if bad else "")
            if why:
                reasons[why] = reasons.get(why, 0) + 1
                continue
            same = sum(1 for q in self.pods.values()
                       if q.workload is w and q.node == name and self._live(q))
            total = sum(1 for q in self.pods.values() if q.node == name and self._live(q))
            fits.append((same, total, rec.index, name))
        if fits:
            return min(fits)[3], ""
        n = len(self.nodes)
        parts = ", ".join(f"{c} {r}" for r, c in sorted(reasons.items()))
        return None, (f"0/{n} nodes are available: {parts}. preemption: 0/{n} nodes are "
                      f"available: {n} Preemption is not helpful for scheduling.")

    # --- nodes API ---------------------------------------------------------------------------
    def list_nodes(self, label_selector: str | None = None,
                   field_selector: str | None = None) -> tuple[list[dict], str]:
        lreq, freq = _selectors(label_selector, field_selector, NODE_FIELDS)
        self.refresh()
        with self.lock:
            self._reconcile()
            out = []
            for name, rec in self.nodes.items():
                spec = rec.meta_spec["spec"]
                fields = {"metadata.name": name,
                          "spec.unschedulable": str(bool(spec.get("unschedulable"))).lower()}
                if match_labels(lreq, rec.meta_spec["metadata"].get("labels")) and \
                        match_fields(freq, fields.__getitem__):
                    out.append(self.node_object(name, item=True))
            return out, str(self.rv)

    def get_node(self, name: str) -> dict:
        self.refresh()
        with self.lock:
            if name not in self.nodes:
                raise not_found("nodes", name)
            self._reconcile()
            return self.node_object(name)

    def patch_node(self, name: str, content_type: str, body) -> dict:
        with self.lock:
            if name not in self.nodes:
                raise not_found("nodes", name)
            rec = self.nodes[name]
            current = self.node_object(name)
            try:
                new = patchmod.apply_patch(current, content_type, body)
            except patchmod.PatchError as exc:
                raise ApiError(exc.code, exc.reason, exc.message) from None
            if not isinstance(new, dict):
                raise ApiError(400, "BadRequest", "json: cannot unmarshal into Go value of "
                               "type v1.Node")
            meta, spec = new.get("metadata") or {}, new.get("spec") or {}
            cur_meta = current["metadata"]
            if meta.get("name") != name:
                raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name')}) "
                               f"does not match the name on the URL ({name})")
            if meta.get("resourceVersion") not in (None, cur_meta["resourceVersion"]):
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on nodes '
                               f'"{name}": the object has been modified; please apply your '
                               f'changes to the latest version and try again',
                               {"name": name, "kind": "nodes"})
            self._validate_node(name, meta, spec)
            for immutable in ("uid", "creationTimestamp", "name"):
                meta[immutable] = cur_meta[immutable]
            if spec.get("unschedulable") is False:
                del spec["unschedulable"]
            for k in ("labels", "annotations"):
                if k in meta and not meta[k]:
                    del meta[k]
            meta["resourceVersion"] = cur_meta["resourceVersion"]
            new_ms = {"metadata": meta, "spec": spec}
            was = bool(rec.meta_spec["spec"].get("unschedulable"))
            if bool(spec.get("unschedulable")) != was:   # kubelet sees it and says so
                self.events.node_event(name, "NodeSchedulable" if was else
                                       "NodeNotSchedulable")
            if new_ms != rec.meta_spec:
                rec.meta_spec = new_ms
                meta["resourceVersion"] = str(self._bump())
            self._reconcile()          # status changes through the main resource are ignored
            return self.node_object(name)

    @staticmethod
    def _validate_node(name: str, meta: dict, spec: dict) -> None:
        for k in ("labels", "annotations"):
            v = meta.get(k)
            if v is not None and not (isinstance(v, dict) and all(
                    isinstance(x, str) for x in v.values())):
                raise ApiError(400, "BadRequest", f"json: cannot unmarshal into Go struct "
                               f"field ObjectMeta.metadata.{k} of type map[string]string")
        u = spec.get("unschedulable")
        if u is not None and not isinstance(u, bool):
            raise ApiError(400, "BadRequest", "json: cannot unmarshal "
                           f"{type(u).__name__} into Go struct field NodeSpec.spec.unschedulable"
                           " of type bool")
        taints = spec.get("taints")
        if taints is None:
            return
        if not isinstance(taints, list):
            raise ApiError(400, "BadRequest", "json: cannot unmarshal into Go struct field "
                           "NodeSpec.spec.taints of type []v1.Taint")
        for i, t in enumerate(taints):
            if not isinstance(t, dict) or not t.get("key"):
                raise ApiError(422, "Invalid", f'Node "{name}" is invalid: spec.taints[{i}].key: '
                               'Required value', {"name": name, "kind": "Node"})
            if t.get("effect") not in TAINT_EFFECTS:
                raise ApiError(422, "Invalid", f'Node "{name}" is invalid: spec.taints[{i}].'
                               f'effect: Unsupported value: "{t.get("effect")}": supported '
                               'values: "NoSchedule", "PreferNoSchedule", "NoExecute"',
                               {"name": name, "kind": "Node"})

    # --- pods API ----------------------------------------------------------------------------
    def _pod_fields(self, p: PodRec, obj: dict) -> Callable[[str], str]:
        st = obj["status"]
        values = {"metadata.name": p.name, "metadata.namespace": p.namespace,
                  "spec.nodeName": p.node or "", "spec.restartPolicy": "Always",
                  "spec.schedulerName": "default-scheduler",
                  "spec.serviceAccountName": "default",
                  "spec.hostNetwork": str(p.workload.host_network).lower(),
                  "status.phase": st.get("phase", ""), "status.podIP": st.get("podIP", ""),
                  "status.nominatedNodeName": ""}
        return values.__getitem__

    def list_pods(self, namespace: str | None = None, label_selector: str | None = None,
                  field_selector: str | None = None) -> tuple[list[dict], str]:
        lreq, freq = _selectors(label_selector, field_selector, POD_FIELDS)
        self.refresh()
        with self.lock:
            self._reconcile()
            out = []
            for (ns, name), p in sorted(self.pods.items()):
                if namespace is not None and ns != namespace:
                    continue
                if not match_labels(lreq, p.workload.labels):
                    continue
                obj = self.pod_object(p, item=True)
                if match_fields(freq, self._pod_fields(p, obj)):
                    out.append(obj)
            return out, str(self.rv)

    def _pod(self, namespace: str, name: str) -> PodRec:
        p = self.pods.get((namespace, name))
        if p is None:
            raise not_found("pods", name)
        return p

    def get_pod(self, namespace: str, name: str) -> dict:
        with self.lock:
            self._reconcile()
            return self.pod_object(self._pod(namespace, name))

    def delete_pod(self, namespace: str, name: str, options: dict | None = None,
                   dry_run: bool = False) -> dict:
        with self.lock:
            self._reconcile()
            p = self._pod(namespace, name)
            options = options or {}
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != p.uid:
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: "
                               f"{pre['uid']}, UID in object meta: {p.uid}",
                               {"name": name, "kind": "pods"})
            if dry_run:
                return self.pod_object(p)
            grace = options.get("gracePeriodSeconds")
            self._delete(p, 30 if grace is None else int(grace))
            obj = self.pod_object(p)
            self._reconcile()
            return obj

    def _delete(self, p: PodRec, grace: int) -> None:
        now = self.clock()
        if p.deleting_at is None:
            p.deleting_at = now
            p.grace = grace
            # the kubelet stops it: quickly in the lab, at once for a never-started pod
            p.gone_at = now + (min(grace, self.terminate_delay) if p.node else 0)
            p.rv = self._bump()

    # --- budgets -----------------------------------------------------------------------------
    def _budget_pods(self, b: Budget) -> list[PodRec]:
        return [p for p in self.pods.values() if p.namespace == b.namespace
                and all(p.workload.labels.get(k) == v for k, v in b.selector.items())]

    def budget_status(self, b: Budget) -> dict:
        pods = self._budget_pods(b)
        owners = {id(p.workload): p.workload for p in pods}
        expected = sum(w.replicas if w.kind == "ReplicaSet" else
                       sum(1 for p in pods if p.workload is w and self._live(p))
                       for w in owners.values())
        healthy = sum(1 for p in pods if self.pod_ready(p))

        def amount(v, total, round_up):
            if isinstance(v, str) and v.endswith("%"):
                frac = int(v[:-1]) * total / 100
                return int(-(-frac // 1)) if round_up else int(frac)
            return int(v)
        if b.min_available is not None:
            desired = amount(b.min_available, expected, True)
        elif b.max_unavailable is not None:
            desired = max(0, expected - amount(b.max_unavailable, expected, True))
        else:
            desired = expected
        allowed = max(0, healthy - desired)
        return {"observedGeneration": 1, "disruptionsAllowed": allowed,
                "currentHealthy": healthy, "desiredHealthy": desired,
                "expectedPods": expected,
                "conditions": [{"type": "DisruptionAllowed",
                                "status": "True" if allowed > 0 else "False",
                                "observedGeneration": 1,
                                "lastTransitionTime": rfc3339(self.created + 130),
                                "reason": "SufficientPods" if allowed > 0 else
                                "InsufficientPods", "message": ""}]}

    def budget_object(self, b: Budget, *, item: bool = False) -> dict:
        spec: dict = {"selector": {"matchLabels": dict(b.selector)}}
        if b.min_available is not None:
            spec["minAvailable"] = b.min_available
        if b.max_unavailable is not None:
            spec["maxUnavailable"] = b.max_unavailable
        body = {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
                "metadata": {"name": b.name, "namespace": b.namespace, "uid": b.uid,
                             "resourceVersion": str(self.rv), "generation": 1,
                             "creationTimestamp": rfc3339(self.created + 120)},
                "spec": spec, "status": self.budget_status(b)}
        if item:
            del body["kind"], body["apiVersion"]
        return body

    def list_budgets(self, namespace: str | None = None, label_selector: str | None = None,
                     field_selector: str | None = None) -> tuple[list[dict], str]:
        lreq, freq = _selectors(label_selector, field_selector, PDB_FIELDS)
        self.refresh()
        with self.lock:
            self._reconcile()
            out = []
            for b in self.budgets:
                fields = {"metadata.name": b.name, "metadata.namespace": b.namespace}
                if (namespace is None or b.namespace == namespace) and \
                        match_labels(lreq, {}) and match_fields(freq, fields.__getitem__):
                    out.append(self.budget_object(b, item=True))
            return out, str(self.rv)

    def get_budget(self, namespace: str, name: str) -> dict:
        with self.lock:
            self._reconcile()
            b = next((b for b in self.budgets if b.namespace == namespace and b.name == name),
                     None)
            if b is None:
                raise not_found("poddisruptionbudgets", name, "policy")
            return self.budget_object(b)

    # --- DaemonSets (apps/v1) ----------------------------------------------------------------
    def daemonset_object(self, w: Workload, *, item: bool = False) -> dict:
        pods = [p for p in self.pods.values() if p.workload is w and self._live(p)]
        return apps.daemonset_object(
            w, created=self.created + 20, rv=str(max([p.rv for p in pods] or [1])),
            desired=len(self.nodes), current=len({p.node for p in pods if p.node}),
            ready=sum(1 for p in pods if self.pod_ready(p)), item=item)

    def list_daemonsets(self, namespace: str | None = None, label_selector: str | None = None,
                        field_selector: str | None = None) -> tuple[list[dict], str]:
        lreq, freq = _selectors(label_selector, field_selector, PDB_FIELDS)
        self.refresh()
        with self.lock:
            self._reconcile()
            out = []
            for w in self.workloads:
                fields = {"metadata.name": w.name, "metadata.namespace": w.namespace}
                if w.kind == "DaemonSet" and namespace in (None, w.namespace) and \
                        match_labels(lreq, apps.selector_labels(w.labels)) and \
                        match_fields(freq, fields.__getitem__):
                    out.append(self.daemonset_object(w, item=True))
            return out, str(self.rv)

    def get_daemonset(self, namespace: str, name: str) -> dict:
        with self.lock:
            self._reconcile()
            w = next((w for w in self.workloads if w.kind == "DaemonSet" and
                      w.namespace == namespace and w.name == name), None)
            if w is None:
                raise not_found("daemonsets", name, "apps")
            return self.daemonset_object(w)

    # --- node leases (coordination.k8s.io/v1, kube-node-lease) --------------------------------
    def lease_object(self, name: str, *, item: bool = False) -> dict:
        rec = self.nodes[name]
        meta = rec.meta_spec["metadata"]
        body: dict = {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1", "metadata": {
            "name": name, "namespace": LEASE_NAMESPACE,
            "uid": ob.stable_uuid(self.cluster_id, "lease", name),
            "resourceVersion": str(rec.lease_rv or meta["resourceVersion"]),
            "creationTimestamp": meta["creationTimestamp"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                 "uid": meta["uid"]}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION}}
        if rec.renewed_at is not None:
            body["spec"]["renewTime"] = ob.micro_time(rec.renewed_at)
        if item:
            del body["kind"], body["apiVersion"]
        return body

    def list_leases(self, namespace: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None) -> tuple[list[dict], str]:
        lreq, freq = _selectors(label_selector, field_selector, LEASE_FIELDS)
        self.refresh()
        with self.lock:
            out = []
            if namespace in (None, LEASE_NAMESPACE):
                for name in self.nodes:
                    fields = {"metadata.name": name, "metadata.namespace": LEASE_NAMESPACE}
                    if match_labels(lreq, {}) and match_fields(freq, fields.__getitem__):
                        out.append(self.lease_object(name, item=True))
            return out, str(self.rv)

    def get_lease(self, namespace: str, name: str) -> dict:
        self.refresh()
        with self.lock:
            if namespace != LEASE_NAMESPACE or name not in self.nodes:
                raise not_found("leases", name, "coordination.k8s.io")
            return self.lease_object(name)

    # --- events ------------------------------------------------------------------------------
    def list_events(self, namespace: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None) -> tuple[list[dict], str]:
        with self.lock:
            return self.events.list(namespace, label_selector, field_selector), str(self.rv)

    def get_event(self, namespace: str, name: str) -> dict:
        with self.lock:
            return self.events.get(namespace, name)

    # --- eviction (the policy/v1 Eviction subresource) ---------------------------------------
    def evict(self, namespace: str, name: str, body, dry_run: bool = False) -> dict:
        if not isinstance(body, dict) or body.get("kind") not in (None, "Eviction"):
            raise ApiError(400, "BadRequest", "the body of the request was not an Eviction")
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(400, "BadRequest", "name in URL does not match name in Eviction "
                           "object", {"name": name, "kind": "Eviction"})
        if meta.get("namespace") not in (None, namespace):
            raise ApiError(400, "BadRequest", "namespace in URL does not match namespace in "
                           "Eviction object")
        self.refresh()
        with self.lock:
            self._reconcile()
            p = self._pod(namespace, name)
            options = body.get("deleteOptions") or {}
            grace = options.get("gracePeriodSeconds")
            grace = 30 if grace is None else int(grace)
            if p.deleting_at is not None:
                return ob.success()
            if self._pod_phase(p) != "Running":       # a pod that never ran loses nothing
                if not dry_run:
                    self._delete(p, grace)
                return ob.success()
            budgets = [b for b in self.budgets if b.namespace == namespace and all(
                p.workload.labels.get(k) == v for k, v in b.selector.items())]
            if len(budgets) > 1:
                raise ApiError(500, "InternalError", "This pod has more than one "
                               "PodDisruptionBudget, which the eviction subresource does not "
                               "support.")
            if budgets:
                b = budgets[0]
                st = self.budget_status(b)
                healthy_enough = st["currentHealthy"] >= st["desiredHealthy"]
                if self.pod_ready(p) or not healthy_enough:
                    if st["disruptionsAllowed"] <= 0:
                        raise ApiError(
                            429, "TooManyRequests", "Cannot evict pod as it would violate the "
                            "pod's disruption budget.",
                            {"causes": [{"reason": "DisruptionBudget",
                                         "message": f"The disruption budget {b.name} needs "
                                                    f"{st['desiredHealthy']} healthy pods and "
                                                    f"has {st['currentHealthy']} currently"}]})
            if not dry_run:
                self._delete(p, grace)
                self._reconcile()
            return ob.success()

    # --- background --------------------------------------------------------------------------
    def run_background(self, stop: threading.Event, interval: float = 1.0) -> threading.Thread:
        def loop():
            while not stop.wait(interval):
                try:
                    self.refresh(max_age=interval * 0.5)
                except Exception:         # keep serving; the next round tries again
                    pass
        t = threading.Thread(target=loop, name="kube-standin-observer", daemon=True)
        t.start()
        return t

