"""Routing facts of a host: kernel routes, interface addresses, the routes kept for boot.

Kernel routes come from `ip -j -4 route show table main` (the BGP layer reads the same fact:
one query, one cache entry, whichever layer asks first). Addresses come from `ip -j addr
show` (every link, so a device without an IPv4 address is still seen to exist). The routes
kept for boot are read from the OS family's files and from libvirt's network definitions
(stackproof.render.routes says which keeps which; stackproof.route_files reads them).
"""
from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass

from stackproof.facts import fact, json_int, run_ok
from stackproof.facts.libvirt import VIRSH
from stackproof.remote import Remote
from stackproof.render.routes import persist_globs
from stackproof.route_files import parse_libvirt_routes, parse_persisted

KERNEL_ROUTES_CMD = "ip -j -4 route show table main"
ADDR_CMD = "ip -j addr show"
FILE_MARK = "@@stackproof-file "


@dataclass(frozen=True)
class KernelRoute:
    dst: str                   # "a.b.c.d/len", "default", or a host address with /32
    gateways: tuple[str, ...]  # one per next hop (ECMP routes have several)
    dev: str | None
    protocol: str              # kernel, boot, static, bgp, dhcp, ...
    metric: int | None
    scope: str | None = None

    def text(self, metric: bool = True) -> str:
        """The route as `ip route` prints it, for a finding's message (`metric=False`: where
        only the path matters)."""
        via = " ".join(f"via {g}" for g in self.gateways)
        parts = [self.dst, via, f"dev {self.dev}" if self.dev else "", f"proto {self.protocol}",
                 f"metric {self.metric}" if metric and self.metric is not None else ""]
        return " ".join(p for p in parts if p)


def _dst(raw: str) -> str:
    # `ip -j route` prints host routes without a length
    return raw if raw == "default" or "/" in raw else f"{raw}/32"


def parse_kernel_routes(text: str) -> tuple[KernelRoute, ...]:
    """`ip -j -4 route show table main`. iproute2 leaves `protocol` out for proto boot (the
    default of `ip route add`), so a missing protocol is `boot`."""
    routes = []
    for r in json.loads(text or "[]"):
        gws = tuple(nh["gateway"] for nh in r.get("nexthops", []) if "gateway" in nh)
        if "gateway" in r:
            gws = (r["gateway"], *gws)
        routes.append(KernelRoute(dst=_dst(r.get("dst", "")), gateways=gws, dev=r.get("dev"),
                                  protocol=str(r.get("protocol", "boot")),
                                  metric=json_int(r.get("metric")), scope=r.get("scope")))
    return tuple(routes)


@dataclass(frozen=True)
class HostAddress:
    dev: str
    address: str
    prefixlen: int
    scope: str

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True)
class Links:
    """Every link of the host with its IPv4 addresses."""
    devices: dict[str, str]                  # ifname -> operstate (UP, DOWN, UNKNOWN, ...)
    addresses: tuple[HostAddress, ...]

    def on(self, dev: str) -> list[HostAddress]:
        return [a for a in self.addresses if a.dev == dev]

    def holding(self, address: str) -> list[HostAddress]:
        return [a for a in self.addresses if a.address == address]


def parse_addresses(text: str) -> Links:
    """`ip -j addr show`: one object per link, `addr_info` with family/local/prefixlen."""
    devices, addrs = {}, []
    for link in json.loads(text or "[]"):
        name = link.get("ifname", "")
        devices[name] = link.get("operstate", "UNKNOWN")
        for a in link.get("addr_info", []):
            if a.get("family") == "inet" and "local" in a:
                addrs.append(HostAddress(name, a["local"], int(a.get("prefixlen", 32)),
                                         a.get("scope", "global")))
    return Links(devices, tuple(addrs))


def covering_route(routes: tuple[KernelRoute, ...], address: str) -> KernelRoute | None:
    """The route of table main the kernel would pick for `address` (longest prefix; lowest
    metric among equals): what happens to a packet when its /32 is missing."""
    ip = ipaddress.IPv4Address(address)
    best: tuple[int, int, KernelRoute] | None = None
    for r in routes:
        net = ipaddress.IPv4Network("0.0.0.0/0" if r.dst == "default" else r.dst, strict=False)
        if ip in net:
            key = (net.prefixlen, -(r.metric or 0))
            if best is None or key > best[:2]:
                best = (*key, r)
    return best[2] if best else None


@dataclass(frozen=True)
class PersistedRoutes:
    files: dict[str, str]                    # path -> text, as read
    routes: frozenset[tuple[str, str]]       # (prefix, gateway)


def route_files_command(family: str) -> str:
    """Print every file that can hold a boot-time route, each after a marker line; backups
    a remediation left (`*.stackproof-*`) are not read."""
    globs = " ".join(persist_globs(family))
    return (f"for f in {globs}; do [ -f \"$f\" ] || continue; "
            f"case \"$f\" in *.stackproof-*) continue;; esac; "
            f"printf '{FILE_MARK}%s\\n' \"$f\"; cat \"$f\"; echo; done")


def parse_route_files(family: str, output: str) -> PersistedRoutes:
    files: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith(FILE_MARK):
            current = files.setdefault(line[len(FILE_MARK):], [])
        elif current is not None:
            current.append(line)
    texts = {p: "\n".join(lines).rstrip("\n") + "\n" if lines else "" for p, lines in
             files.items()}
    return PersistedRoutes(texts, frozenset(parse_persisted(family, texts)))


@fact
def kernel_routes(remote: Remote) -> tuple[KernelRoute, ...]:
    return parse_kernel_routes(run_ok(remote, KERNEL_ROUTES_CMD, "read the kernel routes"))


@fact
def addresses(remote: Remote) -> Links:
    return parse_addresses(run_ok(remote, ADDR_CMD, "read the interface addresses"))


@fact
def persisted_routes(remote: Remote, family: str) -> PersistedRoutes:
    return parse_route_files(family, run_ok(remote, route_files_command(family),
                                            "read the boot-time route files"))


@dataclass(frozen=True)
class NetworkRoutes:
    """The `<route>`s of a libvirt network's persistent definition (what starts at boot)."""
    exists: bool
    xml: str
    routes: frozenset[tuple[str, str]]       # (prefix, gateway)
    error: str = ""


def network_xml_command(network: str) -> str:
    return f"{VIRSH} net-dumpxml --inactive {shlex.quote(network)}"


def parse_network_routes(rc: int, stdout: str, stderr: str = "") -> NetworkRoutes:
    if rc != 0:
        return NetworkRoutes(False, "", frozenset(), (stderr or stdout).strip()[:300])
    return NetworkRoutes(True, stdout, frozenset(parse_libvirt_routes(stdout)))


@fact(per_host=True)
def network_routes(remote: Remote, network: str) -> NetworkRoutes:
    res = remote.run(network_xml_command(network))
    return parse_network_routes(res.rc, res.stdout, res.stderr)
