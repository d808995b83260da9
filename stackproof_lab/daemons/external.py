"""The external network's gateway on the fronting host's NAT bridge (the report's fix for
floating IPs that had no gateway once ext-net moved off the NAT range), kept for boot the way
an operator on a systemd host keeps it: a oneshot unit enabled for multi-user.target, ordered
after libvirtd (which makes the bridge). `stackproof lab reboot` runs it through the lab's
boot runner (stackproof_lab.boot)."""
from __future__ import annotations

import shlex

from stackproof.expect import external_gateway

UNIT_NAME = "external-gateway-address.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
WANTS = f"/etc/systemd/system/multi-user.target.wants/{UNIT_NAME}"


def unit_text(cidr: str, dev: str) -> str:
    return ("[Unit]\n"
            f"Description=External network gateway {cidr} on {dev}\n"
            "After=libvirtd.service network-online.target\n"
            "Wants=network-online.target\n\n"
            "[Service]\nType=oneshot\n"
            f"ExecStart=/usr/sbin/ip addr replace {cidr} dev {dev}\n"
            "RemainAfterExit=yes\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def external_gateway_hook(lab, site) -> None:
    found = external_gateway(site)
    if found is None:
        return
    host, addr = found
    shell = lab.shell(host)
    shell.sh(f"ip addr replace {shlex.quote(addr.cidr)} dev {shlex.quote(addr.dev)}")
    from stackproof_lab.daemons.common import write_file
    write_file(shell, UNIT_PATH, unit_text(addr.cidr, addr.dev))
    shell.sh(f"mkdir -p {shlex.quote(WANTS.rsplit('/', 1)[0])} && "
             f"ln -sfn {shlex.quote(UNIT_PATH)} {shlex.quote(WANTS)}")
