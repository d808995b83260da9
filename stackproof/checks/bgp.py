"""BGP underlay checks: FRR facts + site -> Finding | None.

Each check names the remediation that fixes the *cause*, which is not always on the host
being checked: a neighbor stuck in Active because the peer's bgpd is off is fixed on the
peer. Such a Finding stays on the checked host (so the engine re-reads it while verifying)
and carries `params["on"]`, the host the remediation acts on. Peers are only looked at when
the checked host's own side is in order, and only when the step passes the fleet.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, replace
from typing import Callable

from stackproof import prefetch
from stackproof.expect import LearnedPrefix, bgp_intent, learned_prefixes
from stackproof.facts import frr as facts
from stackproof.facts.frr import BGP_DAEMONS, DAEMONS_FILE, FRR_CONF
from stackproof.facts.routes import KernelRoute, kernel_routes
from stackproof.finding import Cause, Finding
from stackproof.remote import HostUnreachable, Remote
from stackproof.render.frr import normalize_running_config, render_frr_conf
from stackproof.render.frr_scope import (MANAGED, STALE, FrrScope, classify, frr_scope,
                                         render_path, split)
from stackproof.site import Site

Peers = Callable[[str], Remote]        # inventory name -> Remote (the fleet's __getitem__)

# Kernel routes that are neither BGP's nor an interface's own: `ip route add` (boot),
# `proto static`, NetworkManager (static), DHCP. zebra reads them as kernel routes with
# distance 0, which beats BGP (20/200): BGP's route is then not installed.
NOT_SHADOWS = ("bgp", "kernel")
# A session Established for less than this may still be sending its routes (they land
# ~1 s after Established): wait for it rather than ask for a refresh.
SETTLE_MS = 10_000
# The Finding facts' (and the report's) name for the configuration outside the managed scope.
UNMANAGED_KEPT = "unmanaged configuration (kept)"


def _label(address: str, peer: str) -> str:
    return f"{address} ({peer})"


# --- FRR itself ----------------------------------------------------------------------------
def bgpd_enabled(site: Site, remote: Remote) -> Finding | None:
    d = facts.daemons(remote)
    if not d.exists:
        return Finding("frr_enable_bgpd", remote.name,
                       f"{DAEMONS_FILE} is missing: is frr installed?", {}, asdict(d))
    if d.bgpd:
        return None
    said = "bgpd=no" if d.bgpd is False else "no bgpd= line"
    return Finding("frr_enable_bgpd", remote.name,
                   f"{DAEMONS_FILE} has {said}: FRR will not start bgpd, so no BGP session "
                   f"can come up", {}, {"bgpd": d.bgpd, DAEMONS_FILE: d.text})


def frr_running(site: Site, remote: Remote) -> Finding | None:
    """watchfrr (the frr service), zebra and bgpd alive; bgpd disabled is reported first."""
    disabled = bgpd_enabled(site, remote)
    if disabled is not None:
        return disabled
    procs = facts.processes(remote)
    missing = procs.missing(BGP_DAEMONS)
    if not missing:
        return None
    running = sorted(p.name for p in procs.processes if p.alive)
    return Finding("frr_running", remote.name,
                   f"FRR is not running fully: {', '.join(missing)} not running "
                   f"(running: {', '.join(running) or 'nothing'})",
                   {"watchfrr": procs.alive("watchfrr")},
                   {"processes": [asdict(p) for p in procs.processes]})


# --- configuration -------------------------------------------------------------------------
def _render(path: tuple[str, ...]) -> str:
    return " > ".join(path)


def unified_diff(intended: str, actual: str, actual_name: str) -> str:
    return "\n".join(difflib.unified_diff(
        normalize_running_config(intended), normalize_running_config(actual),
        "intended (rendered from the inventory)", actual_name, lineterm=""))


def _difference_message(what: str, d: "ScopedDifference") -> str:
    parts = []
    if d.missing:
        parts.append("missing: " + "; ".join(f"`{m}`" for m in d.missing))
    if d.extra:
        parts.append("extra (set otherwise than the inventory says): " +
                     "; ".join(f"`{e}`" for e in d.extra))
    if d.stale:
        parts.append("extra (stale: neighbors the inventory does not have): " +
                     "; ".join(f"`{e}`" for e in d.stale))
    return f"{what} differs from the configuration rendered from the inventory " \
        f"(managed scope only; the rest is kept): " + ", ".join(parts)


@dataclass(frozen=True)
class ScopedDifference:
    """frr-reload.py's changes, kept to the managed scope (see stackproof.render.frr_scope)."""
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    stale: tuple[str, ...]
    referee: str                  # how it was decided, for the report

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.stale)


def scoped_difference(scope: FrrScope, diff: facts.ReloadDiff) -> ScopedDifference:
    """The referee's (frr-reload.py --test) changes inside the managed scope, in the
    vocabulary missing / extra / stale. Changes outside the scope and the forwarding lines
    zebra reflects (kernel state) are not differences."""
    missing, extra, stale = [], [], []
    for ch in diff.changes():
        cls = classify(scope, ch.path)
        if cls not in (MANAGED, STALE):
            continue
        line = render_path(ch.path)
        negated = ch.path[-1].startswith("no ")
        if not ch.delete and not negated:
            missing.append(line)
        elif cls == STALE:
            stale.append(render_path((*ch.path[:-1], ch.path[-1].removeprefix("no "))))
        else:
            extra.append(render_path((*ch.path[:-1], ch.path[-1].removeprefix("no ")))
                         if negated and not ch.delete else line)
    return ScopedDifference(tuple(sorted(missing)), tuple(sorted(extra)),
                            tuple(sorted(stale)), "frr-reload.py --test")


def _fallback_difference(scope: FrrScope, intended: str, actual: str) -> ScopedDifference:
    """Without frr-reload.py (no frr-pythontools): the context paths, in scope."""
    want, have = facts.config_paths(intended), facts.config_paths(actual)
    keep = {MANAGED, STALE}
    missing = [p for p in want - have if classify(scope, p) in keep]
    gone = [p for p in have - want if classify(scope, p) in keep]
    return ScopedDifference(
        tuple(sorted(map(_render, missing))),
        tuple(sorted(_render(p) for p in gone if classify(scope, p) == MANAGED)),
        tuple(sorted(_render(p) for p in gone if classify(scope, p) == STALE)),
        "line by line (frr-reload.py unavailable)")


def unmanaged_configuration(site: Site, text: str, host: str) -> list[str]:
    """The lines outside the managed scope: kept, never a failure (shown in the report)."""
    return list(split(frr_scope(site, host), text).unmanaged)


def kept_configuration(site: Site, remote: Remote, source: str) -> list[str]:
    """The unmanaged lines of frr.conf (`source="file"`) or of the running configuration."""
    if source == "file":
        text = facts.config_file(remote) or ""
    else:
        running = facts.running_config(remote)
        text = running.text if running.answered else ""
    return unmanaged_configuration(site, text, remote.name)


def _config_facts(d: ScopedDifference, scope: FrrScope, kept: list[str], diff: str) -> dict:
    return {"missing": list(d.missing), "extra": list(d.extra), "stale": list(d.stale),
            "managed scope": scope.statement(), "decided by": d.referee,
            UNMANAGED_KEPT: kept, "diff": diff}


# the pool reads each BGP host's frr-reload diff ahead of its item (frr-reload.py costs
# about 0.1 s a host): the same `against`, with that host's own rendering, as _compare does
prefetch.read_ahead_as(facts.reload_diff,
                       lambda site, host, args: (render_frr_conf(site, host), *args[1:]))


def _compare(site: Site, remote: Remote, actual: str, against: str | None
             ) -> tuple[ScopedDifference, facts.ReloadDiff, FrrScope, str]:
    scope = frr_scope(site, remote.name)
    intended = render_frr_conf(site, remote.name)
    reload = facts.reload_diff(remote, intended, against)
    if reload.available:
        return scoped_difference(scope, reload), reload, scope, intended
    return _fallback_difference(scope, intended, actual), reload, scope, intended


def _referee_text(reload: facts.ReloadDiff) -> str:
    if not reload.available:
        return f"frr-reload.py --test unavailable: {reload.error}"
    return "frr-reload.py --test (every change a reload of the rendering alone would make; " \
        "only those inside the managed scope count):\n" + (reload.raw.strip() or "(none)")


def config_file_matches(site: Site, remote: Remote) -> Finding | None:
    text = facts.config_file(remote)
    if text is None:
        return Finding("frr_config", remote.name, f"{FRR_CONF} is missing: FRR would start "
                       f"without BGP configuration", {}, {})
    d, reload, scope, intended = _compare(site, remote, text, FRR_CONF)
    if not d:
        return None
    return Finding("frr_config", remote.name,
                   _difference_message(f"{FRR_CONF} (what FRR loads when it starts)", d),
                   {}, _config_facts(d, scope, unmanaged_configuration(site, text, remote.name),
                                     unified_diff(intended, text, FRR_CONF) + "\n\n" +
                                     _referee_text(reload)))


def running_config_matches(site: Site, remote: Remote) -> Finding | None:
    not_ready = frr_running(site, remote)
    if not_ready is not None:
        return _because_frr(not_ready, remote.name)
    running = facts.running_config(remote)
    if not running.answered:
        return Finding("frr_running", remote.name,
                       f"vtysh cannot show the running configuration: {running.error}",
                       {"watchfrr": True}, {})
    # frr-reload.py normalises both sides through vtysh: a spelling-only difference is none
    d, reload, scope, intended = _compare(site, remote, running.text, None)
    if not d:
        return None
    diff = unified_diff(intended, running.text, "running (vtysh show running-config)")
    return Finding("frr_config", remote.name,
                   _difference_message("the running configuration", d), {},
                   _config_facts(d, scope, unmanaged_configuration(site, running.text,
                                                                   remote.name),
                                 diff + "\n\n" + _referee_text(reload)))


# --- sessions ------------------------------------------------------------------------------
# the scenario (stable check id) whose finding a cause is, by the remediation it names
CAUSE_CHECKS = {"frr_enable_bgpd": "bgp.frr-running", "frr_running": "bgp.frr-running",
                "frr_config": "bgp.config-matches"}


def _cause(cause: Finding, host: str) -> Cause:
    return cause.caused_by or Cause(CAUSE_CHECKS.get(cause.remediation, "bgp.config-matches"),
                                    host, cause.remediation)


def _because_frr(not_ready: Finding, host: str) -> Finding:
    """FRR not running here explains this check's failure: the same finding (the same fix),
    named as a symptom of the FRR scenario on this host."""
    return replace(not_ready, caused_by=not_ready.caused_by or
                   Cause("bgp.frr-running", host, not_ready.remediation))


def _on(cause: Finding, host: str, peer: str, message: str, seen: dict) -> Finding:
    """A cause found on `peer`, reported on `host` (whose facts the engine re-reads while
    verifying) with the fix aimed at the peer."""
    return Finding(cause.remediation, host, f"{message}; cause on {peer}: {cause.message}",
                   {**cause.params, "on": peer}, seen, caused_by=_cause(cause, peer))


def _peer_cause(site: Site, peers: Peers | None, peer: str) -> Finding | None | str:
    """The peer's own FRR problem (daemons, processes, running config), None when it has
    none, or a string when it cannot be looked at."""
    if peers is None or peer not in site.hosts:
        return None
    try:
        return running_config_matches(site, peers(peer))
    except HostUnreachable as exc:
        return f"{peer} cannot be inspected: {exc.reason}"


# A bgpd younger than this is still bringing its sessions up (it connects at once; a refused
# connect is retried on FRR's connect timer): a session down then is its start's, a symptom.
BGPD_STARTING = 60


def _bgpd_starting(remote: Remote) -> int | None:
    """bgpd's age in seconds when it started less than BGPD_STARTING ago, else None."""
    age = facts.processes(remote).uptime("bgpd")
    return age if age is not None and age < BGPD_STARTING else None


def _peer_starting(site: Site, peers: Peers | None, peer: str) -> int | None:
    if peers is None or peer not in site.hosts:
        return None
    try:
        return _bgpd_starting(peers(peer))
    except HostUnreachable:
        return None


def _just_started(site: Site, remote: Remote, peers: Peers | None, others, here: bool = True
                  ) -> tuple[Cause, str] | None:
    """A bgpd that has just started (here when `here`, else on one of `others`): the FRR
    scenario of that host is the cause, with the why in words."""
    age = _bgpd_starting(remote) if here else None
    if age is not None:
        return Cause("bgp.frr-running", remote.name), f"bgpd here started {age} s ago"
    for other in dict.fromkeys(others):
        age = _peer_starting(site, peers, other)
        if age is not None:
            return Cause("bgp.frr-running", other), f"bgpd on {other} started {age} s ago"
    return None


def _start_cause(site: Site, remote: Remote, peers: Peers | None, down, got
                 ) -> tuple[Cause, str] | None:
    """A bgpd that has just started explains the down sessions: here, when none of them has
    been up in this bgpd's life yet; else at a peer whose session is down."""
    never_up = all(got.peers[n.address].connections_established == 0 for n in down)
    return _just_started(site, remote, peers, [n.peer for n in down], here=never_up)


def neighbors_established(site: Site, remote: Remote, peers: Peers | None = None
                          ) -> Finding | None:
    host = remote.name
    not_ready = frr_running(site, remote)
    if not_ready is not None:
        return _because_frr(not_ready, remote.name)
    intent = bgp_intent(site, host)
    got = facts.neighbors(remote)
    if not got.answered:
        return Finding("frr_running", host, f"bgpd does not answer: {got.error}",
                       {"watchfrr": True}, {})
    problems, down, local_config = [], [], False
    for n in intent.neighbors:
        label = _label(n.address, n.peer)
        nb = got.peers.get(n.address)
        if nb is None:
            problems.append(f"neighbor {label} is not configured")
            local_config = True
        elif nb.remote_as != n.remote_as:
            problems.append(f"neighbor {label} is configured with remote-as {nb.remote_as}, "
                            f"the inventory says {n.remote_as} ({nb.state}; {nb.why()})")
            local_config = True
        elif nb.state != "Established":
            problems.append(f"neighbor {label} is {nb.state}, not Established ({nb.why()})")
            down.append(n)
    if not problems:
        return None
    seen = {"neighbors": {a: asdict(nb) for a, nb in got.peers.items()},
            "expected": [asdict(n) for n in intent.neighbors]}
    message = "; ".join(problems)
    if local_config:          # the neighbor itself is configured otherwise than intended
        cause = running_config_matches(site, remote)
        return Finding("frr_config", host, f"{message}: {cause.message}" if cause else message,
                       {}, seen, caused_by=_cause(cause, host) if cause else None)
    # this side is configured as intended (else the config scenario says so): look for the
    # cause here first, then on each peer whose session is down
    own = running_config_matches(site, remote)
    if own is not None:
        return Finding(own.remediation, host, f"{message}; cause here: {own.message}",
                       own.params, seen, caused_by=_cause(own, host))
    notes = []
    for n in down:
        cause = _peer_cause(site, peers, n.peer)
        if isinstance(cause, Finding):
            return _on(cause, host, n.peer, message, seen)
        if isinstance(cause, str):
            notes.append(cause)
    starting = _start_cause(site, remote, peers, down, got)
    if starting:
        notes.append(f"{starting[1]}: its sessions are still coming up")
    if notes:
        message += "; " + "; ".join(notes)
    idle = [n.address for n in down if got.peers[n.address].state == "Idle"]
    return Finding("bgp_session", host, message,
                   {"peers": [n.address for n in down], "idle": idle, "mode": "reset"}, seen,
                   caused_by=starting[0] if starting else None)


# --- routes --------------------------------------------------------------------------------
def _by_dst(routes) -> dict[str, list[KernelRoute]]:
    out: dict[str, list[KernelRoute]] = {}
    for r in routes:
        out.setdefault(r.dst, []).append(r)
    return out


def _shadow_params(routes: list[KernelRoute]) -> dict:
    return {"routes": [{"dst": r.dst, "gateways": list(r.gateways), "dev": r.dev,
                        "protocol": r.protocol, "metric": r.metric} for r in routes]}


def static_shadows(site: Site, remote: Remote) -> list[KernelRoute]:
    """Kernel routes other than BGP's and the interfaces' own for a prefix BGP provides."""
    wanted = {p.prefix for p in learned_prefixes(site, remote.name)}
    return [r for r in kernel_routes(remote)
            if r.dst in wanted and r.protocol not in NOT_SHADOWS]


def no_static_shadow(site: Site, remote: Remote) -> Finding | None:
    shadows = static_shadows(site, remote)
    if not shadows:
        return None
    origin = {p.prefix: p for p in learned_prefixes(site, remote.name)}
    listed = "; ".join(f"`{r.text()}` (BGP provides it from {origin[r.dst].origin})"
                       for r in shadows)
    return Finding("static_route", remote.name,
                   f"static routes override prefixes BGP provides (zebra prefers a kernel "
                   f"route, distance 0, over BGP): {listed}", _shadow_params(shadows),
                   {"routes": [asdict(r) for r in shadows]})


def prefixes_learned(site: Site, remote: Remote, peers: Peers | None = None
                     ) -> Finding | None:
    host = remote.name
    want = learned_prefixes(site, host)
    if not want:
        return None
    routes = _by_dst(kernel_routes(remote))
    bad: list[LearnedPrefix] = [
        p for p in want
        if not any(r.protocol == "bgp" and p.via in r.gateways for r in routes.get(p.prefix, []))]
    if not bad:
        return None
    lines = []
    for p in bad:
        have = routes.get(p.prefix, [])
        lines.append(f"{p.prefix} from {p.origin} is not a BGP route via {p.via}; the kernel "
                     f"has {', '.join(f'`{r.text()}`' for r in have) or 'no route'}")
    message = "; ".join(lines)
    seen = {"expected": [asdict(p) for p in bad],
            "kernel routes": {p.prefix: [asdict(r) for r in routes.get(p.prefix, [])]
                              for p in bad}}
    # 1. a static route wins over BGP on this host
    shadows = [r for p in bad for r in routes.get(p.prefix, []) if r.protocol not in NOT_SHADOWS]
    if shadows:
        return Finding("static_route", host, f"{message}: a static route overrides BGP",
                       _shadow_params(shadows), seen)
    # 2. this host's FRR or sessions (including their causes on peers)
    session = neighbors_established(site, remote, peers)
    if session is not None:
        return Finding(session.remediation, host, f"{message}; {session.message}",
                       session.params, {**seen, **session.facts},
                       caused_by=session.caused_by or
                       Cause("bgp.neighbors-established", host, session.remediation))
    # 3. the origin does not announce it: its configuration, or no such connected network
    for p in bad:
        cause = _peer_cause(site, peers, p.origin)
        if isinstance(cause, Finding):
            return _on(cause, host, p.origin, message, seen)
    rib = facts.bgp_rib(remote)
    known = {p.prefix: rib.get(p.prefix, ()) for p in bad}
    seen["zebra bgp routes"] = {k: [asdict(e) for e in v] for k, v in known.items()}
    unknown = [p for p in bad if not known[p.prefix]]
    params = {"peers": sorted({p.via for p in bad}), "mode": "soft"}
    if unknown:
        message += "; not received over BGP: " + ", ".join(p.prefix for p in unknown)
        absent = _not_connected(site, peers, unknown)
        if absent:
            # nothing to announce: the network is down on its host, which BGP cannot fix
            why = "; ".join(f"{p.origin} has no address in {p.prefix} ({_network_of(site, p)})"
                            for p in absent)
            return Finding("bgp_session", host, f"{message}: {why}",
                           {**params, "blocked": f"{why}: bring that network up first"}, seen,
                           caused_by=Cause("libvirt.networks-active", absent[0].origin))
    # sessions are up and the config is intended: routes follow a new session within ~1 s,
    # so wait for a young one; ask an older one to send its routes again
    sessions = facts.neighbors(remote).peers
    if all((sessions[a].up_ms or 0) < SETTLE_MS for a in params["peers"] if a in sessions):
        params["mode"] = "wait"
        # routes that follow young sessions are their symptom, and the sessions a bgpd's
        # that has just started (here or at the routes' origin)
        cause, why = _young_sessions_cause(site, remote, peers, bad)
        return Finding("bgp_session", host, f"{message}; {why}", params, seen, caused_by=cause)
    return Finding("bgp_session", host, message, params, seen)


def _young_sessions_cause(site: Site, remote: Remote, peers: Peers | None,
                          bad: list[LearnedPrefix]) -> tuple[Cause, str]:
    return _just_started(site, remote, peers, [p.origin for p in bad]) or (
        Cause("bgp.neighbors-established", remote.name),
        "its sessions came up less than {:.0f} s ago".format(SETTLE_MS / 1000))


def _network_of(site: Site, p: LearnedPrefix) -> str:
    """What puts `p.prefix` on its origin host, as the inventory names it."""
    for nw in site.hosts[p.origin].nat_networks:
        if str(nw.cidr) == p.prefix:
            return f"libvirt network {nw.name}, gateway {nw.gateway} on {nw.bridge}"
    ext = site.openstack.external_network if site.openstack else None
    if ext is not None and str(ext.cidr) == p.prefix:
        return (f"external network {ext.name}: its gateway {ext.gateway} belongs on "
                f"{ext.gateway_on.bridge}")
    return "a connected network"


def _not_connected(site: Site, peers: Peers | None, prefixes: list[LearnedPrefix]
                   ) -> list[LearnedPrefix]:
    """The prefixes whose origin host has no interface route for them (so `redistribute
    connected` has nothing to send)."""
    if peers is None:
        return []
    out = []
    for p in prefixes:
        try:
            routes = kernel_routes(peers(p.origin))
        except HostUnreachable:
            continue
        if not any(r.dst == p.prefix and r.protocol == "kernel" for r in routes):
            out.append(p)
    return out
