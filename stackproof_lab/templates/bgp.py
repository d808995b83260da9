"""frr.conf of a BGP host as the report's operator left it, in the spelling `vtysh -c 'show
running-config'` prints (FRR 8.4), so the file and the running config read alike.

The report's design: iBGP in one AS (router-id = underlay address, every other host a
neighbor with `update-source <underlay nic>` and `next-hop-self`, `redistribute connected`);
its first attempt, eBGP with one AS per host, needs a permit-all policy in FRR >= 7.4
(`bgp ebgp-requires-policy`). With route reflectors, a client peers with the reflectors
only; a reflector peers with everyone and marks the clients `route-reflector-client`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from stackproof.site import Site

# The operator's permit-all names for the eBGP variant (the report's route-map).
PERMIT_ALL_MAP = "ALLOW_ALL"
PERMIT_ALL_LIST = "ALLOW_ALL_PREFIXES"


@dataclass(frozen=True)
class Peer:
    name: str                  # inventory name of the peer host
    address: str               # its underlay address
    remote_as: int
    reflected: bool            # this host reflects routes to it (it is a client of ours)


def speakers(site: Site) -> list[str]:
    """Physical hosts with role bgp, in inventory order."""
    return [n for n, h in site.physical_hosts().items() if "bgp" in h.roles]


def peers(site: Site, host: str) -> list[Peer]:
    rrs = set(site.bgp.route_reflectors)
    out = []
    for other in speakers(site):
        if other == host:
            continue
        if rrs and host not in rrs and other not in rrs:
            continue                   # clients talk to reflectors only
        out.append(Peer(other, str(site.hosts[other].underlay.address), site.asn_of(other),
                        reflected=host in rrs and other not in rrs))
    return out


def frr_conf(site: Site, host: str) -> str:
    """/etc/frr/frr.conf of `host`."""
    me = site.hosts[host]
    asn = site.asn_of(host)
    ebgp = site.bgp.mode == "ebgp"
    nbrs = peers(site, host)
    out = ["frr defaults traditional",
           f"hostname {host}",
           "log syslog informational",
           "no ipv6 forwarding",            # zebra prints it with the sysctl off
           "service integrated-vtysh-config",
           "!",
           f"router bgp {asn}",
           f" bgp router-id {me.underlay.address}",
           f" timers bgp {site.bgp.timers.keepalive} {site.bgp.timers.hold}"]
    for p in nbrs:
        out += [f" neighbor {p.address} remote-as {p.remote_as}",
                f" neighbor {p.address} update-source {me.underlay.interface}"]
    out += [" !", " address-family ipv4 unicast", "  redistribute connected"]
    for p in nbrs:
        if p.reflected:
            out.append(f"  neighbor {p.address} route-reflector-client")
        if ebgp:
            out += [f"  neighbor {p.address} route-map {PERMIT_ALL_MAP} in",
                    f"  neighbor {p.address} route-map {PERMIT_ALL_MAP} out"]
        else:
            out.append(f"  neighbor {p.address} next-hop-self")
    out += [" exit-address-family", "exit", "!"]
    if ebgp and nbrs:
        out += [f"ip prefix-list {PERMIT_ALL_LIST} seq 5 permit 0.0.0.0/0 le 32", "!",
                f"route-map {PERMIT_ALL_MAP} permit 10",
                f" match ip address prefix-list {PERMIT_ALL_LIST}", "exit", "!"]
    return "\n".join(out) + "\n"


_BGPD = re.compile(r"^bgpd=.*$", re.MULTILINE)


def daemons_with_bgpd(text: str) -> str:
    """/etc/frr/daemons after the report's `sed -i 's/^bgpd=no/bgpd=yes/'` (appended when the
    package's file has no bgpd line at all)."""
    if _BGPD.search(text):
        return _BGPD.sub("bgpd=yes", text)
    return text + ("" if not text or text.endswith("\n") else "\n") + "bgpd=yes\n"


def nat_routes(site: Site, host: str) -> dict[str, str]:
    """Prefix -> next hop `host` learns once BGP is up: the other speakers' NAT networks,
    via their underlay address (iBGP next-hop-self; a reflector keeps the origin's)."""
    return {str(nw.cidr): str(site.hosts[o].underlay.address)
            for o in speakers(site) if o != host for nw in site.hosts[o].nat_networks}


def learned_routes(site: Site, host: str) -> list[tuple[str, str, str]]:
    """(prefix, next hop, origin) of everything `host` learns over BGP: each other speaker's
    NAT networks and, from the host fronting it, the external network."""
    ext = site.openstack.external_network if site.openstack else None
    out = []
    for o in speakers(site):
        if o == host:
            continue
        via = str(site.hosts[o].underlay.address)
        out += [(str(nw.cidr), via, o) for nw in site.hosts[o].nat_networks]
        if ext is not None and ext.gateway_on.host == o:
            out.append((str(ext.cidr), via, o))
    return out
