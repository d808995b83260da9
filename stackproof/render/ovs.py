"""The Open vSwitch layout the Neutron OVS agent builds on a node, and the `ovs-vsctl`
commands that build it: pure functions of (site, host), no host access.

The agent (neutron/plugins/ml2/drivers/openvswitch/agent) makes, on every node:
  br-int  the integration bridge        fail_mode secure, datapath_type system
  br-tun  the tunnel bridge             fail_mode secure; patch-int <-> patch-tun on br-int
  br-ex   a physical bridge (bridge_mappings physnet:br-ex), made by the operator with its
          physical port; the agent adds phy-br-ex <-> int-br-ex on br-int
and one tunnel port per other endpoint, named `vxlan-<remote ip as 8 hex digits>`, with
the options of ovs_lib.add_tunnel_port. The lab builds this layout, the checks compare
against it, and the remediations run the same commands (all idempotent: `--may-exist`).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from stackproof.expect import VxlanPort, overlay_endpoints, vxlan_mesh
from stackproof.site import Site

DATAPATH = "system"
FAIL_MODE = "secure"
DEFAULT_VXLAN_PORT = 4789


@dataclass(frozen=True)
class PatchPair:
    """Two patch ports that must name each other as peer."""
    bridge: str            # e.g. br-int
    port: str              # e.g. patch-tun, on `bridge`
    peer_bridge: str       # e.g. br-tun
    peer: str              # e.g. patch-int, on `peer_bridge`


@dataclass(frozen=True)
class OvsLayout:
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


# --- ovs-vsctl commands (strings: they run over SSH and show in plans) ----------------------
def vsctl(*commands: list[str], timeout: int = 10) -> str:
    """One `ovs-vsctl` transaction of several commands (`--` between them)."""
    argv = ["ovs-vsctl", f"--timeout={timeout}"]
    for c in commands:
        argv += ["--", *c]
    return shlex.join(argv)


def ensure_bridge(bridge: str, datapath: str = DATAPATH) -> list[list[str]]:
    """The bridge, secure (no NORMAL switching until the agent's flows say so) and on the
    agent's datapath type."""
    return [["--may-exist", "add-br", bridge],
            ["set", "Bridge", bridge, f"fail_mode={FAIL_MODE}", f"datapath_type={datapath}"]]


def ensure_patch(pair: PatchPair) -> list[list[str]]:
    return [["--may-exist", "add-port", pair.bridge, pair.port],
            ["set", "Interface", pair.port, "type=patch", f"options:peer={pair.peer}"]]


def tunnel_options(port: VxlanPort, udp_port: int = DEFAULT_VXLAN_PORT) -> dict[str, str]:
    """The options ovs_lib.add_tunnel_port sets on a tunnel interface."""
    opts = {}
    if udp_port != DEFAULT_VXLAN_PORT:
        opts["dst_port"] = str(udp_port)
    opts.update({"df_default": "true", "remote_ip": port.remote_ip,
                 "local_ip": port.local_ip, "in_key": "flow", "out_key": "flow",
                 "egress_pkt_mark": "0"})
    return opts


def ensure_tunnel(bridge: str, port: VxlanPort, tunnel_type: str = "vxlan",
                  udp_port: int = DEFAULT_VXLAN_PORT) -> list[list[str]]:
    opts = [f"options:{k}={v}" for k, v in tunnel_options(port, udp_port).items()]
    return [["--may-exist", "add-port", bridge, port.name],
            ["set", "Interface", port.name, f"type={tunnel_type}", *opts]]


def build_commands(layout: OvsLayout) -> list[list[str]]:
    """Every ovs-vsctl command of the agent's layout, in one order that always works:
    bridges, then patch ports, then tunnels."""
    cmds: list[list[str]] = []
    for br in layout.bridges:
        cmds += ensure_bridge(br)
    for pair in layout.patches:
        cmds += ensure_patch(pair)
    for port in layout.tunnels:
        cmds += ensure_tunnel(layout.tunnel_bridge, port, layout.tunnel_type, layout.udp_port)
    return cmds


def endpoints(site: Site) -> dict[str, str]:
    """Every tunnel endpoint of the site (host -> local_ip): what Neutron's server tells each
    agent through tunnel_sync."""
    return overlay_endpoints(site)
