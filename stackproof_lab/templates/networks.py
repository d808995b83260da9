"""The site's IPv4 networks and the external gateway, read off the inventory."""
from __future__ import annotations

from stackproof.site import Site


def all_networks(site: Site) -> list[str]:
    """Underlay, every host's NAT networks, the external and the tenant network (once each)."""
    nets = [str(site.underlay_cidr)]
    for h in site.physical_hosts().values():
        nets += [str(nw.cidr) for nw in h.nat_networks]
    if site.openstack is not None:
        nets += [str(site.openstack.external_network.cidr),
                 str(site.openstack.tenant_network.cidr)]
    return list(dict.fromkeys(nets))


def external_gateway(site: Site) -> tuple[str, str, str] | None:
    """(host, address/len, bridge): the report's `ip addr add <gateway>/<len> dev <bridge>`,
    with the inventory's values."""
    if site.openstack is None:
        return None
    ext = site.openstack.external_network
    return ext.gateway_on.host, f"{ext.gateway}/{ext.cidr.prefixlen}", ext.gateway_on.bridge
