"""Route-reflector faults (sites with bgp.route_reflectors): a reflector's bgpd stopped with
its FRR service, and one client no longer marked `route-reflector-client` on a reflector.
Both act on the first reflector by default; the second names that reflector's first client."""
from __future__ import annotations

import shlex

from stackproof.expect import bgp_intent
from stackproof_lab.faults import Fault, FaultError, register
from stackproof_lab.faults.bgp import restore_frr


def _reflector(site) -> str:
    if not site.bgp.route_reflectors:
        raise FaultError("this site has no bgp.route_reflectors")
    return site.bgp.route_reflectors[0]


def first_client(site, reflector: str):
    """The reflector's first client neighbor (a BgpNeighbor)."""
    if reflector not in site.bgp.route_reflectors:
        raise FaultError(f"{reflector}: not one of bgp.route_reflectors "
                         f"({', '.join(site.bgp.route_reflectors) or 'none'})")
    return next(n for n in bgp_intent(site, reflector).neighbors if n.route_reflector_client)


def _bgpd_stopped(lab, site, rr):
    _reflector(site)
    if rr not in site.bgp.route_reflectors:
        raise FaultError(f"{rr}: not one of bgp.route_reflectors")
    lab.shell(rr).sh("service frr stop")


def _client_not_reflected(lab, site, rr):
    client = first_client(site, rr)
    cmds = ["configure terminal", f"router bgp {site.asn_of(rr)}",
            "address-family ipv4 unicast", f"no neighbor {client.address} route-reflector-client"]
    lab.shell(rr).sh("vtysh " + " ".join(f"-c {shlex.quote(c)}" for c in cmds))


register(Fault("rr-bgpd-stopped", "bgp", "a route reflector's FRR (bgpd with it) stopped: its "
               "clients lose the sessions to it and the routes only it carried",
               inject=_bgpd_stopped, heal=restore_frr, default_host=_reflector))
register(Fault("rr-client-not-reflected", "bgp", "a reflector's first client lost "
               "`route-reflector-client` in the running config", inject=_client_not_reflected,
               heal=restore_frr, default_host=_reflector))
