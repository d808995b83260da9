"""Redefine a NAT network whose shape drifted: this restarts it, cutting its guests off.

Managed scope: the inventory network's definition (forward mode, bridge, gateway address,
DHCP range and the inventory's guest reservations); it is replaced as a whole, which is why
the plan is destructive. DHCP reservations and <route> elements the inventory does not name
(an operator's other hosts, routes kept for boot) are carried over from the current
definition; another network is never touched.
The new definition is defined (and so validated by libvirt) before the running network is
stopped; if the restart fails, the old definition is defined and started again.
"""
from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET

from stackproof.facts import ReadFailed
from stackproof.facts.libvirt import VIRSH
from stackproof.facts.routes import network_xml_command
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.libvirt import network_xml

ID = "libvirt_network_redefine"
DESTRUCTIVE = True
VERIFY_TIMEOUT = 20.0


def with_kept_entries(new_xml: str, current_xml: str | None) -> str:
    """`new_xml` plus the current definition's reservations whose MAC the new one lacks, and
    its <route> elements the new one lacks. An unreadable current definition adds nothing."""
    if not current_xml:
        return new_xml
    try:
        old = ET.fromstring(current_xml)
    except ET.ParseError:
        return new_xml
    new = ET.fromstring(new_xml)
    dhcp = new.find("./ip/dhcp")
    macs = {h.get("mac", "").lower() for h in new.iterfind("./ip/dhcp/host")}
    changed = False
    for h in old.iterfind("./ip/dhcp/host"):
        if dhcp is not None and h.get("mac", "").lower() not in macs:
            dhcp.append(h)
            changed = True
    routes = {ET.tostring(r) for r in new.iterfind("./route")}
    for r in old.iterfind("./route"):
        if ET.tostring(r) not in routes:
            new.append(r)
            changed = True
    if not changed:
        return new_xml
    ET.indent(new, space="  ")
    return ET.tostring(new, encoding="unicode") + "\n"


def plan(ctx, finding) -> Plan:
    host, steps, undo = finding.host, [], []
    remote = ctx.fleet[host]
    for name in finding.params["networks"]:
        nw = next(n for n in ctx.site.hosts[host].nat_networks if n.name == name)
        q, path = shlex.quote(name), ctx.scratch_path(f"{name}.xml")
        before = shlex.quote(path + ".before")
        res = remote.run(network_xml_command(name))
        if not res.ok and "not found" not in (res.stderr + res.stdout).lower():
            # only "no such network" is an empty definition: anything else blocks the plan
            raise ReadFailed(host, res, f"read the definition of {name}")
        xml = with_kept_entries(network_xml(ctx.site, host, nw), res.stdout if res.ok else None)
        steps += [Run(host, f"{VIRSH} net-dumpxml --inactive {q} > {before}",
                      "keep the old definition"),
                  WriteFile(host, path, xml, "the network as the inventory defines it (other "
                            "reservations and routes kept)", mode="0600"),
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
