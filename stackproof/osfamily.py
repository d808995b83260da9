"""What differs between OS families and init systems: file paths, service names, persistence.

RHEL-like hosts (the report's Rocky Linux) call the time daemon `chronyd` and save iptables
with `service iptables save`; Debian-like hosts call it `chrony` and use netfilter-persistent.
Hosts without systemd (the lab) drive the same services through their init scripts.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from stackproof.site import Site


@dataclass(frozen=True)
class OsProfile:
    family: str
    init: str
    chrony_conf: str
    chrony_service: str
    iptables_rules_file: str
    iptables_save: str
    static_routes_hint: str

    def service(self, name: str, action: str) -> str:
        """The command that starts/stops/restarts a service under this init system."""
        q = shlex.quote
        if self.init == "systemd":
            if action == "start":
                return f"systemctl enable --now {q(name)}"
            return f"systemctl {q(action)} {q(name)}"
        if action == "restart" and name in _SYSV_STOP_RETURNS_EARLY:
            # stop, wait until status says it is gone (at most 10 s), then start: the
            # script's own restart starts while the old daemon still exits, finds it
            # "already running", and leaves no daemon at all
            return (f"service {q(name)} stop; i=0; while service {q(name)} status "
                    f">/dev/null 2>&1 && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; "
                    f"service {q(name)} start")
        return f"service {q(name)} {q(action)}"

    def service_name(self, generic: str) -> str:
        return {"chrony": self.chrony_service}.get(generic, generic)


# sysv scripts whose `stop` sends the signal and returns at once (Debian's chrony script runs
# start-stop-daemon --stop without --retry), so their `restart` races the exiting daemon
_SYSV_STOP_RETURNS_EARLY = frozenset({"chrony", "chronyd"})

_FAMILIES = {
    "rhel": dict(chrony_conf="/etc/chrony.conf", chrony_service="chronyd",
                 iptables_rules_file="/etc/sysconfig/iptables",
                 iptables_save="service iptables save",
                 static_routes_hint="/etc/sysconfig/network-scripts/route-<iface> or "
                                    "nmcli connection modify <conn> -ipv4.routes"),
    "debian": dict(chrony_conf="/etc/chrony/chrony.conf", chrony_service="chrony",
                   iptables_rules_file="/etc/iptables/rules.v4",
                   # the temp name is unique per shell ($$): two runs never share it
                   iptables_save="mkdir -p /etc/iptables && iptables-save > "
                                 "/etc/iptables/rules.v4.stackproof-$$.new && mv -f "
                                 "/etc/iptables/rules.v4.stackproof-$$.new /etc/iptables/rules.v4",
                   static_routes_hint="/etc/network/interfaces (post-up ip route add ...)"),
}


def profile(site: Site, host: str) -> OsProfile:
    family = site.os_family_of(host)
    return OsProfile(family=family, init=site.init_of(host), **_FAMILIES[family])
