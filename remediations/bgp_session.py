"""BGP sessions whose both ends are configured as intended: give them time to come up, and
kick the ones FRR holds back. A session in Idle (FRR backs off after a NOTIFICATION) or in
Connect/Active (FRR's connect-retry timer) is reset; the routes of a
session Established moments ago are waited for; an older session whose routes are missing
is asked to send them again (route refresh). Nothing here touches a configuration file.

Managed scope: the BGP sessions of the inventory's neighbors, reset (`clear bgp <addr>`) or
refreshed only; no configuration line, file or other session is touched.
"""
from __future__ import annotations

import shlex

from stackproof.remedy import Plan, Run

ID = "bgp_session"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 30.0       # Established ~1-2 s after the cause is gone, routes ~1 s later


def clear_command(address: str, mode: str) -> str:
    what = f"clear bgp ipv4 unicast {address} soft in" if mode == "soft" else \
        f"clear bgp {address}"
    return f"vtysh -c {shlex.quote(what)}"


def plan(ctx, finding) -> Plan:
    host = finding.params.get("on", finding.host)
    peers = finding.params["peers"]
    if finding.params.get("blocked"):        # the cause is outside BGP (a network is down)
        return Plan(ID, f"BGP routes on {host}", (), blocked=finding.params["blocked"])
    if finding.params.get("mode") == "wait":
        return Plan(ID, f"wait for the routes of {', '.join(peers)} on {host} (sessions just "
                    f"came up)", ())
    if finding.params.get("mode") == "soft":
        return Plan(ID, f"ask {', '.join(peers)} to send their routes to {host} again", tuple(
            Run(host, clear_command(a, "soft"), "route refresh: the peer re-sends its routes")
            for a in peers))
    idle = finding.params.get("idle", [])
    waiting = [a for a in peers if a not in idle]
    # A session in Connect/Active may be waiting for FRR's connect-retry timer (120 s with
    # `frr defaults traditional`): after a neighbor with an MD5 password was re-added, its
    # first SYN went out before the password was set and was dropped by the peer's kernel.
    # Resetting it connects at once; a session already connecting loses nothing.
    steps = tuple(Run(host, clear_command(a, "reset"),
                      "Idle: restart the session now instead of after FRR's back-off")
                  for a in idle) + \
        tuple(Run(host, clear_command(a, "reset"),
                  "Connect/Active: connect now instead of after FRR's connect-retry timer")
              for a in waiting)
    summary = f"reset {', '.join(idle)} on {host}" if idle else ""
    if waiting:
        summary += ("; " if summary else "") + \
            f"reset {', '.join(waiting)} on {host} (FRR is connecting) and wait for it"
    return Plan(ID, summary, steps)
