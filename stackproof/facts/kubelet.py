"""Kubelet facts on a node's host, over SSH: the node-ip kubelet is given (kubeadm
JoinConfiguration, kubeadm-flags.env, KUBELET_EXTRA_ARGS), the addresses on lo (from the
routes layer's address fact), and the add-kubelet-ip.service unit (content, what it gets
wrong, and whether it is enabled).

The JoinConfiguration carries the bootstrap token: it is parsed here and only what the
checks need is kept (never the token, never the raw text).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

import yaml

from stackproof.facts import fact, read_file
from stackproof.facts.routes import addresses
from stackproof.remote import Remote
from stackproof.render import kubelet as rk


@dataclass(frozen=True)
class JoinConfigFact:
    path: str
    present: bool
    node_name: str = ""
    node_ip: str | None = None
    api_server_endpoint: str = ""
    has_token: bool = False
    api_version: str = ""
    error: str = ""


@dataclass(frozen=True)
class KubeletFlagsFact:
    path: str
    present: bool
    args: tuple[str, ...] = ()
    node_ip: str | None = None            # from KUBELET_KUBEADM_ARGS
    extra_path: str = ""
    extra_node_ip: str | None = None      # from KUBELET_EXTRA_ARGS (wins when set)

    @property
    def effective_node_ip(self) -> str | None:
        return self.extra_node_ip or self.node_ip


@dataclass(frozen=True)
class UnitFact:
    path: str
    present: bool
    entries: tuple[tuple[str, str, str], ...] = ()     # (section, key, value)
    text: str = ""

    def values(self, section: str, key: str) -> list[str]:
        return [v for s, k, v in self.entries if s == section and k == key]

    def words(self, section: str, key: str) -> list[str]:
        """Space-separated list settings (After=, Wants=, WantedBy=), all lines together."""
        return [w for v in self.values(section, key) for w in v.split()]


def parse_join_config(path: str, text: str | None) -> JoinConfigFact:
    if text is None:
        return JoinConfigFact(path, False)
    try:
        docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    except yaml.YAMLError as exc:
        return JoinConfigFact(path, True, error=f"not valid YAML: {str(exc).splitlines()[0]}")
    doc = next((d for d in docs if d.get("kind") == "JoinConfiguration"), None)
    if doc is None:
        return JoinConfigFact(path, True, error="no JoinConfiguration document in the file")
    reg = doc.get("nodeRegistration") or {}
    extra = reg.get("kubeletExtraArgs")
    node_ip = None
    if isinstance(extra, dict):
        node_ip = extra.get("node-ip")
    elif isinstance(extra, list):        # kubeadm v1beta4: a list of {name, value}
        node_ip = next((a.get("value") for a in extra
                        if isinstance(a, dict) and a.get("name") == "node-ip"), None)
    bootstrap = ((doc.get("discovery") or {}).get("bootstrapToken") or {})
    return JoinConfigFact(path, True, node_name=str(reg.get("name") or ""),
                          node_ip=str(node_ip) if node_ip is not None else None,
                          api_server_endpoint=str(bootstrap.get("apiServerEndpoint") or ""),
                          has_token=bool(bootstrap.get("token")),
                          api_version=str(doc.get("apiVersion") or ""))


def env_value(text: str, name: str) -> str | None:
    """NAME="..." in a systemd EnvironmentFile (the last assignment wins)."""
    value = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(f"{name}="):
            try:
                value = " ".join(shlex.split(line[len(name) + 1:]))
            except ValueError:
                value = line[len(name) + 1:]
    return value


def flag_value(args: list[str], flag: str) -> str | None:
    value = None
    for i, a in enumerate(args):
        if a == f"--{flag}" and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(f"--{flag}="):
            value = a.split("=", 1)[1]
    return value


def parse_kubelet_flags(path: str, text: str | None, extra_path: str = "",
                        extra_text: str | None = None) -> KubeletFlagsFact:
    extra_args = shlex.split(env_value(extra_text or "", "KUBELET_EXTRA_ARGS") or "")
    extra_ip = flag_value(extra_args, "node-ip")
    if text is None:
        return KubeletFlagsFact(path, False, extra_path=extra_path, extra_node_ip=extra_ip)
    args = tuple(shlex.split(env_value(text, "KUBELET_KUBEADM_ARGS") or ""))
    return KubeletFlagsFact(path, True, args, flag_value(list(args), "node-ip"), extra_path,
                            extra_ip)


def parse_unit(path: str, text: str | None) -> UnitFact:
    """A systemd unit file as (section, key, value) entries, with continuation lines
    joined and comments dropped."""
    if text is None:
        return UnitFact(path, False)
    entries, section, pending = [], "", ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, value = line.split("=", 1)
            entries.append((section, key.strip(), value.strip()))
    return UnitFact(path, True, tuple(entries), text)


def exec_words(value: str) -> list[str]:
    """An Exec*= command as words, without systemd's prefixes (-, @, +, !, :) and with the
    program's directory dropped: `-/usr/sbin/ip addr add` -> ['ip', 'addr', 'add']."""
    words = shlex.split(value.lstrip("-@+!:"))
    if words:
        words[0] = words[0].rsplit("/", 1)[-1]
    return words


def is_ip_addr_command(value: str, action: str, cidr: str, dev: str) -> bool:
    """`ip addr add|del <cidr> dev <dev>` in any of iproute2's spellings."""
    w = exec_words(value)
    if len(w) < 3 or w[0] != "ip" or w[1] not in ("a", "ad", "addr", "addre", "addres",
                                                    "address"):
        return False
    verbs = {"add": ("add", "a"), "del": ("del", "delete", "d")}[action]
    rest = w[2:]
    if not rest or rest[0] not in verbs:
        return False
    rest = rest[1:]
    if "dev" not in rest or rest.index("dev") + 1 >= len(rest):
        return False
    i = rest.index("dev")
    return rest[i + 1] == dev and cidr in rest[:i] + rest[i + 2:]


def unit_problems(unit: UnitFact, ip: str) -> list[str]:
    """What add-kubelet-ip.service gets wrong, one line each (none: it re-adds the IP).
    The check reports these and the remediation rewrites the unit when there are any."""
    if not unit.present:
        return [f"{unit.path} is missing"]
    cidr = f"{ip}/32"
    out = []
    if unit.values("Service", "Type") != ["oneshot"]:
        out.append(f"Type is {unit.values('Service', 'Type') or 'unset'}, not oneshot")
    for key in ("After", "Wants"):
        if "network-online.target" not in unit.words("Unit", key):
            out.append(f"{key}= lacks network-online.target")
    starts = unit.values("Service", "ExecStart")
    if not any(is_ip_addr_command(v, "add", cidr, "lo") for v in starts):
        out.append(f"no ExecStart=ip addr add {cidr} dev lo (has {starts or 'none'})")
    stops = unit.values("Service", "ExecStop")
    if not any(is_ip_addr_command(v, "del", cidr, "lo") for v in stops):
        out.append(f"no ExecStop=ip addr del {cidr} dev lo (has {stops or 'none'})")
    remain = unit.values("Service", "RemainAfterExit")
    if not remain or remain[-1].lower() not in ("yes", "true", "1", "on"):
        out.append("RemainAfterExit is not yes")
    if "multi-user.target" not in unit.words("Install", "WantedBy"):
        out.append("WantedBy= lacks multi-user.target")
    return out


# The secrets of a JoinConfiguration are blanked on the host, so they never cross the
# connection (testinfra logs command output at DEBUG): bootstrap tokens and CA hashes.
HIDDEN = "<hidden on the host>"
JOIN_CONFIG_FILTER = (
    "sed -E -e 's/^([[:space:]]*(-[[:space:]]+)?(token|tlsBootstrapToken)[[:space:]]*:).*/"
    f"\\1 \"{HIDDEN}\"/' -e 's/sha256:[0-9a-fA-F]{{64}}/sha256:{HIDDEN}/g'")


@fact
def join_config(remote: Remote, path: str = rk.JOIN_CONFIG) -> JoinConfigFact:
    res = remote.run(f"{JOIN_CONFIG_FILTER} {shlex.quote(path)}")
    return parse_join_config(path, res.stdout if res.ok else None)


@fact
def kubelet_flags(remote: Remote, extra_path: str = "") -> KubeletFlagsFact:
    # None only for a file that does not exist; an unreadable one raises ReadFailed
    flags = read_file(remote, rk.KUBEADM_FLAGS)
    extra = read_file(remote, extra_path) if extra_path else None
    return parse_kubelet_flags(rk.KUBEADM_FLAGS, flags, extra_path, extra)


def lo_addresses(remote: Remote) -> list[str]:
    """IPv4 addresses on lo, as address/prefix. Taken from the host's addresses fact (one
    query, cached there), so not a fact of its own."""
    return [a.cidr for a in addresses(remote).on("lo")]


@fact
def unit_file(remote: Remote, path: str = rk.UNIT_PATH) -> UnitFact:
    return parse_unit(path, read_file(remote, path))


@fact
def unit_enabled(remote: Remote, name: str = rk.UNIT_NAME) -> str:
    """`systemctl is-enabled` (it reads the unit files, no running systemd needed):
    enabled, disabled, static, not-found, ..."""
    res = remote.run(f"systemctl is-enabled {shlex.quote(name)}")
    out = res.stdout.strip() or res.stderr.strip()
    if res.rc == 127:                    # no systemctl: the symlink is what enables it
        link = remote.run(f"readlink {shlex.quote(rk.WANTS_DIR + '/' + name)}")
        return "enabled" if link.ok and link.stdout.strip() else "disabled"
    if "No such file" in out or "not-found" in out:
        return "not-found"
    return out.splitlines()[-1] if out else ("enabled" if res.ok else "disabled")


@fact
def kubelet_running(remote: Remote) -> bool:
    return remote.run("pgrep -x kubelet").ok
