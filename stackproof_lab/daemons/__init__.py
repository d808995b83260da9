"""The real daemons of each lab host, started by the lab through hooks `(lab, site) -> None`.

The lab (stackproof_lab.lab.Lab) imports this package and runs
    DAEMON_HOOKS  after the hosts and the underlay exist, before guests are plugged in:
                  libvirt (NAT networks make the bridges guests plug into), then FRR;
    GUEST_HOOKS   after the guests are plugged in: wait for BGP to converge, then chrony
                  (the time server is often a guest).
Hooks use only `lab.shell(name)` (an NsShell); every daemon runs inside its host's
namespaces and ends with the host, so none is recorded with `lab.record_process`.
"""
from __future__ import annotations

from stackproof_lab.daemons.chrony import chrony_hook
from stackproof_lab.daemons.external import external_gateway_hook
from stackproof_lab.daemons.firewall import firewall_hook
from stackproof_lab.daemons.frr import frr_converge_hook, frr_hook
from stackproof_lab.daemons.libvirt import libvirt_hook

DAEMON_HOOKS = [libvirt_hook, external_gateway_hook, frr_hook]
GUEST_HOOKS = [frr_converge_hook, firewall_hook, chrony_hook]
from stackproof_lab.daemons.fip import fip_hook  # noqa: E402  floating IPs: after the firewall,
GUEST_HOOKS.insert(GUEST_HOOKS.index(chrony_hook), fip_hook)  # before chrony (workers' way out)
from stackproof_lab.daemons.ovs import ovs_hook  # noqa: E402  Open vSwitch + the OVS agent
GUEST_HOOKS.append(ovs_hook)
from stackproof_lab.kube.hook import kube_hook  # noqa: E402  the Kubernetes API stand-in
GUEST_HOOKS.append(kube_hook)
from stackproof_lab.openstack import openstack_hook  # noqa: E402  Keystone/Neutron/Nova
GUEST_HOOKS.append(openstack_hook)
from stackproof_lab.lived_in import lived_in_daemon_hook, lived_in_guest_hook  # noqa: E402
DAEMON_HOOKS.append(lived_in_daemon_hook)   # operator items: after libvirt and FRR
GUEST_HOOKS.append(lived_in_guest_hook)     # the rest, once every daemon wrote its files
