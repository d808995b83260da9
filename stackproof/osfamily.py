"""What differs between OS families and init systems: file paths, service names, persistence.

RHEL-like hosts (the report's Rocky Linux) call the time daemon `chronyd` and save iptables
with `service iptables save`; Debian-like hosts call it `chrony` and use netfilter-persistent.
Hosts without systemd (the lab) drive the same services through their init scripts.
"""
from __future__ import annotations

from dataclasses import dataclass

from stackproof.services import service_name, shell_command
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
        """The command that starts/stops/restarts a service under this init system
        (stackproof.services owns the command strings)."""
        return shell_command(name, action, self.init)


_FAMILIES = {
    "rhel": dict(chrony_conf="/etc/chrony.conf",
                 iptables_rules_file="/etc/sysconfig/iptables",
                 iptables_save="service iptables save",
                 static_routes_hint="/etc/sysconfig/network-scripts/route-<iface> or "
                                    "nmcli connection modify <conn> -ipv4.routes"),
    "debian": dict(chrony_conf="/etc/chrony/chrony.conf",
                   iptables_rules_file="/etc/iptables/rules.v4",
                   # the temp name is unique per shell ($$): two runs never share it
                   iptables_save="mkdir -p /etc/iptables && iptables-save > "
                                 "/etc/iptables/rules.v4.stackproof-$$.new && mv -f "
                                 "/etc/iptables/rules.v4.stackproof-$$.new /etc/iptables/rules.v4",
                   static_routes_hint="/etc/network/interfaces (post-up ip route add ...)"),
}


def profile(site: Site, host: str) -> OsProfile:
    family = site.os_family_of(host)
    return OsProfile(family=family, init=site.init_of(host),
                     chrony_service=service_name("chrony", family), **_FAMILIES[family])
