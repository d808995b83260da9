"""A Neutron agent is administratively DOWN: set admin_state_up through the API.

Managed scope: the agent's admin_state_up, through the API.
"""
from __future__ import annotations

from remediations._openstack import call, conn
from stackproof.remedy import Plan

ID = "neutron_agent_enable"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    aid = finding.params["agent_id"]
    return Plan(ID, f"set {finding.params['binary']} on {finding.host} UP", (
        call(ctx, f"PUT /v2.0/agents/{aid} admin_state_up=true",
             lambda: conn(ctx).network.update_agent(aid, is_admin_state_up=True).id),))
