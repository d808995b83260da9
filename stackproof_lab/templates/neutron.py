"""The node side of Neutron's Open vSwitch agent as an operator sets it up: the agent's
ini (the report's `tunnel_bridge = br-tun`, `local_ip = <node ip>`, `tunnel_types = vxlan`,
`l2_population = true` where the inventory says), the tunnel endpoints Neutron's server
hands out (every ovs_agent host's address), the operator's physical bridge (br-ex), and the
ports a started agent leaves in OVS (what the lab waits for).

AGENT_INI and AGENT_SERVICE are facts of the Neutron packages (the path and the init script's
name on both OS families), duplicated here as the lab's own constants.
"""
from __future__ import annotations

import ipaddress
import re

from stackproof.site import Site

AGENT_INI = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"
AGENT_SERVICE = "neutron-openvswitch-agent"
VXLAN_DEFAULT_PORT = 4789


def endpoints(site: Site) -> dict[str, str]:
    """ovs_agent host -> its tunnel address (what tunnel_sync returns)."""
    return {n: str(site.address_of(n)) for n in site.with_role("ovs_agent")}


def bridge_mappings(site: Site, host: str) -> dict[str, str]:
    """physnet -> the operator's bridge where the external network leaves the node."""
    if site.openstack is None or "ovs_agent" not in site.hosts[host].roles:
        return {}
    return {site.openstack.external_network.physical_network: site.overlay.external_bridge}


def agent_ini(site: Site, host: str) -> str:
    ov = site.overlay
    ovs = [f"integration_bridge = {ov.integration_bridge}",
           f"tunnel_bridge = {ov.tunnel_bridge}",
           f"local_ip = {site.address_of(host)}"]
    maps = bridge_mappings(site, host)
    if maps:
        ovs.append("bridge_mappings = " + ",".join(f"{p}:{b}" for p, b in maps.items()))
    ovs.append("datapath_type = system")
    agent = [f"tunnel_types = {','.join(ov.tunnel_types)}"]
    if host in ov.l2_population:
        agent.append("l2_population = True")
    if ov.udp_port != VXLAN_DEFAULT_PORT:
        agent.append(f"vxlan_udp_port = {ov.udp_port}")
    return "\n".join([f"# {host}: Open vSwitch agent", "[ovs]", *ovs, "", "[agent]", *agent,
                      "", "[securitygroup]", "firewall_driver = openvswitch",
                      "enable_security_group = True"]) + "\n"


def tunnel_port(kind: str, remote_ip: str) -> str:
    """The agent's port name: the type and the remote IPv4 address as 8 hex digits."""
    return f"{kind}-{int(ipaddress.IPv4Address(remote_ip)):08x}"


def agent_ports(site: Site, host: str, full_mesh: bool = True) -> set[str]:
    """The bridges and ports a started agent leaves on `host`: br-int, br-tun with the
    patch pair, int-/phy- patches to each mapped bridge and (full_mesh) one tunnel port per
    other endpoint."""
    ov = site.overlay
    out = {ov.integration_bridge, ov.tunnel_bridge, "patch-tun", "patch-int"}
    for br in bridge_mappings(site, host).values():
        out |= {br, f"int-{br}"[:15], f"phy-{br}"[:15]}
    if full_mesh:
        me = endpoints(site)[host]
        out |= {tunnel_port(ov.tunnel_types[0], ip) for ip in endpoints(site).values()
                if ip != me}
    return out


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def _key(line: str) -> str | None:
    m = re.match(r"^\s*([A-Za-z0-9_.-]+)\s*[=:]", line)
    return m.group(1) if m and not line.lstrip().startswith(("#", ";")) else None


def edit_option(text: str, section: str, key: str, value: str | None) -> str:
    """`text` with `key` of `section` set to `value` (None: removed), everything else kept:
    how an operator (or a fault) edits the ini by hand."""
    out, current, done = [], None, value is None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            if current == section and not done:
                while out and not out[-1].strip():
                    out.pop()
                out += [f"{key} = {value}", ""]
                done = True
            current = m.group(1).strip()
        elif current == section and _key(line) == key:
            if not done:
                out.append(f"{key} = {value}")
                done = True
            continue
        out.append(line)
    if not done:
        if current != section:
            out += ["", f"[{section}]"]
        out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"
