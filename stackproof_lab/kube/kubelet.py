"""What a node's kubelet would report, decided from the lab host it runs on.

`observe()` reads the host the way kubelet sees it (inside its namespaces, through nsenter
from the root side; read-only): the kubelet flags kubeadm wrote, the JoinConfiguration the
node joined with, the addresses on every interface, the default route, what the node name
resolves to. `decide()` then follows kubelet's own rules (pkg/kubelet/nodestatus NodeAddress
and validateNodeIP):

- node IP given (`--node-ip` in /var/lib/kubelet/kubeadm-flags.env, then KUBELET_EXTRA_ARGS
  in /etc/default/kubelet or /etc/sysconfig/kubelet, the last one winning; on a node whose
  flags file is absent, the JoinConfiguration's `nodeRegistration.kubeletExtraArgs`
  node-ip, as if kubeadm had just joined it): INTERNAL-IP is that address, and the node is
  Ready only while the address sits on one of the host's interfaces. Otherwise kubelet says
  `failed to validate nodeIP: node IP: "<ip>" not found in the host's network interfaces`.
- no node IP: the first address the node name resolves to that is on a local interface,
  else the first global IPv4 of the default-route interface; none at all is an error.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
from dataclasses import dataclass, field

import yaml

FLAGS_FILE = "/var/lib/kubelet/kubeadm-flags.env"
EXTRA_ARGS_FILES = ("/etc/default/kubelet", "/etc/sysconfig/kubelet")
JOIN_CONFIG = "/etc/kubernetes/join-config.yaml"

SEP = "@@stackproof-kubelet@@"
ABSENT = "@@absent@@"

# One shell run inside the host; sections separated by SEP, in this order.
OBSERVE_SCRIPT = f"""
sep() {{ echo "{SEP}"; }}
cat {FLAGS_FILE} 2>/dev/null || echo "{ABSENT}"; sep
cat {' '.join(EXTRA_ARGS_FILES)} 2>/dev/null; sep
cat "$2" 2>/dev/null || echo "{ABSENT}"; sep
ip -j addr show; sep
ip -j -4 route show default; sep
getent ahostsv4 "$1" 2>/dev/null | awk '{{print $1}}'; sep
. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"
"""


@dataclass(frozen=True)
class Observation:
    flags_present: bool
    flags_text: str
    extra_args_text: str
    join_present: bool
    join_text: str
    addresses: tuple[tuple[str, str, int, str], ...]     # (ifname, ip, prefixlen, scope)
    default_devs: tuple[str, ...]
    resolved: tuple[str, ...]
    os_image: str


@dataclass(frozen=True)
class KubeletView:
    node_ip: str | None          # the node IP kubelet was given, if any
    source: str                  # where the node IP came from
    internal_ip: str | None
    ready: str                   # "True" | "False" | "Unknown"
    reason: str
    message: str
    os_image: str = ""
    addresses: tuple[str, ...] = field(default=())


def parse_observation(text: str) -> Observation:
    parts = text.split(SEP + "\n")
    parts += [""] * (7 - len(parts))
    flags, extra, join, addr_json, route_json, resolved, os_image = parts[:7]
    addresses = []
    for link in json.loads(addr_json or "[]"):
        for a in link.get("addr_info", []):
            addresses.append((link.get("ifname", ""), a.get("local", ""),
                              int(a.get("prefixlen", 0)), a.get("scope", "")))
    routes = json.loads(route_json or "[]")
    return Observation(
        flags_present=flags.strip() != ABSENT, flags_text="" if flags.strip() == ABSENT else flags,
        extra_args_text=extra,
        join_present=join.strip() != ABSENT, join_text="" if join.strip() == ABSENT else join,
        addresses=tuple(addresses),
        default_devs=tuple(r["dev"] for r in routes if r.get("dev")),
        resolved=tuple(line.strip() for line in resolved.splitlines() if line.strip()),
        os_image=os_image.strip())


def _env_value(text: str, name: str) -> str | None:
    """The value of NAME=... in an environment file (systemd EnvironmentFile syntax)."""
    value = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(name + "="):
            raw = line[len(name) + 1:]
            try:
                words = shlex.split(raw)
            except ValueError:
                words = [raw]
            value = " ".join(words)
    return value


def flag_value(args: str, flag: str) -> str | None:
    """The last `--flag=value` or `--flag value` in a command line."""
    words = shlex.split(args) if args else []
    value = None
    for i, w in enumerate(words):
        if w == f"--{flag}" and i + 1 < len(words):
            value = words[i + 1]
        elif w.startswith(f"--{flag}="):
            value = w.split("=", 1)[1]
    return value


def join_node_ip(text: str) -> str | None:
    """`nodeRegistration.kubeletExtraArgs` node-ip of a JoinConfiguration: a map in kubeadm
    v1beta3, a list of {name, value} in v1beta4."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return None
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "JoinConfiguration":
            continue
        extra = (doc.get("nodeRegistration") or {}).get("kubeletExtraArgs")
        if isinstance(extra, dict):
            v = extra.get("node-ip")
            return str(v) if v is not None else None
        if isinstance(extra, list):
            for item in extra:
                if isinstance(item, dict) and item.get("name") == "node-ip":
                    return str(item.get("value"))
    return None


def given_node_ip(obs: Observation) -> tuple[str | None, str]:
    if obs.flags_present:
        ip = flag_value(_env_value(obs.flags_text, "KUBELET_KUBEADM_ARGS") or "", "node-ip")
        extra = flag_value(_env_value(obs.extra_args_text, "KUBELET_EXTRA_ARGS") or "",
                           "node-ip")
        if extra:
            return extra, "KUBELET_EXTRA_ARGS"
        return ip, FLAGS_FILE
    if obs.join_present:
        return join_node_ip(obs.join_text), "JoinConfiguration"
    return None, "none"


def validate_node_ip(ip: str, local: set[str]) -> str | None:
    """kubelet's validateNodeIP: None when valid, else its error text."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "nodeIP must be a valid IP address"
    if addr.is_loopback:
        return "nodeIP can't be loopback address"
    if addr.is_multicast:
        return "nodeIP can't be a multicast address"
    if addr.is_link_local:
        return "nodeIP can't be a link-local unicast address"
    if addr.is_unspecified:
        return "nodeIP can't be an all zeros address"
    if ip not in local:
        return f'node IP: "{ip}" not found in the host\'s network interfaces'
    return None


READY_REASON, READY_MESSAGE = "KubeletReady", "kubelet is posting ready status"
NOT_READY_REASON = "KubeletNotReady"


def decide(obs: Observation, node_name: str) -> KubeletView:
    local = {ip for _, ip, _, _ in obs.addresses}
    given, source = given_node_ip(obs)
    addrs = tuple(f"{dev} {ip}/{plen}" for dev, ip, plen, _ in obs.addresses)
    if given:
        primary = given.split(",")[0].strip()        # dual-stack: the first is primary
        error = validate_node_ip(primary, local)
        if error:
            return KubeletView(primary, source, primary, "False", NOT_READY_REASON,
                               f"failed to validate nodeIP: {error}", obs.os_image, addrs)
        return KubeletView(primary, source, primary, "True", READY_REASON, READY_MESSAGE,
                           obs.os_image, addrs)
    for ip in obs.resolved:
        if validate_node_ip(ip, local) is None:
            return KubeletView(None, "hostname lookup", ip, "True", READY_REASON,
                               READY_MESSAGE, obs.os_image, addrs)
    for dev in obs.default_devs:
        for d, ip, _, scope in obs.addresses:
            if d == dev and scope == "global" and ipaddress.ip_address(ip).version == 4:
                return KubeletView(None, "default route", ip, "True", READY_REASON,
                                   READY_MESSAGE, obs.os_image, addrs)
    return KubeletView(None, "none", None, "False", NOT_READY_REASON,
                       f"can't get ip address of node {node_name}. error: unable to select "
                       "an IP from default routes.", obs.os_image, addrs)


def observe(pid: int, node_name: str, join_config: str = JOIN_CONFIG,
            timeout: float = 5.0) -> Observation:
    """Read the host held by init `pid` (read-only commands inside its namespaces)."""
    proc = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "--", "/bin/sh", "-c",
         OBSERVE_SCRIPT, "observe", node_name, join_config],
        capture_output=True, text=True, timeout=timeout, cwd="/")
    if proc.returncode != 0 and SEP not in proc.stdout:
        raise OSError(f"nsenter into pid {pid} failed: {proc.stderr.strip()[:200]}")
    return parse_observation(proc.stdout)
