"""API discovery as kube-apiserver serves it, for the resources the stand-in serves.

kubectl learns what a server has before it sends a request: `kubectl get nodes` maps
"nodes" to a group, version and scope through discovery, and `kubectl drain` looks for the
pods/eviction subresource there. Two forms, both from one catalogue below:

- unaggregated (every kubectl; the only form before 1.26): GET /api -> APIVersions,
  /apis -> APIGroupList, /api/v1 and /apis/{group}/{version} -> APIResourceList;
- aggregated (kubectl 1.26+ asks first): GET /api or /apis with
  `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` (or v2beta1)
  -> one APIGroupDiscoveryList, answered with that Content-Type so the client knows it got it.

Only what the stand-in serves is listed, with only the verbs it serves: a resource kubectl
finds here works, and any other is "the server doesn't have a resource type", as on a server
without it.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

AGGREGATED_VERSIONS = ("v2", "v2beta1")
AGGREGATED_GROUP = "apidiscovery.k8s.io"


@dataclass(frozen=True)
class Sub:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


@dataclass(frozen=True)
class Resource:
    name: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Sub, ...] = field(default_factory=tuple)


# group -> version -> resources; "" is the core group (/api/v1)
CATALOGUE: dict[str, dict[str, tuple[Resource, ...]]] = {
    "": {"v1": (
        Resource("events", "event", "Event", True, ("get", "list"), ("ev",)),
        Resource("nodes", "node", "Node", False, ("get", "list", "patch"), ("no",)),
        Resource("pods", "pod", "Pod", True, ("delete", "get", "list"), ("po",), ("all",),
                 (Sub("eviction", "Eviction", ("create",), "policy", "v1"),)),
    )},
    "apps": {"v1": (
        Resource("daemonsets", "daemonset", "DaemonSet", True, ("get", "list"), ("ds",),
                 ("all",)),
    )},
    "coordination.k8s.io": {"v1": (
        Resource("leases", "lease", "Lease", True, ("get", "list")),
    )},
    "policy": {"v1": (
        Resource("poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", True,
                 ("get", "list"), ("pdb",)),
    )},
}


def _hash(group: str, version: str, kind: str) -> str:
    # the apiserver's storageVersionHash: 8 bytes of a sha256, base64 (stable per kind)
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode())
                            .digest()[:8]).decode()


def group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


# --- unaggregated --------------------------------------------------------------------------
def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group_list() -> dict:
    groups = []
    for group, versions in CATALOGUE.items():
        if not group:
            continue
        vs = [{"groupVersion": group_version(group, v), "version": v} for v in versions]
        groups.append({"name": group, "versions": vs, "preferredVersion": vs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group: str, version: str) -> dict | None:
    resources = CATALOGUE.get(group, {}).get(version)
    if resources is None:
        return None
    out = []
    for r in resources:
        entry = {"name": r.name, "singularName": r.singular, "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entry["storageVersionHash"] = _hash(group, version, r.kind)
        out.append(entry)
        for s in r.subresources:
            sub = {"name": f"{r.name}/{s.name}", "singularName": "",
                   "namespaced": r.namespaced, "kind": s.kind, "verbs": list(s.verbs)}
            if (s.group, s.version) != (group, version):
                sub["group"], sub["version"] = s.group, s.version
            out.append(sub)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": group_version(group, version), "resources": out}


# --- aggregated ----------------------------------------------------------------------------
def _aggregated_resource(group: str, version: str, r: Resource) -> dict:
    entry: dict = {"resource": r.name,
                   "responseKind": {"group": group, "version": version, "kind": r.kind},
                   "scope": "Namespaced" if r.namespaced else "Cluster",
                   "singularResource": r.singular, "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {"subresource": s.name,
             "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
             "verbs": list(s.verbs)} for s in r.subresources]
    return entry


def aggregated(core: bool, version: str = "v2") -> dict:
    """/api (core) or /apis (every named group) as an APIGroupDiscoveryList."""
    items = []
    for group, versions in CATALOGUE.items():
        if bool(group) == core:
            continue
        meta: dict = {"creationTimestamp": None}
        if group:
            meta = {"name": group, "creationTimestamp": None}
        items.append({"metadata": meta, "versions": [
            {"version": v, "resources": [_aggregated_resource(group, v, r) for r in rs],
             "freshness": "Current"} for v, rs in versions.items()]})
    return {"kind": "APIGroupDiscoveryList",
            "apiVersion": f"{AGGREGATED_GROUP}/{version}", "metadata": {}, "items": items}


def aggregated_content_type(version: str) -> str:
    return f"application/json;g={AGGREGATED_GROUP};v={version};as=APIGroupDiscoveryList"


def etag(body: dict) -> str:
    return '"' + hashlib.sha512(json.dumps(body, sort_keys=True).encode()).hexdigest()[:64] \
        + '"'
