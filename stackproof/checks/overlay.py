"""Overlay checks: Open vSwitch state and the OVS agent's ini against the site -> Finding.

Expectations come from stackproof.expect.ovs_layout (bridges, patch pairs),
stackproof.expect.vxlan_tunnels (the tunnels Neutron's agent builds: a full mesh, or with
l2_population those the port bindings call for) and stackproof.render.neutron.
required_options.
"""
from __future__ import annotations

from dataclasses import asdict

from stackproof.expect import OvsLayout, ovs_layout, vxlan_tunnels
from stackproof.facts import ovs as facts
from stackproof.facts.ovs import OvsState
from stackproof.finding import Finding
from stackproof.remote import Remote
from stackproof.render.neutron import AGENT_INI, required_options
from stackproof.site import Site

TRUE = {"true", "1", "yes", "on", "t", "y"}          # oslo.config's boolean spellings


def _state(remote: Remote) -> tuple[OvsState, Finding | None]:
    state = facts.ovs_state(remote)
    if state.running:
        return state, None
    return state, Finding("ovs_service", remote.name,
                          f"Open vSwitch does not answer: {state.error}", {},
                          {"ovs-vsctl": state.error})


def _show(state: OvsState) -> dict:
    return {"ovs": state.summary()}


# --- the agent's ini ---------------------------------------------------------------------------
def _ini_mismatches(site: Site, host: str, ini: facts.AgentIni,
                    keys: set[tuple[str, str]]) -> list[str]:
    out = []
    for (section, key), want in required_options(site, host).items():
        if (section, key) not in keys:
            continue
        got = ini.get(section, key)
        if key == "tunnel_types":
            ok = got is not None and sorted(t.strip() for t in got.split(",") if t.strip()) \
                == sorted(want.split(","))
        elif key == "l2_population":
            ok = got is not None and got.lower() in TRUE
        else:
            ok = got == want
        if not ok:
            shown = "missing" if got is None else f"{got!r}"
            out.append(f"[{section}] {key} is {shown}, expected {want!r}")
    return out


def agent_ini(site: Site, remote: Remote, keys: set[tuple[str, str]]) -> Finding | None:
    """The ini sets each of `keys` (from required_options) to its intended value."""
    ini = facts.agent_ini(remote, AGENT_INI)
    want = {f"[{s}] {k}": v for (s, k), v in required_options(site, remote.name).items()}
    params = {"path": AGENT_INI}
    if not ini.exists:
        return Finding("ovs_agent_ini", remote.name, f"{AGENT_INI} is missing "
                       f"({ini.error})", params, {"expected": want})
    if ini.error:
        return Finding("ovs_agent_ini", remote.name, f"{AGENT_INI} does not parse: "
                       f"{ini.error}", params, {"expected": want, "text": ini.text})
    problems = _ini_mismatches(site, remote.name, ini, keys)
    if not problems:
        return None
    return Finding("ovs_agent_ini", remote.name, f"{AGENT_INI}: " + "; ".join(problems),
                   params, {"expected": want, "text": ini.text})


def agent_ini_tunnels(site: Site, remote: Remote) -> Finding | None:
    return agent_ini(site, remote, {("ovs", "local_ip"), ("ovs", "tunnel_bridge"),
                                    ("agent", "tunnel_types")})


def agent_ini_l2_population(site: Site, remote: Remote) -> Finding | None:
    return agent_ini(site, remote, {("agent", "l2_population")})


# --- bridges and patch ports -------------------------------------------------------------------
def ovs_answers(site: Site, remote: Remote) -> Finding | None:
    return _state(remote)[1]


def tunnel_bridge_exists(site: Site, remote: Remote) -> Finding | None:
    state, down = _state(remote)
    if down:
        return down
    layout = ovs_layout(site, remote.name)
    missing = [b for b in (layout.integration_bridge, layout.tunnel_bridge)
               if b and b not in state.bridges]
    if not missing:
        return None
    return Finding("ovs_patch_ports", remote.name,
                   f"bridge(s) {', '.join(missing)} missing (have: "
                   f"{', '.join(sorted(state.bridges)) or 'none'})",
                   {"ports": [p.port for p in _tunnel_patches(layout)]}, _show(state))


def _tunnel_patches(layout: OvsLayout):
    return [p for p in layout.patches if layout.tunnel_bridge in (p.bridge, p.peer_bridge)
            and layout.integration_bridge in (p.bridge, p.peer_bridge)]


def patch_problems(state: OvsState, pair) -> list[str]:
    """What is wrong with one patch port of the layout (empty: it is right)."""
    iface = state.interfaces.get(pair.port)
    if iface is None or state.bridge_of(pair.port) is None:
        return [f"{pair.port} missing from {pair.bridge}"]
    out = []
    on = state.bridge_of(pair.port)
    if on != pair.bridge:
        out.append(f"{pair.port} is on {on}, expected on {pair.bridge}")
    if iface.type != "patch":
        out.append(f"{pair.port} has type {iface.type or 'system'!r}, expected 'patch'")
    peer = iface.options.get("peer")
    if peer != pair.peer:
        out.append(f"{pair.port} has peer={peer or 'none'}, expected peer={pair.peer}")
    return out


def patch_ports_peer(site: Site, remote: Remote) -> Finding | None:
    state, down = _state(remote)
    if down:
        return down
    layout = ovs_layout(site, remote.name)
    pairs = _tunnel_patches(layout)
    broken = {p.port: patch_problems(state, p) for p in pairs}
    broken = {k: v for k, v in broken.items() if v}
    if not broken:
        return None
    return Finding("ovs_patch_ports", remote.name,
                   "; ".join(m for msgs in broken.values() for m in msgs),
                   {"ports": sorted(broken)}, _show(state))


def no_interface_errors(site: Site, remote: Remote) -> Finding | None:
    state, down = _state(remote)
    if down:
        return down
    errors = state.errors()
    if not errors:
        return None
    layout = ovs_layout(site, remote.name)
    message = "; ".join(f"{i.name}: error: {i.error!r}" for i in errors)
    # a patch port of the agent's layout whose peer is gone: recreate the pair
    ours = {p.port for p in layout.patches}
    fixable = sorted({i.name for i in errors if i.name in ours} |
                     {p.peer for p in layout.patches for i in errors if i.name == p.port})
    if fixable and all(i.name in ours for i in errors):
        return Finding("ovs_patch_ports", remote.name, message, {"ports": fixable},
                       _show(state))
    return Finding("ovs_interface_error", remote.name, message,
                   {"interfaces": [i.name for i in errors]}, _show(state))


# --- the VXLAN mesh ----------------------------------------------------------------------------
def vxlan_mesh(site: Site, remote: Remote,
               hosts_by_network: dict[str, set[str]] | None = None) -> Finding | None:
    """One tunnel port per endpoint Neutron's agent tunnels to (stackproof.expect.
    vxlan_tunnels; `hosts_by_network` from the API for an l2_population host), on the
    tunnel bridge, with this host's local_ip and the endpoint's remote_ip. Other tunnel
    ports are left alone (the agent manages them)."""
    state, down = _state(remote)
    if down:
        return down
    layout = ovs_layout(site, remote.name)
    expected = vxlan_tunnels(site, remote.name, hosts_by_network)
    tunnels = [i for i in state.interfaces.values() if i.type == layout.tunnel_type]
    missing, wrong_ports, remove, problems = [], [], [], []
    for want in expected:
        found = [i for i in tunnels if i.options.get("remote_ip") == want.remote_ip]
        if not found:
            missing.append(want.name)
            problems.append(f"no {layout.tunnel_type} port to {want.peer} "
                            f"({want.remote_ip}; expected {want.name})")
            continue
        keep = next((i for i in found if i.name == want.name), found[0])
        for extra in found:
            if extra is not keep:
                remove.append(extra.name)
                problems.append(f"{extra.name} is a second port to {want.peer} "
                                f"({want.remote_ip}) besides {keep.name}")
        on = state.bridge_of(keep.name)
        wrong = []
        if keep.options.get("local_ip") != want.local_ip:
            wrong.append(f"local_ip={keep.options.get('local_ip', 'unset')}, expected "
                         f"{want.local_ip}")
        if on != layout.tunnel_bridge:
            wrong.append(f"on {on}, expected on {layout.tunnel_bridge}")
            remove.append(keep.name)
        if wrong:
            wrong_ports.append(keep.name)
            problems.append(f"{keep.name} to {want.peer}: " + ", ".join(wrong))
    if not problems:
        return None
    l2pop = remote.name in site.overlay.l2_population
    facts_shown = {"expected": [asdict(t) for t in expected],
                   "rule": "l2_population: endpoints hosting a port on a network this host "
                           "hosts" if l2pop else "full mesh (tunnel_sync)",
                   "tunnel ports": {i.name: {"bridge": state.bridge_of(i.name),
                                             "options": dict(i.options)} for i in tunnels}}
    if hosts_by_network is not None:
        facts_shown["hosts by network"] = {k: sorted(v) for k, v in hosts_by_network.items()}
    return Finding("ovs_vxlan_ports", remote.name, "; ".join(problems),
                   {"missing": missing, "wrong": wrong_ports, "remove": sorted(set(remove)),
                    "bridge_missing": layout.tunnel_bridge not in state.bridges},
                   facts_shown)
