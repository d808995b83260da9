"""Set the overlay options of openvswitch_agent.ini (local_ip, tunnel_bridge, tunnel_types,
l2_population where the inventory asks) in place, keeping the rest of the file, then
restart the agent so it rebuilds its tunnels with them.

Managed scope: in openvswitch_agent.ini, the keys the inventory implies ([ovs] local_ip and
tunnel_bridge, [agent] tunnel_types, and l2_population where the inventory asks); every other
key, section and comment is kept; then the agent restart.
"""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile, read_file
from stackproof.render.neutron import AGENT_SERVICE, render_agent_ini, required_options, \
    with_options

ID = "ovs_agent_ini"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0     # the agent rebuilds br-tun and its tunnels after the restart

# The file must still parse as oslo.config reads it (configparser-like) before it replaces
# the old one; python3 is on every Neutron node.
VALIDATE = ("python3 -c 'import configparser, sys; configparser.ConfigParser(strict=False, "
            "interpolation=None).read_file(open(sys.argv[1]))' {path}")


def plan(ctx, finding) -> Plan:
    host, path = finding.host, finding.params["path"]
    current = read_file(ctx.fleet[host], path)     # unreadable (not missing) blocks the plan
    if current is not None:
        new = with_options(current, required_options(ctx.site, host))
        why = "set the overlay options, keep the rest"
    else:
        new = render_agent_ini(ctx.site, host)
        why = "the agent's configuration, rendered from the inventory"
    os = profile(ctx.site, host)
    return Plan(ID, f"fix {path} and restart {AGENT_SERVICE} on {host}", (
        WriteFile(host, path, new, why, mode=None if current is not None else "0640", validate=VALIDATE),
        Run(host, os.service(AGENT_SERVICE, "restart"), "the agent reads its ini at start"),
    ), rollback=(Run(host, os.service(AGENT_SERVICE, "restart"), "back on the old ini"),))
