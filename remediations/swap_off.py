"""Turn swap off now (only on a host with its own kernel).

Managed scope: the host's active swap; /etc/fstab is not edited here.
"""
from __future__ import annotations

from stackproof.remedy import Plan, Run

ID = "swap_off"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    if ctx.site.hosts[host].kernel == "shared":
        return Plan(ID, "swap off", (), blocked=f"{host} shares its kernel with other hosts "
                    "(a lab namespace): swapoff would change the machine's swap")
    return Plan(ID, f"turn swap off on {host}", (Run(host, "swapoff -a", "swap off now"),))
