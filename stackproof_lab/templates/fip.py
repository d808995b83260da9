"""The report's DVR fixes for floating IPs, host by host, and how each host keeps its routes
for boot.

For an instance whose compute node sits behind another hypervisor than the one fronting the
external network (the report's worker on compute2):
- the fronting host: `ip route add <fip>/32 via <that hypervisor's underlay address>`;
- that hypervisor, when the compute is its guest: `<fip>/32 via <the compute guest>`;
- the compute node: the floating IP on its external bridge (`dev br-ex`).
Every instance with a floating IP holds it on lo (kubelet's node IP).

Kept for boot the way the operator would: a route whose gateway is on a libvirt NAT network
goes into that network's definition (`<route address= prefix= gateway=/>`: libvirt adds it
when it starts the network); any other route in the OS family's own file, an `up ip route
replace` line under the device's stanza in /etc/network/interfaces (Debian) or a line of
/etc/sysconfig/network-scripts/route-<dev> (RHEL).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from stackproof.site import Site

RHEL_ROUTE_DIR = "/etc/sysconfig/network-scripts"      # network-scripts' route-<dev> files
DEBIAN_INTERFACES = "/etc/network/interfaces"          # ifupdown's file


@dataclass(frozen=True)
class Hop:
    """`ip route <prefix> via <via> dev <dev>` on a host, for one floating IP."""
    floating_ip: str
    instance: str
    prefix: str
    via: str
    dev: str


def front(site: Site) -> str | None:
    return site.openstack.external_network.gateway_on.host if site.openstack else None


def routed_instances(site: Site) -> list[tuple[str, str, str, str]]:
    """(instance, floating ip, compute, compute's hypervisor) of each instance whose floating
    IP lives behind another hypervisor than the fronting one."""
    out = []
    for name, inst in site.instances().items():
        if inst.floating_ip is None:
            continue
        hv = site.hypervisor_of(name)
        if hv != front(site):
            out.append((name, str(inst.floating_ip), inst.compute, hv))
    return out


def device_towards(site: Site, host: str, gateway: str) -> str:
    """The device of `host` on whose network `gateway` sits (underlay NIC or NAT bridge)."""
    ip = ipaddress.IPv4Address(gateway)
    h = site.hosts[host]
    if h.kind == "physical":
        if ip in site.underlay_cidr:
            return h.underlay.interface
        return next((nw.bridge for nw in h.nat_networks if ip in nw.cidr), "")
    if h.kind == "guest" and ip in site.nat_network(h.hypervisor, h.network).cidr:
        return h.interface
    return ""


def hops(site: Site, host: str) -> list[Hop]:
    """The /32 routes `host` carries."""
    out = []
    for inst, fip, compute, hv in routed_instances(site):
        if host == front(site):
            via = str(site.hosts[hv].underlay.address)
        elif host == hv and compute != hv:
            via = str(site.address_of(compute))
        else:
            continue
        out.append(Hop(fip, inst, f"{fip}/32", via, device_towards(site, host, via)))
    return out


def bridge_addresses(site: Site, host: str) -> list[tuple[str, str]]:
    """(address/32, device) a compute node holds on its external bridge."""
    return [(f"{fip}/32", site.overlay.external_bridge)
            for _, fip, compute, _ in routed_instances(site) if compute == host]


# --- kept for boot -----------------------------------------------------------------------------
def libvirt_network_of(site: Site, host: str, dev: str) -> str | None:
    """The NAT network whose bridge is `dev`, if the route's device is one."""
    h = site.hosts[host]
    if h.kind != "physical":
        return None
    return next((nw.name for nw in h.nat_networks if nw.bridge == dev), None)


def route_file(family: str, dev: str) -> str:
    return f"{RHEL_ROUTE_DIR}/route-{dev}" if family == "rhel" else DEBIAN_INTERFACES


def with_routes(family: str, text: str | None, routes: list[Hop]) -> str:
    """The route file's text with `routes` in it; what is there stays as it is."""
    text = text or ""
    lines = text.splitlines()
    if family == "rhel":
        add = [f"{r.prefix} via {r.via} dev {r.dev}" for r in routes
               if not any(ln.split()[:3] == [r.prefix, "via", r.via] for ln in lines)]
        return text if not add else \
            text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(add) + "\n"
    by_dev: dict[str, list[str]] = {}
    for r in routes:
        line = f"    up ip route replace {r.prefix} via {r.via} dev {r.dev}"
        if not any(ln.strip() == line.strip() for ln in lines):
            by_dev.setdefault(r.dev, []).append(line)
    for dev, new in by_dev.items():
        head = f"iface {dev} inet manual"
        at = next((i for i, ln in enumerate(lines) if ln.strip() == head), None)
        if at is None:
            lines += ([""] if lines else []) + \
                [f"# floating-IP /32 routes over {dev} (DVR: the instances behind other hosts)",
                 head, *new]
        else:
            lines[at + 1:at + 1] = new
    return "\n".join(lines) + "\n"


_ROUTE = re.compile(r"<route\b[^>]*\baddress=['\"]([^'\"]+)['\"][^>]*>")


def with_libvirt_routes(xml: str, routes: list[Hop]) -> str:
    """A network definition with a `<route>` per missing route, added before `</network>`."""
    have = set(_ROUTE.findall(xml))
    add = [r for r in routes if r.prefix.split("/")[0] not in have]
    if not add:
        return xml
    end = xml.rindex("</network>")
    head = xml[:end] if xml[:end].endswith("\n") else xml[:end] + "\n"
    ours = "".join(f"  <route address='{r.prefix.split('/')[0]}' prefix='32' "
                   f"gateway='{r.via}'/>\n" for r in add)
    return head + ours + xml[end:]
