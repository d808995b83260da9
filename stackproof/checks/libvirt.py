"""libvirt checks: each NAT network as the inventory defines it, its reservations, the guests."""
from __future__ import annotations

from dataclasses import asdict

from stackproof.facts.libvirt import libvirt_state
from stackproof.finding import Finding
from stackproof.remote import Remote
from stackproof.render.libvirt import dhcp_hosts
from stackproof.site import Site


def _state(remote: Remote):
    state = libvirt_state(remote)
    if not state.reachable:
        return None, Finding("libvirtd_running", remote.name,
                             f"libvirtd does not answer: {state.error}", {}, asdict(state))
    return state, None


def networks_active(site: Site, remote: Remote) -> Finding | None:
    state, broken = _state(remote)
    if broken:
        return broken
    bad = []
    for nw in site.hosts[remote.name].nat_networks:
        got = state.networks.get(nw.name)
        if got is None:
            bad.append((nw.name, "not defined"))
        elif not got.active or (nw.autostart and not got.autostart):
            bad.append((nw.name, ("inactive" if not got.active else "active") +
                        (", not autostarted" if nw.autostart and not got.autostart else "")))
    if not bad:
        return None
    return Finding("libvirt_network_start", remote.name,
                   "; ".join(f"network {n}: {why}" for n, why in bad),
                   {"networks": [n for n, _ in bad]},
                   {n: asdict(state.networks[n]) for n, _ in bad if n in state.networks})


def networks_shaped(site: Site, remote: Remote) -> Finding | None:
    state, broken = _state(remote)
    if broken:
        return broken
    problems, names = [], []
    for nw in site.hosts[remote.name].nat_networks:
        got = state.networks.get(nw.name)
        if got is None:
            continue               # reported by networks_active
        want = {"forward mode": nw.forward_mode, "bridge": nw.bridge,
                "gateway": str(nw.gateway), "netmask": str(nw.cidr.netmask),
                "DHCP range": (str(nw.dhcp_range.start), str(nw.dhcp_range.end))}
        have = {"forward mode": got.forward_mode, "bridge": got.bridge,
                "gateway": got.address, "netmask": got.netmask, "DHCP range": got.dhcp_range}
        diff = [f"{k} {have[k]} (expected {want[k]})" for k in want if have[k] != want[k]]
        if diff:
            problems.append(f"network {nw.name}: " + ", ".join(diff))
            names.append(nw.name)
    if not problems:
        return None
    return Finding("libvirt_network_redefine", remote.name, "; ".join(problems),
                   {"networks": names}, {n: asdict(state.networks[n]) for n in names})


def reservations_present(site: Site, remote: Remote) -> Finding | None:
    state, broken = _state(remote)
    if broken:
        return broken
    missing, wrong = [], []
    for nw in site.hosts[remote.name].nat_networks:
        got = state.networks.get(nw.name)
        if got is None:
            continue
        for mac, name, ip in dhcp_hosts(site, remote.name, nw.name):
            same_mac = [h for h in got.dhcp_hosts if h.mac.lower() == mac.lower()]
            if not same_mac:
                missing.append((nw.name, mac, name, ip))
            elif (same_mac[0].name, same_mac[0].ip) != (name, ip):
                wrong.append((nw.name, mac, name, ip))
    if not (missing or wrong):
        return None
    text = [f"{n}: no reservation for {name} ({mac} -> {ip})" for n, mac, name, ip in missing]
    text += [f"{n}: reservation for {mac} is not {name} -> {ip}" for n, mac, name, ip in wrong]
    return Finding("libvirt_dhcp_host", remote.name, "; ".join(text),
                   {"add": missing, "modify": wrong},
                   {n: [asdict(h) for h in state.networks[n].dhcp_hosts]
                    for n in {m[0] for m in missing + wrong}})


def guests_running(site: Site, remote: Remote) -> Finding | None:
    state, broken = _state(remote)
    if broken:
        return broken
    guests = [g for g, gh in site.guests().items() if gh.hypervisor == remote.name]
    down = {g: state.domains.get(g, "not defined") for g in guests
            if state.domains.get(g) != "running"}
    if not down:
        return None
    return Finding("libvirt_domain_start", remote.name,
                   "; ".join(f"guest {g} is {s}" for g, s in down.items()),
                   {"guests": list(down)}, {"domains": state.domains})
