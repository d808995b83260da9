"""Give each other overlay endpoint exactly one tunnel port on the tunnel bridge, with the
options the Neutron OVS agent sets (ovs_lib.add_tunnel_port): add missing ports, correct a
wrong local_ip, move a port that sits on the wrong bridge, drop second ports to the same
endpoint. One `ovs-vsctl` transaction.

Managed scope: the tunnel ports to the inventory's overlay endpoints on the tunnel bridge
(added, corrected, moved, duplicates to the same endpoint dropped); other ports and bridges
are kept.
"""
from __future__ import annotations

from stackproof.facts import ovs as facts
from stackproof.remedy import Plan, Run
from stackproof.render.ovs import DATAPATH, ensure_bridge, ensure_tunnel, ovs_layout, vsctl

ID = "ovs_vxlan_ports"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def plan(ctx, finding) -> Plan:
    host, p = finding.host, finding.params
    layout = ovs_layout(ctx.site, host)
    by_name = {t.name: t for t in layout.tunnels}
    by_peer = {t.peer: t for t in layout.tunnels}
    cmds: list[list[str]] = []
    if p.get("bridge_missing"):
        state = facts.ovs_state(ctx.fleet[host])
        integ = state.bridges.get(layout.integration_bridge)
        cmds += ensure_bridge(layout.tunnel_bridge,
                              integ.datapath_type if integ else DATAPATH)
    for name in p.get("remove", []):
        cmds.append(["--if-exists", "del-port", name])
    for item in p.get("fix", []):
        want = by_peer[item["peer"]]
        if item["moved"]:
            cmds.append(["--if-exists", "del-port", item["name"]])
            want = by_name.get(item["name"], want)
        else:
            # keep the port's own name: only its options change
            want = type(want)(item["name"], want.local_ip, want.remote_ip, want.peer)
        cmds += ensure_tunnel(layout.tunnel_bridge, want, layout.tunnel_type, layout.udp_port)
    for name in p.get("add", []):
        cmds += ensure_tunnel(layout.tunnel_bridge, by_name[name], layout.tunnel_type,
                              layout.udp_port)
    parts = [f"add {', '.join(p['add'])}" if p.get("add") else "",
             f"correct {', '.join(i['name'] for i in p['fix'])}" if p.get("fix") else "",
             f"remove {', '.join(p['remove'])}" if p.get("remove") else ""]
    return Plan(ID, f"{'; '.join(x for x in parts if x)} on {host}",
                (Run(host, vsctl(*cmds), "one tunnel port per other endpoint, as the agent "
                     "makes it"),))
