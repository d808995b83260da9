"""FRR inside lab hosts: the intended frr.conf, `bgpd=yes`, and FRR's own init script.

FRR runs exactly as on a sysv host: `service frr start` (= /usr/lib/frr/frrinit.sh start:
watchfrr, which starts zebra, bgpd and staticd and loads /etc/frr/frr.conf with `vtysh -b`).
Its sockets and pid files live in the host's private /run/frr; remediations restart or
reload it with the same command (stackproof.services).
"""
from __future__ import annotations

import ipaddress
import json

from stackproof.expect import bgp_hosts, bgp_intent
from stackproof_lab.daemons.common import (LAB_INIT, DaemonError, read_file, wait_until,
                                           write_file)
from stackproof_lab.pool import each
from stackproof_lab.shell import NsShell
from stackproof.render.frr import frr_service_command, render_frr_conf, set_bgpd
from stackproof.site import Site

FRR_CONF = "/etc/frr/frr.conf"
FRR_DAEMONS = "/etc/frr/daemons"
START_TIMEOUT = 20.0
CONVERGE_TIMEOUT = 60.0
CONVERGE_PER_SESSION = 0.5
CONVERGE_PER_HOST = 1.0


def frr_command(site: Site, host: str, action: str) -> list[str]:
    return frr_service_command(action, site.os_family_of(host), LAB_INIT)


def write_frr_files(shell: NsShell, site: Site, host: str) -> None:
    """The intended frr.conf and the host's daemons file with bgpd=yes."""
    write_file(shell, FRR_CONF, render_frr_conf(site, host), mode=0o640, owner="frr:frr")
    daemons = read_file(shell, FRR_DAEMONS)
    if daemons is None:
        raise DaemonError(f"[{host}] {FRR_DAEMONS} missing: is frr installed?")
    write_file(shell, FRR_DAEMONS, set_bgpd(daemons, True), mode=0o640, owner="frr:frr")


def bgp_summary(shell: NsShell) -> dict | None:
    """`show bgp summary json`, or None while bgpd does not answer."""
    proc = shell.run(["vtysh", "-c", "show bgp summary json"], check=False, timeout=15)
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout or "null")
    except json.JSONDecodeError:
        return None


def peer_states(shell: NsShell) -> dict[str, str]:
    summary = bgp_summary(shell) or {}
    peers = summary.get("ipv4Unicast", {}).get("peers", {})
    return {addr: p.get("state", "?") for addr, p in peers.items()}


def kernel_routes(shell: NsShell) -> list[dict]:
    proc = shell.run(["ip", "-j", "route", "show"], check=False)
    return json.loads(proc.stdout or "[]") if proc.returncode == 0 else []


def frr_running(shell: NsShell, site: Site, host: str) -> bool:
    return shell.run(frr_command(site, host, "status"), check=False).returncode == 0


def start_frr(shell: NsShell, site: Site, host: str) -> None:
    """Write the intended files and start FRR (reload it if it runs already: frrinit.sh
    `start` would start a second watchfrr); returns once bgpd has loaded the config."""
    write_frr_files(shell, site, host)
    action = "reload" if frr_running(shell, site, host) else "start"
    shell.run(frr_command(site, host, action), timeout=60)
    asn = site.asn_of(host)

    def loaded():
        summary = bgp_summary(shell)
        return bool(summary) and summary.get("ipv4Unicast", {}).get("as") == asn
    wait_until(loaded, START_TIMEOUT, f"[{host}] bgpd to load {FRR_CONF} (AS {asn})")


def stop_frr(shell: NsShell, site: Site, host: str) -> None:
    shell.run(frr_command(site, host, "stop"), timeout=60)


def nat_prefixes_expected(site: Site, host: str) -> dict[str, str]:
    """Prefix -> next hop the lab itself makes learnable: the other BGP hosts' NAT networks
    (the external network appears only once the OpenStack layer puts its gateway up)."""
    return {str(nw.cidr): str(site.hosts[o].underlay.address)
            for o in bgp_hosts(site) if o != host for nw in site.hosts[o].nat_networks}


def converged(shell: NsShell, site: Site, host: str) -> tuple[bool, str]:
    """Every neighbor Established and every other host's NAT prefix in the kernel table
    via that host. Returns (done, what is missing)."""
    states = peer_states(shell)
    missing = [f"session {n.address} ({n.peer}) {states.get(n.address, 'absent')}"
               for n in bgp_intent(site, host).neighbors
               if states.get(n.address) != "Established"]
    routes = {}
    for r in kernel_routes(shell):
        dst = r.get("dst", "")
        if "/" not in dst and dst != "default":
            dst += "/32"
        routes[dst] = r.get("gateway")
    for prefix, via in nat_prefixes_expected(site, host).items():
        key = str(ipaddress.ip_network(prefix))
        if routes.get(key) != via:
            missing.append(f"route {key} via {via} (have {routes.get(key, 'none')})")
    return not missing, ", ".join(missing)


def converge_timeout(site: Site) -> float:
    """The wait for BGP grows with the sessions it waits for (each host's bgpd opens its own,
    on the same few CPUs) and with the hosts whose routes must land."""
    sessions = sum(len(bgp_intent(site, h).neighbors) for h in bgp_hosts(site)) // 2
    return CONVERGE_TIMEOUT + CONVERGE_PER_SESSION * sessions + \
        CONVERGE_PER_HOST * len(bgp_hosts(site))


def wait_converged(shells: dict[str, NsShell], site: Site,
                   timeout: float | None = None) -> None:
    """Until every host has converged once (a host that has is not asked again), then once
    more for all: names each host's stuck sessions and missing routes on timeout."""
    pending = set(shells)
    last: dict[str, str] = {}

    def probe(h: str) -> bool:
        done, what = converged(shells[h], site, h)
        last[h] = what
        return done

    def all_done():
        asked = sorted(pending)
        pending.difference_update(h for h, ok in zip(asked, each(asked, probe)) if ok)
        if pending:
            return False
        everyone = sorted(shells)
        pending.update(h for h, ok in zip(everyone, each(everyone, probe)) if not ok)
        return not pending

    def describe():
        return f"{len(pending)} of {len(shells)} hosts: " + "; ".join(
            f"{h}: {last.get(h, '?')}" for h in sorted(pending))
    wait_until(all_done, timeout or converge_timeout(site), "BGP to converge",
               interval=0.5, describe=describe)


# --- lab hooks --------------------------------------------------------------------------------
def lab_forwarding(site: Site, host: str) -> str:
    """The kernel's net.ipv4.ip_forward a lab host comes up with, as a fresh machine of its
    role would: on for a hypervisor (libvirt switches it on for its NAT networks), off for
    any other BGP host (a fresh kernel's default): forwarding is then the operator's job,
    which the suite checks on its own (features: BGP, ip_forward)."""
    return "1" if "hypervisor" in site.hosts[host].roles else "0"


def frr_hook(lab, site: Site) -> None:
    """DAEMON hook: FRR with the intended config on every BGP host, forwarding as its role
    leaves it."""
    def start(host: str) -> None:
        shell = lab.shell(host)
        shell.run(["sysctl", "-qw", f"net.ipv4.ip_forward={lab_forwarding(site, host)}"])
        start_frr(shell, site, host)
    each(bgp_hosts(site), start)


def frr_converge_hook(lab, site: Site) -> None:
    """GUEST hook: wait until every BGP host has its sessions and the NAT routes."""
    hosts = bgp_hosts(site)
    if hosts:
        wait_converged({h: lab.shell(h) for h in hosts}, site)
