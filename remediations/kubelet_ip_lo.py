"""Put a worker's floating IP (its node IP) on lo as a /32 now, and make it come back at
every boot: add-kubelet-ip.service written and enabled. Then restart kubelet where one runs,
so it validates its node IP again. Only the missing pieces are planned.

Managed scope: the node IP's /32 on lo (other addresses on lo kept), add-kubelet-ip.service
(the suite's own unit file) and its multi-user.target.wants link, and a kubelet restart.
"""
from __future__ import annotations

import shlex

from remediations._kube import enable_unit_command, restart_kubelet_if_running
from stackproof.facts import kubelet as kf
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render import kubelet as rk

ID = "kubelet_ip_lo"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 20.0


def plan(ctx, finding) -> Plan:
    host, ip = finding.params["host"], finding.params["node_ip"]
    remote = ctx.fleet[host]
    cidr = f"{ip}/32"
    steps = []
    have = kf.lo_addresses(remote)
    added = cidr not in have
    for other in (a for a in have if a.split("/")[0] == ip and a != cidr):
        steps.append(Run(host, f"ip addr del {shlex.quote(other)} dev lo",
                         f"{ip} must be a /32 on lo, not {other}"))
    if added:
        steps.append(Run(host, f"ip addr replace {shlex.quote(cidr)} dev lo",
                         "kubelet accepts a node IP only when it is on one of the host's "
                         "interfaces"))
    problems = kf.unit_problems(kf.unit_file(remote), ip)
    if problems:
        steps.append(WriteFile(host, rk.UNIT_PATH, rk.unit_text(ip),
                               "re-adds the floating IP at boot, before kubelet starts",
                               mode="0644", owner="root:root"))
    if problems or kf.unit_enabled(remote) != "enabled":
        steps.append(Run(host, enable_unit_command(ctx, host, rk.UNIT_NAME),
                         "run it at boot (the multi-user.target.wants link)"))
    if added or not steps:
        steps.append(Run(host, restart_kubelet_if_running(ctx, host),
                         "kubelet validates its node IP again"))
    return Plan(ID, f"{ip} on lo of {host}, kept across reboots by {rk.UNIT_NAME}",
                tuple(steps))
