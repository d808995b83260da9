"""Server-side printing: the meta.k8s.io Table kube-apiserver answers `kubectl get` with.

kubectl has printed built-in kinds from the server's Table since 1.11: it asks with
`Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells as they come
(priority-1 columns only with -o wide). Without a Table it prints NAME and AGE only, so the
columns an operator reads (STATUS, INTERNAL-IP, NODE, ...) have to be computed here, the way
the API server's printers compute them from the object:

- nodes: STATUS is Ready / NotReady from the Ready condition (Unknown without conditions),
  plus SchedulingDisabled when spec.unschedulable; ROLES from node-role.kubernetes.io/<role>
  labels; INTERNAL-IP / EXTERNAL-IP the first address of that type or <none>;
- pods: READY ready/total containers, STATUS the phase or the container's waiting reason,
  Terminating once deletionTimestamp is set;
- poddisruptionbudgets: MIN AVAILABLE, MAX UNAVAILABLE (N/A when unset), ALLOWED DISRUPTIONS.

Rows carry the object as PartialObjectMetadata (the default), the whole object
(`includeObject=Object`) or nothing (`includeObject=None`).
"""
from __future__ import annotations

import calendar
import time
from typing import Callable

NONE = "<none>"
UNKNOWN = "<unknown>"
ROLE_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, "
            "although some resources may allow a client to request the generation of a name "
            "automatically. Name is primarily intended for creation idempotence and "
            "configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object "
           "was created. It is not guaranteed to be set in happens-before order across "
           "separate operations. Clients may not set this value. It is represented in RFC3339 "
           "form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More "
           "info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
           "api-conventions.md#metadata")
ADDRESSES_DOC = ("List of addresses reachable to the node. Queried from cloud provider, if "
                 "available. More info: https://kubernetes.io/docs/reference/node/node-status/"
                 "#addresses")


def _col(name: str, typ: str, doc: str, priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": doc, "priority": priority}


NODE_COLUMNS = [
    _col("Name", "string", NAME_DOC, fmt="name"),
    _col("Status", "string", "The status of the node"),
    _col("Roles", "string", "The roles of the node"),
    _col("Age", "string", AGE_DOC),
    _col("Version", "string", "Kubelet Version reported by the node."),
    _col("Internal-IP", "string", ADDRESSES_DOC, 1),
    _col("External-IP", "string", ADDRESSES_DOC, 1),
    _col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. "
                               "Debian GNU/Linux 7 (wheezy)).", 1),
    _col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' "
                                     "(e.g. 3.16.0-0.bpo.4-amd64).", 1),
    _col("Container-Runtime", "string", "ContainerRuntime Version reported by the node "
                                        "through runtime remote API (e.g. "
                                        "containerd://1.4.2).", 1),
]
POD_COLUMNS = [
    _col("Name", "string", NAME_DOC, fmt="name"),
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting "
                            "traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col("Restarts", "string", "The number of times the containers in this pod have been "
                               "restarted and when the last container in this pod has "
                               "restarted."),
    _col("Age", "string", AGE_DOC),
    _col("IP", "string", "podIP address allocated to the pod. Routable at least within the "
                         "cluster. Empty if not yet allocated.", 1),
    _col("Node", "string", "NodeName is a request to schedule this pod onto a specific "
                           "node. If it is non-empty, the scheduler simply schedules this pod "
                           "onto that node, assuming that it fits resource requirements.", 1),
    _col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts "
                                     "other pods on the node, but it cannot be scheduled "
                                     "right away as preemption victims receive their "
                                     "graceful termination periods.", 1),
    _col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated "
                                      "for pod readiness.", 1),
]
PDB_COLUMNS = [
    _col("Name", "string", NAME_DOC, fmt="name"),
    _col("Min Available", "string", "The minimum number of pods that must be available."),
    _col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    _col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted "
                                           "at this time."),
    _col("Age", "string", AGE_DOC),
]
EVENT_COLUMNS = [
    _col("Last Seen", "string", "The time at which the most recent occurrence of this event "
                                "was recorded."),
    _col("Type", "string", "Type of this event (Normal, Warning), new types could be added "
                           "in the future"),
    _col("Reason", "string", "This should be a short, machine understandable string that "
                             "gives the reason for the transition into the object's current "
                             "status."),
    _col("Object", "string", "The object that this event is about."),
    _col("Subobject", "string", "If the reference is to a portion of an object instead of "
                                "an entire object, this string should contain a valid "
                                "JSON/Go field access statement.", 1),
    _col("Source", "string", "The component reporting this event. Should be a short machine "
                             "understandable string.", 1),
    _col("Message", "string", "A human-readable description of the status of this "
                              "operation."),
    _col("First Seen", "string", "The time at which the event was first recorded.", 1),
    _col("Count", "string", "The number of times this event has occurred.", 1),
    _col("Name", "string", NAME_DOC, 1, "name"),
]


LEASE_COLUMNS = [
    _col("Name", "string", NAME_DOC, fmt="name"),
    _col("Holder", "string", "holderIdentity contains the identity of the holder of a current "
                             "lease."),
    _col("Age", "string", AGE_DOC),
]


def _parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration: the AGE column's format."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def age(stamp: str | None, now: float) -> str:
    t = _parse_time(stamp)
    return UNKNOWN if t is None else human_duration(now - t)


# --- rows ----------------------------------------------------------------------------------
def node_cells(node: dict, now: float) -> list:
    meta, spec, st = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    conds = {c["type"]: c for c in st.get("conditions") or []}
    status = []
    if "Ready" in conds:
        status.append("Ready" if conds["Ready"].get("status") == "True" else "NotReady")
    if not status:
        status.append("Unknown")
    if spec.get("unschedulable"):
        status.append("SchedulingDisabled")
    roles = set()
    for k, v in (meta.get("labels") or {}).items():
        if k.startswith(ROLE_PREFIX) and k[len(ROLE_PREFIX):]:
            roles.add(k[len(ROLE_PREFIX):])
        elif k == ROLE_LABEL and v:
            roles.add(v)
    info = st.get("nodeInfo") or {}

    def address(kind: str) -> str:
        return next((a["address"] for a in st.get("addresses") or [] if a.get("type") == kind),
                    NONE)
    return [meta["name"], ",".join(status), ",".join(sorted(roles)) or NONE,
            age(meta.get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            address("InternalIP"), address("ExternalIP"), info.get("osImage") or UNKNOWN,
            info.get("kernelVersion") or UNKNOWN,
            info.get("containerRuntimeVersion") or UNKNOWN]


def pod_cells(pod: dict, now: float) -> list:
    meta, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    statuses = st.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = 0
    restarts = 0
    reason = st.get("reason") or st.get("phase") or ""
    running = False
    for cs in reversed(statuses):
        restarts += int(cs.get("restartCount") or 0)
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif state.get("running") and cs.get("ready"):
            running = True
            ready += 1
    if reason == "Completed" and running:
        pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in st.get("conditions") or [])
        reason = "Running" if pod_ready else "NotReady"
    if meta.get("deletionTimestamp"):
        reason = "Unknown" if st.get("reason") == "NodeLost" else "Terminating"
    gates = spec.get("readinessGates") or []
    if gates:
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        gates_cell = f"{sum(1 for g in gates if conds.get(g.get('conditionType')) == 'True')}" \
                     f"/{len(gates)}"
    else:
        gates_cell = NONE
    return [meta["name"], f"{ready}/{total}", reason, str(restarts),
            age(meta.get("creationTimestamp"), now), st.get("podIP") or NONE,
            spec.get("nodeName") or NONE, st.get("nominatedNodeName") or NONE, gates_cell]


def pdb_cells(pdb: dict, now: float) -> list:
    spec, st = pdb.get("spec") or {}, pdb.get("status") or {}
    return [pdb["metadata"]["name"], str(spec.get("minAvailable", "N/A")),
            str(spec.get("maxUnavailable", "N/A")), int(st.get("disruptionsAllowed") or 0),
            age(pdb["metadata"].get("creationTimestamp"), now)]


def event_cells(ev: dict, now: float) -> list:
    last = ev.get("lastTimestamp") or ev.get("eventTime")
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    obj = ev.get("involvedObject") or {}
    src = ev.get("source") or {}
    source = src.get("component", "")
    if src.get("host"):
        source = f"{source}, {src['host']}"
    return [age(last, now), ev.get("type", ""), ev.get("reason", ""),
            f"{(obj.get('kind') or '').lower()}/{obj.get('name', '')}",
            obj.get("fieldPath", ""), source, (ev.get("message") or "").strip(),
            age(first, now), int(ev.get("count") or 1), ev["metadata"]["name"]]


DAEMONSET_COLUMNS = [
    _col("Name", "string", NAME_DOC, fmt="name"),
    _col("Desired", "integer", "The total number of nodes that should be running the daemon "
                               "pod (including nodes correctly running the daemon pod). More "
                               "info: https://kubernetes.io/docs/concepts/workloads/"
                               "controllers/daemonset/"),
    _col("Current", "integer", "The number of nodes that are running at least 1 daemon pod "
                               "and are supposed to run the daemon pod. More info: "
                               "https://kubernetes.io/docs/concepts/workloads/controllers/"
                               "daemonset/"),
    _col("Ready", "integer", "numberReady is the number of nodes that should be running the "
                             "daemon pod and have one or more of the daemon pod running with "
                             "a Ready Condition."),
    _col("Up-to-date", "integer", "The total number of nodes that are running updated daemon "
                                  "pod"),
    _col("Available", "integer", "The number of nodes that should be running the daemon pod "
                                 "and have one or more of the daemon pod running and available "
                                 "(ready for at least spec.minReadySeconds)"),
    _col("Node Selector", "string", "NodeSelector is a selector which must be true for the "
                                    "pod to fit on a node. Selector which must match a node's "
                                    "labels for the pod to be scheduled on that node. More "
                                    "info: https://kubernetes.io/docs/concepts/configuration/"
                                    "assign-pod-node/"),
    _col("Age", "string", AGE_DOC),
    _col("Containers", "string", "Names of each container in the template.", 1),
    _col("Images", "string", "Images referenced by each container in the template.", 1),
    _col("Selector", "string", "A label query over pods that are managed by the daemon set. "
                               "Must match in order to be controlled. It must match the pod "
                               "template's labels. More info: https://kubernetes.io/docs/"
                               "concepts/overview/working-with-objects/labels/"
                               "#label-selectors", 1),
]


def lease_cells(lease: dict, now: float) -> list:
    return [lease["metadata"]["name"], (lease.get("spec") or {}).get("holderIdentity", ""),
            age(lease["metadata"].get("creationTimestamp"), now)]


def _daemonset_cells(ds: dict, now: float) -> list:
    from stackproof_lab.kube.apps import daemonset_cells
    return daemonset_cells(ds, now)


COLUMNS: dict[str, tuple[list[dict], Callable[[dict, float], list]]] = {
    "DaemonSet": (DAEMONSET_COLUMNS, _daemonset_cells),
    "Lease": (LEASE_COLUMNS, lease_cells),
    "Node": (NODE_COLUMNS, node_cells),
    "Pod": (POD_COLUMNS, pod_cells),
    "PodDisruptionBudget": (PDB_COLUMNS, pdb_cells),
    "Event": (EVENT_COLUMNS, event_cells),
}


def _row_object(obj: dict, kind: str, api_version: str, include: str, version: str):
    if include == "None":
        return None
    if include == "Object":
        return {"kind": kind, "apiVersion": api_version, **{k: v for k, v in obj.items()
                                                           if k not in ("kind", "apiVersion")}}
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj["metadata"]}


def table(kind: str, api_version: str, objects: list[dict], list_meta: dict | None, *,
          now: float, include: str = "PartialObjectMetadata", version: str = "v1") -> dict:
    """A Table of objects of one kind (a list, or one object with list_meta None)."""
    columns, cells = COLUMNS[kind]
    rows = []
    for obj in objects:
        row: dict = {"cells": cells(obj, now)}
        o = _row_object(obj, kind, api_version, include, version)
        if o is not None:
            row["object"] = o
        rows.append(row)
    meta = dict(list_meta) if list_meta is not None else \
        {"resourceVersion": objects[0]["metadata"].get("resourceVersion", "")}
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": meta,
            "columnDefinitions": columns, "rows": rows}
