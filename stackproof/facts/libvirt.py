"""libvirt facts: every network's definition and state, and the domains, in one query."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from stackproof.facts import fact, run_ok
from stackproof.remote import Remote

VIRSH = "virsh -q -c qemu:///system"
MARK = "### stackproof"


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    name: str
    ip: str


@dataclass(frozen=True)
class LibvirtNetwork:
    name: str
    active: bool
    autostart: bool
    forward_mode: str | None
    bridge: str | None
    address: str | None
    netmask: str | None
    dhcp_range: tuple[str, str] | None
    dhcp_hosts: tuple[DhcpHost, ...]


@dataclass(frozen=True)
class LibvirtState:
    reachable: bool                 # libvirtd answered
    error: str
    networks: dict[str, LibvirtNetwork]
    domains: dict[str, str]         # name -> "running" | "shut off" | ...


def dump_command() -> str:
    """One round trip: every network's XML and info, and every domain's state."""
    return (f"{VIRSH} version >/dev/null || exit 7; "
            f"for n in $({VIRSH} net-list --all --name); do "
            f"echo '{MARK} net-info'; {VIRSH} net-info \"$n\"; "
            f"echo '{MARK} net-dumpxml'; {VIRSH} net-dumpxml \"$n\"; done; "
            f"echo '{MARK} domains'; "
            f"for d in $({VIRSH} list --all --name); do "
            f"echo \"$d|$({VIRSH} domstate \"$d\")\"; done")


def parse_net_info(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_network_xml(xml: str, info: dict[str, str]) -> LibvirtNetwork:
    root = ET.fromstring(xml)
    forward = root.find("forward")
    bridge = root.find("bridge")
    ip = root.find("ip")
    rng = ip.find("dhcp/range") if ip is not None else None
    hosts = tuple(DhcpHost(h.get("mac", ""), h.get("name", ""), h.get("ip", ""))
                  for h in (ip.findall("dhcp/host") if ip is not None else []))
    return LibvirtNetwork(
        name=root.findtext("name"), active=info.get("Active") == "yes",
        autostart=info.get("Autostart") == "yes",
        forward_mode=forward.get("mode") if forward is not None else None,
        bridge=bridge.get("name") if bridge is not None else None,
        address=ip.get("address") if ip is not None else None,
        netmask=ip.get("netmask") if ip is not None else None,
        dhcp_range=(rng.get("start"), rng.get("end")) if rng is not None else None,
        dhcp_hosts=hosts)


def parse_dump(output: str) -> LibvirtState:
    networks, domains = {}, {}
    sections = output.split(MARK + " ")
    info: dict[str, str] = {}
    for section in sections[1:]:
        kind, _, body = section.partition("\n")
        if kind == "net-info":
            info = parse_net_info(body)
        elif kind == "net-dumpxml":
            nw = parse_network_xml(body, info)
            networks[nw.name] = nw
        elif kind == "domains":
            for line in body.splitlines():
                name, sep, state = line.partition("|")
                if sep:
                    domains[name] = state.strip()
    return LibvirtState(True, "", networks, domains)


@fact
def libvirt_state(remote: Remote) -> LibvirtState:
    res = remote.run(dump_command())
    if res.rc == 7 or (res.rc != 0 and "error" in res.stderr.lower()):
        return LibvirtState(False, (res.stderr or res.stdout).strip()[:300], {}, {})
    if res.rc != 0:
        run_ok(remote, dump_command(), "read libvirt")   # raises with the details
    return parse_dump(res.stdout)
