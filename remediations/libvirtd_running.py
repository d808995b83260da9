"""Start libvirtd.

Managed scope: the libvirtd service's running state; no configuration is edited.
"""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "libvirtd_running"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 20.0


def plan(ctx, finding) -> Plan:
    os = profile(ctx.site, finding.host)
    return Plan(ID, f"start libvirtd on {finding.host}",
                (Run(finding.host, os.service("libvirtd", "restart"), "libvirtd did not answer"),))
