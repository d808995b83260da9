"""nova-compute is down (or never registered) and instances_path is fine: restart it.

Managed scope: the nova-compute service's running state; nova.conf is not edited.
"""
from __future__ import annotations

from remediations._openstack import nova_compute_service, restart
from stackproof.remedy import Plan, Run

ID = "nova_compute_restart"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 90.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    name = nova_compute_service(ctx.site, host)
    return Plan(ID, f"restart {name} on {host}",
                (Run(host, restart(ctx.site, host, name), "its service record is not up"),))
