"""The site model: an inventory file, parsed and validated.

Everything the suite knows about a site comes from here. Loading never raises a traceback at
the operator: every problem becomes one line naming the field path, the value and what was
expected (`InventoryError`).
"""
from __future__ import annotations

import ipaddress
import reprlib
import warnings
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      ValidationError, field_validator, model_validator)

from stackproof import inventory_limits as limits

IPv4 = ipaddress.IPv4Address
IPv4Net = ipaddress.IPv4Network
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=63)]
IfName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$", max_length=15)]


def _no_control(value):
    # a newline in a value that lands in an ini file or a command starts a new section
    # or command: no control character anywhere in free text
    if isinstance(value, str) and any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0
                                      or c in "\u2028\u2029" for c in value):
        raise ValueError("holds a control character (newline, tab, escape...)")
    return value


def _absolute(value):
    if isinstance(value, str) and not value.startswith("/"):
        raise ValueError("must be an absolute path")
    return value


def _no_markup(value):
    bad = sorted({c for c in value if c in _MARKUP}) if isinstance(value, str) else []
    if bad:
        raise ValueError(f"holds {' '.join(bad)}: not allowed in a name that lands in ini "
                         "or XML files")
    return value


_MARKUP = "<>&\"'[]=#;"
# Free text (OpenStack names, a cloud name, a context): one line, no ini/XML markup.
Text = Annotated[str, AfterValidator(_no_control), AfterValidator(_no_markup),
                 Field(min_length=1, max_length=255)]
# A file path on this machine (`~` allowed) and a path on a host (absolute only).
LocalPath = Annotated[str, AfterValidator(_no_control), Field(min_length=1, max_length=4096)]
HostPath = Annotated[str, AfterValidator(_no_control), AfterValidator(_absolute),
                     Field(min_length=1, max_length=4096, pattern=r"^[^\s\"'=;#]*$")]
# A name that lands in an ini value list (`physnet:bridge,...`) or an XML attribute.
IniName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64)]


def _mac_from_yaml(value):
    # YAML 1.1 reads an unquoted all-digit MAC (52:54:00:12:34:56) as a base-60 integer
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("YAML read an unquoted MAC address as a number: put it in quotes")
    return value


Mac = Annotated[str, BeforeValidator(_mac_from_yaml),
                Field(pattern=r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")]

ROLES = {"bgp", "hypervisor", "openstack_controller", "network_node", "ovs_agent",
         "nova_compute", "kube_control_plane", "kube_worker"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InventoryError(Exception):
    """A bad inventory: one line per problem, each naming the field and the reason."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        # one line each, whatever a value held: control characters shown escaped
        self.problems = ["".join(c if c.isprintable() else repr(c)[1:-1] for c in p)
                         for p in problems]
        super().__init__(f"{source}: {len(problems)} problem(s) in the inventory:\n"
                         + "\n".join(f"  - {p}" for p in self.problems))


class _Problems(ValueError):
    """Problems a validator found, each 'relative.path: value: reason'. Kept as a list so
    the formatter can prefix the model's own path and print one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class SshSpec(Strict):
    """How to reach a host. Host keys are verified unless `verify_host_key: false`."""
    user: str = Field("root", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$")
    port: int = Field(22, ge=1, le=65535)
    # default: the host's own address; a name or an address, never an option
    address: str | None = Field(None, pattern=r"^[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}$")
    identity_file: LocalPath | None = None
    ssh_config: LocalPath | None = None
    proxy_command: Annotated[str, AfterValidator(_no_control),
                             Field(min_length=1, max_length=4096)] | None = None
    bastion: str | None = None          # user@host[:port], becomes a ProxyCommand
    known_hosts: LocalPath | None = None
    verify_host_key: bool = True
    # finite and bounded: it becomes int() seconds for paramiko and OpenSSH
    connect_timeout: float = Field(10.0, gt=0, le=3600, allow_inf_nan=False)
    # a remote command still running after this fails its scenario (`timed out after N s`)
    command_timeout: float = Field(60.0, gt=0, le=86400, allow_inf_nan=False)
    keepalive_interval: int = Field(15, ge=0, le=3600)   # SSH keepalives; 0 = none

    @field_validator("bastion")
    @classmethod
    def _bastion(cls, value):
        if value is not None:
            from stackproof.bastion import parse_bastion
            parse_bastion(value)        # BastionError (a ValueError): one field error
        return value


class Range(Strict):
    start: IPv4
    end: IPv4

    @model_validator(mode="after")
    def _ordered(self):
        if int(self.start) > int(self.end):
            raise _Problems([f"start: {self.start}: after end {self.end}"])
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
        outside = [f"{label}: {ip}: outside the network {self.cidr}" for label, ip in (
            ("gateway", self.gateway), ("dhcp_range.start", self.dhcp_range.start),
            ("dhcp_range.end", self.dhcp_range.end)) if ip not in self.cidr]
        if outside:
            raise _Problems(outside)
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
        unknown = [f"[{i}]: {r}: unknown role (known: {', '.join(sorted(ROLES))})"
                   for i, r in enumerate(roles) if r not in ROLES]
        if unknown:
            raise _Problems(unknown)
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


class UnderlayNetwork(Strict):
    """The routed network between the physical hosts, and its gateway to the outside (the
    report's home router: where `ping 8.8.8.8` goes)."""
    cidr: IPv4Net
    gateway: IPv4 | None = None


class BgpTimers(Strict):
    keepalive: int = Field(3, ge=1)
    hold: int = Field(9, ge=3)


class Bgp(Strict):
    mode: Literal["ibgp", "ebgp"]
    asn: int | None = Field(None, ge=1, le=4294967295)
    timers: BgpTimers = BgpTimers()
    # Who owns frr.conf: `merged` (default) changes only the lines the inventory describes
    # and keeps the operator's; `exact` makes the file exactly the rendering (destructive).
    config: Literal["merged", "exact"] = "merged"
    # iBGP route reflectors (bgp hosts): clients peer only with them, they peer with each
    # other and with every client. Empty: a full mesh.
    route_reflectors: list[Name] = []


class TimeSpec(Strict):
    server: Name


class Overlay(Strict):
    tunnel_types: list[Literal["vxlan", "gre", "geneve"]] = Field(["vxlan"], min_length=1)
    tunnel_bridge: IfName = "br-tun"
    integration_bridge: IfName = "br-int"
    external_bridge: IfName = "br-ex"
    udp_port: int = Field(4789, ge=1, le=65535)
    l2_population: list[Name] = []


class BridgeRef(Strict):
    host: Name
    bridge: IfName


class ExternalNetwork(Strict):
    name: Text
    cidr: IPv4Net
    gateway: IPv4
    pool: Range
    physical_network: IniName = "physnet1"   # lands in bridge_mappings / flat_networks
    gateway_on: BridgeRef

    @model_validator(mode="after")
    def _inside(self):
        outside = [f"{label}: {ip}: outside the network {self.cidr}" for label, ip in (
            ("gateway", self.gateway), ("pool.start", self.pool.start),
            ("pool.end", self.pool.end)) if ip not in self.cidr]
        if outside:
            raise _Problems(outside)
        return self


class TenantNetwork(Strict):
    name: Text
    cidr: IPv4Net


class OpenStack(Strict):
    cloud: Text
    region: Text = "RegionOne"
    instances_path: HostPath = "/var/lib/nova/instances"   # lands in nova.conf
    external_network: ExternalNetwork
    tenant_network: TenantNetwork
    router: Text
    clouds_yaml: LocalPath | None = None  # a clouds.yaml holding `cloud` (default: usual places)


class KubeNode(Strict):
    name: Name
    host: Name | None = None
    internal_ip: IPv4
    schedulable: bool = True


class Kubernetes(Strict):
    context: Text | None = None
    kubeconfig: LocalPath | None = None
    api_endpoint: Annotated[str, AfterValidator(_no_control),
                            Field(pattern=r"^\S+$", max_length=2048)] | None = None
    nodes: list[KubeNode]


class Site(Strict):
    site: Name
    os_family: Literal["rhel", "debian"] = "rhel"
    init: Literal["systemd", "sysv"] = "systemd"
    ssh: SshSpec = SshSpec()
    # connection details per host from an Ansible inventory (INI or YAML), read by Ansible's
    # own loader when the inventory file is loaded (stackproof.ansible_hosts)
    ansible_inventory: str | None = None
    underlay: UnderlayNetwork
    bgp: Bgp
    time: TimeSpec | None = None
    hosts: dict[Name, Host]
    overlay: Overlay = Overlay()
    openstack: OpenStack | None = None
    kubernetes: Kubernetes | None = None

    # --- plain lookups -----------------------------------------------------------------
    @property
    def underlay_cidr(self) -> IPv4Net:
        return self.underlay.cidr

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
            h = self.hosts[name]
            # an instance's tenant address is not reachable from outside: its floating IP is
            fip = h.floating_ip if h.kind == "instance" else None
            merged["address"] = str(fip or self.address_of(name))
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
            # a compute node may itself be physical: then the instance runs right there
            c = self.hosts[h.compute]
            return h.compute if c.kind == "physical" else self.hypervisor_of(h.compute)
        return None

    def asn_of(self, name: str) -> int:
        return self.bgp.asn if self.bgp.mode == "ibgp" else self.hosts[name].asn

    @property
    def warnings(self) -> list[str]:
        """Valid but unwise: said once at load time (warnings.warn) and kept here."""
        return list(_warnings(self))

    # --- cross-field validation ------------------------------------------------------------
    @model_validator(mode="after")
    def _consistent(self):
        problems = list(_cross_checks(self))
        if problems:
            raise _Problems(problems)
        return self


def site_networks(site: Site) -> list[tuple[str, ipaddress.IPv4Network]]:
    """Every network the inventory names (underlay, NAT, OpenStack), with its field path."""
    nets = [("underlay.cidr", site.underlay_cidr)] if site.underlay_cidr is not None else []
    for n, h in site.physical_hosts().items():
        for i, nw in enumerate(h.nat_networks):
            nets.append((f"hosts.{n}.nat_networks[{i}].cidr", nw.cidr))
    if site.openstack:
        nets.append(("openstack.external_network.cidr", site.openstack.external_network.cidr))
        nets.append(("openstack.tenant_network.cidr", site.openstack.tenant_network.cidr))
    return nets


def _cross_checks(site: Site):
    """Yield 'path: value: reason' strings for every inconsistency between fields."""
    under = site.underlay_cidr
    gw = site.underlay.gateway
    if gw is not None and gw not in under:
        yield f"underlay.gateway: {gw}: outside the underlay {under}"
    phys = site.physical_hosts()
    names = set(site.hosts)
    if site.bgp.mode == "ibgp" and site.bgp.asn is None:
        yield "bgp.asn: missing: ibgp needs one AS for all hosts"
    if site.bgp.mode == "ebgp" and site.bgp.asn is not None:
        yield f"bgp.asn: {site.bgp.asn}: ebgp takes an `asn` per host, not one for the site"
    rrs = site.bgp.route_reflectors
    if rrs and site.bgp.mode != "ibgp":
        yield f"bgp.route_reflectors: {rrs}: route reflectors are iBGP only (mode is ebgp)"
    for i, r in enumerate(rrs):
        if r not in phys or "bgp" not in phys[r].roles:
            yield f"bgp.route_reflectors[{i}]: {r}: not a physical host with role bgp"
        if rrs.index(r) != i:
            yield f"bgp.route_reflectors[{i}]: {r}: listed twice"
    for n, h in phys.items():
        if under is not None and h.underlay.address not in under:
            yield f"hosts.{n}.underlay.address: {h.underlay.address}: outside the underlay {under}"
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
        owner: dict[int, str] = {}
        for n, h in phys.items():
            if h.asn is None:
                continue
            if h.asn in owner:
                yield (f"hosts.{n}.asn: {h.asn}: already the ASN of {owner[h.asn]} "
                       "(ebgp: one per host)")
            owner.setdefault(h.asn, n)
    # Every network (NAT, underlay, OpenStack) must be distinct: the report's ext-net overlap.
    nets = site_networks(site)
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
    for n, h in site.instances().items():
        if h.compute not in names or "nova_compute" not in site.hosts[h.compute].roles:
            yield f"hosts.{n}.compute: {h.compute}: not a host with role nova_compute"
        elif site.hosts[h.compute].kind == "instance":
            yield (f"hosts.{n}.compute: {h.compute}: an instance; a compute node is a guest "
                   "or physical host")
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
    # One owner per address: name both fields, so the operator sees which two collide.
    owners: list[tuple[str, IPv4]] = []
    for n, h in phys.items():
        owners.append((f"hosts.{n}.underlay.address", h.underlay.address))
        owners += [(f"hosts.{n}.nat_networks[{i}].gateway", nw.gateway)
                   for i, nw in enumerate(h.nat_networks)]
    owners += [(f"hosts.{n}.address", h.address) for n, h in site.guests().items()]
    for n, h in site.instances().items():
        owners.append((f"hosts.{n}.address", h.address))
        if h.floating_ip is not None:
            owners.append((f"hosts.{n}.floating_ip", h.floating_ip))
    if site.openstack:
        owners.append(("openstack.external_network.gateway",
                       site.openstack.external_network.gateway))
    first: dict[IPv4, str] = {}
    for path, ip in owners:
        if ip in first:
            yield f"{path}: {ip}: already used by {first[ip]}"
        first.setdefault(ip, path)
    first_mac: dict[str, str] = {}
    for n, h in site.guests().items():
        if h.mac in first_mac:
            yield f"hosts.{n}.mac: {h.mac}: already used by hosts.{first_mac[h.mac]}.mac"
        first_mac.setdefault(h.mac, n)
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


# Beyond this many iBGP speakers a full mesh (n*(n-1)/2 sessions) wants route reflectors.
FULL_MESH_WARN = 20


def _warnings(site: Site):
    speakers = [n for n, h in site.physical_hosts().items() if "bgp" in h.roles]
    if site.bgp.mode == "ibgp" and not site.bgp.route_reflectors and \
            len(speakers) > FULL_MESH_WARN:
        n = len(speakers)
        yield (f"bgp: an iBGP full mesh of {n} hosts ({n * (n - 1) // 2} sessions) exceeds "
               f"{FULL_MESH_WARN}: consider bgp.route_reflectors")


_HOST_KINDS = ("physical", "guest", "instance")


def _path(loc: tuple) -> str:
    """pydantic's error location as the operator would write it: hosts.x.nat_networks[0].cidr"""
    parts = list(loc)
    # the discriminated union puts the host's kind after its name: hosts.<name>.<kind>.field
    if len(parts) >= 3 and parts[0] == "hosts" and parts[2] in _HOST_KINDS:
        del parts[2]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p == "[key]" or str(p).startswith(("function-", "json-or-python")):
            continue
        else:
            # a key's own `:` would make the line's `path: value` ambiguous
            p = _clip(str(p), 40).replace(":", "\\x3a")
            out += f".{p}" if out else p
    return out


def _clip(text: str, limit: int = 60) -> str:
    """One printable line of at most `limit` characters: control characters escaped."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit * 4 + 4])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _join(base: str, sub: str) -> str:
    if not base:
        return sub
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


def _show(value) -> str:
    """A value for a one-line message: scalars as written, containers summarized. Bounded
    work whatever the value (an alias bomb is never formatted whole, a 4000-digit number
    never converted in full)."""
    if isinstance(value, dict):
        return "(a mapping)"
    if isinstance(value, (list, tuple)):
        return _clip(_SHORT.repr(value), 80) if len(value) <= 8 else "(a list)"
    if value is None:
        return "null"
    if value == "":
        return "''"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "(a number of more than 60 digits)"
    return _clip(" ".join(str(value)[:1000].split()))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = \
    2, 4, 4, 20, 20


def _format_pydantic(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc, kind = _path(err["loc"]), err["type"]
        ctx = err.get("ctx") or {}
        if isinstance(ctx.get("error"), _Problems):
            out.extend(_join(loc, p) for p in ctx["error"].problems)
        elif kind == "missing":
            out.append(f"{loc}: missing: this field is required")
        elif kind == "extra_forbidden":
            out.append(f"{loc}: {_show(err.get('input'))}: unknown field")
        elif kind == "union_tag_not_found":
            out.append(f"{_join(loc, 'kind')}: missing: say which kind of host this is "
                       f"({', '.join(_HOST_KINDS)})")
        elif kind == "union_tag_invalid":
            tag = err["input"].get("kind") if isinstance(err.get("input"), dict) else None
            out.append(f"{_join(loc, 'kind')}: {_show(tag)}: unknown kind of host "
                       f"(expected one of {', '.join(_HOST_KINDS)})")
        else:
            if "[key]" in err["loc"]:
                loc = f"{loc} (name)"
            msg = err["msg"].removeprefix("Value error, ")
            out.append(f"{loc or '(top level)'}: {_show(err.get('input'))}: {msg}")
    return out


def parse_site(data: dict, source: str = "<inventory>") -> Site:
    if not isinstance(data, dict):
        raise InventoryError(source, ["(top level): expected a mapping"])
    # bounded work before validation walks it: an alias bomb or a deep chain is one line
    problem = limits.expansion_problem(data)
    if problem:
        raise InventoryError(source, [problem])
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        raise InventoryError(source, _format_pydantic(exc)) from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        # not expected after the bounds above; still one line, never a traceback
        raise InventoryError(source, [f"(top level): cannot be validated: "
                                      f"{_clip(type(exc).__name__ + ': ' + str(exc))}"]) from None
    for w in site.warnings:
        warnings.warn(f"{source}: {w}", SiteWarning, stacklevel=2)
    return site


class SiteWarning(UserWarning):
    """A valid inventory that is unwise (e.g. a large iBGP full mesh)."""


class _InventoryConstructor:
    """Construction shared by both loaders: a key given twice in one mapping is an error
    (PyYAML keeps the last one silently, so a copied host block with its name left unchanged
    would vanish), and a number of more than MAX_DIGITS digits is Unusable (int() of one
    past 4300 digits raises ValueError)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                line = seen.get(key)
            except TypeError:       # an unhashable key: let PyYAML report it
                continue
            if line is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {line})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        if sum(c.isdigit() for c in text) > limits.MAX_DIGITS:
            return limits.Unusable(f"a number of {len(text)} characters")
        return super().construct_yaml_int(node)


class _UniqueKeyLoader(_InventoryConstructor, yaml.SafeLoader):
    """The pure-Python loader (when PyYAML has no libyaml)."""

    # PyYAML's composer recurses once per level: past MAX_DEPTH the collection is skipped
    # (its events consumed in a loop) and stands as an Unusable value in its field.
    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > limits.MAX_DEPTH and self.check_event(
                    yaml.SequenceStartEvent, yaml.MappingStartEvent):
                start = self.peek_event()
                level = 0
                while True:
                    event = self.get_event()
                    if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                        level += 1
                    elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                        level -= 1
                        if level == 0:
                            break
                return yaml.ScalarNode(_TOO_DEEP, "", start.start_mark, event.end_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_TOO_DEEP = "tag:stackproof,2026:too-deep"
_UniqueKeyLoader.add_constructor(
    _TOO_DEEP, lambda loader, node: limits.Unusable(
        f"nested deeper than {limits.MAX_DEPTH} levels"))
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.construct_yaml_int)

if yaml.__with_libyaml__:
    class _CInventoryLoader(_InventoryConstructor, yaml.CSafeLoader):
        """libyaml's parser and composer (12x faster). Flow nesting is bounded on the text
        first (limits.flow_depth_problem); block nesting is bounded by the file size (each
        level indents further) and checked after loading (limits.expansion_problem)."""

    _CInventoryLoader.add_constructor("tag:yaml.org,2002:int",
                                      _CInventoryLoader.construct_yaml_int)
    _LOADER: type = _CInventoryLoader
else:
    _LOADER = _UniqueKeyLoader


def load_site(path: str | Path) -> Site:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.MAX_BYTES:
            raise InventoryError(str(path), [f"(file): {size} bytes: larger than "
                                             f"{limits.MAX_BYTES // 1024} KiB"])
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise InventoryError(str(path), ["(file): cannot read: not UTF-8 text"]) from None
    return load_site_text(text, str(path))


def load_site_text(text: str, source: str = "<inventory>") -> Site:
    """An inventory's YAML text, parsed and validated (load_site, without the file)."""
    path = source
    if len(text) > limits.MAX_BYTES:
        raise InventoryError(path, [f"(file): {len(text)} characters: larger than "
                                    f"{limits.MAX_BYTES // 1024} KiB"])
    problem = limits.flow_depth_problem(text)
    if problem:
        raise InventoryError(path, [problem])
    try:
        data = yaml.load(text, Loader=_LOADER)
    except (RecursionError, ValueError, OverflowError) as exc:
        # not expected with the loader's bounds; still one line, never a traceback
        raise InventoryError(path, [f"(file): not loadable YAML: "
                                    f"{_clip(type(exc).__name__ + ': ' + str(exc))}"]) from None
    except yaml.YAMLError as exc:
        # PyYAML's own text spans several lines; keep the problem and where it is
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        context = getattr(exc, "context", None)
        if context:
            problem += f" ({' '.join(context.split())})"
        raise InventoryError(path, [f"{where}: not valid YAML: {_clip(problem, 200)}"]) from None
    if isinstance(data, dict) and data.get("ansible_inventory"):
        data = _with_ansible_connections(data, Path(path))
    return parse_site(data, path)


def _with_ansible_connections(data: dict, path: Path) -> dict:
    """The inventory data with each host's ssh settings filled in from the Ansible inventory
    it names (relative to this file); what the site says per host wins."""
    from stackproof.ansible_hosts import AnsibleInventoryError, connection_details
    source = Path(str(data["ansible_inventory"]))
    if not source.is_absolute():
        source = path.parent / source
    hosts = data.get("hosts")
    if not isinstance(hosts, dict):
        return data         # parse_site names the problem
    try:
        found = connection_details(source, [str(n) for n in hosts])
    except AnsibleInventoryError as exc:
        raise InventoryError(str(path), exc.problems) from None
    except Exception as exc:    # Ansible's own parse errors
        raise InventoryError(str(path), [f"ansible_inventory: {source}: Ansible cannot read "
                                         f"it: {' '.join(str(exc).split())[:300]}"]) from None
    merged = dict(data)
    merged["ansible_inventory"] = str(source)
    merged["hosts"] = {}
    for name, host in hosts.items():
        host = dict(host) if isinstance(host, dict) else host
        if isinstance(host, dict):
            own = host.get("ssh") if isinstance(host.get("ssh"), dict) else {}
            host["ssh"] = {**found.get(str(name), {}), **own}
        merged["hosts"][name] = host
    return merged
