"""Faults only a reboot reveals: the running state is right, the files a boot reads are not.

- `fip-route-not-persisted`: the /32 floating-IP routes are live on the host fronting the
  external network, but not kept where the host reads them at boot (its OS family's route
  file); the next boot loses them.
- `hostname-runtime-only`: the running hostname is the inventory name, set with `hostname`
  only; /etc/hostname still holds the old name, which the next boot brings back.
- `ip-forward-runtime-only`: a BGP host that is not a hypervisor forwards because someone ran
  `sysctl -w`, and no sysctl file turns forwarding on; nothing of its role (libvirt does on a
  hypervisor) does it at boot, so the next boot leaves it off.
(`iptables-not-saved`, `kubelet-ip-unit-disabled` and `kubelet-ip-unit-missing`, in the
firewall and kubernetes layers, are the same kind.) Prove them with `stackproof lab reboot`
or `pytest features/ --reboot-check`.
"""
from __future__ import annotations

import shlex

from stackproof_lab.faults import Fault, FaultError, register
from stackproof_lab.faults.bgp import restore_forwarding
from stackproof_lab.faults.dvr import _front, _need
from stackproof_lab.faults.host import _first_guest, _old_name


def _front_routes(lab, site, host):
    from stackproof_lab.daemons.fip import host_routes
    routes = host_routes(site).get(_need(host, "floating-IP route"), [])
    if not routes:
        raise FaultError(f"{host} routes no floating IP")
    return routes


def _unpersist_routes(lab, site, host):
    """Drop the routes' lines from the Debian/RHEL route files; the live routes stay."""
    shell = lab.shell(host)
    for r in _front_routes(lab, site, host):
        pat = shlex.quote(f" {r.prefix} via {r.via}")
        shell.sh(f"for f in /etc/network/interfaces /etc/network/interfaces.d/* "
                 f"/etc/sysconfig/network-scripts/route-*; do [ -f \"$f\" ] || continue; "
                 f"grep -vF -- {pat} \"$f\" > \"$f.lab-new\"; "
                 f"cat \"$f.lab-new\" > \"$f\"; rm -f \"$f.lab-new\"; done")


def _persist_routes(lab, site, host):
    from stackproof_lab.daemons.fip import persist_routes
    routes = _front_routes(lab, site, host)
    shell = lab.shell(host)
    shell.sh(" && ".join(f"ip route replace {shlex.quote(r.prefix)} via {shlex.quote(r.via)}"
                         for r in routes))
    persist_routes(shell, site, host, routes)


def _name_runtime_only(lab, site, host):
    lab.shell(host).sh(f"echo {shlex.quote(_old_name(site, host))} > /etc/hostname && "
                       f"hostname {shlex.quote(host)}")


def _name_everywhere(lab, site, host):
    lab.shell(host).sh(f"echo {shlex.quote(host)} > /etc/hostname && "
                       f"hostname {shlex.quote(host)}")


register(Fault("fip-route-not-persisted", "boot",
               "the floating-IP /32 routes are live but not in the host's route file: the "
               "next boot loses them", inject=_unpersist_routes, heal=_persist_routes,
               default_host=_front))
register(Fault("hostname-runtime-only", "boot",
               "the hostname was set with `hostname` only: /etc/hostname brings the old "
               "name back at the next boot", inject=_name_runtime_only,
               heal=_name_everywhere, default_host=_first_guest))


def _router(site):
    # the lab's own model of a fresh host (not the check's rule): a BGP host it brings up
    # without forwarding is one whose role does not turn it on at boot
    from stackproof.expect import bgp_hosts
    from stackproof_lab.daemons.frr import lab_forwarding
    hosts = [h for h in bgp_hosts(site) if lab_forwarding(site, h) == "0"]
    if not hosts:
        raise FaultError("no BGP host without the hypervisor role: on a hypervisor libvirt "
                         "turns forwarding on at boot, so a runtime-only value survives there")
    return hosts[0]


def _forwarding_runtime_only(lab, site, host):
    from stackproof.checks.forwarding import OUR_FILE
    lab.shell(host).sh(f"rm -f {shlex.quote(OUR_FILE)} && sysctl -qw net.ipv4.ip_forward=1")


register(Fault("ip-forward-runtime-only", "boot",
               "IPv4 forwarding was switched on with `sysctl -w` only, on a BGP host whose "
               "role does not turn it on at boot: the next boot leaves it off",
               inject=_forwarding_runtime_only, heal=restore_forwarding,
               default_host=_router))
