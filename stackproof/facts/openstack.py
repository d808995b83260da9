"""OpenStack facts: typed records from the cloud's APIs (through openstacksdk), each listed
once per run, plus the SSH facts the OpenStack scenarios need on a node.

API facts: `OpenStackFacts(conn)` fetches each collection once (GET /os-services,
/os-hypervisors, /v2.0/agents, networks, subnets, routers, floatingips, ports) with the
connection's own adapters, keeps the raw JSON (attached to findings, and what the unit
tests' captured data is) and parses it with the `parse_*` functions below. `invalidate()`
drops everything after a remediation touched the cloud.
"""
from __future__ import annotations

import configparser
import shlex
import threading
from dataclasses import dataclass
from typing import Any, Callable

from stackproof.facts import fact, read_file
from stackproof.remote import Remote

COMPUTE_MICROVERSION = "2.53"     # services and hypervisors by UUID, with state and status


@dataclass(frozen=True)
class ComputeService:
    id: str
    binary: str
    host: str
    status: str                 # enabled | disabled
    state: str                  # up | down (nova-api: updated_at vs service_down_time)
    updated_at: str | None
    disabled_reason: str | None
    forced_down: bool


@dataclass(frozen=True)
class Hypervisor:
    id: str
    hostname: str
    state: str
    status: str


@dataclass(frozen=True)
class NetworkAgent:
    id: str
    agent_type: str
    binary: str
    host: str
    alive: bool                 # neutron: heartbeat_timestamp vs agent_down_time
    admin_state_up: bool
    heartbeat_timestamp: str | None


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    external: bool
    network_type: str | None
    physical_network: str | None
    subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    allocation_pools: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Router:
    id: str
    name: str
    external_network_id: str | None


@dataclass(frozen=True)
class FloatingIp:
    id: str
    address: str
    network_id: str
    port_id: str | None
    fixed_ip_address: str | None
    status: str


@dataclass(frozen=True)
class Port:
    id: str
    name: str
    network_id: str
    device_id: str
    device_owner: str
    binding_host: str | None
    fixed_ips: tuple[tuple[str, str], ...]      # (subnet_id, ip_address)
    status: str


# --- parsers: raw API JSON -> records ------------------------------------------------------
def parse_services(doc: dict) -> list[ComputeService]:
    return [ComputeService(str(s["id"]), s["binary"], s["host"], s["status"], s["state"],
                           s.get("updated_at"), s.get("disabled_reason"),
                           bool(s.get("forced_down", False)))
            for s in doc.get("services", [])]


def parse_hypervisors(doc: dict) -> list[Hypervisor]:
    return [Hypervisor(str(h["id"]), h["hypervisor_hostname"], h.get("state", ""),
                       h.get("status", "")) for h in doc.get("hypervisors", [])]


def parse_agents(doc: dict) -> list[NetworkAgent]:
    return [NetworkAgent(a["id"], a["agent_type"], a["binary"], a["host"], bool(a["alive"]),
                         bool(a["admin_state_up"]), a.get("heartbeat_timestamp"))
            for a in doc.get("agents", [])]


def parse_networks(doc: dict) -> list[Network]:
    return [Network(n["id"], n["name"], bool(n.get("router:external", False)),
                    n.get("provider:network_type"), n.get("provider:physical_network"),
                    tuple(n.get("subnets", []))) for n in doc.get("networks", [])]


def parse_subnets(doc: dict) -> list[Subnet]:
    return [Subnet(s["id"], s["name"], s["network_id"], s["cidr"], s.get("gateway_ip"),
                   tuple((p["start"], p["end"]) for p in s.get("allocation_pools", [])))
            for s in doc.get("subnets", [])]


def parse_routers(doc: dict) -> list[Router]:
    return [Router(r["id"], r["name"],
                   (r.get("external_gateway_info") or {}).get("network_id"))
            for r in doc.get("routers", [])]


def parse_floating_ips(doc: dict) -> list[FloatingIp]:
    return [FloatingIp(f["id"], f["floating_ip_address"], f["floating_network_id"],
                       f.get("port_id"), f.get("fixed_ip_address"), f.get("status", ""))
            for f in doc.get("floatingips", [])]


def parse_ports(doc: dict) -> list[Port]:
    return [Port(p["id"], p.get("name", ""), p["network_id"], p.get("device_id", ""),
                 p.get("device_owner", ""), p.get("binding:host_id") or None,
                 tuple((i["subnet_id"], i["ip_address"]) for i in p.get("fixed_ips", [])),
                 p.get("status", "")) for p in doc.get("ports", [])]


def hosts_by_network(ports: list[Port]) -> dict[str, set[str]]:
    """network id -> hosts with an ACTIVE port bound there: the ports Neutron's
    l2population driver sends fdb entries (and so tunnels) for."""
    out: dict[str, set[str]] = {}
    for p in ports:
        if p.binding_host and p.status == "ACTIVE":
            out.setdefault(p.network_id, set()).add(p.binding_host)
    return out


# What each collection is: (service, path, microversion, parser).
COLLECTIONS: dict[str, tuple[str, str, str | None, Callable[[dict], list]]] = {
    "compute_services": ("compute", "/os-services", COMPUTE_MICROVERSION, parse_services),
    "hypervisors": ("compute", "/os-hypervisors", COMPUTE_MICROVERSION, parse_hypervisors),
    "agents": ("network", "/agents", None, parse_agents),
    "networks": ("network", "/networks", None, parse_networks),
    "subnets": ("network", "/subnets", None, parse_subnets),
    "routers": ("network", "/routers", None, parse_routers),
    "floating_ips": ("network", "/floatingips", None, parse_floating_ips),
    "ports": ("network", "/ports", None, parse_ports),
}


class OpenStackError(Exception):
    """The cloud did not answer a listing: names the call and the reason."""


class OpenStackFacts:
    """One run's view of the cloud: each collection fetched once, until `invalidate()`."""

    def __init__(self, conn):
        self.conn = conn
        self._raw: dict[str, dict] = {}
        self._parsed: dict[str, list] = {}
        self._lock = threading.RLock()
        self.calls = 0

    def raw(self, name: str) -> dict:
        with self._lock:
            if name not in self._raw:
                self._raw[name] = self._fetch(name)
            return self._raw[name]

    def _fetch(self, name: str) -> dict:
        service, path, microversion, _ = COLLECTIONS[name]
        adapter = getattr(self.conn, service)
        kwargs: dict[str, Any] = {"microversion": microversion} if microversion else {}
        self.calls += 1
        try:
            resp = adapter.get(path, **kwargs)
        except Exception as exc:        # keystoneauth/sdk errors: one clear line
            raise OpenStackError(f"GET {service} {path}: {type(exc).__name__}: {exc}") from None
        if resp.status_code >= 400:
            raise OpenStackError(f"GET {service} {path} -> HTTP {resp.status_code}: "
                                 f"{resp.text[:300]}")
        return resp.json()

    def _get(self, name: str) -> list:
        with self._lock:
            if name not in self._parsed:
                self._parsed[name] = COLLECTIONS[name][3](self.raw(name))
            return self._parsed[name]

    def invalidate(self) -> None:
        with self._lock:
            self._raw.clear()
            self._parsed.clear()

    def compute_services(self) -> list[ComputeService]:
        return self._get("compute_services")

    def hypervisors(self) -> list[Hypervisor]:
        return self._get("hypervisors")

    def agents(self) -> list[NetworkAgent]:
        return self._get("agents")

    def networks(self) -> list[Network]:
        return self._get("networks")

    def subnets(self) -> list[Subnet]:
        return self._get("subnets")

    def routers(self) -> list[Router]:
        return self._get("routers")

    def floating_ips(self) -> list[FloatingIp]:
        return self._get("floating_ips")

    def ports(self) -> list[Port]:
        return self._get("ports")

    def hosts_by_network(self) -> dict[str, set[str]]:
        return hosts_by_network(self.ports())

    # lookups
    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks() if n.name == name), None)

    def subnets_of(self, network_id: str) -> list[Subnet]:
        return [s for s in self.subnets() if s.network_id == network_id]

    def router(self, name: str) -> Router | None:
        return next((r for r in self.routers() if r.name == name), None)


# --- SSH facts on a node ---------------------------------------------------------------------
@dataclass(frozen=True)
class PathState:
    path: str
    exists: bool
    kind: str = ""              # "directory", "regular file", ...
    owner: str = ""
    group: str = ""
    mode: str = ""              # octal, e.g. "755"


def parse_stat(path: str, rc: int, out: str) -> PathState:
    """`stat -c '%F|%U|%G|%a' PATH`."""
    if rc != 0 or "|" not in out:
        return PathState(path, False)
    kind, owner, group, mode = out.strip().split("|", 3)
    return PathState(path, True, kind, owner, group, mode)


def parse_nova_conf(text: str) -> dict[str, str]:
    """[DEFAULT] of nova.conf (what nova-compute reads for instances_path)."""
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read_string(text)
    return dict(cp.defaults())


NOVA_CONF = "/etc/nova/nova.conf"


@fact
def nova_conf(remote: Remote) -> str | None:
    """None only when the file does not exist; another read failure raises ReadFailed."""
    return read_file(remote, NOVA_CONF)


@fact
def path_state(remote: Remote, path: str) -> PathState:
    res = remote.run(f"stat -c '%F|%U|%G|%a' {shlex.quote(path)}")
    return parse_stat(path, res.rc, res.stdout)


# --- the Neutron agent's message bus (SSH) -----------------------------------------------------
NEUTRON_CONF = "/etc/neutron/neutron.conf"


@dataclass(frozen=True)
class AgentTransport:
    path: str
    exists: bool
    hosts: tuple[tuple[str, int], ...] = ()      # (host, port) of each broker in transport_url
    scheme: str = ""


def parse_transport_url(text: str, path: str = NEUTRON_CONF) -> AgentTransport:
    """[DEFAULT] transport_url of neutron.conf: `rabbit://user:pass@host:port,user:pass@
    host2:port/vhost`. Only the brokers' addresses are kept (never the credentials)."""
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read_string(text)
    url = cp.defaults().get("transport_url", "").strip()
    scheme, _, rest = url.partition("://")
    hosts = []
    for part in rest.split("/", 1)[0].split(",") if rest else []:
        hostport = part.rsplit("@", 1)[-1]
        host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
        hosts.append((host.strip("[]"), int(port) if port.isdigit() else 5672))
    return AgentTransport(path, True, tuple(hosts), scheme)


@fact
def agent_transport(remote: Remote) -> AgentTransport:
    res = remote.run(f"cat {NEUTRON_CONF}")
    if not res.ok:
        return AgentTransport(NEUTRON_CONF, False)
    return parse_transport_url(res.stdout)
