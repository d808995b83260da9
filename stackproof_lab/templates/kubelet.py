"""What `kubeadm init|join` and the report's operator leave on a Kubernetes node's host:
the worker's JoinConfiguration (node-ip = the inventory's internal_ip), kubelet's
kubeadm-flags.env, and for a worker whose node IP is its floating IP the report's
add-kubelet-ip.service (the IP on lo as a /32 at boot), enabled.

Paths and the runtime socket are facts of kubeadm/systemd/CRI-O, kept here as the lab's own
constants.
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from stackproof.site import Site

JOIN_CONFIG = "/etc/kubernetes/join-config.yaml"
KUBEADM_FLAGS = "/var/lib/kubelet/kubeadm-flags.env"
UNIT_NAME = "add-kubelet-ip.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
UNIT_LINK = f"{WANTS_DIR}/{UNIT_NAME}"
CRI_SOCKET = "unix:///var/run/crio/crio.sock"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
API_PORT = 6443


@dataclass(frozen=True)
class NodeHost:
    host: str
    node: str
    node_ip: str
    control_plane: bool
    on_lo: bool                  # node IP = the instance's floating IP: kept on lo


def node_host(site: Site, host: str) -> NodeHost | None:
    if site.kubernetes is None:
        return None
    node = next((n for n in site.kubernetes.nodes if n.host == host), None)
    if node is None:
        return None
    h = site.hosts[host]
    fip = h.floating_ip if h.kind == "instance" else None
    return NodeHost(host, node.name, str(node.internal_ip),
                    "kube_control_plane" in h.roles, fip is not None and fip == node.internal_ip)


def node_hosts(site: Site) -> list[str]:
    if site.kubernetes is None:
        return []
    return [n.host for n in site.kubernetes.nodes if n.host in site.hosts]


def floating_ip_hosts(site: Site) -> list[str]:
    return [h for h in node_hosts(site) if node_host(site, h).on_lo]


def api_endpoint(site: Site) -> str:
    k = site.kubernetes
    if k.api_endpoint:
        return k.api_endpoint
    cp = next(h for h in node_hosts(site) if node_host(site, h).control_plane)
    return f"{site.address_of(cp)}:{API_PORT}"


def join_config(*, endpoint: str, token: str, ca_cert_hash: str, node: str,
                node_ip: str | None) -> dict:
    """kubeadm's v1beta3 JoinConfiguration, the report's `kubeletExtraArgs: node-ip`."""
    reg: dict = {"name": node, "criSocket": CRI_SOCKET}
    if node_ip is not None:
        reg["kubeletExtraArgs"] = {"node-ip": node_ip}
    return {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "JoinConfiguration",
            "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": token,
                                             "caCertHashes": [ca_cert_hash]}},
            "nodeRegistration": reg}


def join_config_text(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def with_node_ip(config: dict, node_ip: str | None) -> dict:
    """The JoinConfiguration with node-ip set (None: dropped), the rest (token) kept."""
    new = yaml.safe_load(yaml.safe_dump(config))
    reg = new.get("nodeRegistration") or {}
    new["nodeRegistration"] = reg
    extra = dict(reg.get("kubeletExtraArgs") or {})
    extra.pop("node-ip", None)
    if node_ip is not None:
        extra["node-ip"] = node_ip
    if extra:
        reg["kubeletExtraArgs"] = extra
    else:
        reg.pop("kubeletExtraArgs", None)
    return new


def kubeadm_flags_text(node_ip: str | None) -> str:
    """kubeadm-flags.env as `kubeadm join` writes it."""
    args = [f"--container-runtime-endpoint={CRI_SOCKET}",
            f"--pod-infra-container-image={PAUSE_IMAGE}"]
    if node_ip is not None:
        args.append(f"--node-ip={node_ip}")
    return f'KUBELET_KUBEADM_ARGS="{" ".join(args)}"\n'


def unit_text(ip: str) -> str:
    """The report's add-kubelet-ip.service."""
    return ("[Unit]\n"
            f"Description=Add kubelet node IP {ip} to lo\n"
            "After=network-online.target\n"
            "Wants=network-online.target\n"
            "Before=kubelet.service\n\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"ExecStart=/usr/sbin/ip addr add {ip}/32 dev lo\n"
            f"ExecStop=/usr/sbin/ip addr del {ip}/32 dev lo\n"
            "RemainAfterExit=yes\n\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n")
