"""libvirt network XML rendered from the site model: pure text, no host access."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from stackproof.site import NatNetwork, Site


def nat_network_of(site: Site, host: str, nat_network: NatNetwork | str) -> NatNetwork:
    if isinstance(nat_network, NatNetwork):
        return nat_network
    return site.nat_network(host, nat_network)


def dhcp_hosts(site: Site, host: str, network: str) -> list[tuple[str, str, str]]:
    """(mac, name, ip) of every inventory guest on `host`'s network `network`, in
    inventory order: the fixed DHCP reservations the network must hold."""
    return [(g.mac, name, str(g.address)) for name, g in site.guests().items()
            if g.hypervisor == host and g.network == network]


def network_xml(site: Site, host: str, nat_network: NatNetwork | str) -> str:
    """The intended `virsh net-define` XML of one NAT network of a physical host: name,
    forward mode nat, bridge (STP off), gateway/netmask, DHCP range and one reservation per
    guest. No uuid and no bridge MAC: libvirt generates them on define."""
    nw = nat_network_of(site, host, nat_network)
    net = ET.Element("network")
    ET.SubElement(net, "name").text = nw.name
    ET.SubElement(net, "forward", mode=nw.forward_mode)
    ET.SubElement(net, "bridge", name=nw.bridge, stp="off", delay="0")
    ip = ET.SubElement(net, "ip", address=str(nw.gateway), netmask=str(nw.cidr.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=str(nw.dhcp_range.start), end=str(nw.dhcp_range.end))
    for mac, name, addr in dhcp_hosts(site, host, nw.name):
        ET.SubElement(dhcp, "host", mac=mac, name=name, ip=addr)
    ET.indent(net, space="  ")
    return ET.tostring(net, encoding="unicode") + "\n"


def dhcp_host_xml(mac: str, name: str, ip: str) -> str:
    """One reservation as `virsh net-update NET add ip-dhcp-host XML --live --config` takes it."""
    return ET.tostring(ET.Element("host", mac=mac, name=name, ip=ip), encoding="unicode")
