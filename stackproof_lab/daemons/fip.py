"""Floating IPs made really reachable across lab hosts: the instances' NICs and the DVR path.

The lab's stand-in for what Neutron's DVR builds on a compute node, plus the report's
manual fixes, all derived from the site model (expect.floating_ip_plumbing):

- each instance gets its NIC: a veth whose instance end is named as the inventory says
  (`interface`, with its tenant address and a default route via the tenant network's first
  address) and whose compute end is a `tap<port id>` device as Nova names it, inside the
  compute node, holding the tenant gateway as /32 with a /32 route back to the instance;
- on the compute node, for each floating IP of its instances: DNAT to the instance and SNAT
  of the instance's own traffic to the floating IP (the router's NAT), and forwarding on.
  Where the report's design puts the floating IP on the compute's br-ex (the compute sits
  behind another hypervisor, which routes the /32 to it), the DNAT matches only packets
  whose destination is LOCAL: without the address on br-ex the kernel does not take the
  packet, exactly as in the report. br-ex is a kernel tap here (LAB-NOTES: OVS internal
  ports make no kernel device with the dummy datapath). Where the compute sits on the
  fronting hypervisor's external bridge itself, the compute answers ARP for the floating
  IP (proxy ARP, as DVR's fip namespace does) and the instance's traffic leaves through
  the external gateway (as DVR's fip namespace routes it), so replies come back the way
  they went;
- the fronting host's and the compute hypervisor's /32 routes, kept for boot where the
  suite expects them (stackproof.render.routes: the libvirt network's definition for the
  hypervisor's route into its NAT network, the OS family's file for the fronting host's
  route over the underlay), and the floating IP on the instance's lo
  (idempotent: the Kubernetes layer may have put it there already).

Runs as a GUEST hook after the firewall (whose report rules carry the return path) and
before chrony (whose clients on the instances need this path to reach the time server).
"""
from __future__ import annotations

import shlex
import subprocess
import uuid
from dataclasses import dataclass

from stackproof.expect import floating_ip_plumbing
from stackproof_lab.daemons.common import DaemonError, read_file, write_file
from stackproof_lab.shell import NsShell
from stackproof.osfamily import profile
from stackproof.render.routes import (StaticRoute, fip_routes, keeper, render_persisted,
                                      with_libvirt_routes)
from stackproof.site import Site

# Policy-routing table (and rule priority) for the instance traffic of a compute on the
# fronting hypervisor's external bridge: DVR's fip namespace, whose default route is the
# external network's gateway. Lab-only numbers, not site values.
EGRESS_TABLE = 3100
_PORT_NS = uuid.UUID("6b1d6c3e-2f0e-4d8a-9a57-5f2f3c1e7a10")   # stable port ids per lab site


@dataclass(frozen=True)
class InstancePort:
    """One instance's NIC: the veth the lab makes in place of Nova's tap + Neutron's port."""
    instance: str
    compute: str
    ifname: str                 # inside the instance (the inventory's `interface`)
    tap: str                    # on the compute node
    mac: str                    # the instance end (Neutron's fa:16:3e prefix)
    address: str                # tenant address
    prefixlen: int
    gateway: str                # the tenant network's first address
    tenant_cidr: str
    floating_ip: str | None


@dataclass(frozen=True)
class FipNat:
    """What the compute node does for one floating IP."""
    floating_ip: str
    port: InstancePort
    bridge: str | None          # the external bridge holding the fip (the report's br-ex)
    proxy_dev: str | None       # the compute's device on the external network's L2, if any
    egress_gateway: str | None  # the external gateway, on that device


def port_id(site: Site, instance: str) -> str:
    return str(uuid.uuid5(_PORT_NS, f"{site.site}/{instance}"))


def tap_name(site: Site, instance: str) -> str:
    """Nova's name for a port's tap: `tap` + the first 11 characters of the port id."""
    return f"tap{port_id(site, instance)[:11]}"


def port_mac(site: Site, instance: str) -> str:
    h = uuid.UUID(port_id(site, instance)).hex
    return f"fa:16:3e:{h[0:2]}:{h[2:4]}:{h[4:6]}"


def instance_ports(site: Site) -> list[InstancePort]:
    if site.openstack is None:
        return []
    tenant = site.openstack.tenant_network.cidr
    gw = str(tenant.network_address + 1)
    return [InstancePort(instance=n, compute=h.compute, ifname=h.interface,
                         tap=tap_name(site, n), mac=port_mac(site, n), address=str(h.address),
                         prefixlen=tenant.prefixlen, gateway=gw, tenant_cidr=str(tenant),
                         floating_ip=str(h.floating_ip) if h.floating_ip else None)
            for n, h in site.instances().items()]


def _front_device(site: Site, compute: str) -> str | None:
    """The compute's own interface on the fronting hypervisor's external bridge, when it has
    one (a guest on that bridge); None for a compute that is the fronting host itself."""
    ext = site.openstack.external_network
    h = site.hosts[compute]
    if h.kind == "guest" and h.hypervisor == ext.gateway_on.host and \
            site.nat_network(h.hypervisor, h.network).bridge == ext.gateway_on.bridge:
        return h.interface
    return None


def fip_nats(site: Site) -> list[FipNat]:
    ports = {p.instance: p for p in instance_ports(site)}
    out = []
    for p in floating_ip_plumbing(site):
        port = ports[p.instance]
        on_bridge = next((a.dev for a in p.addresses.get(port.compute, ())), None)
        proxy = None if on_bridge else _front_device(site, port.compute)
        egress = str(site.openstack.external_network.gateway) if proxy else None
        out.append(FipNat(p.floating_ip, port, on_bridge, proxy, egress))
    return out


# --- commands (pure: the unit tests read them) -----------------------------------------------
def _q(*words: str) -> str:
    return " ".join(shlex.quote(str(w)) for w in words)


def _ensure_rule(table: str, chain: str, spec: list[str]) -> str:
    return (f"iptables -w -t {table} -C {_q(chain, *spec)} 2>/dev/null || "
            f"iptables -w -t {table} -A {_q(chain, *spec)}")


def compute_port_commands(port: InstancePort) -> list[str]:
    """The compute end of an instance's NIC (after the veth exists)."""
    return [_q("ip", "addr", "replace", f"{port.gateway}/32", "dev", port.tap),
            _q("ip", "link", "set", port.tap, "up"),
            _q("ip", "route", "replace", f"{port.address}/32", "dev", port.tap),
            "sysctl -qw net.ipv4.ip_forward=1"]


def instance_commands(port: InstancePort) -> list[str]:
    cmds = ["ip link set lo up",
            _q("ip", "addr", "replace", f"{port.address}/{port.prefixlen}", "dev", port.ifname),
            _q("ip", "link", "set", port.ifname, "up"),
            _q("ip", "route", "replace", "default", "via", port.gateway, "dev", port.ifname)]
    if port.floating_ip:
        # kubelet's node IP (the Kubernetes layer may have added it already: replace is a no-op)
        cmds.append(_q("ip", "addr", "replace", f"{port.floating_ip}/32", "dev", "lo"))
    return cmds


def nat_commands(nat: FipNat) -> list[str]:
    """The compute node's part for one floating IP."""
    fip, port = nat.floating_ip, nat.port
    cmds = []
    dnat = ["-d", f"{fip}/32"]
    if nat.bridge:
        q = shlex.quote(nat.bridge)
        cmds += [f"ip link show {q} >/dev/null 2>&1 || ip tuntap add dev {q} mode tap",
                 f"ip link set {q} up",
                 _q("ip", "addr", "replace", f"{fip}/32", "dev", nat.bridge)]
        # only a packet the kernel takes as its own is translated: no fip on br-ex, no DNAT
        dnat += ["-m", "addrtype", "--dst-type", "LOCAL"]
    else:
        cmds.append(_q("ip", "route", "replace", f"{fip}/32", "dev", port.tap))
        if nat.proxy_dev:
            cmds.append(_q("ip", "neigh", "replace", "proxy", fip, "dev", nat.proxy_dev))
        if nat.egress_gateway:
            t = str(EGRESS_TABLE)
            cmds += [_q("ip", "route", "replace", "default", "via", nat.egress_gateway, "dev",
                        nat.proxy_dev, "onlink", "table", t),
                     _q("ip", "route", "replace", "throw", port.tenant_cidr, "table", t),
                     f"ip rule show iif {shlex.quote(port.tap)} | grep -q 'lookup {t}' || "
                     + _q("ip", "rule", "add", "iif", port.tap, "lookup", t, "pref", t)]
    cmds += [_ensure_rule("nat", "PREROUTING",
                          [*dnat, "-j", "DNAT", "--to-destination", port.address]),
             _ensure_rule("nat", "POSTROUTING",
                          ["-s", f"{port.address}/32", "!", "-d", port.tenant_cidr, "-j",
                           "SNAT", "--to-source", fip])]
    return cmds


def host_routes(site: Site) -> dict[str, list[StaticRoute]]:
    """host -> the /32 routes it must carry, with the device each gateway sits on."""
    out: dict[str, list[StaticRoute]] = {}
    for host in site.hosts:
        hops = fip_routes(site, host)
        if hops:
            out[host] = [h.route for h in hops]
    return out


# --- applying ----------------------------------------------------------------------------------
def _ip_in(pid: int, args: list[str]) -> None:
    """`ip` in a host's network namespace with the root side's mount and PID view, so that
    `netns <pid>` names a root-side PID (topology.attach_guest does the same)."""
    proc = subprocess.run(["nsenter", "-t", str(pid), "-n", "--", "ip", *args],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise DaemonError(f"ip {' '.join(args)} (netns of pid {pid}): {proc.stderr.strip()}")


def plug_instance(compute: NsShell, instance: NsShell, port: InstancePort) -> None:
    """Make the veth (once): tap end in the compute, the named NIC in the instance."""
    if compute.run(["ip", "link", "show", port.tap], check=False).returncode != 0:
        _ip_in(compute.pid, ["link", "add", port.tap, "address", "fe" + port.mac[2:], "type",
                             "veth", "peer", "name", port.ifname, "address", port.mac,
                             "netns", str(instance.pid)])
    compute.sh(" && ".join(compute_port_commands(port)))
    instance.sh(" && ".join(instance_commands(port)))


VIRSH = ["virsh", "-q", "-c", "qemu:///system"]


def persist_routes(shell: NsShell, site: Site, host: str, routes: list[StaticRoute]) -> None:
    """Keep the routes for boot where the suite expects them (render.routes.keeper)."""
    family = profile(site, host).family
    by_keeper: dict = {}
    for r in routes:
        by_keeper.setdefault(keeper(site, host, family, r), []).append(r)
    for k, rs in by_keeper.items():
        if k.kind == "libvirt":
            current = shell.run([*VIRSH, "net-dumpxml", "--inactive", k.target]).stdout
            new = with_libvirt_routes(current, rs)
            if new != current:
                path = f"/root/.lab-{k.target}-routes.xml"
                write_file(shell, path, new, mode=0o600)
                shell.run([*VIRSH, "net-define", path])
                shell.run(["rm", "-f", path])
            continue
        shell.run(["mkdir", "-p", k.target.rsplit("/", 1)[0]])
        current = read_file(shell, k.target)
        new = render_persisted(k.kind, current, rs)
        if new != current:
            write_file(shell, k.target, new)


def fip_hook(lab, site: Site) -> None:
    """GUEST hook: instance NICs, the compute nodes' NAT, the /32 routes (kept for boot)."""
    if site.openstack is None:
        return
    for port in instance_ports(site):
        plug_instance(lab.shell(port.compute), lab.shell(port.instance), port)
    for nat in fip_nats(site):
        lab.shell(nat.port.compute).sh(" && ".join(["set -e", *nat_commands(nat)]))
        if nat.bridge is None and nat.proxy_dev is None and \
                site.hosts[nat.port.compute].kind != "physical":
            lab.state.note(f"{nat.floating_ip}: compute {nat.port.compute} is neither behind "
                           f"another hypervisor nor on the external bridge: not reachable")
    for host, routes in host_routes(site).items():
        shell = lab.shell(host)
        shell.sh(" && ".join(_q("ip", "route", "replace", r.prefix, "via", r.via)
                             for r in routes))
        persist_routes(shell, site, host, routes)
    lab.say(f"floating IPs: {len(fip_nats(site))} routed, "
            f"{len(instance_ports(site))} instance NIC(s)")
