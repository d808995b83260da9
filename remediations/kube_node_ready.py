"""A node NotReady for a reason the suite cannot fix by itself: the plan says where to look
(kubelet's own log and status on the node's host), and is never applied.

Managed scope: none; it changes nothing.
"""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "kube_node_ready"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
    p = finding.params
    host = p.get("host")
    why = f"kubelet reports {p.get('reason') or 'no reason'}: {p.get('message') or '(no message)'}"
    if not host or host not in ctx.site.hosts:
        return Plan(ID, f"find out why node {p['node']} is not Ready", (),
                    blocked=f"{why}; node {p['node']} runs on no inventory host: look at its "
                            "kubelet by hand")
    os = profile(ctx.site, host)
    logs = ("journalctl -u kubelet --since -15min --no-pager | tail -n 50"
            if os.init == "systemd" else "tail -n 50 /var/log/kubelet.log")
    steps = (Run(host, os.service("kubelet", "status"), "is kubelet running?", ok_rc=(0, 3)),
             Run(host, logs, "why kubelet says the node is not Ready"))
    return Plan(ID, f"find out why node {p['node']} is not Ready", steps,
                blocked=f"{why}: no known fix; the steps show where to look")
