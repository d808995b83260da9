"""Expectation: the path a packet should take through the site, hop by hop, from the model.

    expected_path(site, "hv-a", "198.51.100.7") -> ExpectedPath(hops=(
        PathHop(host="hv-a", dev=<underlay if>, via=<hv-b underlay>, next="hv-b",
                why="BGP route for <hv-b NAT /24> from hv-b"),
        PathHop(host="hv-b", iif=<underlay if>, dev=<NAT bridge>, next="guest-1", ...)),
        arrives="guest-1")

Pure data from the site model (NAT networks, BGP-learned prefixes, the floating-IP /32
plumbing, the external network, the underlay and its gateway); nothing here reads a host.
`stackproof.checks.trace` compares each hop with the host's live decision.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from stackproof.expect import floating_ip_plumbing, learned_prefixes
from stackproof.site import Site

MAX_HOPS = 8


class PathError(ValueError):
    """The model has no path for this source and destination (named in the message)."""


@dataclass(frozen=True)
class PathHop:
    host: str                  # the inventory host that decides
    dst: str
    src: str                   # the packet's source address (before any NAT)
    iif: str | None            # where the packet comes in (None: the host sends it)
    dev: str                   # where it must leave
    via: str | None            # the next hop's address (None: on the link)
    next: str | None           # the inventory host it goes to (None: leaves the site)
    why: str                   # what in the model makes this the route


@dataclass(frozen=True)
class ExpectedPath:
    src_host: str
    dst: str
    what: str                  # what the destination is, in the model's words
    hops: tuple[PathHop, ...]
    arrives: str | None        # the inventory host that holds dst (None: outside the site)
    arrives_iif: str | None    # where it comes in there


def _ip(value) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(str(value))


def host_with_address(site: Site, address: str) -> str | None:
    """The inventory host whose own address (underlay or guest address) this is."""
    for name in site.hosts:
        if site.hosts[name].kind != "instance" and str(site.address_of(name)) == address:
            return name
    return None


def describe(site: Site, dst: str) -> tuple[str | None, str]:
    """(the host holding dst, what dst is), e.g. ("hv-b", "NAT gateway default of hv-b")."""
    for p in floating_ip_plumbing(site):
        if p.floating_ip == dst:
            holders = [h for h, addrs in p.addresses.items() if h != p.instance and addrs]
            return (holders[0] if holders else None), f"floating IP of {p.instance}"
    owner = host_with_address(site, dst)
    if owner is not None:
        h = site.hosts[owner]
        kind = "underlay address" if h.kind == "physical" else "guest"
        return owner, f"{kind} of {owner}" if kind != "guest" else f"guest {owner}"
    for name, h in site.physical_hosts().items():
        for nw in h.nat_networks:
            if str(nw.gateway) == dst:
                return name, f"NAT gateway {nw.name} of {name}"
    if site.openstack and str(site.openstack.external_network.gateway) == dst:
        g = site.openstack.external_network.gateway_on
        return g.host, f"external network gateway on {g.host}/{g.bridge}"
    if site.underlay.gateway is not None and str(site.underlay.gateway) == dst:
        return None, "the underlay gateway (the way out)"
    return None, "an address outside the site"


def _decide(site: Site, host: str, dst: str) -> tuple[str, str | None, str | None, str]:
    """(dev, via, next host, why) for a packet to dst leaving `host`, as the model says."""
    h = site.hosts[host]
    ip = _ip(dst)
    if h.kind == "guest":
        nw = site.nat_network(h.hypervisor, h.network)
        if ip in nw.cidr:
            owner, _ = describe(site, dst)
            return h.interface, None, owner, f"its NAT network {nw.name}"
        return h.interface, str(nw.gateway), h.hypervisor, \
            f"default route via its NAT gateway {nw.gateway}"
    if h.kind != "physical":
        raise PathError(f"{host}: tracing from a {h.kind} is not supported")
    for nw in h.nat_networks:
        if ip in nw.cidr:
            owner = host_with_address(site, dst)
            return nw.bridge, None, owner, f"connected NAT network {nw.name}"
    for p in floating_ip_plumbing(site):
        if p.floating_ip == dst and host in p.routes:
            via = p.routes[host][0].via
            nxt = host_with_address(site, via)
            dev = h.underlay.interface
            for nw in h.nat_networks:
                if _ip(via) in nw.cidr:
                    dev = nw.bridge
            return dev, via, nxt, f"/32 for {dst} (floating IP of {p.instance})"
    if site.openstack:
        ext = site.openstack.external_network
        if ip in ext.cidr and ext.gateway_on.host == host:
            return ext.gateway_on.bridge, None, None, \
                f"external network {ext.name} on {ext.gateway_on.bridge}"
    for lp in learned_prefixes(site, host):
        if ip in ipaddress.IPv4Network(lp.prefix):
            return h.underlay.interface, lp.via, lp.origin, \
                f"BGP route for {lp.prefix} from {lp.origin}"
    if ip in site.underlay_cidr:
        return h.underlay.interface, None, host_with_address(site, dst), "the underlay"
    if site.underlay.gateway is None:
        raise PathError(f"{host}: the model has no route to {dst} (no underlay gateway)")
    return h.underlay.interface, str(site.underlay.gateway), None, \
        f"default route via the underlay gateway {site.underlay.gateway}"


def _ingress(site: Site, host: str, previous: str) -> str | None:
    """The device on `host` that faces `previous`."""
    h, p = site.hosts[host], site.hosts[previous]
    if h.kind == "guest":
        return h.interface
    if h.kind == "physical":
        if p.kind == "guest" and p.hypervisor == host:
            return site.nat_network(host, p.network).bridge
        return h.underlay.interface
    return None


def _source_address(site: Site, host: str, dev: str) -> str:
    h = site.hosts[host]
    if h.kind == "physical" and dev != h.underlay.interface:
        for nw in h.nat_networks:
            if nw.bridge == dev:
                return str(nw.gateway)
    return str(site.address_of(host))


def expected_path(site: Site, src_host: str, dst: str) -> ExpectedPath:
    if src_host not in site.hosts:
        raise PathError(f"{src_host}: not a host of this inventory")
    try:
        _ip(dst)
    except ValueError:
        raise PathError(f"{dst}: not an IPv4 address or an inventory host") from None
    owner, what = describe(site, dst)
    hops: list[PathHop] = []
    host, iif, src = src_host, None, None
    while host != owner:
        if len(hops) >= MAX_HOPS or any(hop.host == host for hop in hops):
            raise PathError(f"the model loops at {host} on the way to {dst}")
        dev, via, nxt, why = _decide(site, host, dst)
        src = src or _source_address(site, host, dev)
        hops.append(PathHop(host, dst, src, iif, dev, via, nxt, why))
        if nxt is None:
            return ExpectedPath(src_host, dst, what, tuple(hops), None, None)
        iif, host = _ingress(site, nxt, host), nxt
    return ExpectedPath(src_host, dst, what, tuple(hops), owner, iif)


def resolve_destination(site: Site, dst: str) -> str:
    """An inventory host name becomes its address (an instance: its floating IP)."""
    if dst in site.hosts:
        h = site.hosts[dst]
        if h.kind == "instance":
            if h.floating_ip is None:
                raise PathError(f"{dst}: an instance without a floating IP")
            return str(h.floating_ip)
        return str(site.address_of(dst))
    return dst
