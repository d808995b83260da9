"""Delete static routes that override prefixes BGP provides (the report's old
`ip route add <remote NAT network> via <its host>`), now and in the OS family's route files.

Managed scope: live routes that shadow a BGP-learned prefix of the site (deleted by their
exact protocol, metric and device) and the route lines naming that prefix and gateway in the
OS family's route files; every other route and line is kept.
"""
from __future__ import annotations

import shlex

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run

ID = "static_route"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0       # zebra installs the BGP route within ~0.3 s of the delete

# Where each OS family keeps routes added at boot (ifcfg route-<iface> files in `ip route`
# syntax; ifupdown `up ip route add ...` lines). NetworkManager keyfiles are not edited:
# the plan says so.
ROUTE_FILES = {
    "rhel": "/etc/sysconfig/network-scripts/route-*",
    "debian": "/etc/network/interfaces /etc/network/interfaces.d/*",
}

# Drop a non-comment line that names both the prefix and the gateway and is a route line:
# ifcfg's `<prefix> via <gw> ...` or any `... route add ...` / `ip route ...` line.
_AWK = ('/^[[:space:]]*#/ {print; next} '
        '{d = 0; g = 0; r = 0; for (i = 1; i <= NF; i++) '
        '{if ($i == p) d = 1; if ($i == gw) g = 1; if ($i == "route") r = 1} '
        'if (d && g && (r || $1 == p)) next; print}')


def delete_command(route: dict) -> str:
    """`ip route del` naming exactly the route the check saw (protocol, metric, device), so
    BGP's own route for the same prefix is never the one deleted."""
    words = ["ip", "route", "del", route["dst"]]
    if len(route["gateways"]) == 1:
        words += ["via", route["gateways"][0]]
    if route.get("dev"):
        words += ["dev", route["dev"]]
    words += ["proto", route["protocol"]]
    if route.get("metric") is not None:
        words += ["metric", str(route["metric"])]
    words += ["table", "main"]
    return " ".join(shlex.quote(w) for w in words)


def persistent_command(files: str, prefix: str, gateway: str, run_id: str,
                       backup_dir: str) -> str:
    """Remove matching route lines from each existing file; files with no such line are left
    untouched. The old file goes to `backup_dir` + its path (never next to it:
    /etc/network/interfaces.d/* is sourced at boot) and no backup is overwritten."""
    awk = f"awk -v p={shlex.quote(prefix)} -v gw={shlex.quote(gateway)} {shlex.quote(_AWK)}"
    new = f"\"$f\".stackproof-{shlex.quote(run_id)}.new"
    bdir = shlex.quote(backup_dir.rstrip("/"))
    return (f"for f in {files}; do [ -f \"$f\" ] || continue; "
            f"case \"$f\" in *.stackproof-*) continue;; esac; "   # old releases' backups
            f"{awk} \"$f\" > {new} || exit 1; "
            f"if cmp -s \"$f\" {new}; then rm -f {new}; "
            f"else b={bdir}\"$f\"; n=1; while [ -e \"$b\" ]; do n=$((n+1)); "
            f"b={bdir}\"$f.$n\"; done; "
            f"( umask 077 && mkdir -p \"$(dirname \"$b\")\" ) && cp -a \"$f\" \"$b\" && "
            f"chmod --reference=\"$f\" {new} && chown --reference=\"$f\" {new} && "
            f"mv -f {new} \"$f\" && echo \"removed the route from $f (old file kept in $b)\"; "
            f"fi; done")


def plan(ctx, finding) -> Plan:
    host = finding.params.get("on", finding.host)
    os = profile(ctx.site, host)
    routes = finding.params["routes"]
    steps = [Run(host, delete_command(r), f"{r['dst']} must come from BGP", ok_rc=(0, 2))
             for r in routes]
    files = ROUTE_FILES[os.family]
    for r in routes:
        for gw in r["gateways"]:
            steps.append(Run(host, persistent_command(files, r["dst"], gw, ctx.run_id,
                                                    ctx.backup_dir),
                             f"so the route does not come back at boot ({files}; "
                             f"NetworkManager connections are not edited: check "
                             f"`nmcli connection show` for ipv4.routes)"))
    return Plan(ID, f"delete {len(routes)} static route(s) shadowing BGP on {host}",
                tuple(steps))
