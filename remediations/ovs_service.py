"""Open vSwitch does not answer (ovsdb-server or ovs-vswitchd down): restart its service.
The service is `openvswitch` on RHEL-family hosts, `openvswitch-switch` on Debian.

Managed scope: the Open vSwitch service's running state; its database (bridges and ports,
the operator's included) is kept.
"""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "ovs_service"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 20.0

SERVICE = {"rhel": "openvswitch", "debian": "openvswitch-switch"}


def plan(ctx, finding) -> Plan:
    os = profile(ctx.site, finding.host)
    name = SERVICE[os.family]
    return Plan(ID, f"restart {name} on {finding.host}", (
        Run(finding.host, os.service(name, "restart"), "ovs-vsctl could not reach OVS"),))
