"""Neutron's Open vSwitch agent configuration (openvswitch_agent.ini) from the site model:
pure text, no host access.

    [ovs]            local_ip (the node's tunnel address), integration/tunnel bridges,
                     bridge_mappings (physnet:br-ex), datapath_type
    [agent]          tunnel_types, l2_population where the inventory asks, vxlan_udp_port
                     when not the default
    [securitygroup]  the OVS firewall driver

`required_options` is what the suite insists on; `with_options` edits an existing file in
place (keeping the operator's other settings and comments), which is how a remediation
fixes it.
"""
from __future__ import annotations

import re

from stackproof.expect import overlay_endpoints, physical_bridges
from stackproof.render.ovs import DATAPATH, DEFAULT_VXLAN_PORT
from stackproof.site import Site

AGENT_INI = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"
AGENT_SERVICE = "neutron-openvswitch-agent"     # the unit / init script on both families

Option = tuple[str, str]                         # (section, key)


def required_options(site: Site, host: str) -> dict[Option, str]:
    """The agent options the site depends on, with their intended values."""
    ov = site.overlay
    want: dict[Option, str] = {
        ("ovs", "local_ip"): overlay_endpoints(site)[host],
        ("ovs", "tunnel_bridge"): ov.tunnel_bridge,
        ("agent", "tunnel_types"): ",".join(ov.tunnel_types),
    }
    if host in ov.l2_population:
        want[("agent", "l2_population")] = "True"
    return want


def agent_options(site: Site, host: str) -> dict[Option, str]:
    """Everything the lab writes: the required options plus the usual companions."""
    ov = site.overlay
    opts: dict[Option, str] = {("ovs", "integration_bridge"): ov.integration_bridge}
    opts.update({k: v for k, v in required_options(site, host).items() if k[0] == "ovs"})
    mappings = physical_bridges(site, host)
    if mappings:
        opts[("ovs", "bridge_mappings")] = ",".join(f"{p}:{b}" for p, b in mappings.items())
    opts[("ovs", "datapath_type")] = DATAPATH
    opts.update({k: v for k, v in required_options(site, host).items() if k[0] == "agent"})
    if ov.udp_port != DEFAULT_VXLAN_PORT:
        opts[("agent", "vxlan_udp_port")] = str(ov.udp_port)
    opts[("securitygroup", "firewall_driver")] = "openvswitch"
    opts[("securitygroup", "enable_security_group")] = "True"
    return opts


def render_agent_ini(site: Site, host: str) -> str:
    head = ["# openvswitch_agent.ini: rendered by stackproof from the site inventory."]
    return with_options("\n".join(head) + "\n", agent_options(site, host))


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*[=:]")


def with_options(text: str, options: dict[Option, str]) -> str:
    """`text` with each (section, key) set to its value: an existing line is replaced (the
    first; later duplicates dropped, as oslo.config keeps the last), a missing key is added
    at the end of its section, a missing section is appended. Comments stay."""
    lines = text.splitlines()
    pending = dict(options)
    out: list[str] = []
    section: str | None = None

    def flush(sec: str | None) -> None:
        for (s, k), v in list(pending.items()):
            if s == sec:
                # keep blank lines that close the section after the new keys
                at = len(out)
                while at > 0 and not out[at - 1].strip():
                    at -= 1
                out.insert(at, f"{k} = {v}")
                del pending[(s, k)]

    done: set[Option] = set()
    for line in lines:
        m = _SECTION.match(line)
        if m:
            flush(section)
            section = m.group(1).strip()
            out.append(line)
            continue
        k = _KEY.match(line)
        if k and section is not None and not line.lstrip().startswith(("#", ";")):
            key = (section, k.group(1))
            if key in done:
                continue                       # a later duplicate of a key we set
            if key in pending:
                out.append(f"{key[1]} = {pending.pop(key)}")
                done.add(key)
                continue
        out.append(line)
    flush(section)
    for sec in dict.fromkeys(s for s, _ in pending):
        if out and out[-1].strip():
            out.append("")
        out.append(f"[{sec}]")
        out += [f"{k} = {v}" for (s, k), v in list(pending.items()) if s == sec]
    return "\n".join(out) + "\n"


def without_option(text: str, section: str, key: str) -> str:
    """`text` with every `key` line of `section` removed (used to break a lab host)."""
    out, current = [], None
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            current = m.group(1).strip()
        k = _KEY.match(line)
        if k and current == section and k.group(1) == key:
            continue
        out.append(line)
    return "\n".join(out) + "\n"
