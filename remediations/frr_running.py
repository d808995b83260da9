"""Start FRR (watchfrr, zebra, bgpd), or restart it when watchfrr runs without them.

Managed scope: the FRR service's running state; no configuration file is edited (FRR starts
with frr.conf as it is).
"""
from __future__ import annotations

from stackproof.facts import frr as facts
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "frr_running"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0      # start ~1 s; sessions and routes follow within a few seconds


def plan(ctx, finding) -> Plan:
    host = finding.params.get("on", finding.host)
    os = profile(ctx.site, host)
    # a second `start` next to a running watchfrr would not start the missing daemons
    action = "restart" if facts.processes(ctx.fleet[host]).alive("watchfrr") else "start"
    return Plan(ID, f"{action} FRR on {host}", (
        Run(host, os.service("frr", action),
            "watchfrr starts zebra and bgpd and loads /etc/frr/frr.conf"),))
