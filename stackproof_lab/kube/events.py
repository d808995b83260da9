"""core/v1 Events the stand-in's kubelets record about their nodes, so `kubectl describe
node` shows what happened (cordon, uncordon, Ready changes) as on a real cluster.

kubelet records node events with involvedObject.uid set to the node's *name* (not its uid)
and source {component: kubelet, host: <node>}; describe node asks for both uids. Messages
are kubelet's: "Node <name> status is now: NodeNotSchedulable" and the like. Events live
in the default namespace, are named `<node>.<hex nanoseconds>`, and repeat by count.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from stackproof_lab.kube.objects import ApiError, not_found, rfc3339
from stackproof_lab.kube.selectors import (SelectorError, match_fields, match_labels,
                                           parse_field_selector, parse_label_selector)

EVENT_FIELDS = {"metadata.name", "metadata.namespace", "involvedObject.kind",
                "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}
MAX_EVENTS = 1000


@dataclass
class EventRec:
    namespace: str
    name: str
    uid: str
    kind: str
    obj_name: str
    obj_uid: str
    reason: str
    message: str
    type: str
    component: str
    host: str
    first: float
    last: float
    count: int = 1
    rv: int = 0

    def body(self, *, item: bool = False) -> dict:
        body = {"kind": "Event", "apiVersion": "v1",
                "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid,
                             "resourceVersion": str(self.rv),
                             "creationTimestamp": rfc3339(self.first)},
                "involvedObject": {"kind": self.kind, "name": self.obj_name,
                                   "uid": self.obj_uid, "apiVersion": "v1"},
                "reason": self.reason, "message": self.message,
                "source": {"component": self.component, "host": self.host},
                "firstTimestamp": rfc3339(self.first), "lastTimestamp": rfc3339(self.last),
                "count": self.count, "type": self.type, "eventTime": None,
                "reportingComponent": self.component, "reportingInstance": self.host}
        if item:
            del body["kind"], body["apiVersion"]
        return body

    def field(self, name: str) -> str:
        return {"metadata.name": self.name, "metadata.namespace": self.namespace,
                "involvedObject.kind": self.kind, "involvedObject.namespace": "",
                "involvedObject.name": self.obj_name, "involvedObject.uid": self.obj_uid,
                "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "",
                "involvedObject.fieldPath": "", "reason": self.reason,
                "reportingComponent": self.component, "source": self.component,
                "type": self.type}[name]


class EventLog:
    """Thread-safe; `bump` is the cluster's resourceVersion counter."""

    def __init__(self, bump, clock):
        self.bump, self.clock = bump, clock
        self.lock = threading.Lock()
        self.events: list[EventRec] = []

    def node_event(self, node: str, reason: str, type_: str = "Normal",
                   message: str | None = None) -> None:
        """What kubelet records about its own node (uid = the node's name)."""
        now = self.clock()
        msg = message or f"Node {node} status is now: {reason}"
        with self.lock:
            same = next((e for e in self.events if e.kind == "Node" and e.obj_name == node
                         and e.reason == reason and e.message == msg), None)
            if same is not None:
                same.count += 1
                same.last = now
                same.rv = self.bump()
                return
            name = f"{node}.{int(now * 1e9):x}"
            self.events.append(EventRec("default", name, str(uuid.uuid4()), "Node", node,
                                        node, reason, msg, type_, "kubelet", node, now, now,
                                        rv=self.bump()))
            del self.events[:-MAX_EVENTS]

    def list(self, namespace: str | None, label_selector: str | None,
             field_selector: str | None) -> list[dict]:
        try:
            lreq = parse_label_selector(label_selector)
            freq = parse_field_selector(field_selector, EVENT_FIELDS)
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        with self.lock:
            return [e.body(item=True) for e in self.events
                    if (namespace is None or e.namespace == namespace)
                    and match_labels(lreq, {}) and match_fields(freq, e.field)]

    def get(self, namespace: str, name: str) -> dict:
        with self.lock:
            e = next((e for e in self.events if e.namespace == namespace and e.name == name),
                     None)
            if e is None:
                raise not_found("events", name)
            return e.body()
