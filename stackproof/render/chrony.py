"""chrony configuration rendered from the site model: pure text, no host access.

Clients take their time from the site's time server (`server <name> iburst`, the report's
line); the time server serves its own clock (`local stratum 10`) to every site network.
The command socket stays at chronyd's default (/run/chrony/chronyd.sock), so `chronyc`
works without options.
"""
from __future__ import annotations

from stackproof.expect import time_intent
from stackproof.site import Site

# Where each OS family's chrony package keeps the drift file.
DRIFTFILE = {"rhel": "/var/lib/chrony/drift", "debian": "/var/lib/chrony/chrony.drift"}
# Where each OS family's chronyd reads its configuration.
CONF_PATH = {"rhel": "/etc/chrony.conf", "debian": "/etc/chrony/chrony.conf"}


def chrony_conf_path(site: Site, host: str) -> str:
    return CONF_PATH[site.os_family_of(host)]


def site_networks(site: Site) -> list[str]:
    """Every network of the site, in a stable order: underlay, NAT networks, then the
    OpenStack external and tenant networks."""
    nets = [str(site.underlay_cidr)]
    for h in site.physical_hosts().values():
        nets += [str(nw.cidr) for nw in h.nat_networks]
    if site.openstack:
        nets += [str(site.openstack.external_network.cidr),
                 str(site.openstack.tenant_network.cidr)]
    out: list[str] = []
    for n in nets:
        if n not in out:
            out.append(n)
    return out


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
