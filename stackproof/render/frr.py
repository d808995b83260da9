"""FRR configuration rendered from the site model: pure text, no host access.

`render_frr_conf` writes frr.conf in the exact spelling and order FRR 8.x prints in
`show running-config`, so the intended file and the running config compare line by line
(see `normalize_running_config`) and `frr-reload.py --test` reports no difference once the
file is loaded.
"""
from __future__ import annotations

import re

from stackproof.expect import BgpIntent, bgp_intent
from stackproof.services import service_command
from stackproof.site import Site

# The report's permit-all policy for eBGP (FRR >= 7.4 refuses to send or accept eBGP routes
# without a policy: `bgp ebgp-requires-policy`).
ALLOW_ALL_PREFIX_LIST = "ALLOW_ALL_PREFIXES"


def render_frr_conf(site: Site, host: str) -> str:
    """The intended /etc/frr/frr.conf of a BGP host."""
    return render_bgp_intent(bgp_intent(site, host))


def render_bgp_intent(intent: BgpIntent) -> str:
    lines = [
        "frr defaults traditional",
        f"hostname {intent.host}",
        "log syslog informational",
        # zebra prints `no ipv6 forwarding` when the sysctl is off; without the line the
        # file and the running config always differ on it (frr-reload wants to delete it).
        "no ipv6 forwarding",
        "service integrated-vtysh-config",
        "!",
        f"router bgp {intent.asn}",
        f" bgp router-id {intent.router_id}",
        f" timers bgp {intent.keepalive} {intent.hold}",
    ]
    for n in intent.neighbors:
        lines.append(f" neighbor {n.address} remote-as {n.remote_as}")
        lines.append(f" neighbor {n.address} update-source {n.update_source}")
    lines += [" !", " address-family ipv4 unicast"]
    if intent.redistribute_connected:
        lines.append("  redistribute connected")
    for n in intent.neighbors:
        # FRR prints route-reflector-client ahead of next-hop-self
        if n.route_reflector_client:
            lines.append(f"  neighbor {n.address} route-reflector-client")
        if n.next_hop_self:
            lines.append(f"  neighbor {n.address} next-hop-self")
        if n.route_map:
            lines.append(f"  neighbor {n.address} route-map {n.route_map} in")
            lines.append(f"  neighbor {n.address} route-map {n.route_map} out")
    lines += [" exit-address-family", "exit", "!"]
    for name in sorted({n.route_map for n in intent.neighbors if n.route_map}):
        lines += [
            f"ip prefix-list {ALLOW_ALL_PREFIX_LIST} seq 5 permit 0.0.0.0/0 le 32",
            "!",
            f"route-map {name} permit 10",
            f" match ip address prefix-list {ALLOW_ALL_PREFIX_LIST}",
            "exit",
            "!",
        ]
    # No `line vty`: FRR 8.4 never prints an empty `line vty` block, so frr-reload would
    # always want to add it back.
    return "\n".join(lines) + "\n"


# Lines `show running-config` prints that are not configuration: the banner, the version
# stamp and the end marker. `!` lines are separators.
_NOISE = re.compile(r"^(Building configuration\.\.\.|Current configuration:|frr version .*|end|!)$")


def normalize_running_config(text: str) -> list[str]:
    """Configuration lines of `vtysh -c 'show running-config'` or of an frr.conf, without
    banner, version stamp, `!` separators, `end` and blank lines; indentation kept (it
    carries the nesting)."""
    out = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or _NOISE.match(line.strip()):
            continue
        out.append(line)
    return out


# The line set_bgpd writes, and facts.frr.bgpd_enabled reads: one spelling for both.
BGPD_LINE = re.compile(r"^bgpd=.*$", re.MULTILINE)


def set_bgpd(daemons_text: str, enabled: bool) -> str:
    """The machine's /etc/frr/daemons text with `bgpd=yes|no` (the report's sed), every other
    line untouched (every `bgpd=` line if there are several: the file is sourced by
    frrcommon.sh, the last one would win). Appends the setting when the file has none."""
    want = f"bgpd={'yes' if enabled else 'no'}"
    if BGPD_LINE.search(daemons_text):
        return BGPD_LINE.sub(want, daemons_text)
    sep = "" if not daemons_text or daemons_text.endswith("\n") else "\n"
    return f"{daemons_text}{sep}{want}\n"


def frr_service_command(action: str, os_family: str = "debian", init: str = "sysv") -> list[str]:
    """How to start/stop/restart/reload FRR on such a host (see stackproof.services):
    `systemctl ACTION frr` under systemd, `service frr ACTION` (FRR's frrinit.sh) under sysv.
    `reload` runs frr-reload.py --reload /etc/frr/frr.conf either way."""
    return service_command("frr", action, os_family, init)
