"""chrony configuration rendered from the site model: pure text, no host access.

Clients take their time from the site's time server (`server <name> iburst`, the report's
line); the time server serves its own clock (`local stratum 10`) to every site network.
The command socket stays at chronyd's default (/run/chrony/chronyd.sock), so `chronyc`
works without options.
"""
from __future__ import annotations

from stackproof.expect import site_networks, time_intent
from stackproof.osfamily import profile
from stackproof.site import Site

# Where each OS family's chrony package keeps the drift file.
DRIFTFILE = {"rhel": "/var/lib/chrony/drift", "debian": "/var/lib/chrony/chrony.drift"}
def chrony_conf_path(site: Site, host: str) -> str:
    return profile(site, host).chrony_conf


def chrony_conf(site: Site, host: str) -> str | None:
    """The intended chrony.conf of `host`, or None when the site names no time server."""
    intent = time_intent(site, host)
    if intent is None:
        return None
    lines = [f"# chrony for {host} (site {site.site}), rendered by stackproof"]
    if intent.server is not None:
        lines.append(f"server {intent.server} iburst")
    if intent.serves:
        lines.append("local stratum 10")
        lines += [f"allow {net}" for net in site_networks(site)]
    lines += [f"driftfile {DRIFTFILE[site.os_family_of(host)]}",
              "makestep 1 3"]
    return "\n".join(lines) + "\n"
