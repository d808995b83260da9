"""Glance or Placement does not answer at its catalog endpoint: restart it on the
controller (the inventory's openstack_controller), where it runs.

Managed scope: the running state of that one service (glance-api or placement-api; RDO's
openstack-glance-api, and httpd, which serves RDO's Placement); no configuration is edited.
"""
from __future__ import annotations

from remediations._openstack import restart
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "openstack_api_restart"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 120.0          # the WSGI apps import for 10-30 s on a busy host

SERVICES = {"image": {"debian": "glance-api", "rhel": "openstack-glance-api"},
            "placement": {"debian": "placement-api", "rhel": "httpd"}}


def plan(ctx, finding) -> Plan:
    host = finding.host
    kind = finding.params["service_type"]
    name = SERVICES[kind][profile(ctx.site, host).family]
    return Plan(ID, f"restart {name} on {host}",
                (Run(host, restart(ctx.site, host, name),
                     f"{finding.params['name']} does not answer at its catalog endpoint"),))
