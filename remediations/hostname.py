"""Set the hostname to the inventory name, now and for the next boot.

Managed scope: the running hostname and /etc/hostname (a one-line file); /etc/hosts is not
edited.
"""
from __future__ import annotations

import shlex

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile

ID = "hostname"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def plan(ctx, finding) -> Plan:
    host, name = finding.host, finding.params["name"]
    if profile(ctx.site, host).init == "systemd":
        steps = (Run(host, f"hostnamectl set-hostname {shlex.quote(name)}",
                     "sets the running name and /etc/hostname"),)
    else:
        steps = (WriteFile(host, "/etc/hostname", f"{name}\n", "the name for the next boot",
                           mode="0644"),
                 Run(host, f"hostname {shlex.quote(name)}", "the running name"))
    return Plan(ID, f"set the hostname of {host} to {name}", steps)
