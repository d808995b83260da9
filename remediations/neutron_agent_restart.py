"""A Neutron agent is dead or missing on its host: restart its service there.

Managed scope: the agent service's running state on its host; its configuration is not
edited.
"""
from __future__ import annotations

from remediations._openstack import restart
from stackproof.remedy import Plan, Run

ID = "neutron_agent_restart"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0          # alive again at its next state report


def plan(ctx, finding) -> Plan:
    host, name = finding.host, finding.params["binary"]
    return Plan(ID, f"restart {name} on {host}",
                (Run(host, restart(ctx.site, host, name), "the agent stopped reporting"),))
