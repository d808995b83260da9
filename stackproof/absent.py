"""Why a scenario does not apply to a site: the layer's inventory section is missing, or no
host has what the scenario targets. Sites come in other shapes than the seed's (BGP and
libvirt only, no OpenStack, no Kubernetes, no time server): their scenarios of a missing
layer skip with the reason, never crash.

A feature or scenario says which section it needs with a `@needs:<section>` tag
(`needs_reason`); a `@role:` selector that selects no host gets `no_target_reason`.
"""
from __future__ import annotations

from stackproof.site import Site

# Optional inventory sections a layer can need. `overlay` has defaults, so it is never
# missing; the overlay layer needs hosts with role ovs_agent instead.
SECTIONS = ("openstack", "kubernetes", "time")

# Target selectors that only mean something with a section (see targets.select_hosts).
_SECTION_OF = {
    "time_server": "time", "time_client": "time",
    "kube_node": "kubernetes", "kube_floating_ip": "kubernetes",
    "kube_control_plane": "kubernetes", "kube_worker": "kubernetes",
    "nova_compute": "openstack", "neutron_agent": "openstack",
    "openstack_controller": "openstack", "network_node": "openstack",
    "instance": "openstack", "fip_route": "openstack", "fip_address": "openstack",
    "fip_front": "openstack",
}

_NONE_SELECTED = {
    "ovs_agent": "the inventory has no overlay node (no host with role ovs_agent)",
    "l2_population": "the inventory asks no overlay node for l2_population",
    "fip_route": "the inventory gives no instance a floating IP",
    "fip_address": "the inventory gives no instance a floating IP",
    "fip_front": "the inventory gives no instance a floating IP",
    "instance": "the inventory has no OpenStack instance",
    "firewall": "the site expects no iptables rule on any host",
    "bgp": "the inventory has no BGP host",
    "kube_floating_ip": "no Kubernetes node uses its floating IP as node IP",
}


def section_missing(site: Site, section: str) -> str | None:
    """The skip reason when the inventory lacks `section`, else None."""
    if section not in SECTIONS:
        raise ValueError(f"@needs:{section}: unknown section (known: {', '.join(SECTIONS)})")
    if getattr(site, section) is None:
        return f"the inventory has no {section} section"
    return None


def no_target_reason(site: Site, selector: str) -> str:
    """Why `@role:<selector>` selects no host of this site (call only when it selects none)."""
    section = _SECTION_OF.get(selector)
    if section is not None:
        missing = section_missing(site, section)
        if missing:
            return missing
    if selector in _NONE_SELECTED:
        return _NONE_SELECTED[selector]
    if selector in ("physical", "guest"):
        return f"the inventory has no {selector} host"
    return f"no inventory host has role {selector}"
