"""libvirt faults from the report: the new compute's reservation not there yet, its NAT
network not started."""
from __future__ import annotations

import shlex

from stackproof.expect import remote_compute_hypervisors
from stackproof_lab.daemons.firewall import apply_rules
from stackproof_lab.faults import Fault, register
from stackproof.render.libvirt import dhcp_host_xml, dhcp_hosts

VIRSH = "virsh -q -c qemu:///system"


def _new_compute_host(site) -> str:
    """The report's third host: a hypervisor of a compute node away from the front."""
    remote = list(remote_compute_hypervisors(site))
    if remote:
        return remote[0]
    return next(n for n, h in site.physical_hosts().items() if h.nat_networks)


def _first_reserved(site, host):
    for nw in site.hosts[host].nat_networks:
        hosts = dhcp_hosts(site, host, nw.name)
        if hosts:
            return nw.name, hosts[0]
    raise RuntimeError(f"{host} has no DHCP reservation to remove")


def _drop_reservation(lab, site, host):
    network, (mac, name, ip) = _first_reserved(site, host)
    xml = shlex.quote(dhcp_host_xml(mac, name, ip))
    lab.shell(host).sh(f"{VIRSH} net-update {shlex.quote(network)} delete ip-dhcp-host {xml} "
                       f"--live --config")


def _restore_reservation(lab, site, host):
    network, (mac, name, ip) = _first_reserved(site, host)
    xml = shlex.quote(dhcp_host_xml(mac, name, ip))
    lab.shell(host).sh(f"{VIRSH} net-dumpxml {shlex.quote(network)} | grep -qi {shlex.quote(mac)}"
                       f" || {VIRSH} net-update {shlex.quote(network)} add-last ip-dhcp-host "
                       f"{xml} --live --config")
    apply_rules(lab, site, host)   # a live net-update re-applies libvirt's rules on top


def _stop_network(lab, site, host):
    nw = site.hosts[host].nat_networks[0].name
    lab.shell(host).sh(f"{VIRSH} net-destroy {shlex.quote(nw)}")


def _start_network(lab, site, host):
    nw = shlex.quote(site.hosts[host].nat_networks[0].name)
    lab.shell(host).sh(f"{VIRSH} net-info {nw} | grep -q '^Active: *yes' || "
                       f"{VIRSH} net-start {nw}")
    # libvirt put its REJECTs back on top: restore the operator's rules ahead of them
    apply_rules(lab, site, host)


register(Fault("dhcp-reservation-missing", "libvirt", "a guest's fixed DHCP reservation "
               "is missing from its NAT network", inject=_drop_reservation,
               heal=_restore_reservation, default_host=_new_compute_host))
register(Fault("nat-network-inactive", "libvirt", "the NAT network is not started",
               inject=_stop_network, heal=_start_network, default_host=_new_compute_host))
