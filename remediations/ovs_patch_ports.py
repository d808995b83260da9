"""Create the tunnel bridge and the patch ports between it and the integration bridge, as
the Neutron OVS agent does: one `ovs-vsctl` transaction, `--may-exist` throughout, so it is
idempotent. A missing physical bridge (br-ex) is the operator's to make, with its port:
that plan is shown but not applied.

Managed scope: the tunnel bridge and the patch ports between it and the integration bridge
(`--may-exist`); other bridges and ports are kept.
"""
from __future__ import annotations

from stackproof.expect import ovs_layout
from stackproof.facts import ovs as facts
from stackproof.remedy import Plan, Run
from stackproof.render.ovs import DATAPATH, ensure_bridge, ensure_patch, vsctl

ID = "ovs_patch_ports"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    layout = ovs_layout(ctx.site, host)
    state = facts.ovs_state(ctx.fleet[host])
    pairs = [p for p in layout.patches if p.port in finding.params["ports"]]
    # a new bridge goes on the datapath the integration bridge uses (the agent's setting)
    integ = state.bridges.get(layout.integration_bridge)
    datapath = integ.datapath_type if integ and integ.datapath_type else DATAPATH
    cmds, made, blocked = [], [], None
    for bridge in dict.fromkeys([layout.integration_bridge, *(p.bridge for p in pairs)]):
        if bridge in state.bridges:
            continue
        if bridge in layout.physical_bridges:
            blocked = (f"{bridge} is missing: it is a physical bridge (bridge_mappings) and "
                       f"needs its physical port; create it, then restart the agent")
        cmds += ensure_bridge(bridge, datapath)
        made.append(bridge)
    for pair in pairs:
        cmds += ensure_patch(pair)
    what = ", ".join([*(f"bridge {b}" for b in made), *(p.port for p in pairs)])
    return Plan(ID, f"create {what} on {host}",
                (Run(host, vsctl(*cmds), "the agent's tunnel bridge and patch ports "
                     "(idempotent: --may-exist)"),), blocked=blocked)
