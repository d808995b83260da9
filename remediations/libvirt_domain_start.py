"""Start guest domains that are defined but not running.

Managed scope: the running state of the inventory's guest domains; definitions and other
domains are not touched.
"""
from __future__ import annotations

import shlex

from stackproof.facts.libvirt import VIRSH, libvirt_state
from stackproof.remedy import Plan, Run

ID = "libvirt_domain_start"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    domains = libvirt_state(ctx.fleet[host]).domains
    undefined = [g for g in finding.params["guests"] if g not in domains]
    if undefined:
        return Plan(ID, f"start guests on {host}", (), blocked=f"guest(s) {undefined} are not "
                    f"defined on {host}: restore their domain XML first")
    return Plan(ID, f"start {', '.join(finding.params['guests'])} on {host}",
                tuple(Run(host, f"{VIRSH} start {shlex.quote(g)}", "the guest was not running")
                      for g in finding.params["guests"]))
