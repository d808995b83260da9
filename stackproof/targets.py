"""Which inventory hosts a `@role:<selector>` tag targets."""
from __future__ import annotations

from stackproof.expect import bgp_hosts, iptables_rules
from stackproof.site import ROLES, Site

KINDS = {"physical", "guest", "instance"}


def select_hosts(site: Site, selector: str) -> list[str]:
    """Host names for a selector: a role, a host kind, `all`, a time-sync role, `bgp`, or
    `firewall` (the hosts `expect.iptables_rules` gives rules for)."""
    if selector == "all":
        return list(site.hosts)
    if selector in KINDS:
        return [n for n, h in site.hosts.items() if h.kind == selector]
    if selector == "bgp":
        return bgp_hosts(site)
    if selector == "firewall":       # hosts the site expects iptables rules on
        return [n for n in site.hosts if iptables_rules(site, n)]
    if selector == "time_server":
        return [site.time.server] if site.time else []
    if selector == "time_client":
        return [n for n in site.hosts if site.time and n != site.time.server]
    if selector in ROLES:
        return site.with_role(selector)
    raise ValueError(f"unknown target selector @role:{selector}: use a role "
                     f"({', '.join(sorted(ROLES))}), a kind ({', '.join(sorted(KINDS))}), "
                     "all, bgp, firewall, time_server or time_client")
