"""site.svg: the site drawn from its model, coloured by a run's results.

Graphviz lays it out: Debian's `dot`, driven through the `graphviz` Python package (a thin,
maintained binding that writes DOT and runs the installed `dot`; no compiled extension to
build, unlike pygraphviz). Drawn: physical hosts with their guests and instances (nested
clusters), the underlay, the NAT bridges, BGP sessions, VXLAN tunnels and floating-IP paths.
With a compliance report (stackproof.outcome), an edge is red when a check on either end of
it failed, and every host carries a badge: green (all passed), orange (remediated), red
(findings left), grey (not checked).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from stackproof.expect import bgp_hosts, floating_ip_plumbing, overlay_endpoints
from stackproof.site import Site

GREEN, ORANGE, RED, GREY = "#2e7d32", "#ef6c00", "#c62828", "#9e9e9e"
BADGE = {"passed": GREEN, "remediated": ORANGE, "failed": RED, None: GREY}
# the checks whose failure on either end makes an edge red
EDGE_CHECKS = {"bgp": ("bgp.",), "vxlan": ("overlay.vxlan-mesh", "overlay.tunnel-bridge",
                                           "firewall.vxlan-accept"),
               "fip": ("floating_ip.",), "underlay": ("connectivity.",)}


@dataclass(frozen=True)
class HostState:
    status: str | None                    # failed, remediated, passed or None (not checked)
    failed_checks: frozenset[str] = frozenset()


def host_states(report: dict | None) -> dict[str, HostState]:
    """Per host, the worst status of its records: failed > remediated > passed."""
    if not report:
        return {}
    rank = {"failed": 3, "remediated": 2, "passed": 1}
    worst: dict[str, str] = {}
    failed: dict[str, set[str]] = {}
    for r in report.get("checks", []):
        host, status = r.get("host"), r.get("status")
        # a symptom that cleared once its root cause was fixed was red too: orange
        status = "remediated" if status == "cleared" else status
        if not host or status not in rank:
            continue
        if rank[status] > rank.get(worst.get(host, ""), 0):
            worst[host] = status
        if status == "failed":
            failed.setdefault(host, set()).add(r.get("check") or "")
    return {h: HostState(s, frozenset(failed.get(h, ()))) for h, s in worst.items()}


def _edge_color(states: dict[str, HostState], kind: str, *hosts: str) -> str:
    prefixes = EDGE_CHECKS[kind]
    for h in hosts:
        if any(c.startswith(prefixes) for c in states.get(h, HostState(None)).failed_checks):
            return RED
    return "#455a64"


def _node_id(name: str) -> str:
    return "h_" + "".join(c if c.isalnum() else "_" for c in name)


def site_graph(site: Site, report: dict | None = None):
    import graphviz
    states = host_states(report)
    g = graphviz.Graph("site", engine="dot", graph_attr={
        "label": f"site {site.site}" + ("" if report is None else
                                        "  (coloured by the run: green passed, orange "
                                        "remediated, red findings left)"),
        "labelloc": "t", "fontname": "Helvetica", "compound": "true", "newrank": "true"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"})

    def host_node(graph, name: str, detail: str, shape: str = "box") -> None:
        state = states.get(name, HostState(None))
        graph.node(_node_id(name), f"{name}\n{detail}", shape=shape, style="rounded,filled",
                   fillcolor="white", color=BADGE[state.status], penwidth="3")

    underlay = "underlay"
    g.node(underlay, f"underlay\n{site.underlay_cidr}", shape="ellipse", style="filled",
           fillcolor="#eceff1")
    if site.underlay.gateway is not None:
        g.node("uplink", f"gateway\n{site.underlay.gateway}", shape="ellipse")
        g.edge(underlay, "uplink", style="dashed")
    for name, h in site.physical_hosts().items():
        with g.subgraph(name=f"cluster_{_node_id(name)}") as c:
            c.attr(label=name, style="rounded", color="#b0bec5")
            host_node(c, name, f"{h.underlay.interface} {h.underlay.address}")
            for nw in h.nat_networks:
                bridge = _node_id(f"{name}-{nw.bridge}-{nw.name}")
                c.node(bridge, f"{nw.bridge} ({nw.name})\n{nw.cidr}", shape="note",
                       style="filled", fillcolor="#f5f5f5")
                c.edge(_node_id(name), bridge)
                for gname, gh in site.guests().items():
                    if gh.hypervisor == name and gh.network == nw.name:
                        host_node(c, gname, f"{gh.interface} {gh.address}")
                        c.edge(bridge, _node_id(gname))
                        for iname, ih in site.instances().items():
                            if ih.compute == gname:
                                fip = f" fip {ih.floating_ip}" if ih.floating_ip else ""
                                host_node(c, iname, f"{ih.address}{fip}", shape="component")
                                c.edge(_node_id(gname), _node_id(iname), style="dotted")
        g.edge(_node_id(name), underlay,
               color=_edge_color(states, "underlay", name), label=h.underlay.interface)
    for a, b in itertools.combinations(bgp_hosts(site), 2):
        g.edge(_node_id(a), _node_id(b), label="BGP", style="dashed", constraint="false",
               color=_edge_color(states, "bgp", a, b))
    for a, b in itertools.combinations(sorted(overlay_endpoints(site)), 2):
        g.edge(_node_id(a), _node_id(b), label="VXLAN", style="dotted", constraint="false",
               color=_edge_color(states, "vxlan", a, b))
    for p in floating_ip_plumbing(site):
        hops = [*p.routes, *[h for h in p.addresses if h != p.instance]]
        for a, b in zip(hops, hops[1:]):
            g.edge(_node_id(a), _node_id(b), label=f"fip {p.floating_ip}", color=_edge_color(
                states, "fip", a, b), constraint="false", penwidth="2")
    return g


def render_svg(site: Site, report: dict | None = None) -> str:
    """The picture as SVG text (runs Graphviz's `dot`)."""
    return site_graph(site, report).pipe(format="svg", quiet=True).decode()
