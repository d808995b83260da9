"""The iptables rules the report's operator added, host by host, in iptables-save spelling.

- each hypervisor: `-I LIBVIRT_FWI 1 -s <underlay> -d <nat cidr> -j ACCEPT` and the
  LIBVIRT_FWO mirror for each NAT network (libvirt's own chains reject the rest);
- the hypervisor of the OpenStack guests: the external network into LIBVIRT_FWI, FORWARD out
  and RELATED,ESTABLISHED back, MASQUERADE out;
- the hypervisor of a compute guest away from the front (the report's second hypervisor):
  FORWARD for its NAT network both ways, MASQUERADE except towards the underlay, VXLAN to and
  from the compute guest;
- VXLAN in on INPUT on every host of an overlay site, and on every overlay guest.
"""
from __future__ import annotations

from dataclasses import dataclass

from stackproof.site import Site


@dataclass(frozen=True)
class Rule:
    table: str
    chain: str
    spec: str
    first: bool                  # inserted at the top (ahead of libvirt's REJECTs)


def _front(site: Site) -> str | None:
    return site.openstack.external_network.gateway_on.host if site.openstack else None


def remote_computes(site: Site, host: str) -> list[str]:
    """Compute guests on `host` when `host` does not front the external network."""
    if host == _front(site):
        return []
    return [g for g, gh in site.guests().items()
            if gh.hypervisor == host and "nova_compute" in gh.roles]


def rules(site: Site, host: str) -> list[Rule]:
    h = site.hosts[host]
    port = site.overlay.udp_port
    vxlan_in = Rule("filter", "INPUT", f"-p udp -m udp --dport {port} -j ACCEPT", True)
    overlay = bool(site.with_role("ovs_agent"))
    if h.kind == "guest":
        return [vxlan_in] if "ovs_agent" in h.roles else []
    if h.kind != "physical":
        return []
    under = str(site.underlay_cidr)
    out: list[Rule] = []
    for nw in h.nat_networks:
        out += [Rule("filter", "LIBVIRT_FWI", f"-s {under} -d {nw.cidr} -j ACCEPT", True),
                Rule("filter", "LIBVIRT_FWO", f"-s {nw.cidr} -d {under} -j ACCEPT", True)]
    hosts_openstack = any(gh.hypervisor == host and "ovs_agent" in gh.roles
                          for gh in site.guests().values())
    if site.openstack and hosts_openstack:
        ext = str(site.openstack.external_network.cidr)
        out += [Rule("filter", "LIBVIRT_FWI", f"-s {under} -d {ext} -j ACCEPT", True),
                Rule("filter", "FORWARD", f"-s {ext} -j ACCEPT", True),
                Rule("filter", "FORWARD",
                     f"-d {ext} -m state --state RELATED,ESTABLISHED -j ACCEPT", True),
                Rule("nat", "POSTROUTING", f"-s {ext} -j MASQUERADE", False)]
    for g in remote_computes(site, host):
        gh = site.hosts[g]
        nat = site.nat_network(host, gh.network).cidr
        out += [Rule("filter", "FORWARD",
                     "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", True),
                Rule("filter", "FORWARD", f"-s {nat} -j ACCEPT", True),
                Rule("filter", "FORWARD", f"-d {nat} -j ACCEPT", True),
                Rule("nat", "POSTROUTING", f"-s {nat} ! -d {under} -j MASQUERADE", False),
                Rule("filter", "FORWARD",
                     f"-d {gh.address}/32 -p udp -m udp --dport {port} -j ACCEPT", True),
                Rule("filter", "FORWARD",
                     f"-s {gh.address}/32 -p udp -m udp --sport {port} -j ACCEPT", True)]
    if overlay:
        out.append(vxlan_in)
    return list(dict.fromkeys(out))        # two reasons may ask for the same rule
