"""Point chrony at the site's time server (`server <name> iburst`), then restart it.

Managed scope: in chrony.conf, the `server` and `pool` lines (the host's time sources); on
the time server also `local` and one `allow` line per site network. Everything else is kept
as it is: comments, `makestep`, `driftfile`, `allow` lines for other networks, `deny`, ...
"""
from __future__ import annotations

from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile, read_file

ID = "chrony_config"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 10.0


def with_time_server(conf_text: str, server: str) -> str:
    """Replace every server/pool line by one `server <server> iburst`; keep the rest."""
    out, placed = [], False
    for line in conf_text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] in ("server", "pool"):
            if not placed:
                out.append(f"server {server} iburst")
                placed = True
            continue
        out.append(line)
    if not placed:
        out.insert(0, f"server {server} iburst")
    return "\n".join(out) + "\n"


def serving(conf_text: str, networks: list[str]) -> str:
    """The time server's config: its own clock at stratum 10, open to the site's networks.
    An operator's `allow` for any other network stays where it is."""
    def managed(line: str) -> bool:
        words = line.split("#", 1)[0].split()
        if not words:
            return False
        return words[0] in ("server", "pool", "local") or (
            words[0] == "allow" and len(words) > 1 and words[1] in networks)
    kept = [ln for ln in conf_text.splitlines() if not managed(ln)]
    return "\n".join([*kept, "local stratum 10", *(f"allow {n}" for n in networks)]) + "\n"


def plan(ctx, finding) -> Plan:
    host, server = finding.host, finding.params["server"]
    os = profile(ctx.site, host)
    remote = ctx.fleet[host]
    # a missing file is empty; one that cannot be read blocks the plan (ReadFailed)
    current = read_file(remote, os.chrony_conf) or ""
    if server is None:
        from stackproof.expect import site_networks
        new, summary = serving(current, site_networks(ctx.site)), "serve time to the site"
    else:
        new, summary = with_time_server(current, server), f"use {server} as time source"
    steps = [WriteFile(host, os.chrony_conf, new, summary, mode="0644"),
             Run(host, os.service(os.chrony_service, "restart"), "load the new configuration")]
    if server is not None:
        # iburst selects the source within seconds: wait for it (rc 1 = not yet, tolerated)
        steps.append(Run(host, "chronyc waitsync 20 0 0 1", "wait for the new source",
                         ok_rc=(0, 1)))
    # a restart that fails after the write: the old file is restored, then chrony restarted
    return Plan(ID, f"{summary} on {host}", tuple(steps),
                rollback=(Run(host, os.service(os.chrony_service, "restart"),
                              "chrony on its previous configuration"),))
