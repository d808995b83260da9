"""nova-compute is up but disabled: enable the service through the API.

Managed scope: the nova-compute service's disabled flag, through the API.
"""
from __future__ import annotations

from remediations._openstack import call, conn
from stackproof.remedy import Plan

ID = "nova_compute_enable"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    sid = finding.params["service_id"]
    return Plan(ID, f"enable nova-compute on {finding.host}", (
        call(ctx, f"PUT /os-services/{sid} status=enabled (nova-compute on {finding.host})",
             lambda: conn(ctx).compute.enable_service(sid).status),))
