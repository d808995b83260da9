"""A tunnel Neutron's OVS agent should have built is missing or wrong: restart the agent, so
it builds its tunnels again (tunnel_sync for the full mesh; with l2_population, the server's
forwarding entries after the agent's first state report). Tunnel ports are the agent's: this
never adds one by hand. Before the restart it deletes only tunnel ports of the site's own
endpoints that the agent would not keep: a second port to the same endpoint, or one on the
wrong bridge (the agent then makes it on the tunnel bridge).

Managed scope: the neutron-openvswitch-agent service of the host and the VXLAN ports to the
site's overlay endpoints listed in the finding. A missing port binding (an instance's port
bound to no host) is not fixed here: see the OpenStack instance-port scenario."""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run
from stackproof.render.neutron import AGENT_SERVICE
from stackproof.render.ovs import vsctl

ID = "ovs_vxlan_ports"
DESTRUCTIVE = False
# the real agent imports for 10-30 s on a busy node, then syncs its tunnels
VERIFY_TIMEOUT = 180.0


def plan(ctx, finding) -> Plan:
    host, p = finding.host, finding.params
    steps = []
    if p.get("remove"):
        steps.append(Run(host, vsctl(*[["--if-exists", "del-port", name]
                                       for name in p["remove"]]),
                         "tunnel ports the agent would not keep"))
    steps.append(Run(host, profile(ctx.site, host).service(AGENT_SERVICE, "restart"),
                     "the agent builds its tunnels at start"))
    what = ", ".join(p.get("missing", []) + p.get("wrong", [])) or "tunnels"
    return Plan(ID, f"restart {AGENT_SERVICE} on {host} to rebuild {what}"
                + (f" (after removing {', '.join(p['remove'])})" if p.get("remove") else ""),
                tuple(steps))
