"""Put a floating IP on the compute node's external bridge (the report's `ip addr add
<fip>/32 dev br-ex`), so the kernel accepts packets for it and NAT hands them on.

Managed scope: the inventory floating IP's /32 on the compute node's external bridge; other
addresses on the bridge are kept.
"""
from __future__ import annotations

import shlex

from stackproof.remedy import Plan, Run

ID = "fip_address"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def _q(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


def plan(ctx, finding) -> Plan:
    host = finding.host
    steps, missing_dev = [], []
    for a in finding.params["addresses"]:
        if not a["device_exists"]:
            missing_dev.append(a["dev"])
            continue
        for wrong in a["wrong"]:        # the same address with another prefix length
            steps.append(Run(host, _q("ip", "addr", "del", wrong, "dev", a["dev"]),
                             f"{wrong} would route the whole prefix to {a['dev']}"))
        steps.append(Run(host, _q("ip", "addr", "replace", a["cidr"], "dev", a["dev"]),
                         f"floating IP of {a['instance']}"))
    what = ", ".join(f"{a['cidr']} on {a['dev']}" for a in finding.params["addresses"])
    blocked = None
    if missing_dev:
        blocked = (f"{', '.join(sorted(set(missing_dev)))} does not exist on {host}: the "
                   f"external bridge comes first (the overlay layer's scenarios)")
    return Plan(ID, f"put {what} on {host}", tuple(steps), blocked=blocked)
