"""Floating-IP checks: every hop `expect.floating_ip_plumbing` derives, against the hosts.

    routes      the fronting host's /32 over the underlay to the compute's hypervisor, and
                that hypervisor's /32 to the compute guest (more specific than the BGP /24)
    persisted   the same routes kept for boot: in the libvirt network's definition for a
                route into a NAT network, else in the OS family's route file
    addresses   the floating IP on the compute guest's external bridge (br-ex), so its
                kernel accepts the packet and NAT hands it to the instance
    reachable   each floating IP answers a ping (from the controller, from the fronting host)

The instance's own copy of its floating IP on `lo` is the Kubernetes layer's (kubelet needs
it as node IP; its fix writes the unit and restarts kubelet): it is not checked here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from stackproof.expect import floating_ip_plumbing
from stackproof.facts import routes as facts
from stackproof.facts.connectivity import ping_sweep
from stackproof.osfamily import profile
from stackproof.finding import Finding
from stackproof.remote import Remote
from stackproof.render.routes import FipRoute, fip_routes, keeper
from stackproof.site import Site


@dataclass(frozen=True)
class AddressHop:
    floating_ip: str
    instance: str
    cidr: str
    dev: str


def route_hops(site: Site, host: str) -> list[FipRoute]:
    return fip_routes(site, host)


def address_hops(site: Site, host: str) -> list[AddressHop]:
    """The floating IPs `host` must hold; instances are left to the Kubernetes layer."""
    if site.hosts[host].kind == "instance":
        return []
    return [AddressHop(p.floating_ip, p.instance, a.cidr, a.dev)
            for p in floating_ip_plumbing(site) for a in p.addresses.get(host, ())]


def reach_hosts(site: Site) -> dict[str, str]:
    """floating IP -> instance, for every floating IP the site routes."""
    return {p.floating_ip: p.instance for p in floating_ip_plumbing(site)}


def _instead(routes, hop: FipRoute) -> str:
    """What the kernel does with the packet without the /32: the report's two symptoms."""
    cover = facts.covering_route(routes, hop.floating_ip)
    if cover is None:
        return "no route covers it at all"
    text = f"it follows `{cover.text(metric=False)}`"
    if not cover.gateways:
        return (f"{text}: the host ARPs for it on {cover.dev} and answers "
                f"Destination Host Unreachable")
    return f"{text}, to {', '.join(cover.gateways)} instead of {hop.route.via}"


def routes_in_place(site: Site, remote: Remote) -> Finding | None:
    """Each floating IP routed through this host has its /32 via the next hop, now."""
    hops = route_hops(site, remote.name)
    routes = facts.kernel_routes(remote)
    by_dst = {}
    for r in routes:
        by_dst.setdefault(r.dst, []).append(r)
    bad, problems = [], []
    for hop in hops:
        present = by_dst.get(hop.route.prefix, [])
        if any(hop.route.via in r.gateways for r in present):
            continue
        bad.append(hop)
        if present:
            problems.append(f"{hop.route.prefix} (floating IP of {hop.instance}) goes "
                            f"`{'; '.join(r.text(metric=False) for r in present)}`, expected via "
                            f"{hop.route.via}")
        else:
            problems.append(f"no route for {hop.route.prefix} (floating IP of {hop.instance})"
                            f" via {hop.route.via}; {_instead(routes, hop)}")
    if not bad:
        return None
    return Finding("fip_route", remote.name, "; ".join(problems),
                   {"routes": [_route_params(h) for h in bad], "runtime": True,
                    "persist": False},
                   {"expected": [asdict(h) for h in hops],
                    "kernel routes": [asdict(r) for r in routes]})


def _route_params(hop: FipRoute) -> dict:
    return {"prefix": hop.route.prefix, "via": hop.route.via, "dev": hop.route.dev,
            "floating_ip": hop.floating_ip, "instance": hop.instance}


def routes_persisted(site: Site, remote: Remote) -> Finding | None:
    """The same routes come back at boot: in the libvirt network's definition for a route
    into a NAT network, else in the OS family's route file."""
    hops = route_hops(site, remote.name)
    if not hops:
        return None
    family = profile(site, remote.name).family
    bad, seen = [], {}
    for h in hops:
        k = keeper(site, remote.name, family, h.route)
        if k.kind == "libvirt":
            net = facts.network_routes(remote, k.target)
            kept, seen[k.describe()] = net.routes, sorted(net.routes) if net.exists \
                else f"no such network: {net.error}"
        else:
            files = facts.persisted_routes(remote, family)
            kept, seen[k.describe()] = files.routes, {"files read": sorted(files.files),
                                                      "routes kept": sorted(files.routes)}
        if (h.route.prefix, h.route.via) not in kept:
            bad.append((h, k))
    if not bad:
        return None
    return Finding("fip_route", remote.name,
                   "not kept for boot: " + "; ".join(
                       f"{h.route.prefix} via {h.route.via} (expected in {k.describe()})"
                       for h, k in bad) + ": gone after the next reboot",
                   {"routes": [_route_params(h) for h, _ in bad], "runtime": False,
                    "persist": True},
                   {"kept": seen})


def addresses_in_place(site: Site, remote: Remote) -> Finding | None:
    """Each floating IP this host must hold is on its device, as a /32."""
    hops = address_hops(site, remote.name)
    links = facts.addresses(remote)
    bad, problems = [], []
    for hop in hops:
        ip, plen = hop.cidr.split("/")
        on_dev = [a for a in links.on(hop.dev) if a.address == ip]
        if any(a.prefixlen == int(plen) for a in on_dev):
            continue
        elsewhere = [a for a in links.holding(ip) if a.dev != hop.dev]
        if hop.dev not in links.devices:
            why = f"there is no device {hop.dev} (the external bridge: see the overlay layer)"
        elif on_dev:
            why = f"{hop.dev} holds it as {', '.join(a.cidr for a in on_dev)}, not {hop.cidr}"
        else:
            why = f"{hop.dev} does not hold it"
        if elsewhere:
            why += f" (it is on {', '.join(a.dev for a in elsewhere)})"
        problems.append(f"floating IP {hop.cidr} of {hop.instance}: {why}; the kernel does "
                        f"not accept packets for it")
        bad.append({"cidr": hop.cidr, "dev": hop.dev, "instance": hop.instance,
                    "device_exists": hop.dev in links.devices,
                    "wrong": [a.cidr for a in on_dev]})
    if not bad:
        return None
    return Finding("fip_address", remote.name, "; ".join(problems), {"addresses": bad},
                   {"expected": [asdict(h) for h in hops],
                    "addresses": [asdict(a) for a in links.addresses],
                    "devices": links.devices})


def floating_ips_reachable(site: Site, remote: Remote) -> Finding | None:
    """Every floating IP of the site answers a ping from this host."""
    targets = reach_hosts(site)
    results = ping_sweep(remote, tuple(targets))
    down = [r.address for r in results if not r.reachable]
    if not down:
        return None
    return Finding("fip_reachability", remote.name,
                   f"{remote.name} cannot reach " + ", ".join(
                       f"{ip} (floating IP of {targets[ip]})" for ip in down),
                   {"unreachable": down}, {"ping": [asdict(r) for r in results]})
