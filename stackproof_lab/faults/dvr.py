"""Floating-IP (DVR) faults from the report: a /32 missing on the host fronting the external
network, a /32 missing on the compute's hypervisor, the floating IP missing on the compute
node's br-ex. Each one really cuts the floating IP off (a ping from the controller fails):
the fronting host then ARPs for it on its bridge (Destination Host Unreachable), the
hypervisor sends it back along the BGP-learned /24 (the report's ICMP redirect), and the
compute node's kernel does not take the packet, so nothing translates it.

Only the running state is broken; what is kept for boot stays (a reboot would heal it).
"""
from __future__ import annotations

import shlex

from stackproof.expect import floating_ip_plumbing
from stackproof_lab.faults import Fault, FaultError, register


def _routes_on(site, host):
    return [r for p in floating_ip_plumbing(site) for r in p.routes.get(host, ())]


def _addresses_on(site, host):
    return [a for p in floating_ip_plumbing(site) for a in p.addresses.get(host, ())]


def _front(site):
    """The fronting host, if any floating IP is routed through it."""
    ext = site.openstack.external_network if site.openstack else None
    return ext.gateway_on.host if ext and _routes_on(site, ext.gateway_on.host) else None


def _compute_hypervisor(site):
    """The first host other than the fronting one that routes a floating IP on."""
    front = site.openstack.external_network.gateway_on.host if site.openstack else None
    return next((h for h in site.hosts if h != front and _routes_on(site, h)), None)


def _compute(site):
    """The first compute node that holds a floating IP on its external bridge."""
    return next((h for h in site.hosts if site.hosts[h].kind != "instance"
                 and _addresses_on(site, h)), None)


def _need(host, what):
    if host is None:
        raise FaultError(f"this site has no {what}")
    return host


def _del_routes(lab, site, host):
    routes = _routes_on(site, _need(host, "floating-IP route"))
    if not routes:
        raise FaultError(f"{host} routes no floating IP")
    lab.shell(host).sh(" ; ".join(f"ip route del {shlex.quote(r.prefix)}" for r in routes),
                       check=False)


def _add_routes(lab, site, host):
    lab.shell(host).sh(" && ".join(
        f"ip route replace {shlex.quote(r.prefix)} via {shlex.quote(r.via)}"
        for r in _routes_on(site, host)))


def _del_addresses(lab, site, host):
    addrs = _addresses_on(site, _need(host, "floating IP on an external bridge"))
    if not addrs:
        raise FaultError(f"{host} holds no floating IP")
    lab.shell(host).sh(" ; ".join(f"ip addr del {shlex.quote(a.cidr)} dev {shlex.quote(a.dev)}"
                                  for a in addrs), check=False)


def _add_addresses(lab, site, host):
    lab.shell(host).sh(" && ".join(
        f"ip addr replace {shlex.quote(a.cidr)} dev {shlex.quote(a.dev)}"
        for a in _addresses_on(site, host)))


register(Fault("dvr-front-route-missing", "dvr",
               "the host fronting the external network has no /32 for the floating IPs "
               "behind other hypervisors (it ARPs for them on its bridge)",
               inject=_del_routes, heal=_add_routes, default_host=_front))
register(Fault("dvr-compute-route-missing", "dvr",
               "the compute's hypervisor has no /32 towards its compute guest (the packet "
               "follows the BGP /24 back: ICMP redirect)",
               inject=_del_routes, heal=_add_routes, default_host=_compute_hypervisor))
register(Fault("dvr-fip-not-on-br-ex", "dvr",
               "the floating IP is not on the compute node's br-ex (its kernel does not take "
               "the packet)",
               inject=_del_addresses, heal=_add_addresses, default_host=_compute))
