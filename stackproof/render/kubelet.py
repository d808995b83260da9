"""What a Kubernetes node's host must carry so its kubelet registers with the intended node
IP, rendered as text (which node, which IP: stackproof.expect.kubelet_intent). Nothing here
reads or touches a host.

A worker whose node IP is its floating IP (the report's OpenStack instances) needs three
things: kubelet told to use that IP (`node-ip` in the kubeadm JoinConfiguration, and so in
/var/lib/kubelet/kubeadm-flags.env), the IP on a local interface (`lo`, as a /32: kubelet
refuses a node IP that is on no interface), and a oneshot unit that puts it back at boot.
"""
from __future__ import annotations

import shlex

import yaml

JOIN_CONFIG = "/etc/kubernetes/join-config.yaml"
KUBEADM_FLAGS = "/var/lib/kubelet/kubeadm-flags.env"
EXTRA_ARGS = {"debian": "/etc/default/kubelet", "rhel": "/etc/sysconfig/kubelet"}
UNIT_NAME = "add-kubelet-ip.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
UNIT_LINK = f"{WANTS_DIR}/{UNIT_NAME}"
IP_BIN = "/usr/sbin/ip"
CRI_SOCKET = "unix:///var/run/crio/crio.sock"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def unit_text(ip: str) -> str:
    """add-kubelet-ip.service: put the node IP on lo at boot, before kubelet starts."""
    return (
        "[Unit]\n"
        f"Description=Add the kubelet node IP {ip} to lo\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "Before=kubelet.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={IP_BIN} addr add {ip}/32 dev lo\n"
        f"ExecStop={IP_BIN} addr del {ip}/32 dev lo\n"
        "RemainAfterExit=yes\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n")


def join_config(*, endpoint: str, token: str, ca_cert_hash: str, node: str,
                node_ip: str | None) -> dict:
    """A kubeadm v1beta3 JoinConfiguration as a mapping (the file is its YAML)."""
    registration: dict = {"name": node, "criSocket": CRI_SOCKET}
    if node_ip is not None:
        registration["kubeletExtraArgs"] = {"node-ip": node_ip}
    return {"apiVersion": "kubeadm.k8s.io/v1beta3", "kind": "JoinConfiguration",
            "discovery": {"bootstrapToken": {"apiServerEndpoint": endpoint, "token": token,
                                             "caCertHashes": [ca_cert_hash]}},
            "nodeRegistration": registration}


def join_config_text(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def set_join_node_ip(config: dict, node_ip: str | None) -> dict:
    """The same JoinConfiguration with kubelet's node-ip set (None: removed); everything else,
    the discovery token above all, kept as it was. kubeadm v1beta4 spells kubeletExtraArgs
    as a list of {name, value}; v1beta3 as a map."""
    new = yaml.safe_load(yaml.safe_dump(config))
    reg = new.setdefault("nodeRegistration", {}) or {}
    new["nodeRegistration"] = reg
    extra = reg.get("kubeletExtraArgs")
    if isinstance(extra, list):
        extra = [a for a in extra if not (isinstance(a, dict) and a.get("name") == "node-ip")]
        if node_ip is not None:
            extra.append({"name": "node-ip", "value": node_ip})
    else:
        extra = dict(extra or {})
        extra.pop("node-ip", None)
        if node_ip is not None:
            extra["node-ip"] = node_ip
    if extra:
        reg["kubeletExtraArgs"] = extra
    else:
        reg.pop("kubeletExtraArgs", None)
    return new


def kubeadm_flags_text(node_ip: str | None, args: list[str] | None = None) -> str:
    """/var/lib/kubelet/kubeadm-flags.env as `kubeadm join` writes it; `args` are existing
    flags to keep (any --node-ip among them is replaced)."""
    given = args if args is not None else [f"--container-runtime-endpoint={CRI_SOCKET}",
                                           f"--pod-infra-container-image={PAUSE_IMAGE}"]
    keep, skip = [], False
    for a in given:
        if skip:
            skip = False
        elif a == "--node-ip":
            skip = True                 # `--node-ip X`: drop the value too
        elif not a.startswith("--node-ip="):
            keep.append(a)
    if node_ip is not None:
        keep.append(f"--node-ip={node_ip}")
    return f'KUBELET_KUBEADM_ARGS="{" ".join(keep)}"\n'


def join_command(path: str = JOIN_CONFIG) -> str:
    """Re-join with the file's token, never putting the token on a command line."""
    return f"kubeadm reset -f && kubeadm join --config {shlex.quote(path)}"
