"""Redefine a NAT network whose shape drifted: this restarts it, cutting its guests off.

Managed scope: the inventory's NAT networks on that host, nothing else. The new definition
is defined (and so validated by libvirt) before the running network is stopped; if the
restart fails, the old definition is defined and started again.
"""
from __future__ import annotations

import shlex

from stackproof.facts.libvirt import VIRSH
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.libvirt import network_xml

ID = "libvirt_network_redefine"
DESTRUCTIVE = True
VERIFY_TIMEOUT = 20.0


def plan(ctx, finding) -> Plan:
    host, steps, undo = finding.host, [], []
    for name in finding.params["networks"]:
        nw = next(n for n in ctx.site.hosts[host].nat_networks if n.name == name)
        q, path = shlex.quote(name), ctx.scratch_path(f"{name}.xml")
        before = shlex.quote(path + ".before")
        steps += [Run(host, f"{VIRSH} net-dumpxml --inactive {q} > {before}",
                      "keep the old definition"),
                  WriteFile(host, path, network_xml(ctx.site, host, nw),
                            "the network as the inventory defines it", mode="0600"),
                  # define first: a definition libvirt refuses leaves the network running
                  Run(host, f"{VIRSH} net-define {shlex.quote(path)}", "the new definition"),
                  Run(host, f"{VIRSH} net-destroy {q}", "stop it (guests lose their link)"),
                  Run(host, f"{VIRSH} net-start {q}", "start it with the new definition"),
                  Run(host, f"{VIRSH} net-autostart {q}", "start it at boot")]
        undo += [Run(host, f"{VIRSH} net-define {before}", f"the old definition of {name}"),
                 Run(host, f"{VIRSH} net-start {q}", f"{name} running again (rc 1: it runs)",
                     ok_rc=(0, 1))]
    return Plan(ID, f"redefine {', '.join(finding.params['networks'])} on {host}",
                tuple(steps), destructive=True, rollback=tuple(undo))
