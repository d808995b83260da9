"""A hypervisor's libvirt NAT network as the operator defines it (`virsh net-define`), with
one fixed reservation per guest, the report's `<host mac=... name=... ip=.../>`."""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from stackproof.site import NatNetwork, Site


def reservations(site: Site, host: str, network: str) -> list[tuple[str, str, str]]:
    """(mac, name, ip) of each inventory guest of `host` on `network`, in inventory order."""
    return [(g.mac, name, str(g.address)) for name, g in site.guests().items()
            if g.hypervisor == host and g.network == network]


def host_element(mac: str, name: str, ip: str) -> str:
    """One reservation, as `virsh net-update NET add ip-dhcp-host '<host .../>'` takes it."""
    return f"<host mac={quoteattr(mac)} name={quoteattr(name)} ip={quoteattr(ip)}/>"


def network_xml(site: Site, host: str, nw: NatNetwork) -> str:
    """No uuid and no bridge MAC: libvirt makes them on define."""
    lines = ["<network>",
             f"  <name>{nw.name}</name>",
             f"  <forward mode={quoteattr(nw.forward_mode)}/>",
             f"  <bridge name={quoteattr(nw.bridge)} stp='off' delay='0'/>",
             f"  <ip address='{nw.gateway}' netmask='{nw.cidr.netmask}'>",
             "    <dhcp>",
             f"      <range start='{nw.dhcp_range.start}' end='{nw.dhcp_range.end}'/>"]
    lines += [f"      {host_element(*r)}" for r in reservations(site, host, nw.name)]
    lines += ["    </dhcp>", "  </ip>", "</network>"]
    return "\n".join(lines) + "\n"
