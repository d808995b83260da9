"""The node's Neutron agent names another message bus than the controller's: point the
broker address of transport_url in /etc/neutron/neutron.conf at the controller (keeping the
user, password, port and virtual host as they are, and a backup of the file), then restart
the agent so it connects and reports again.

Managed scope: the broker host part of `[DEFAULT] transport_url` in /etc/neutron/neutron.conf
on the host, and the host's neutron-openvswitch-agent service. The credentials never leave
the file (the command edits it in place and shows no secret)."""
from __future__ import annotations

import shlex

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run
from stackproof.render.neutron import AGENT_SERVICE

ID = "neutron_agent_transport"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0


def plan(ctx, finding) -> Plan:
    host, p = finding.host, finding.params
    if p.get("blocked"):
        return Plan(ID, f"cannot fix the agent's bus on {host}", (), blocked=p["blocked"])
    path, addr = shlex.quote(p["path"]), p["address"]
    # every broker's host after its credentials: @host[:port] -> @controller[:port]
    expr = (r"/^[[:space:]]*transport_url[[:space:]]*=/ "
            rf"s#@[^:/,@]+(:[0-9]+)?([,/]|$)#@{addr}\1\2#g")
    edit = f"cp -p {path} {path}.stackproof-bak && sed -i -E {shlex.quote(expr)} {path}"
    return Plan(ID, f"point {AGENT_SERVICE}'s transport_url on {host} at {addr} and restart it",
                (Run(host, edit, "the controller runs the message bus"),
                 Run(host, profile(ctx.site, host).service(AGENT_SERVICE, "restart"),
                     "the agent reads transport_url at start")))
