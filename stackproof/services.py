"""How to start, stop, restart, reload and query a host's services, per OS family and init.

Remediations (and the lab) build their service commands here, so a plan shows the exact
command for the host it targets. `service_command` gives an argv list (`shlex.join` shows
it); `shell_command` the shell line a remediation runs (OsProfile.service), which also
enables what it starts under systemd and waits out sysv scripts whose stop returns early.

    systemd            systemctl ACTION UNIT    (unit names differ per OS family: chrony)
    sysv (any family)  service NAME ACTION      (/usr/sbin/service runs /etc/init.d/NAME)

Verified on Debian 12 without systemd (the lab): `service frr start|stop|restart|reload|
status` runs FRR's own init script (/etc/init.d/frr = frrinit.sh: watchfrr + zebra + bgpd +
staticd); `service chrony ...` runs /etc/init.d/chrony, whose options come from
/etc/default/chrony (DAEMON_OPTS). Debian 12 ships no sysv script for libvirtd (that is the
separate libvirt-daemon-system-sysv package); the lab installs a stand-in under that name.
"""
from __future__ import annotations

import shlex
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


# sysv scripts whose `stop` sends the signal and returns at once (Debian's chrony script runs
# start-stop-daemon --stop without --retry), so their `restart` races the exiting daemon
_SYSV_STOP_RETURNS_EARLY = frozenset({"chrony", "chronyd"})


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


def unit_command(name: str, action: str, init: str) -> list[str]:
    """The argv that performs `action` on the unit / init script `name` (already the OS
    family's name) under that init."""
    if init == "systemd":
        return ["systemctl", action, name]
    if init == "sysv":
        return ["service", name, action]
    raise ValueError(f"unknown init {init!r}; known: systemd, sysv")


def service_command(service: str, action: str, os_family: str, init: str) -> list[str]:
    """The argv that performs `action` on `service` for a host of that OS family and init."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; known: {list(ACTIONS)}")
    return unit_command(service_name(service, os_family), action, init)


def shell_command(name: str, action: str, init: str) -> str:
    """The shell line a remediation runs to start/stop/restart/query the unit / init script
    `name`: `systemctl enable --now` for a start under systemd (it stays started after a
    reboot); a sysv restart of a script whose stop returns early waits for the old daemon."""
    q = shlex.quote
    if init == "systemd" and action == "start":
        return shlex.join(["systemctl", "enable", "--now", name])
    if init == "sysv" and action == "restart" and name in _SYSV_STOP_RETURNS_EARLY:
        # stop, wait until status says it is gone (at most 10 s), then start: the
        # script's own restart starts while the old daemon still exits, finds it
        # "already running", and leaves no daemon at all
        return (f"service {q(name)} stop; i=0; while service {q(name)} status "
                f">/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; "
                f"service {q(name)} start")
    return shlex.join(unit_command(name, action, init))


def service_command_for(site, host: str, service: str, action: str) -> list[str]:
    """`service_command` with the host's OS family and init from the site model."""
    return service_command(service, action, site.os_family_of(host), site.init_of(host))
