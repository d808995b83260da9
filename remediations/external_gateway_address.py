"""The external network's gateway address is missing from the host bridge (the report's
`ip addr add <gateway>/<len> dev <bridge>`): add it.

Managed scope: the external network's gateway address on the inventory's host bridge; other
addresses on that bridge and every other interface are kept.
"""
from __future__ import annotations

import shlex

from stackproof.remedy import Plan, Run

ID = "external_gateway_address"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
    host, cidr, dev = finding.host, finding.params["cidr"], finding.params["dev"]
    summary = f"add {cidr} to {dev} on {host}"
    if finding.params.get("blocked"):
        return Plan(ID, summary, (), blocked=finding.params["blocked"])
    return Plan(ID, summary, (
        Run(host, f"ip addr replace {shlex.quote(cidr)} dev {shlex.quote(dev)}",
            "the external network's gateway lives on the host bridge (runtime only: a "
            "libvirt network restart drops it; keep it in the host's network config)"),))
