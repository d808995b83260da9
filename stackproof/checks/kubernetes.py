"""Kubernetes checks: facts (API and kubelet hosts) + site -> Finding | None.

Remediation ids:
  kubelet_ip_lo      the floating IP on lo, add-kubelet-ip.service written and enabled
  kube_join_config   kubelet given the inventory's node IP (JoinConfiguration + flags)
  kube_uncordon      a node the inventory says takes workloads is cordoned
  kube_drain         (maintenance) cordon and drain a node before it goes down
  kube_node_ready    NotReady for a reason the suite cannot fix: the message says where to look
"""
from __future__ import annotations

import re
from dataclasses import asdict

from stackproof.expect import KubeletIntent, kubelet_intent
from stackproof.facts import kubelet as kf
from stackproof.facts.kubernetes import KubeFacts, NodeFact
from stackproof.finding import Finding
from stackproof.osfamily import profile
from stackproof.remote import Remote
from stackproof.render import kubelet as rk
from stackproof.site import KubeNode, Site

NODE_IP_NOT_FOUND = re.compile(r'node IP: "([^"]+)" not found in the host\'s network interfaces')


def inventory_nodes(site: Site, host: str | None = None) -> list[KubeNode]:
    nodes = site.kubernetes.nodes if site.kubernetes else []
    return [n for n in nodes if host is None or n.host == host]


def _where(node: KubeNode) -> str:
    return node.host or node.name


def _params(site: Site, node: KubeNode) -> dict:
    return {"node": node.name, "host": node.host, "node_ip": str(node.internal_ip)}


def _node_facts(got: NodeFact | None) -> dict:
    return asdict(got) if got is not None else {}


def registered(site: Site, kube: KubeFacts, node: KubeNode) -> Finding | None:
    if kube.node(node.name) is not None:
        return None
    return Finding("kube_join_config", _where(node),
                   f"node {node.name} is not registered with the API server (nodes: "
                   f"{', '.join(sorted(kube.nodes())) or 'none'})",
                   {**_params(site, node), "missing": True}, {"nodes": sorted(kube.nodes())})


def ready(site: Site, kube: KubeFacts, node: KubeNode) -> Finding | None:
    got = kube.node(node.name)
    if got is None:
        return registered(site, kube, node)
    if got.ready == "True":
        return None
    msg = (f"node {node.name} is {'NotReady' if got.ready == 'False' else 'not Ready'} "
           f"(Ready={got.ready or 'missing'}): {got.ready_reason}: {got.ready_message}")
    expected = str(node.internal_ip)
    missing = NODE_IP_NOT_FOUND.search(got.ready_message)
    intent = kubelet_intent(site, node.host) if node.host else None
    if missing and missing.group(1) == expected and intent is not None and intent.on_lo:
        return Finding("kubelet_ip_lo", _where(node), msg + f" -- the floating IP {expected} "
                       "must be on lo", _params(site, node), _node_facts(got))
    if missing or got.internal_ip != expected:
        return Finding("kube_join_config", _where(node), msg + f" -- kubelet must be given "
                       f"node-ip {expected}", _params(site, node), _node_facts(got))
    return Finding("kube_node_ready", _where(node), msg + _where_to_look(site, node),
                   {**_params(site, node), "reason": got.ready_reason,
                    "message": got.ready_message}, _node_facts(got))


def _where_to_look(site: Site, node: KubeNode) -> str:
    """For a NotReady without a known fix: where kubelet says why, on the node's host."""
    if not node.host or node.host not in site.hosts:
        return f" -- node {node.name} runs on no inventory host: look at its kubelet by hand"
    os = profile(site, node.host)
    logs = ("journalctl -u kubelet --since -15min --no-pager | tail -n 50"
            if os.init == "systemd" else "tail -n 50 /var/log/kubelet.log")
    return (f" -- no known fix; look on {node.host}: `{os.service('kubelet', 'status')}` "
            f"and `{logs}`")


def internal_ip(site: Site, kube: KubeFacts, node: KubeNode) -> Finding | None:
    got = kube.node(node.name)
    if got is None:
        return registered(site, kube, node)
    expected = str(node.internal_ip)
    if got.internal_ip == expected:
        return None
    return Finding("kube_join_config", _where(node),
                   f"node {node.name} has INTERNAL-IP {got.internal_ip or 'none'}; the "
                   f"inventory says {expected}", _params(site, node), _node_facts(got))


def schedulable(site: Site, kube: KubeFacts, node: KubeNode) -> Finding | None:
    got = kube.node(node.name)
    if got is None:
        return registered(site, kube, node)
    if not got.unschedulable or not node.schedulable:
        return None
    return Finding("kube_uncordon", _where(node),
                   f"node {node.name} is cordoned (SchedulingDisabled) and the inventory says "
                   "it takes workloads (schedulable: true)", _params(site, node),
                   _node_facts(got))


# --- the host side of a node whose IP is its floating IP -----------------------------------
def _intent(site: Site, remote: Remote) -> KubeletIntent:
    intent = kubelet_intent(site, remote.name)
    if intent is None:
        raise ValueError(f"{remote.name} runs no inventory Kubernetes node")
    return intent


def _lo_finding(intent: KubeletIntent, message: str, facts: dict) -> Finding:
    return Finding("kubelet_ip_lo", intent.host, message,
                   {"node": intent.node, "host": intent.host, "node_ip": intent.node_ip},
                   facts)


def node_ip_on_lo(site: Site, remote: Remote) -> Finding | None:
    intent = _intent(site, remote)
    have = kf.lo_addresses(remote)
    want = f"{intent.node_ip}/32"
    if want in have:
        return None
    other = [a for a in have if a.split("/")[0] == intent.node_ip]
    why = (f"{intent.node_ip} is on lo as {other[0]}, not as a /32" if other else
           f"the floating IP {intent.node_ip} is not on lo (lo has {', '.join(have)}): kubelet "
           "refuses a node IP that is on no interface")
    return _lo_finding(intent, why, {"lo": have})


def unit_file_ok(site: Site, remote: Remote) -> Finding | None:
    intent = _intent(site, remote)
    unit = kf.unit_file(remote)
    problems = kf.unit_problems(unit, intent.node_ip)
    if not problems:
        return None
    return _lo_finding(intent, f"{rk.UNIT_NAME} would not re-add {intent.node_ip} at boot: "
                       + "; ".join(problems), {"unit": unit.text or None,
                                               "problems": problems})


def unit_enabled(site: Site, remote: Remote) -> Finding | None:
    intent = _intent(site, remote)
    state = kf.unit_enabled(remote)
    if state == "enabled":
        return None
    return _lo_finding(intent, f"{rk.UNIT_NAME} is {state}, not enabled: it would not run "
                       "at boot", {"is-enabled": state})


def join_config_node_ip(site: Site, remote: Remote) -> Finding | None:
    intent = _intent(site, remote)
    os_family = site.os_family_of(remote.name)
    join = kf.join_config(remote)
    flags = kf.kubelet_flags(remote, rk.EXTRA_ARGS[os_family])
    problems = []
    if not join.present:
        problems.append(f"{join.path} is missing")
    elif join.error:
        problems.append(f"{join.path}: {join.error}")
    elif join.node_ip != intent.node_ip:
        problems.append(f"{join.path} gives kubelet node-ip {join.node_ip or 'none'}")
    if flags.present and flags.effective_node_ip != intent.node_ip:
        where = flags.extra_path if flags.extra_node_ip else flags.path
        problems.append(f"{where} gives kubelet --node-ip {flags.effective_node_ip or 'none'}")
    if not problems:
        return None
    return Finding("kube_join_config", intent.host,
                   f"kubelet on {intent.host} is not given node-ip {intent.node_ip}: "
                   + "; ".join(problems),
                   {"node": intent.node, "host": intent.host, "node_ip": intent.node_ip},
                   {"join_config": asdict(join), "kubelet_flags": asdict(flags)})


# --- maintenance ---------------------------------------------------------------------------
def host_of_node(site: Site, node: str) -> str:
    """The inventory host a node runs on (the node's name when the inventory names none)."""
    return next((n.host for n in inventory_nodes(site) if n.name == node and n.host), node)


def cordoned(site: Site, kube: KubeFacts, node: str) -> Finding | None:
    got = kube.node(node)
    if got is None:
        return Finding("kube_drain", host_of_node(site, node),
                       f"node {node} is not registered with the API server", {"node": node},
                       {"nodes": sorted(kube.nodes())})
    if got.unschedulable:
        return None
    return Finding("kube_drain", host_of_node(site, node),
                   f"node {node} still takes new pods (not cordoned)",
                   {"node": node}, _node_facts(got))


def drained(site: Site, kube: KubeFacts, node: str) -> Finding | None:
    """Only DaemonSet pods (and the kubelet's own mirror pods, which stop with it) are left."""
    pods = kube.pods_on(node)
    left = [p for p in pods if not (p.daemonset or p.mirror)
            and p.phase not in ("Succeeded", "Failed")]
    if not left:
        return None
    return Finding("kube_drain", host_of_node(site, node),
                   f"{len(left)} pod(s) besides DaemonSet pods still on "
                   f"{node}: " + ", ".join(p.ref for p in left), {"node": node},
                   {"pods": [asdict(p) for p in left]})
