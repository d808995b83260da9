"""Add the /32 routes a floating IP needs on a host (the report's `ip route add <fip>/32 via
<next hop>`), and keep them for boot (stackproof.render.routes): a route into a libvirt NAT
network in that network's definition (`virsh net-define`, applied whenever libvirt starts
it), any other in the OS family's file (RHEL route-<dev>, Debian a marked block in
/etc/network/interfaces).

Managed scope: the /32 routes of the inventory's floating IPs (live, in the NAT network's
<route> elements, or in the marked block of the OS family's route file); the rest of the
network definition (other reservations and routes) and of the route files is kept.
"""
from __future__ import annotations

import posixpath
import shlex

from stackproof.facts.libvirt import VIRSH
from stackproof.facts.routes import network_xml_command
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile, read_file
from stackproof.render.routes import (Keeper, StaticRoute, keeper, render_persisted,
                                      with_libvirt_routes)

ID = "fip_route"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0       # a route is there as soon as `ip route replace` returns


def runtime_command(r: StaticRoute) -> str:
    """Idempotent: `replace` adds the route, or corrects a /32 that points elsewhere."""
    return " ".join(shlex.quote(w) for w in ("ip", "route", "replace", r.prefix, "via", r.via))


def _keep_steps(ctx, host: str, k: Keeper, routes: list[StaticRoute]) -> list:
    remote = ctx.fleet[host]
    what = "the route comes back" if len(routes) == 1 else "the routes come back"
    if k.kind == "libvirt":
        res = remote.run(network_xml_command(k.target))
        if not res.ok:
            return []                  # the libvirt layer's scenarios report a missing network
        path = ctx.scratch_path(f"{k.target}-routes.xml")
        q = shlex.quote
        return [Run(host, f"{network_xml_command(k.target)} > {q(path + '.before')}",
                    "keep the network's current definition"),
                WriteFile(host, path, with_libvirt_routes(res.stdout, routes),
                          "the definition with the route(s) added", mode="0600"),
                Run(host, f"{VIRSH} net-define {q(path)}",
                    f"{what} whenever libvirt starts {k.target} (the running network is not "
                    f"restarted)")]
    current = read_file(remote, k.target)       # None: no such file; unreadable raises
    return [Run(host, f"mkdir -p {shlex.quote(posixpath.dirname(k.target))}",
                "the route file's directory"),
            WriteFile(host, k.target, render_persisted(k.kind, current, routes),
                      f"{what} at boot", mode=None if current is not None else "0644")]


def plan(ctx, finding) -> Plan:
    host = finding.host
    routes = [StaticRoute(r["prefix"], r["via"], r["dev"]) for r in finding.params["routes"]]
    runtime, persist = finding.params.get("runtime"), finding.params.get("persist")
    steps = []
    if runtime:
        steps += [Run(host, runtime_command(r),
                      f"floating IP {r.prefix.split('/')[0]} goes on towards {r.via}")
                  for r in routes]
    if persist:
        family = profile(ctx.site, host).family
        by_keeper: dict[Keeper, list[StaticRoute]] = {}
        for r in routes:
            by_keeper.setdefault(keeper(ctx.site, host, family, r), []).append(r)
        for k, rs in by_keeper.items():
            steps += _keep_steps(ctx, host, k, rs)
    what = ", ".join(f"{r.prefix} via {r.via}" for r in routes)
    verb = "add and keep" if runtime and persist else "add" if runtime else "keep for boot"
    return Plan(ID, f"{verb} {what} on {host}", tuple(steps))
