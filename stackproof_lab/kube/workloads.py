"""What runs on a small kubeadm cluster, so that cordon and drain are real operations.

- DaemonSets on every node: kube-proxy and flannel (host network, tolerate everything);
- static control-plane pods on each control-plane node (mirror pods owned by the Node);
- Deployments: CoreDNS (2 replicas, tolerates the control-plane taint) and `web` (one
  emptyDir volume, spread over the workers) with a PodDisruptionBudget that lets only one
  replica go at a time, so a drain has to wait for replacements (429 until then).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from stackproof_lab.kube.objects import KUBELET_VERSION, stable_uuid

# Tolerations the DaemonSet controller adds to every pod it makes.
DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
     "effect": "NoSchedule"},
]
# What the DefaultTolerationSeconds admission plugin adds to every other pod.
DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
]


@dataclass
class Workload:
    kind: str                         # DaemonSet | ReplicaSet | Static
    namespace: str
    name: str                         # DaemonSet/ReplicaSet name, or static pod prefix
    labels: dict[str, str]
    containers: list[dict]
    volumes: list[dict] = field(default_factory=list)
    tolerations: list[dict] = field(default_factory=list)
    host_network: bool = False
    priority_class: str | None = None
    replicas: int = 0                 # ReplicaSet only
    deployment: str | None = None     # the Deployment owning a ReplicaSet
    uid: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def emptydir_volumes(self) -> list[str]:
        return [v["name"] for v in self.volumes if "emptyDir" in v]


def _hash(*parts: str, n: int = 10) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"   # the apimachinery rand alphabet
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


def _container(name: str, image: str, mounts: list[tuple[str, str]] = (),
               ports: list[dict] | None = None, args: list[str] | None = None) -> dict:
    c = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "resources": {},
         "terminationMessagePath": "/dev/termination-log",
         "terminationMessagePolicy": "File"}
    if args:
        c["args"] = args
    if ports:
        c["ports"] = ports
    if mounts:
        c["volumeMounts"] = [{"name": n, "mountPath": p} for n, p in mounts]
    return c


def _host_path(name: str, path: str, typ: str = "") -> dict:
    return {"name": name, "hostPath": {"path": path, "type": typ}}


def cluster_workloads(cluster_id: str, workers: int) -> list[Workload]:
    web_replicas = max(2, 2 * workers - 1)
    out = [
        Workload("DaemonSet", "kube-system", "kube-proxy",
                 {"k8s-app": "kube-proxy", "controller-revision-hash": _hash(cluster_id, "kp"),
                  "pod-template-generation": "1"},
                 [_container("kube-proxy", f"registry.k8s.io/kube-proxy:{KUBELET_VERSION}",
                             [("kube-proxy", "/var/lib/kube-proxy"),
                              ("xtables-lock", "/run/xtables.lock"),
                              ("lib-modules", "/lib/modules")],
                             args=["--config=/var/lib/kube-proxy/config.conf",
                                   "--hostname-override=$(NODE_NAME)"])],
                 [{"name": "kube-proxy", "configMap": {"name": "kube-proxy",
                                                       "defaultMode": 420}},
                  _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
                  _host_path("lib-modules", "/lib/modules")],
                 [{"operator": "Exists"}] + DS_TOLERATIONS, host_network=True,
                 priority_class="system-node-critical"),
        Workload("DaemonSet", "kube-flannel", "kube-flannel-ds",
                 {"app": "flannel", "k8s-app": "flannel", "tier": "node",
                  "controller-revision-hash": _hash(cluster_id, "fl"),
                  "pod-template-generation": "1"},
                 [_container("kube-flannel", "docker.io/flannel/flannel:v0.26.1",
                             [("run", "/run/flannel"), ("flannel-cfg", "/etc/kube-flannel/"),
                              ("xtables-lock", "/run/xtables.lock")],
                             args=["--ip-masq", "--kube-subnet-mgr"])],
                 [_host_path("run", "/run/flannel"),
                  _host_path("cni-plugin", "/opt/cni/bin"),
                  _host_path("cni", "/etc/cni/net.d"),
                  {"name": "flannel-cfg", "configMap": {"name": "kube-flannel-cfg",
                                                        "defaultMode": 420}},
                  _host_path("xtables-lock", "/run/xtables.lock", "FileOrCreate")],
                 [{"operator": "Exists", "effect": "NoSchedule"}] + DS_TOLERATIONS,
                 host_network=True, priority_class="system-node-critical"),
        Workload("ReplicaSet", "kube-system", f"coredns-{_hash(cluster_id, 'dns')}",
                 {"k8s-app": "kube-dns", "pod-template-hash": _hash(cluster_id, "dns")},
                 [_container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3",
                             [("config-volume", "/etc/coredns")],
                             ports=[{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53,
                                     "protocol": "TCP"}],
                             args=["-conf", "/etc/coredns/Corefile"])],
                 [{"name": "config-volume",
                   "configMap": {"name": "coredns", "defaultMode": 420,
                                 "items": [{"key": "Corefile", "path": "Corefile"}]}}],
                 [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                  {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
                 + DEFAULT_TOLERATIONS,
                 priority_class="system-cluster-critical", replicas=2, deployment="coredns"),
        Workload("ReplicaSet", "default", f"web-{_hash(cluster_id, 'web')}",
                 {"app": "web", "pod-template-hash": _hash(cluster_id, "web")},
                 [_container("nginx", "docker.io/library/nginx:1.27",
                             [("cache", "/var/cache/nginx")],
                             ports=[{"containerPort": 80, "protocol": "TCP"}])],
                 [{"name": "cache", "emptyDir": {}}],
                 list(DEFAULT_TOLERATIONS), replicas=web_replicas, deployment="web"),
    ]
    for w in out:
        w.uid = stable_uuid(cluster_id, w.kind, w.namespace, w.name)
    return out


STATIC_COMPONENTS = (
    ("etcd", "registry.k8s.io/etcd:3.5.15-0", [_host_path("etcd-certs", "/etc/kubernetes/pki/etcd",
                                                           "DirectoryOrCreate"),
                                                _host_path("etcd-data", "/var/lib/etcd",
                                                           "DirectoryOrCreate")]),
    ("kube-apiserver", f"registry.k8s.io/kube-apiserver:{KUBELET_VERSION}",
     [_host_path("k8s-certs", "/etc/kubernetes/pki", "DirectoryOrCreate")]),
    ("kube-controller-manager", f"registry.k8s.io/kube-controller-manager:{KUBELET_VERSION}",
     [_host_path("kubeconfig", "/etc/kubernetes/controller-manager.conf", "FileOrCreate")]),
    ("kube-scheduler", f"registry.k8s.io/kube-scheduler:{KUBELET_VERSION}",
     [_host_path("kubeconfig", "/etc/kubernetes/scheduler.conf", "FileOrCreate")]),
)


def static_workloads(cluster_id: str, node: str) -> list[Workload]:
    """The control-plane static pods kubeadm puts on `node` (/etc/kubernetes/manifests)."""
    out = []
    for comp, image, volumes in STATIC_COMPONENTS:
        config_hash = hashlib.md5(f"{cluster_id}/{node}/{comp}".encode()).hexdigest()
        w = Workload("Static", "kube-system", f"{comp}-{node}",
                     {"component": comp, "tier": "control-plane"},
                     [_container(comp, image, [(v["name"], v["hostPath"]["path"])
                                               for v in volumes])],
                     volumes, [{"operator": "Exists", "effect": "NoExecute"}],
                     host_network=True, priority_class="system-node-critical",
                     annotations={"kubernetes.io/config.hash": config_hash,
                                  "kubernetes.io/config.mirror": config_hash,
                                  "kubernetes.io/config.source": "file"})
        w.uid = stable_uuid(cluster_id, "Static", node, comp)
        out.append(w)
    return out


@dataclass
class Budget:
    namespace: str
    name: str
    selector: dict[str, str]
    min_available: int | str | None = None
    max_unavailable: int | str | None = None
    uid: str = ""


def cluster_budgets(cluster_id: str, workloads: list[Workload]) -> list[Budget]:
    web = next(w for w in workloads if w.deployment == "web")
    b = Budget("default", "web", {"app": "web"}, min_available=web.replicas - 1)
    b.uid = stable_uuid(cluster_id, "pdb", b.namespace, b.name)
    return [b]
