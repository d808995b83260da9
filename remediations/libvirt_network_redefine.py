"""Redefine a NAT network whose shape drifted: this restarts it, cutting its guests off."""
from __future__ import annotations

import shlex

from stackproof.facts.libvirt import VIRSH
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.libvirt import network_xml

ID = "libvirt_network_redefine"
DESTRUCTIVE = True
VERIFY_TIMEOUT = 20.0


def plan(ctx, finding) -> Plan:
    host, steps = finding.host, []
    for name in finding.params["networks"]:
        nw = next(n for n in ctx.site.hosts[host].nat_networks if n.name == name)
        q, path = shlex.quote(name), f"/root/stackproof-{name}.xml"
        steps += [WriteFile(host, path, network_xml(ctx.site, host, nw),
                            "the network as the inventory defines it", mode="0600"),
                  Run(host, f"{VIRSH} net-dumpxml {q} > {shlex.quote(path + '.before')}",
                      "keep the old definition"),
                  Run(host, f"{VIRSH} net-destroy {q}", "stop it (guests lose their link)"),
                  Run(host, f"{VIRSH} net-define {shlex.quote(path)}", "the new definition"),
                  Run(host, f"{VIRSH} net-start {q}", "start it again"),
                  Run(host, f"{VIRSH} net-autostart {q}", "start it at boot")]
    return Plan(ID, f"redefine {', '.join(finding.params['networks'])} on {host}",
                tuple(steps), destructive=True)
