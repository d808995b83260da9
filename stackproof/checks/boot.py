"""Persistence proven by a boot (`--reboot-check`, lab only): each check reads the host's
live state right after a reboot, and its Finding names the remediation that fixes the
state now *and* for the next boot (the file-only fixes would leave the next boot broken).
"""
from __future__ import annotations

from dataclasses import replace

from stackproof.checks import baseline, firewall, floating_ip, forwarding, kubernetes
from stackproof.facts import baseline as base_facts
from stackproof.facts import boot as facts
from stackproof.remedy import Finding
from stackproof.remote import Remote
from stackproof.site import Site

AFTER = "after a reboot: "


def hostname(site: Site, remote: Remote) -> Finding | None:
    f = baseline.hostname_runtime(site, remote)
    return replace(f, message=AFTER + f.message) if f else None


def swap(site: Site, remote: Remote) -> Finding | None:
    booted = facts.swap_on_boot(remote)
    if not booted.recorded:
        return Finding("swap_fstab", remote.name, "the host has no boot record "
                       f"({facts.FSTAB_RECORD}): it did not boot through the lab's boot",
                       {"lines": []})
    if not booted.swap_on_boot:
        return None
    lines = [e.line_no for e in base_facts.fstab(remote) if e.fstype == "swap"]
    return Finding("swap_fstab", remote.name,
                   AFTER + "the boot turned swap on from /etc/fstab: "
                   + ", ".join(booted.swap_on_boot), {"lines": lines},
                   {"swap_on_boot": list(booted.swap_on_boot)})


def firewall_rules(site: Site, remote: Remote) -> Finding | None:
    """Every expected rule in effect after the boot; the fix adds what is missing and saves."""
    f = firewall.live_finding(site, remote, firewall.expected_rules(site, remote.name),
                              "the firewall the host booted with")
    if f is None:
        return None
    return replace(f, remediation="iptables_save", message=AFTER + f.message)


def fip_routes(site: Site, remote: Remote) -> Finding | None:
    """The /32 routes are back after the boot; the fix adds them and keeps them for boot."""
    f = floating_ip.routes_in_place(site, remote)
    if f is None:
        return None
    return replace(f, message=AFTER + f.message,
                   params={**f.params, "runtime": True, "persist": True})


def node_ip_on_lo(site: Site, remote: Remote) -> Finding | None:
    f = kubernetes.node_ip_on_lo(site, remote)
    return replace(f, message=AFTER + f.message) if f else None


def ip_forward(site: Site, remote: Remote) -> Finding | None:
    """Forwarding is on after the boot; the fix turns it on and writes its sysctl file."""
    f = forwarding.forwarding_on(site, remote)
    return replace(f, message=AFTER + f.message) if f else None
