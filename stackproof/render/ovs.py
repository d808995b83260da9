"""The `ovs-vsctl` commands that build the Open vSwitch layout the Neutron OVS agent makes
on a node (stackproof.expect.ovs_layout): pure functions, no host access.

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

from stackproof.expect import OvsLayout, PatchPair, VxlanPort

DATAPATH = "system"
FAIL_MODE = "secure"
DEFAULT_VXLAN_PORT = 4789


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

