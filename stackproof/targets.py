"""Which inventory hosts a `@role:<selector>` tag targets."""
from __future__ import annotations

from stackproof.expect import (bgp_hosts, floating_ip_plumbing, floating_node_ip_hosts,
                               iptables_rules, kube_node_hosts)
from stackproof.site import ROLES, Site

KINDS = {"physical", "guest", "instance"}


def select_hosts(site: Site, selector: str) -> list[str]:
    """Host names for a selector: a role, a host kind, `all`, a time-sync role, `bgp`, or
    `firewall` (the hosts `expect.iptables_rules` gives rules for), or `l2_population` (the
    overlay nodes the inventory asks l2_population of), or `fip_route`/`fip_address`/
    `fip_front` (the hops of the floating IPs' path, see _fip_hops)."""
    if selector == "all":
        return list(site.hosts)
    if selector in KINDS:
        return [n for n, h in site.hosts.items() if h.kind == selector]
    if selector == "bgp":
        return bgp_hosts(site)
    if selector == "firewall":       # hosts the site expects iptables rules on
        return [n for n in site.hosts if iptables_rules(site, n)]
    if selector == "neutron_agent":    # hosts that run a Neutron agent (OpenStack layer)
        return [n for n, h in site.hosts.items() if {"ovs_agent", "network_node"} & set(h.roles)]
    if selector == "time_server":
        return [site.time.server] if site.time else []
    if selector == "l2_population":  # overlay nodes whose agent must use l2_population
        return [n for n in site.overlay.l2_population if n in site.with_role("ovs_agent")]
    if selector in ("fip_route", "fip_address", "fip_front"):
        return _fip_hops(site, selector)
    if selector == "time_client":
        return [n for n in site.hosts if site.time and n != site.time.server]
    if selector == "kube_node":          # hosts that run an inventory Kubernetes node
        return kube_node_hosts(site)
    if selector == "kube_floating_ip":   # ... whose node IP is their floating IP
        return floating_node_ip_hosts(site)
    if selector in ROLES:
        return site.with_role(selector)
    raise ValueError(f"unknown target selector @role:{selector}: use a role "
                     f"({', '.join(sorted(ROLES))}), a kind ({', '.join(sorted(KINDS))}), "
                     "all, bgp, firewall, neutron_agent, l2_population, fip_route, "
                     "fip_address, fip_front, time_server, time_client, kube_node or "
                     "kube_floating_ip")


def _fip_hops(site: Site, selector: str) -> list[str]:
    """Hosts on a floating IP's path (expect.floating_ip_plumbing): `fip_route` those that
    route a /32 on, `fip_address` those (not the instances) that hold one on a device,
    `fip_front` the host fronting the external network."""
    plumbing = floating_ip_plumbing(site)
    if selector == "fip_front":
        return [site.openstack.external_network.gateway_on.host] if plumbing else []
    key = "routes" if selector == "fip_route" else "addresses"
    return [n for n, h in site.hosts.items() if h.kind != "instance"
            and any(n in getattr(p, key) for p in plumbing)]
