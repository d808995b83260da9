"""Define (if needed), start and autostart a libvirt NAT network.

Managed scope: the inventory's NAT networks: defined from the inventory only when absent,
then started and set to autostart; an existing definition and other networks are kept.
"""
from __future__ import annotations

import shlex

from stackproof.facts.libvirt import VIRSH, libvirt_state
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.libvirt import network_xml

ID = "libvirt_network_start"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    host = finding.host
    state = libvirt_state(ctx.fleet[host])
    steps = []
    for name in finding.params["networks"]:
        nw = next(n for n in ctx.site.hosts[host].nat_networks if n.name == name)
        got = state.networks.get(name)
        q = shlex.quote(name)
        if got is None:
            path = ctx.scratch_path(f"{name}.xml")
            steps += [WriteFile(host, path, network_xml(ctx.site, host, nw),
                                "the network as the inventory defines it", mode="0600"),
                      Run(host, f"{VIRSH} net-define {shlex.quote(path)}", "define it")]
        if got is None or not got.active:
            steps.append(Run(host, f"{VIRSH} net-start {q}", "bridge, dnsmasq and NAT rules"))
        if nw.autostart and (got is None or not got.autostart):
            steps.append(Run(host, f"{VIRSH} net-autostart {q}", "start it at boot"))
    return Plan(ID, f"start {', '.join(finding.params['networks'])} on {host}", tuple(steps))
