"""Add (or correct) a guest's fixed DHCP reservation, live and in the saved definition.

Managed scope: the reservations of the inventory's guests on the inventory's NAT network
(`net-update add-last|modify ip-dhcp-host`, live and saved); other reservations and networks
are kept.
"""
from __future__ import annotations

import shlex

from stackproof.facts.libvirt import VIRSH
from stackproof.remedy import Plan, Run
from stackproof.render.libvirt import dhcp_host_xml

ID = "libvirt_dhcp_host"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def plan(ctx, finding) -> Plan:
    host, steps = finding.host, []
    for action, rows in (("add-last", finding.params["add"]),
                         ("modify", finding.params["modify"])):
        for network, mac, name, ip in rows:
            xml = dhcp_host_xml(mac, name, ip)
            steps.append(Run(host, f"{VIRSH} net-update {shlex.quote(network)} {action} "
                                   f"ip-dhcp-host {shlex.quote(xml)} --live --config",
                             f"{name} always gets {ip}"))
    return Plan(ID, f"fix DHCP reservations on {host}", tuple(steps))
