"""How to start, stop, restart, reload and query a host's services, per OS family and init.

Remediations (and the lab) build their service commands here, so a plan shows the exact
command for the host it targets. Every command is an argv list; `shlex.join` shows it.

    systemd            systemctl ACTION UNIT    (unit names differ per OS family: chrony)
    sysv (any family)  service NAME ACTION      (/usr/sbin/service runs /etc/init.d/NAME)

Verified on Debian 12 without systemd (the lab): `service frr start|stop|restart|reload|
status` runs FRR's own init script (/etc/init.d/frr = frrinit.sh: watchfrr + zebra + bgpd +
staticd); `service chrony ...` runs /etc/init.d/chrony, whose options come from
/etc/default/chrony (DAEMON_OPTS). Debian 12 ships no sysv script for libvirtd (that is the
separate libvirt-daemon-system-sysv package); the lab installs a stand-in under that name.
"""
from __future__ import annotations

from typing import Literal

Service = Literal["frr", "chrony", "libvirtd"]
Action = Literal["start", "stop", "restart", "reload", "status"]

SERVICES: tuple[str, ...] = ("frr", "chrony", "libvirtd")
ACTIONS: tuple[str, ...] = ("start", "stop", "restart", "reload", "status")

# service -> os family -> name of the systemd unit / sysv script
_NAMES: dict[str, dict[str, str]] = {
    "frr": {"rhel": "frr", "debian": "frr"},
    "chrony": {"rhel": "chronyd", "debian": "chrony"},
    "libvirtd": {"rhel": "libvirtd", "debian": "libvirtd"},
}


class UnknownService(ValueError):
    pass


def service_name(service: str, os_family: str) -> str:
    """The unit / init script name of `service` on that OS family (chrony: `chronyd` on
    RHEL, `chrony` on Debian)."""
    try:
        return _NAMES[service][os_family]
    except KeyError:
        raise UnknownService(f"no service {service!r} known for os family {os_family!r} "
                             f"(known: {sorted(_NAMES)} on rhel, debian)") from None


def service_command(service: str, action: str, os_family: str, init: str) -> list[str]:
    """The argv that performs `action` on `service` for a host of that OS family and init."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {list(ACTIONS)}")
    name = service_name(service, os_family)
    if init == "systemd":
        return ["systemctl", action, name]
    if init == "sysv":
        return ["service", name, action]
    raise ValueError(f"unknown init {init!r}; known: systemd, sysv")


def service_command_for(site, host: str, service: str, action: str) -> list[str]:
    """`service_command` with the host's OS family and init from the site model."""
    return service_command(service, action, site.os_family_of(host), site.init_of(host))
