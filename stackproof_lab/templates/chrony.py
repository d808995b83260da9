"""chrony.conf as the report's hosts keep it: clients `server <time server> iburst`, the time
server serves its own clock (`local stratum 10`) to the site's networks."""
from __future__ import annotations

from stackproof_lab.templates.networks import all_networks
from stackproof.osfamily import profile
from stackproof.site import Site

# where each OS family's chrony package keeps its drift file (a fact of the packages)
DRIFTFILE = {"rhel": "/var/lib/chrony/drift", "debian": "/var/lib/chrony/chrony.drift"}


def conf_path(site: Site, host: str) -> str:
    return profile(site, host).chrony_conf


def chrony_conf(site: Site, host: str) -> str | None:
    """None when the inventory names no time server."""
    if site.time is None:
        return None
    server = site.time.server
    lines = [f"# {host}: time from {server}" if host != server
             else f"# {host}: the site's time server"]
    if host == server:
        lines.append("local stratum 10")
        lines += [f"allow {net}" for net in all_networks(site)]
    else:
        lines.append(f"server {server} iburst")
    lines += [f"driftfile {DRIFTFILE[site.os_family_of(host)]}", "makestep 1 3"]
    return "\n".join(lines) + "\n"


def time_hosts(site: Site) -> list[str]:
    """Every host once the site has a time server; the server first (clients find it up)."""
    if site.time is None:
        return []
    return sorted(site.hosts, key=lambda h: h != site.time.server)
