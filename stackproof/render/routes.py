"""Static routes as a host keeps them across reboots: pure text, no host access.

A route whose gateway sits on a libvirt NAT network (the compute hypervisor's /32 towards
its compute guest) goes into that network's definition, `<route address= prefix=
gateway=/>`: libvirt adds it whenever it starts the network (at boot: autostart), and
neither network-scripts nor ifupdown ever brings up a libvirt bridge. Any other route (the
fronting host's /32 over the underlay NIC) is kept the OS family's way. RHEL-like hosts (network-scripts) read `/etc/sysconfig/network-scripts/route-<dev>`, one route
a line in `ip route` syntax (`<prefix> via <gw> dev <dev>`), when <dev> comes up. Debian-like
hosts (ifupdown) read `/etc/network/interfaces`: stackproof keeps its routes in a marked
block at its end, one `iface <dev> inet manual` stanza per device with an `up ip route
replace ...` line per route (ifupdown applies every stanza given for an interface). Not a
file in interfaces.d: Debian's `source /etc/network/interfaces.d/*` would also read the
backups a remediation leaves next to it, stale routes included.

Used by the floating-IP checks and remediation (stackproof/checks/floating_ip.py,
remediations/fip_route.py) and by the lab, which builds the healthy site the same way. The
routes an existing file already keeps (so a merge adds none twice) are read with
stackproof.route_files, the routing facts' reader too.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from stackproof.expect import floating_ip_plumbing
from stackproof.route_files import parse_libvirt_routes, parse_persisted
from stackproof.site import Site

RHEL_DIR = "/etc/sysconfig/network-scripts"
DEBIAN_FILE = "/etc/network/interfaces"
DEBIAN_SOURCES = ("/etc/network/interfaces", "/etc/network/interfaces.d/*")
BEGIN = "# --- stackproof: /32 routes for the site's floating IPs (the report's DVR fixes) ---"
END = "# --- stackproof: end ---"


@dataclass(frozen=True)
class StaticRoute:
    prefix: str                # "a.b.c.d/len"
    via: str
    dev: str                   # the device the gateway sits on


@dataclass(frozen=True)
class Keeper:
    """Where a route is kept for boot: a libvirt network's definition, or an OS family's
    route file."""
    kind: str                  # "libvirt" | "rhel" | "debian"
    target: str                # the network's name, or the file's path

    def describe(self) -> str:
        return (f"libvirt network {self.target} (virsh net-dumpxml --inactive)"
                if self.kind == "libvirt" else self.target)


@dataclass(frozen=True)
class FipRoute:
    floating_ip: str
    instance: str
    route: StaticRoute


def gateway_device(site: Site, host: str, gateway: str) -> str | None:
    """The device of `host` on whose network `gateway` sits: the underlay interface, a NAT
    bridge, or a guest's own interface (from the site model, never from the host)."""
    ip = ipaddress.IPv4Address(gateway)
    h = site.hosts[host]
    if h.kind == "physical":
        if ip in site.underlay_cidr:
            return h.underlay.interface
        return next((nw.bridge for nw in h.nat_networks if ip in nw.cidr), None)
    if h.kind == "guest":
        nw = site.nat_network(h.hypervisor, h.network)
        return h.interface if ip in nw.cidr else None
    return None


def fip_routes(site: Site, host: str) -> list[FipRoute]:
    """The /32 routes `host` carries for the site's floating IPs (expect.floating_ip_plumbing),
    each with the device its gateway sits on."""
    out = []
    for p in floating_ip_plumbing(site):
        for r in p.routes.get(host, ()):
            dev = r.dev or gateway_device(site, host, r.via) or ""
            out.append(FipRoute(p.floating_ip, p.instance, StaticRoute(r.prefix, r.via, dev)))
    return out


def keeper(site: Site, host: str, family: str, route: StaticRoute) -> Keeper:
    h = site.hosts[host]
    if h.kind == "physical":
        net = next((nw.name for nw in h.nat_networks if nw.bridge == route.dev), None)
        if net is not None:
            return Keeper("libvirt", net)
    return Keeper(family, persist_path(family, route.dev))


def persist_path(family: str, dev: str) -> str:
    """The file the OS family reads the route from at boot."""
    return f"{RHEL_DIR}/route-{dev}" if family == "rhel" else DEBIAN_FILE


def persist_globs(family: str) -> tuple[str, ...]:
    """Every file that can hold a persistent route on this OS family (shell globs)."""
    return (f"{RHEL_DIR}/route-*",) if family == "rhel" else DEBIAN_SOURCES


def route_line(family: str, r: StaticRoute) -> str:
    if family == "rhel":
        return f"{r.prefix} via {r.via} dev {r.dev}"
    return f"    up ip route replace {r.prefix} via {r.via} dev {r.dev}"


def render_persisted(family: str, existing: str | None, routes: list[StaticRoute]) -> str:
    """The file's new text with `routes` in it. RHEL: the operator's route-<dev> file with
    missing lines appended (nothing else changes). Debian: /etc/network/interfaces with
    stackproof's marked block (re)written at its end, one stanza per device, the block's
    earlier lines kept; the rest of the file is left as it was."""
    if family == "rhel":
        text = existing or ""
        have = parse_persisted("rhel", {"f": text})
        add = [route_line("rhel", r) for r in routes if (r.prefix, r.via) not in have]
        if not add:
            return text
        if text and not text.endswith("\n"):
            text += "\n"
        return text + "\n".join(add) + "\n"
    outside, block, inside = [], [], False
    for raw in (existing or "").splitlines():
        if raw.strip() == BEGIN:
            inside = True
        elif raw.strip() == END:
            inside = False
        else:
            (block if inside else outside).append(raw)
    stanzas: dict[str, list[str]] = {}
    current = None
    for raw in block:
        m = re.match(r"^\s*iface\s+(\S+)\s", raw)
        if m:
            current = stanzas.setdefault(m.group(1), [])
        elif raw.strip() and not raw.lstrip().startswith("#") and current is not None:
            if raw.rstrip() not in current:
                current.append(raw.rstrip())
    have = parse_persisted("debian", {"f": "\n".join(block)})
    for r in routes:
        if (r.prefix, r.via) not in have:
            stanzas.setdefault(r.dev, []).append(route_line("debian", r))
    while outside and not outside[-1].strip():
        outside.pop()
    out = [*outside, ""] if outside else []
    out.append(BEGIN)
    for dev, lines in stanzas.items():
        out += [f"iface {dev} inet manual", *lines]
    out.append(END)
    return "\n".join(out) + "\n"


# --- libvirt network definitions -----------------------------------------------------------
def libvirt_route_element(r: StaticRoute) -> str:
    address, _, plen = r.prefix.partition("/")
    return f"<route address='{address}' prefix='{plen or 32}' gateway='{r.via}'/>"


def with_libvirt_routes(xml_text: str, routes: list[StaticRoute]) -> str:
    """The network definition with the missing `<route>` elements added before
    `</network>`; everything else byte for byte as it was."""
    have = parse_libvirt_routes(xml_text)
    add = [r for r in routes if (r.prefix, r.via) not in have]
    if not add:
        return xml_text
    end = xml_text.rindex("</network>")
    lines = "".join(f"  {libvirt_route_element(r)}\n" for r in add)
    head = xml_text[:end]
    if not head.endswith("\n"):
        head += "\n"
    return head + lines + xml_text[end:]
