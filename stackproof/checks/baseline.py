"""Host baseline checks: facts + site -> Finding | None."""
from __future__ import annotations

from dataclasses import asdict

from stackproof.facts import baseline as facts
from stackproof.osfamily import profile
from stackproof.finding import Finding
from stackproof.remote import Remote
from stackproof.site import Site


def reachable(remote: Remote) -> None:
    """Connect (or raise HostUnreachable, which fails only this host's scenarios)."""
    remote.testinfra
    return None


def hostname_runtime(site: Site, remote: Remote) -> Finding | None:
    got = facts.hostname(remote)
    if got.runtime == remote.name:
        return None
    return Finding("hostname", remote.name,
                   f"running hostname is {got.runtime!r}, the inventory says {remote.name!r}",
                   {"name": remote.name}, asdict(got))


def hostname_configured(site: Site, remote: Remote) -> Finding | None:
    got = facts.hostname(remote)
    if got.configured == remote.name:
        return None
    return Finding("hostname", remote.name,
                   f"/etc/hostname holds {got.configured!r}, the inventory says "
                   f"{remote.name!r}: the name would change at the next boot",
                   {"name": remote.name}, asdict(got))


def fstab_has_no_swap(site: Site, remote: Remote) -> Finding | None:
    active = [e for e in facts.fstab(remote) if e.fstype == "swap"]
    if not active:
        return None
    return Finding("swap_fstab", remote.name,
                   "/etc/fstab would turn swap on at boot: "
                   + "; ".join(f"line {e.line_no}: {e.text.strip()}" for e in active),
                   {"lines": [e.line_no for e in active]},
                   {"swap entries": [asdict(e) for e in active]})


def no_swap_in_use(site: Site, remote: Remote) -> Finding | None:
    devices = facts.swaps(remote)
    if not devices:
        return None
    return Finding("swap_off", remote.name,
                   "swap is active: " + ", ".join(d.filename for d in devices),
                   {}, {"/proc/swaps": [asdict(d) for d in devices]})


def chrony_uses_time_server(site: Site, remote: Remote) -> Finding | None:
    server = site.time.server
    os = profile(site, remote.name)
    conf = facts.chrony_config(remote, os.chrony_conf)
    if conf is None:
        return Finding("chrony_config", remote.name, f"{os.chrony_conf} is missing",
                       {"server": server}, {})
    names = [name for name, _ in conf.servers]
    ok = [opts for name, opts in conf.servers if name == server and "iburst" in opts]
    if ok and names == [server]:
        return None
    return Finding("chrony_config", remote.name,
                   f"{os.chrony_conf} uses {names or 'no server'}; expected only "
                   f"`server {server} iburst`", {"server": server},
                   {"path": conf.path, "servers": conf.servers})


def chrony_synced_to_time_server(site: Site, remote: Remote) -> Finding | None:
    server = site.time.server
    address = str(site.address_of(server))
    state = facts.chrony_state(remote)
    if not state.running:
        return Finding("chrony_running", remote.name,
                       f"chronyd does not answer: {state.error}", {}, asdict(state))
    selected = state.selected
    if selected is not None and selected.address == address:
        return None
    return Finding("chrony_running", remote.name,
                   f"chronyd has selected {selected.address if selected else 'no source'}; "
                   f"expected {server} ({address})", {}, asdict(state))


def chrony_serves_time(site: Site, remote: Remote) -> Finding | None:
    os = profile(site, remote.name)
    conf = facts.chrony_config(remote, os.chrony_conf)
    state = facts.chrony_state(remote)
    if conf is None or conf.local_stratum is None or not conf.allows:
        return Finding("chrony_config", remote.name,
                       f"{os.chrony_conf} does not serve time (needs `local stratum` and "
                       f"`allow`)", {"server": None}, {"config": conf and conf.text})
    if not state.running:
        return Finding("chrony_running", remote.name,
                       f"chronyd does not answer: {state.error}", {}, asdict(state))
    return None
