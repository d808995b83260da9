"""The lab's wiring: the underlay switch, the uplink (the internet stand-in) and guest NICs.

Every link is created directly inside lab namespaces (`ip -n NS ... peer ... netns OTHER`):
nothing ever appears in the root namespace, which keeps no route into the lab.

    switch netns:  bridge `br0`, one veth port `p<i>` per physical host (names <= 15 chars)
                   and `up0` to the uplink
    host netns:    the other end, named exactly as the inventory's `underlay.interface`,
                   with `underlay.address`/<prefix of the underlay cidr>, and a default route
                   via the uplink (a real host has a default gateway)
    uplink netns:  `eth0` with the highest free address of the underlay cidr; it answers for
                   every address outside the underlay (an AnyIP local route), so a host's
                   `ping <some internet address>` gets a reply without leaving the lab
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
from dataclasses import dataclass

from stackproof.expect import site_networks
from stackproof_lab.shell import NsShell
from stackproof.site import Site

SWITCH_BRIDGE = "br0"
UPLINK_PORT = "up0"
UPLINK_IF = "eth0"


class TopologyError(RuntimeError):
    pass


@dataclass(frozen=True)
class UnderlayPort:
    host: str
    netns: str                 # the host's network namespace
    ifname: str                # host end, the inventory's underlay interface
    switch_port: str           # switch end, short generated name
    address: str               # with prefix length


@dataclass(frozen=True)
class UnderlayPlan:
    switch_netns: str
    uplink_netns: str
    uplink_address: str        # with prefix length
    gateway: str               # the uplink's address, without prefix
    cidr: str
    ports: tuple[UnderlayPort, ...]
    site_networks: tuple[str, ...] = ()   # never answered by the uplink


def uplink_address(site: Site) -> ipaddress.IPv4Address:
    """The underlay's gateway (the site's router) if the inventory names it, else the
    highest usable address of the underlay cidr that no host uses."""
    if site.underlay.gateway is not None:
        return site.underlay.gateway
    net = site.underlay_cidr
    used = {h.underlay.address for h in site.physical_hosts().values()}
    last = int(net.broadcast_address) - 1 if net.prefixlen < 31 else int(net.broadcast_address)
    for value in range(last, int(net.network_address), -1):
        ip = ipaddress.IPv4Address(value)
        if ip not in used:
            return ip
    raise TopologyError(f"underlay {net}: no free address left for the uplink")


def plan_underlay(site: Site, prefix: str, host_netns: dict[str, str]) -> UnderlayPlan:
    plen = site.underlay_cidr.prefixlen
    ports = tuple(
        UnderlayPort(host=n, netns=host_netns[n], ifname=h.underlay.interface,
                     switch_port=f"p{i}", address=f"{h.underlay.address}/{plen}")
        for i, (n, h) in enumerate(site.physical_hosts().items()))
    up = uplink_address(site)
    return UnderlayPlan(switch_netns=f"{prefix}switch", uplink_netns=f"{prefix}uplink",
                        uplink_address=f"{up}/{plen}", gateway=str(up),
                        cidr=str(site.underlay_cidr), ports=ports,
                        site_networks=tuple(site_networks(site)))


def ip_batch(netns: str, commands: list[str]) -> None:
    """Run `ip` commands inside a named network namespace; stop at the first failure."""
    proc = subprocess.run(["ip", "-n", netns, "-batch", "-"], input="\n".join(commands) + "\n",
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise TopologyError(f"ip -n {netns}: {proc.stderr.strip()}")


def build_switch(plan: UnderlayPlan) -> None:
    """The switch's bridge (its netns must exist)."""
    ip_batch(plan.switch_netns, [
        f"link add {SWITCH_BRIDGE} type bridge stp_state 0",
        f"link set {SWITCH_BRIDGE} up",
        "link set lo up"])


def connect_host(plan: UnderlayPlan, port: UnderlayPort) -> None:
    """One physical host's underlay NIC, plugged into the switch."""
    ip_batch(plan.switch_netns, [
        f"link add {port.switch_port} type veth peer name {port.ifname} netns {port.netns}",
        f"link set {port.switch_port} master {SWITCH_BRIDGE} up"])
    ip_batch(port.netns, [
        f"addr add {port.address} dev {port.ifname}",
        f"link set {port.ifname} up",
        f"route add default via {plan.gateway} dev {port.ifname}"])


def build_uplink(plan: UnderlayPlan) -> None:
    """The uplink node (its netns must exist): the lab's stand-in for the internet."""
    ip_batch(plan.switch_netns, [
        f"link add {UPLINK_PORT} type veth peer name {UPLINK_IF} netns {plan.uplink_netns}",
        f"link set {UPLINK_PORT} master {SWITCH_BRIDGE} up"])
    ip_batch(plan.uplink_netns, [
        "link set lo up",
        f"addr add {plan.uplink_address} dev {UPLINK_IF}",
        f"link set {UPLINK_IF} up",
        # answer for every address (AnyIP: a local route in table local, where the kernel
        # looks for a reply's source address) except the underlay, which stays on-link
        "route add local 0.0.0.0/0 dev lo table local",
        f"route add throw {plan.cidr} table local",
        # nor for the site's own networks: a host that lost its route to a NAT network must
        # see it unreachable, not answered by "the internet"
        *(f"route add throw {n} table local" for n in plan.site_networks if n != plan.cidr),
        # any custom rule keeps the kernel from merging tables local and main, which would
        # turn that `throw` into "unreachable"
        "rule add pref 32000 lookup main"])


# --- guests --------------------------------------------------------------------------------
def _ip(pid: int, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    """`ip` in the network namespace of a lab host (root's mount and PID namespaces, so a
    `netns <pid>` argument names a root-side PID)."""
    proc = subprocess.run(["nsenter", "-t", str(pid), "-n", "--", "ip", *args],
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise TopologyError(f"ip {' '.join(args)} (netns of pid {pid}): {proc.stderr.strip()}")
    return proc


def links(shell: NsShell) -> dict[str, dict]:
    out = _ip(shell.pid, ["-j", "link", "show"]).stdout
    return {link["ifname"]: link for link in json.loads(out or "[]")}


def _free_vnet(existing: set[str]) -> str:
    n = 0
    while f"vnet{n}" in existing:
        n += 1
    return f"vnet{n}"


# Which ports belong on which bridge, kept inside the hypervisor: libvirt's network hook
# (stackproof_lab/daemons/libvirt.py) plugs them back in when a network restarts.
PORTS_DIR = "/etc/libvirt/hooks/lab-ports"


def record_port(shell: NsShell, bridge: str, port: str) -> None:
    shell.sh(f"mkdir -p {PORTS_DIR} && grep -qxF {port} {PORTS_DIR}/{bridge} 2>/dev/null "
             f"|| echo {port} >> {PORTS_DIR}/{bridge}")


def attach_guest(hypervisor: NsShell, guest: NsShell, bridge: str, guest_ifname: str,
                 address: str, gateway: str | None, mac: str) -> str:
    """Plug a guest into a bridge of its hypervisor, the way libvirt plugs a VM's NIC.

    address: with prefix length ("192.0.2.10/24"). Returns the hypervisor-side name (vnetN).
    """
    present = links(hypervisor)
    if bridge not in present:
        raise TopologyError(f"{hypervisor.name}: no bridge {bridge} to attach {guest.name} to")
    vnet = _free_vnet(set(present))
    host_mac = "fe" + mac[2:]          # libvirt gives the tap the guest MAC with fe: first
    _ip(hypervisor.pid, ["link", "add", vnet, "address", host_mac, "type", "veth", "peer",
                         "name", guest_ifname, "address", mac, "netns", str(guest.pid)])
    _ip(hypervisor.pid, ["link", "set", vnet, "master", bridge, "up"])
    record_port(hypervisor, bridge, vnet)
    _ip(guest.pid, ["addr", "add", address, "dev", guest_ifname])
    _ip(guest.pid, ["link", "set", guest_ifname, "up"])
    if gateway:
        _ip(guest.pid, ["route", "replace", "default", "via", gateway, "dev", guest_ifname])
    return vnet


def ensure_nat_bridge(hypervisor: NsShell, bridge: str, gateway_cidr: str) -> bool:
    """Create a NAT bridge with its gateway address unless it exists (libvirt normally makes
    it). An empty bridge has no carrier, so it gets a veth port as libvirt's networks do.
    Returns True if it was created here."""
    if bridge in links(hypervisor):
        return False
    tag = hashlib.sha1(bridge.encode()).hexdigest()[:6]
    nic, peer = f"nc{tag}a", f"nc{tag}b"
    for args in (["link", "add", bridge, "type", "bridge", "stp_state", "0"],
                 ["addr", "add", gateway_cidr, "dev", bridge],
                 ["link", "set", bridge, "up"],
                 ["link", "add", nic, "type", "veth", "peer", "name", peer],
                 ["link", "set", nic, "master", bridge, "up"],
                 ["link", "set", peer, "up"]):
        _ip(hypervisor.pid, args)
    # a hypervisor routes for its NAT network (libvirt switches this on when it starts one)
    subprocess.run(["nsenter", "-t", str(hypervisor.pid), "-n", "--", "sysctl", "-qw",
                    "net.ipv4.ip_forward=1"], check=True, capture_output=True)
    return True
