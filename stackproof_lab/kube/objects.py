"""v1 objects as the API server writes them: Status errors, Nodes, Pods, PodDisruptionBudgets.

Field names, reasons and messages are the API server's and kubelet's own, so that the
official client's strict models accept every object and the suite reads what it would read
from a real cluster.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

KUBELET_VERSION = "v1.31.4"
RUNTIME_VERSION = "cri-o://1.31.3"
CRI_SOCKET = "unix:///var/run/crio/crio.sock"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_TAINT = {"key": CONTROL_PLANE_LABEL, "effect": "NoSchedule"}
# Taints the node lifecycle controller keeps in step with the node (TaintNodesByCondition,
# TaintBasedEvictions).
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
CONTROLLER_TAINTS = (UNSCHEDULABLE_TAINT, NOT_READY_TAINT, UNREACHABLE_TAINT)


def rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def micro_time(t: float) -> str:
    """metav1.MicroTime, as a lease's renewTime is written."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def stable_uuid(*parts: str) -> str:
    return str(uuid.UUID(hashlib.sha1("/".join(parts).encode()).hexdigest()[:32]))


# --- Status --------------------------------------------------------------------------------
def status(code: int, reason: str, message: str, details: dict | None = None,
           outcome: str = "Failure") -> dict:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": outcome}
    if message:
        body["message"] = message
    if reason:
        body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success(code: int = 201) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": code}


class ApiError(Exception):
    """An error the API server answers with a Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def body(self) -> dict:
        return status(self.code, self.reason, self.message, self.details)


def not_found(kind: str, name: str, group: str | None = None) -> ApiError:
    details = {"name": name, "kind": kind}
    if group:
        details["group"] = group
        what = f"{kind}.{group}"
    else:
        what = kind
    return ApiError(404, "NotFound", f'{what} "{name}" not found', details)


# --- Node ----------------------------------------------------------------------------------
NODE_CAPACITY = {"cpu": "4", "ephemeral-storage": "51290592Ki", "hugepages-1Gi": "0",
                 "hugepages-2Mi": "0", "memory": "8039480Ki", "pods": "110"}
NODE_ALLOCATABLE = {"cpu": "4", "ephemeral-storage": "47268189585", "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0", "memory": "7937080Ki", "pods": "110"}
NODE_IMAGES = [
    {"names": ["registry.k8s.io/kube-proxy@sha256:" + hashlib.sha256(b"kube-proxy").hexdigest(),
               f"registry.k8s.io/kube-proxy:{KUBELET_VERSION}"], "sizeBytes": 92783513},
    {"names": ["docker.io/flannel/flannel@sha256:" + hashlib.sha256(b"flannel").hexdigest(),
               "docker.io/flannel/flannel:v0.26.1"], "sizeBytes": 81217306},
    {"names": ["registry.k8s.io/pause@sha256:" + hashlib.sha256(b"pause").hexdigest(),
               PAUSE_IMAGE], "sizeBytes": 742080},
]
RUNTIME_HANDLERS = [
    {"name": "crun", "features": {"recursiveReadOnlyMounts": True, "userNamespaces": True}},
    {"name": "runc", "features": {"recursiveReadOnlyMounts": True, "userNamespaces": True}},
    {"name": "", "features": {"recursiveReadOnlyMounts": True, "userNamespaces": True}},
]


def node_skeleton(name: str, *, cluster_id: str, index: int, control_plane: bool,
                  created: float, arch: str) -> dict:
    """metadata + spec of a node as kubeadm registers it (status is the kubelet's)."""
    labels = {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": arch, "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux"}
    spec: dict[str, Any] = {"podCIDR": f"10.244.{index}.0/24",
                            "podCIDRs": [f"10.244.{index}.0/24"]}
    if control_plane:
        labels[CONTROL_PLANE_LABEL] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
        spec["taints"] = [dict(CONTROL_PLANE_TAINT)]
    return {
        "metadata": {
            "name": name, "uid": stable_uuid(cluster_id, "node", name),
            "resourceVersion": "0", "creationTimestamp": rfc3339(created),
            "labels": labels,
            "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": CRI_SOCKET,
                            "node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": spec,
    }


def node_conditions(ready: str, reason: str, message: str, heartbeat: str,
                    transitions: dict[str, str]) -> list[dict]:
    """kubelet's four conditions; all Unknown when the kubelet stopped posting status."""
    if ready == "Unknown":
        rows = [(t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
                for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
    else:
        rows = [("MemoryPressure", "False", "KubeletHasSufficientMemory",
                 "kubelet has sufficient memory available"),
                ("DiskPressure", "False", "KubeletHasNoDiskPressure",
                 "kubelet has no disk pressure"),
                ("PIDPressure", "False", "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available"),
                ("Ready", ready, reason, message)]
    return [{"type": t, "status": s, "lastHeartbeatTime": heartbeat,
             "lastTransitionTime": transitions.get(t, heartbeat), "reason": r, "message": m}
            for t, s, r, m in rows]


def node_status(*, internal_ip: str | None, hostname: str, conditions: list[dict],
                node_info: dict) -> dict:
    addresses = ([{"type": "InternalIP", "address": internal_ip}] if internal_ip else []) + \
        [{"type": "Hostname", "address": hostname}]
    return {
        "capacity": dict(NODE_CAPACITY),
        "allocatable": dict(NODE_ALLOCATABLE),
        "conditions": conditions,
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": node_info,
        "images": [dict(i) for i in NODE_IMAGES],
        "runtimeHandlers": [dict(h) for h in RUNTIME_HANDLERS],
        "features": {"supplementalGroupsPolicy": True},
    }


def node_info(*, cluster_id: str, name: str, boot_id: str, kernel: str, os_image: str,
              arch: str) -> dict:
    machine = hashlib.sha1(f"{cluster_id}/machine/{name}".encode()).hexdigest()[:32]
    return {"machineID": machine, "systemUUID": stable_uuid(cluster_id, "system", name),
            "bootID": boot_id, "kernelVersion": kernel, "osImage": os_image or "Linux",
            "containerRuntimeVersion": RUNTIME_VERSION, "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux",
            "architecture": arch}


# --- Pod -----------------------------------------------------------------------------------
def owner_ref(kind: str, name: str, uid: str, api_version: str = "apps/v1") -> dict:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid,
            "controller": True, "blockOwnerDeletion": True}
