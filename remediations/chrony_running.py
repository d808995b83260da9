"""Start (or restart) chrony so it answers and selects the configured source.

Managed scope: the chrony service's running state; chrony.conf is never edited.
"""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "chrony_running"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0   # iburst selects a source within a few polls


def plan(ctx, finding) -> Plan:
    os = profile(ctx.site, finding.host)
    return Plan(ID, f"restart {os.chrony_service} on {finding.host}", (
        Run(finding.host, os.service(os.chrony_service, "restart"),
            "chronyd was not answering or had not selected the time server"),))
