"""Host-baseline faults from the report: a host that kept its old name, swap that comes back
at boot, chrony left on its distribution default, chronyd not running."""
from __future__ import annotations

import shlex

from stackproof_lab.daemons.chrony import ensure_running
from stackproof_lab.faults import Fault, register
from stackproof.osfamily import profile

SWAP_LINE = "/swapfile none swap defaults 0 0"
DEFAULT_POOL = "pool pool.invalid iburst"   # a distribution default; never resolvable here


def _old_name(site, host) -> str:
    # the report's guest answered to the first octet of its DHCP address ("45")
    return str(site.address_of(host)).split(".")[0]


def _set_name(lab, host, name) -> None:
    lab.shell(host).sh(f"hostname {shlex.quote(name)} && echo {shlex.quote(name)} > /etc/hostname")


def _first_guest(site):
    return next(iter(site.guests()), next(iter(site.hosts)))


def _first_client(site):
    return next(n for n in site.hosts if site.time and n != site.time.server)


def _swap_on(lab, site, host):
    lab.shell(host).sh(f"grep -qxF {shlex.quote(SWAP_LINE)} /etc/fstab || "
                       f"echo {shlex.quote(SWAP_LINE)} >> /etc/fstab")


def _swap_off(lab, site, host):
    lab.shell(host).sh(f"sed -i '\\#^{SWAP_LINE}$#d' /etc/fstab")


def _chrony_default(lab, site, host):
    conf = profile(site, host).chrony_conf
    lab.shell(host).sh(f"cp -p {conf} {conf}.lab-fault && "
                       f"sed -i -E 's/^(server|pool) .*/{DEFAULT_POOL}/' {conf} && "
                       f"({_chrony(site, host, 'restart')})")


def _chrony_restore(lab, site, host):
    conf = profile(site, host).chrony_conf
    lab.shell(host).sh(f"if [ -f {conf}.lab-fault ]; then mv -f {conf}.lab-fault {conf}; fi && "
                       f"({_chrony(site, host, 'restart')})")
    ensure_running(lab.shell(host), _chrony(site, host, "start"))


def _chrony(site, host, action: str) -> str:
    os = profile(site, host)
    return os.service(os.chrony_service, action)


def _chronyd_stop(lab, site, host):
    lab.shell(host).sh(_chrony(site, host, "stop"))


def _chronyd_start(lab, site, host):
    lab.shell(host).sh(_chrony(site, host, "start"))
    ensure_running(lab.shell(host), _chrony(site, host, "start"))


register(Fault("hostname-drift", "host", "the host still answers to its old name (the "
               "report's guest was called after its DHCP address)",
               inject=lambda lab, site, host: _set_name(lab, host, _old_name(site, host)),
               heal=lambda lab, site, host: _set_name(lab, host, host),
               default_host=_first_guest))
register(Fault("swap-in-fstab", "host", "/etc/fstab turns swap on at boot",
               inject=_swap_on, heal=_swap_off,
               default_host=lambda site: next(iter(site.physical_hosts()))))
register(Fault("chrony-default-pool", "host", "chrony still uses the distribution's pool, "
               "not the site's time server", inject=_chrony_default, heal=_chrony_restore,
               default_host=_first_client))
register(Fault("chronyd-stopped", "host", "chronyd is not running",
               inject=_chronyd_stop, heal=_chronyd_start, default_host=_first_client))
