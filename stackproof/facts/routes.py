"""Routing facts of a host: kernel routes, interface addresses, the routes kept for boot.

Kernel routes (`ip -j -4 route show table main`) are the FRR layer's fact, re-exported here
(one query, one cache entry, whichever layer asks first). Addresses come from `ip -j addr
show` (every link, so a device without an IPv4 address is still seen to exist). The routes
kept for boot are read from the OS family's files and from libvirt's network definitions
(stackproof.render.routes says which keeps which; stackproof.route_files reads them).
"""
from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import dataclass

from stackproof.facts import fact, run_ok
from stackproof.facts.frr import KernelRoute, kernel_routes, parse_kernel_routes
from stackproof.facts.libvirt import VIRSH
from stackproof.remote import Remote
from stackproof.render.routes import persist_globs
from stackproof.route_files import parse_libvirt_routes, parse_persisted

__all__ = ["KernelRoute", "kernel_routes", "parse_kernel_routes", "HostAddress", "Links",
           "parse_addresses", "addresses", "covering_route", "PersistedRoutes",
           "parse_route_files", "persisted_routes", "ADDR_CMD", "route_files_command",
           "NetworkRoutes", "parse_network_routes", "network_routes", "network_xml_command"]

ADDR_CMD = "ip -j addr show"
FILE_MARK = "@@stackproof-file "


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
