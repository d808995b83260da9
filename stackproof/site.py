"""The site model: an inventory file, parsed and validated.

Everything the suite knows about a site comes from here. Loading never raises a traceback at
the operator: every problem becomes one line naming the field path, the value and what was
expected (`InventoryError`).
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

IPv4 = ipaddress.IPv4Address
IPv4Net = ipaddress.IPv4Network
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63)]
IfName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$", max_length=15)]
Mac = Annotated[str, Field(pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]

ROLES = {"bgp", "hypervisor", "openstack_controller", "network_node", "ovs_agent",
         "nova_compute", "kube_control_plane", "kube_worker"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InventoryError(Exception):
    """A bad inventory: one line per problem, each naming the field and the reason."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s) in the inventory:\n"
                         + "\n".join(f"  - {p}" for p in problems))


class SshSpec(Strict):
    """How to reach a host. Host keys are verified unless `verify_host_key: false`."""
    user: str = "root"
    port: int = Field(22, ge=1, le=65535)
    address: str | None = None          # default: the host's own address
    identity_file: str | None = None
    ssh_config: str | None = None
    proxy_command: str | None = None
    bastion: str | None = None          # user@host[:port], becomes a ProxyCommand
    known_hosts: str | None = None
    verify_host_key: bool = True
    connect_timeout: float = Field(10.0, gt=0)


class Range(Strict):
    start: IPv4
    end: IPv4

    @model_validator(mode="after")
    def _ordered(self):
        if int(self.start) > int(self.end):
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class NatNetwork(Strict):
    name: Name
    bridge: IfName
    cidr: IPv4Net
    gateway: IPv4
    dhcp_range: Range
    forward_mode: Literal["nat"] = "nat"
    autostart: bool = True

    @model_validator(mode="after")
    def _inside(self):
        for label, ip in (("gateway", self.gateway), ("dhcp_range.start", self.dhcp_range.start),
                          ("dhcp_range.end", self.dhcp_range.end)):
            if ip not in self.cidr:
                raise ValueError(f"{label} {ip} is outside the network {self.cidr}")
        return self


class Underlay(Strict):
    interface: IfName
    address: IPv4


class HostBase(Strict):
    roles: list[str] = []
    os_family: Literal["rhel", "debian"] | None = None   # default: the site's
    init: Literal["systemd", "sysv"] | None = None       # default: the site's
    kernel: Literal["own", "shared"] = "own"              # lab hosts share the machine's kernel
    ssh: SshSpec | None = None

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles):
        unknown = sorted(set(roles) - ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; known roles: {sorted(ROLES)}")
        return roles


class PhysicalHost(HostBase):
    kind: Literal["physical"]
    underlay: Underlay
    asn: int | None = Field(None, ge=1, le=4294967295)
    nat_networks: list[NatNetwork] = []


class GuestHost(HostBase):
    """A KVM guest on a physical host's libvirt NAT network."""
    kind: Literal["guest"]
    hypervisor: Name
    network: Name
    interface: IfName = "eth0"
    mac: Mac
    address: IPv4


class InstanceHost(HostBase):
    """An OpenStack server (for instance a Kubernetes worker) on a compute node."""
    kind: Literal["instance"]
    compute: Name
    address: IPv4
    floating_ip: IPv4 | None = None
    interface: IfName = "eth0"


Host = Annotated[PhysicalHost | GuestHost | InstanceHost, Field(discriminator="kind")]


class BgpTimers(Strict):
    keepalive: int = Field(3, ge=1)
    hold: int = Field(9, ge=3)


class Bgp(Strict):
    mode: Literal["ibgp", "ebgp"]
    asn: int | None = Field(None, ge=1, le=4294967295)
    timers: BgpTimers = BgpTimers()


class TimeSpec(Strict):
    server: Name


class Overlay(Strict):
    tunnel_types: list[Literal["vxlan", "gre", "geneve"]] = ["vxlan"]
    tunnel_bridge: IfName = "br-tun"
    integration_bridge: IfName = "br-int"
    external_bridge: IfName = "br-ex"
    udp_port: int = Field(4789, ge=1, le=65535)
    l2_population: list[Name] = []


class BridgeRef(Strict):
    host: Name
    bridge: IfName


class ExternalNetwork(Strict):
    name: str
    cidr: IPv4Net
    gateway: IPv4
    pool: Range
    physical_network: str = "physnet1"
    gateway_on: BridgeRef

    @model_validator(mode="after")
    def _inside(self):
        for label, ip in (("gateway", self.gateway), ("pool.start", self.pool.start),
                          ("pool.end", self.pool.end)):
            if ip not in self.cidr:
                raise ValueError(f"{label} {ip} is outside the network {self.cidr}")
        return self


class TenantNetwork(Strict):
    name: str
    cidr: IPv4Net


class OpenStack(Strict):
    cloud: str
    region: str = "RegionOne"
    instances_path: str = "/var/lib/nova/instances"
    external_network: ExternalNetwork
    tenant_network: TenantNetwork
    router: str


class KubeNode(Strict):
    name: Name
    host: Name | None = None
    internal_ip: IPv4
    schedulable: bool = True


class Kubernetes(Strict):
    context: str | None = None
    kubeconfig: str | None = None
    api_endpoint: str | None = None
    nodes: list[KubeNode]


class Site(Strict):
    site: Name
    os_family: Literal["rhel", "debian"] = "rhel"
    init: Literal["systemd", "sysv"] = "systemd"
    ssh: SshSpec = SshSpec()
    underlay: dict[str, IPv4Net] | None = None
    bgp: Bgp
    time: TimeSpec | None = None
    hosts: dict[Name, Host]
    overlay: Overlay = Overlay()
    openstack: OpenStack | None = None
    kubernetes: Kubernetes | None = None

    # --- plain lookups -----------------------------------------------------------------
    @property
    def underlay_cidr(self) -> IPv4Net:
        return self.underlay["cidr"]

    def host(self, name: str):
        return self.hosts[name]

    def physical_hosts(self) -> dict[str, PhysicalHost]:
        return {n: h for n, h in self.hosts.items() if h.kind == "physical"}

    def guests(self) -> dict[str, GuestHost]:
        return {n: h for n, h in self.hosts.items() if h.kind == "guest"}

    def instances(self) -> dict[str, InstanceHost]:
        return {n: h for n, h in self.hosts.items() if h.kind == "instance"}

    def with_role(self, role: str) -> list[str]:
        return [n for n, h in self.hosts.items() if role in h.roles]

    def os_family_of(self, name: str) -> str:
        return self.hosts[name].os_family or self.os_family

    def init_of(self, name: str) -> str:
        return self.hosts[name].init or self.init

    def ssh_of(self, name: str) -> SshSpec:
        """The host's SSH settings: site defaults overlaid with the host's own."""
        own = self.hosts[name].ssh
        merged = self.ssh.model_dump()
        if own is not None:
            merged.update(own.model_dump(exclude_unset=True))
        if merged["address"] is None:
            merged["address"] = str(self.address_of(name))
        return SshSpec(**merged)

    def address_of(self, name: str) -> IPv4:
        h = self.hosts[name]
        return h.underlay.address if h.kind == "physical" else h.address

    def nat_network(self, host: str, network: str) -> NatNetwork:
        return next(n for n in self.hosts[host].nat_networks if n.name == network)

    def hypervisor_of(self, name: str) -> str | None:
        """The physical host a guest or instance ultimately runs on."""
        h = self.hosts[name]
        if h.kind == "guest":
            return h.hypervisor
        if h.kind == "instance":
            return self.hypervisor_of(h.compute)
        return None

    def asn_of(self, name: str) -> int:
        return self.bgp.asn if self.bgp.mode == "ibgp" else self.hosts[name].asn

    # --- cross-field validation ------------------------------------------------------------
    @model_validator(mode="after")
    def _consistent(self):
        problems = list(_cross_checks(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _cross_checks(site: Site):
    """Yield 'path: value: reason' strings for every inconsistency between fields."""
    if site.underlay is None or set(site.underlay) != {"cidr"}:
        yield "underlay: expected a mapping with exactly one key `cidr`"
        return
    phys = site.physical_hosts()
    names = set(site.hosts)
    if site.bgp.mode == "ibgp" and site.bgp.asn is None:
        yield "bgp.asn: missing: ibgp needs one AS for all hosts"
    if site.bgp.mode == "ebgp" and site.bgp.asn is not None:
        yield f"bgp.asn: {site.bgp.asn}: ebgp takes an `asn` per host, not one for the site"
    for n, h in phys.items():
        if h.underlay.address not in site.underlay_cidr:
            yield (f"hosts.{n}.underlay.address: {h.underlay.address}: outside the underlay "
                   f"{site.underlay_cidr}")
        if "bgp" in h.roles and site.bgp.mode == "ebgp" and h.asn is None:
            yield f"hosts.{n}.asn: missing: ebgp needs an ASN per bgp host"
        if site.bgp.mode == "ibgp" and h.asn is not None and h.asn != site.bgp.asn:
            yield f"hosts.{n}.asn: {h.asn}: differs from the iBGP AS {site.bgp.asn}"
        seen = Counter(nw.name for nw in h.nat_networks)
        for nw, count in seen.items():
            if count > 1:
                yield f"hosts.{n}.nat_networks: {nw}: network name used {count} times"
        bridges = Counter(nw.bridge for nw in h.nat_networks)
        for br, count in bridges.items():
            if count > 1:
                yield f"hosts.{n}.nat_networks: bridge {br}: used by {count} networks"
    if site.bgp.mode == "ebgp":
        asns = Counter(h.asn for h in phys.values() if h.asn is not None)
        for asn, count in asns.items():
            if count > 1:
                yield f"hosts.*.asn: {asn}: used by {count} hosts; ebgp needs one ASN per host"
    # Every network (NAT, underlay, OpenStack) must be distinct: the report's ext-net overlap.
    nets = [("underlay.cidr", site.underlay_cidr)]
    for n, h in phys.items():
        for i, nw in enumerate(h.nat_networks):
            nets.append((f"hosts.{n}.nat_networks[{i}].cidr", nw.cidr))
    if site.openstack:
        nets.append(("openstack.external_network.cidr", site.openstack.external_network.cidr))
        nets.append(("openstack.tenant_network.cidr", site.openstack.tenant_network.cidr))
    for i, (pa, a) in enumerate(nets):
        for pb, b in nets[i + 1:]:
            if a.overlaps(b):
                yield f"{pb}: {b}: overlaps {pa} ({a})"
    for n, h in site.guests().items():
        hv = phys.get(h.hypervisor)
        if hv is None:
            yield f"hosts.{n}.hypervisor: {h.hypervisor}: not a physical host of this inventory"
            continue
        nw = next((x for x in hv.nat_networks if x.name == h.network), None)
        if nw is None:
            yield (f"hosts.{n}.network: {h.network}: {h.hypervisor} has no such NAT network "
                   f"(has {[x.name for x in hv.nat_networks]})")
        elif h.address not in nw.cidr:
            yield f"hosts.{n}.address: {h.address}: outside its network {nw.name} ({nw.cidr})"
        elif h.address == nw.gateway:
            yield f"hosts.{n}.address: {h.address}: is the gateway of {nw.name}"
    for n, h in site.instances().items():
        if h.compute not in names or "nova_compute" not in site.hosts[h.compute].roles:
            yield f"hosts.{n}.compute: {h.compute}: not a host with role nova_compute"
        if site.openstack is None:
            yield f"hosts.{n}: an instance needs an `openstack` section"
            continue
        if h.address not in site.openstack.tenant_network.cidr:
            yield (f"hosts.{n}.address: {h.address}: outside the tenant network "
                   f"{site.openstack.tenant_network.cidr}")
        ext = site.openstack.external_network
        if h.floating_ip is not None and not (
                int(ext.pool.start) <= int(h.floating_ip) <= int(ext.pool.end)):
            yield (f"hosts.{n}.floating_ip: {h.floating_ip}: outside the external pool "
                   f"{ext.pool.start}-{ext.pool.end}")
    addresses = Counter()
    for n in site.hosts:
        addresses[site.address_of(n)] += 1
    for h in site.instances().values():
        if h.floating_ip:
            addresses[h.floating_ip] += 1
    for n, h in phys.items():
        for nw in h.nat_networks:
            addresses[nw.gateway] += 1
    for ip, count in addresses.items():
        if count > 1:
            yield f"hosts: address {ip}: assigned {count} times"
    macs = Counter(h.mac for h in site.guests().values())
    for mac, count in macs.items():
        if count > 1:
            yield f"hosts: mac {mac}: assigned {count} times"
    if site.time and site.time.server not in names:
        yield f"time.server: {site.time.server}: not a host of this inventory"
    for n in site.overlay.l2_population:
        if n not in names or "ovs_agent" not in site.hosts[n].roles:
            yield f"overlay.l2_population: {n}: not a host with role ovs_agent"
    if site.openstack:
        ref = site.openstack.external_network.gateway_on
        hv = phys.get(ref.host)
        if hv is None:
            yield (f"openstack.external_network.gateway_on.host: {ref.host}: not a physical "
                   f"host of this inventory")
        elif ref.bridge not in {nw.bridge for nw in hv.nat_networks}:
            yield (f"openstack.external_network.gateway_on.bridge: {ref.bridge}: not a NAT "
                   f"bridge of {ref.host}")
    if site.kubernetes:
        for i, node in enumerate(site.kubernetes.nodes):
            if node.host is not None and node.host not in names:
                yield f"kubernetes.nodes[{i}].host: {node.host}: not a host of this inventory"
    for n, h in site.hosts.items():
        if "bgp" in h.roles and h.kind != "physical":
            yield f"hosts.{n}.roles: bgp: only physical hosts speak BGP"


def _format_pydantic(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        # discriminated unions add the tag to the path: drop it for the operator
        loc = loc.replace(".physical.", ".").replace(".guest.", ".").replace(".instance.", ".")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            out.append(f"{loc}: missing: this field is required")
        elif err["type"] == "extra_forbidden":
            out.append(f"{loc}: {err.get('input')!r}: unknown field")
        elif loc in ("", "site") or err["type"] == "value_error" and ";" in msg:
            out.extend(f"{part.strip()}" for part in msg.split("; "))
        else:
            out.append(f"{loc}: {err.get('input')!r}: {msg}")
    return out


def parse_site(data: dict, source: str = "<inventory>") -> Site:
    if not isinstance(data, dict):
        raise InventoryError(source, ["(top level): expected a mapping"])
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(source, _format_pydantic(exc)) from None


def load_site(path: str | Path) -> Site:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise InventoryError(str(path), [f"{where}: not valid YAML: {exc}"]) from None
    return parse_site(data, str(path))
