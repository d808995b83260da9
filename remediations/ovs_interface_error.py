"""An Open vSwitch interface error that is not one of the agent's patch ports: there is no
safe automatic fix (a missing NIC, a tunnel OVS cannot create); the plan shows what to look
at and is not applied.

Managed scope: none; it changes nothing.
"""
from __future__ import annotations

import shlex

from stackproof.remedy import Plan, Run

ID = "ovs_interface_error"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    steps = tuple(Run(host, "ovs-vsctl --columns=name,type,options,error list Interface "
                      + shlex.quote(name), "inspect the interface") for name in
                  finding.params["interfaces"])
    return Plan(ID, f"inspect {', '.join(finding.params['interfaces'])} on {host}", steps,
                blocked="not an interface the Neutron OVS agent's layout owns: fix it by hand "
                        "(see the error), or restart the agent if it made it")
