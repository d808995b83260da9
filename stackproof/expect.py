"""Expectations derived from the site model: pure functions, computed once, plain data.

Nothing here reads a host. Steps compare facts against these records; remediations render
fixes from them; the lab builds the site from them.
"""
from __future__ import annotations

import ipaddress
from typing import Collection, Mapping
from dataclasses import dataclass

from stackproof.site import Site


@dataclass(frozen=True)
class BgpNeighbor:
    peer: str                      # inventory name of the peer host
    address: str
    remote_as: int
    update_source: str             # the local underlay interface
    next_hop_self: bool
    route_map: str | None          # eBGP needs a policy in FRR (ebgp-requires-policy)
    route_reflector_client: bool = False   # this host reflects routes to the peer


@dataclass(frozen=True)
class BgpIntent:
    host: str
    asn: int
    router_id: str
    neighbors: tuple[BgpNeighbor, ...]
    redistribute_connected: bool
    keepalive: int
    hold: int


@dataclass(frozen=True)
class LearnedPrefix:
    prefix: str                    # e.g. a remote NAT /24
    via: str                       # the next hop: the originating host's underlay address
    origin: str                    # inventory name of the host that owns the prefix


@dataclass(frozen=True)
class VxlanPort:
    name: str                      # neutron's name: vxlan-<remote ip as 8 hex digits>
    local_ip: str
    remote_ip: str
    peer: str


@dataclass(frozen=True)
class IptablesRule:
    """One rule in iptables-save's canonical spelling, so it compares with `iptables-save`."""
    table: str
    chain: str
    spec: str                      # e.g. "-s 10.0.0.0/24 -d 10.1.0.0/24 -j ACCEPT"
    first: bool                    # must sit ahead of the chain's REJECT/DROP rules
    why: str


@dataclass(frozen=True)
class Route:
    prefix: str
    via: str | None = None
    dev: str | None = None


@dataclass(frozen=True)
class Address:
    cidr: str                      # address with prefix length, e.g. "192.0.2.1/32"
    dev: str


@dataclass(frozen=True)
class FloatingIpPlumbing:
    """Every hop a floating IP needs, host by host (the report's DVR fixes)."""
    floating_ip: str
    instance: str
    routes: dict[str, tuple[Route, ...]]       # host -> /32 routes
    addresses: dict[str, tuple[Address, ...]]  # host -> addresses


def vxlan_port_name(remote_ip: str, tunnel_type: str = "vxlan") -> str:
    """Neutron's tunnel port name: the type and the remote IPv4 address as 8 hex digits."""
    return f"{tunnel_type}-{int(ipaddress.IPv4Address(remote_ip)):08x}"


def bgp_hosts(site: Site) -> list[str]:
    return [n for n, h in site.physical_hosts().items() if "bgp" in h.roles]


def bgp_peers(site: Site, host: str) -> list[str]:
    """Whom `host` peers with: everyone (a full mesh); with route reflectors, a client only
    the reflectors, a reflector everyone."""
    rrs = site.bgp.route_reflectors
    others = [p for p in bgp_hosts(site) if p != host]
    if not rrs or host in rrs:
        return others
    return [p for p in others if p in rrs]


def bgp_intent(site: Site, host: str) -> BgpIntent:
    me = site.hosts[host]
    ebgp = site.bgp.mode == "ebgp"
    rrs = site.bgp.route_reflectors
    neighbors = tuple(
        BgpNeighbor(peer=p, address=str(site.hosts[p].underlay.address),
                    remote_as=site.asn_of(p), update_source=me.underlay.interface,
                    next_hop_self=not ebgp, route_map="ALLOW_ALL" if ebgp else None,
                    route_reflector_client=host in rrs and p not in rrs)
        for p in bgp_peers(site, host))
    return BgpIntent(host=host, asn=site.asn_of(host), router_id=str(me.underlay.address),
                     neighbors=neighbors, redistribute_connected=True,
                     keepalive=site.bgp.timers.keepalive, hold=site.bgp.timers.hold)


def connected_prefixes(site: Site, host: str) -> list[str]:
    """Prefixes a physical host redistributes: its NAT networks, and the external network
    where its gateway lives on one of this host's bridges."""
    h = site.hosts[host]
    out = [str(nw.cidr) for nw in h.nat_networks]
    ext = site.openstack.external_network if site.openstack else None
    if ext and ext.gateway_on.host == host:
        out.append(str(ext.cidr))
    return out


def learned_prefixes(site: Site, host: str) -> list[LearnedPrefix]:
    """What `host` must learn over BGP: every other BGP host's connected prefixes. Through a
    route reflector too, and via the origin's own address: a reflector does not change the
    next hop of the routes it reflects (next-hop-self applies to its own routes only)."""
    return [LearnedPrefix(prefix=p, via=str(site.hosts[o].underlay.address), origin=o)
            for o in bgp_hosts(site) if o != host for p in connected_prefixes(site, o)]


def overlay_endpoints(site: Site) -> dict[str, str]:
    """Hosts running the OVS agent and their tunnel local_ip."""
    return {n: str(site.address_of(n)) for n in site.with_role("ovs_agent")}


def vxlan_mesh(site: Site, host: str) -> list[VxlanPort]:
    eps = overlay_endpoints(site)
    kind = site.overlay.tunnel_types[0]
    return [VxlanPort(name=vxlan_port_name(ip, kind), local_ip=eps[host], remote_ip=ip, peer=p)
            for p, ip in eps.items() if p != host]


def l2pop_peers(site: Site, host: str, hosts_by_network: Mapping[str, Collection[str]],
                ) -> set[str]:
    """Neutron's l2population rule: the endpoints hosting an ACTIVE port on a network on
    which `host` hosts one too (the server sends an agent fdb entries, and with them its
    tunnels, only for networks it has ports on)."""
    eps = overlay_endpoints(site)
    return {p for hosts in hosts_by_network.values() if host in hosts
            for p in hosts if p != host and p in eps}


def vxlan_tunnels(site: Site, host: str,
                  hosts_by_network: Mapping[str, Collection[str]] | None = None,
                  ) -> list[VxlanPort]:
    """The tunnel ports the Neutron OVS agent on `host` builds. Without l2_population it
    takes every endpoint tunnel_sync returns: a full mesh. With l2_population it builds a
    tunnel only from fdb entries: to every endpoint that hosts a port on a network this
    node also hosts (`hosts_by_network`: network -> hosts with an ACTIVE bound port, from
    the API; required for an l2_population host)."""
    mesh = vxlan_mesh(site, host)
    if host not in site.overlay.l2_population:
        return mesh
    if hosts_by_network is None:
        raise ValueError(f"{host} uses l2_population: its tunnels follow the port bindings")
    peers = l2pop_peers(site, host, hosts_by_network)
    return [t for t in mesh if t.peer in peers]


# --- the Open vSwitch layout the Neutron OVS agent builds (render/ovs.py makes its commands) ---
@dataclass(frozen=True)
class PatchPair:
    """Two patch ports that must name each other as peer."""
    bridge: str            # e.g. br-int
    port: str              # e.g. patch-tun, on `bridge`
    peer_bridge: str       # e.g. br-tun
    peer: str              # e.g. patch-int, on `peer_bridge`


@dataclass(frozen=True)
class OvsLayout:
    """What the agent makes on a node: br-int and br-tun (fail_mode secure), the operator's
    physical bridges (bridge_mappings, e.g. br-ex), the patch pairs joining them to br-int,
    and one tunnel port per other endpoint."""
    host: str
    integration_bridge: str
    tunnel_bridge: str | None              # None: the site has no tunnel types
    physical_bridges: tuple[str, ...]      # bridge_mappings targets (br-ex)
    patches: tuple[PatchPair, ...]
    tunnels: tuple[VxlanPort, ...]
    tunnel_type: str
    udp_port: int

    @property
    def bridges(self) -> tuple[str, ...]:
        out = [self.integration_bridge]
        if self.tunnel_bridge:
            out.append(self.tunnel_bridge)
        return (*out, *self.physical_bridges)

    def patch_named(self, port: str) -> PatchPair | None:
        return next((p for p in self.patches if p.port == port), None)


def _short(name: str) -> str:
    # Neutron's int-/phy- names are cut to 15 characters (IFNAMSIZ - 1), as here
    return name[:15]


def physical_bridges(site: Site, host: str) -> dict[str, str]:
    """physnet -> bridge: where the external network leaves this node (bridge_mappings)."""
    if site.openstack is None or "ovs_agent" not in site.hosts[host].roles:
        return {}
    return {site.openstack.external_network.physical_network: site.overlay.external_bridge}


def ovs_layout(site: Site, host: str) -> OvsLayout:
    ov = site.overlay
    tunnels = bool(ov.tunnel_types)
    patches = []
    if tunnels:
        patches.append(PatchPair(ov.integration_bridge, "patch-tun", ov.tunnel_bridge,
                                 "patch-int"))
        patches.append(PatchPair(ov.tunnel_bridge, "patch-int", ov.integration_bridge,
                                 "patch-tun"))
    phys = tuple(physical_bridges(site, host).values())
    for br in phys:
        patches.append(PatchPair(ov.integration_bridge, _short(f"int-{br}"), br,
                                 _short(f"phy-{br}")))
        patches.append(PatchPair(br, _short(f"phy-{br}"), ov.integration_bridge,
                                 _short(f"int-{br}")))
    return OvsLayout(host=host, integration_bridge=ov.integration_bridge,
                     tunnel_bridge=ov.tunnel_bridge if tunnels else None,
                     physical_bridges=phys, patches=tuple(patches),
                     tunnels=tuple(vxlan_mesh(site, host)) if tunnels else (),
                     tunnel_type=ov.tunnel_types[0], udp_port=ov.udp_port)


def message_bus(site: Site, host: str) -> set[str]:
    """Addresses under which `host`'s Neutron agent may name the OpenStack message bus: the
    controller's (where RabbitMQ runs), and loopback on the controller itself."""
    ctl = site.with_role("openstack_controller")
    if not ctl:
        return set()
    return {str(site.address_of(ctl[0]))} | ({"127.0.0.1", "localhost"} if host == ctl[0]
                                              else set())


def remote_compute_hypervisors(site: Site) -> dict[str, list[str]]:
    """Physical hosts (other than the one fronting the external network) that run compute
    guests, with those guests: the report's third host."""
    front = site.openstack.external_network.gateway_on.host if site.openstack else None
    out: dict[str, list[str]] = {}
    for g in site.with_role("nova_compute"):
        hv = site.hypervisor_of(g)
        if hv and hv != front and site.hosts[g].kind == "guest":
            out.setdefault(hv, []).append(g)
    return out


def iptables_rules(site: Site, host: str) -> list[IptablesRule]:
    """Every iptables rule the report added on `host`, in iptables-save spelling."""
    h = site.hosts[host]
    port = site.overlay.udp_port
    vxlan_in = IptablesRule("filter", "INPUT", f"-p udp -m udp --dport {port} -j ACCEPT", True,
                            "VXLAN between overlay nodes")
    if h.kind == "guest":
        return [vxlan_in] if "ovs_agent" in h.roles else []
    if h.kind != "physical":
        return []
    under = str(site.underlay_cidr)
    rules: list[IptablesRule] = []
    for nw in h.nat_networks:
        rules.append(IptablesRule("filter", "LIBVIRT_FWI", f"-s {under} -d {nw.cidr} -j ACCEPT",
                                  True, f"underlay into NAT network {nw.name}"))
        rules.append(IptablesRule("filter", "LIBVIRT_FWO", f"-s {nw.cidr} -d {under} -j ACCEPT",
                                  True, f"NAT network {nw.name} out to the underlay"))
    guests_here = [g for g, gh in site.guests().items() if gh.hypervisor == host]
    runs_openstack = any("ovs_agent" in site.hosts[g].roles for g in guests_here)
    if site.openstack and runs_openstack:
        ext = str(site.openstack.external_network.cidr)
        rules += [
            IptablesRule("filter", "LIBVIRT_FWI", f"-s {under} -d {ext} -j ACCEPT", True,
                         "underlay into the external network"),
            IptablesRule("filter", "FORWARD", f"-s {ext} -j ACCEPT", True,
                         "traffic from the external network"),
            IptablesRule("filter", "FORWARD",
                         f"-d {ext} -m state --state RELATED,ESTABLISHED -j ACCEPT", True,
                         "replies to the external network"),
            IptablesRule("nat", "POSTROUTING", f"-s {ext} -j MASQUERADE", False,
                         "external network leaves NATed"),
        ]
    for g in remote_compute_hypervisors(site).get(host, []):
        nw = site.nat_network(host, site.hosts[g].network)
        gip = site.hosts[g].address
        rules += [
            IptablesRule("filter", "FORWARD",
                         "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", True,
                         "replies through the compute NAT"),
            IptablesRule("filter", "FORWARD", f"-s {nw.cidr} -j ACCEPT", True,
                         f"compute NAT {nw.name} out"),
            IptablesRule("filter", "FORWARD", f"-d {nw.cidr} -j ACCEPT", True,
                         f"compute NAT {nw.name} in"),
            IptablesRule("nat", "POSTROUTING", f"-s {nw.cidr} ! -d {under} -j MASQUERADE",
                         False, "compute NAT leaves NATed, except towards the underlay"),
            IptablesRule("filter", "FORWARD", f"-d {gip}/32 -p udp -m udp --dport {port} "
                         "-j ACCEPT", True, f"VXLAN to {g}"),
            IptablesRule("filter", "FORWARD", f"-s {gip}/32 -p udp -m udp --sport {port} "
                         "-j ACCEPT", True, f"VXLAN from {g}"),
        ]
    if site.with_role("ovs_agent"):        # a site without overlay nodes has no VXLAN
        rules.append(vxlan_in)
    # one rule per spec: two reasons can ask for the same rule
    seen, unique = set(), []
    for r in rules:
        if (r.table, r.chain, r.spec) not in seen:
            seen.add((r.table, r.chain, r.spec))
            unique.append(r)
    return unique


def floating_ip_plumbing(site: Site) -> list[FloatingIpPlumbing]:
    """The /32 routes and addresses each floating IP needs across hosts.

    The fronting host (where the external gateway lives) routes the /32 over the underlay to
    the hypervisor of the instance's compute node; that hypervisor routes it to the compute
    guest (more specific than the BGP-learned external /24); the compute guest holds it on
    its external bridge; the instance holds it on lo so kubelet accepts it as node IP.
    """
    if not site.openstack:
        return []
    front = site.openstack.external_network.gateway_on.host
    out = []
    for name, inst in site.instances().items():
        if inst.floating_ip is None:
            continue
        fip = str(inst.floating_ip)
        compute = inst.compute
        hv = site.hypervisor_of(name)       # the compute's hypervisor, or the compute itself
        routes: dict[str, tuple[Route, ...]] = {}
        addresses: dict[str, tuple[Address, ...]] = {name: (Address(f"{fip}/32", "lo"),)}
        if hv != front:
            routes[front] = (Route(f"{fip}/32", via=str(site.hosts[hv].underlay.address)),)
            if compute != hv:      # a compute guest: its hypervisor hands the /32 on to it
                routes[hv] = (Route(f"{fip}/32", via=str(site.address_of(compute))),)
            addresses[compute] = (Address(f"{fip}/32", site.overlay.external_bridge),)
        out.append(FloatingIpPlumbing(fip, name, routes, addresses))
    return out


@dataclass(frozen=True)
class TimeIntent:
    server: str | None             # None: this host is the time server
    serves: bool                   # `local stratum 10` + `allow`: the report's controller


def time_intent(site: Site, host: str) -> TimeIntent | None:
    if site.time is None:
        return None
    if host == site.time.server:
        return TimeIntent(server=None, serves=True)
    return TimeIntent(server=site.time.server, serves=False)


# --- Kubernetes nodes (render/kubelet.py writes their files) ---------------------------------
KUBE_API_PORT = 6443               # kubeadm's API server port, when the inventory names none


@dataclass(frozen=True)
class KubeletIntent:
    host: str
    node: str
    node_ip: str                 # the inventory's internal_ip
    control_plane: bool
    on_lo: bool                  # the node IP is the instance's floating IP: held on lo

    @property
    def joins(self) -> bool:
        """A worker: joined with `kubeadm join` and a JoinConfiguration."""
        return not self.control_plane


def kubelet_intent(site: Site, host: str) -> KubeletIntent | None:
    if site.kubernetes is None:
        return None
    node = next((n for n in site.kubernetes.nodes if n.host == host), None)
    if node is None:
        return None
    h = site.hosts[host]
    fip = h.floating_ip if h.kind == "instance" else None
    return KubeletIntent(host=host, node=node.name, node_ip=str(node.internal_ip),
                         control_plane="kube_control_plane" in h.roles,
                         on_lo=fip is not None and fip == node.internal_ip)


def kube_node_hosts(site: Site) -> list[str]:
    """Inventory hosts that run a Kubernetes node."""
    if site.kubernetes is None:
        return []
    return [n.host for n in site.kubernetes.nodes if n.host is not None and n.host in site.hosts]


def floating_node_ip_hosts(site: Site) -> list[str]:
    """Hosts whose node IP is their floating IP (it must sit on lo, re-added at boot)."""
    return [h for h in kube_node_hosts(site) if kubelet_intent(site, h).on_lo]


def api_endpoint(site: Site) -> str:
    """host:port of the API server the workers join (the inventory's, else the first
    control-plane host's address on the standard port)."""
    k = site.kubernetes
    if k.api_endpoint:
        return k.api_endpoint
    cp = next((h for h in kube_node_hosts(site) if kubelet_intent(site, h).control_plane), None)
    if cp is None:
        raise ValueError("kubernetes.api_endpoint is not set and no node runs on a host "
                         "with role kube_control_plane")
    return f"{site.address_of(cp)}:{KUBE_API_PORT}"


def site_networks(site: Site) -> list[str]:
    """Every IPv4 network of the site: underlay, NAT networks, OpenStack networks."""
    nets = [str(site.underlay_cidr)]
    for h in site.physical_hosts().values():
        nets += [str(nw.cidr) for nw in h.nat_networks]
    if site.openstack:
        nets += [str(site.openstack.external_network.cidr),
                 str(site.openstack.tenant_network.cidr)]
    return list(dict.fromkeys(nets))


@dataclass(frozen=True)
class ReachTarget:
    address: str
    what: str                      # e.g. "NAT gateway default of host-b", "guest vm-1"


def reach_targets(site: Site, host: str) -> list[ReachTarget]:
    """What `host` must reach: from a physical host, every other physical host, its NAT
    gateways and its guests (the report's cross-host pings); from every host with a way out,
    the underlay's gateway (the report's `ping 8.8.8.8`, kept inside the site)."""
    h = site.hosts[host]
    out: list[ReachTarget] = []
    if h.kind == "physical":
        for o, oh in site.physical_hosts().items():
            if o == host:
                continue
            out.append(ReachTarget(str(oh.underlay.address), f"underlay address of {o}"))
            out += [ReachTarget(str(nw.gateway), f"NAT gateway {nw.name} of {o}")
                    for nw in oh.nat_networks]
            out += [ReachTarget(str(g.address), f"guest {gn} on {o}")
                    for gn, g in site.guests().items() if g.hypervisor == o]
    if h.kind != "instance" and site.underlay.gateway is not None:
        out.append(ReachTarget(str(site.underlay.gateway), "the underlay gateway (way out)"))
    return out


def router_gateway_port_address(site: Site) -> str:
    """The address the inventory router's gateway port takes on the external network: the
    lowest of the pool that is no inventory instance's floating IP (a random one may be, and
    that floating IP could then not be created)."""
    ext = site.openstack.external_network
    owned = {h.floating_ip for h in site.instances().values() if h.floating_ip is not None}
    address = ext.pool.start
    while address in owned:
        if address >= ext.pool.end:
            raise ValueError(f"openstack.external_network.pool: every address of "
                             f"{ext.pool.start}-{ext.pool.end} is an instance's floating IP: "
                             "none is left for the router's gateway")
        address += 1
    return str(address)


def external_gateway(site: Site) -> tuple[str, Address] | None:
    """The external network's gateway address on the host bridge that fronts it (the report's
    `ip addr add <gateway>/<len> dev <bridge>`): (host, address)."""
    if not site.openstack:
        return None
    ext = site.openstack.external_network
    return ext.gateway_on.host, Address(f"{ext.gateway}/{ext.cidr.prefixlen}",
                                        ext.gateway_on.bridge)
