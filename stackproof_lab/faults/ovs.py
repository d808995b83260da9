"""Open vSwitch overlay faults from the report: br-tun missing (patch-tun then reports "No
usable peer 'patch-int' exists in 'system' datapath."), a patch port missing, a VXLAN port to
one endpoint missing, and the agent's ini without `tunnel_types` or with a wrong `local_ip`.

Each heal puts the intended ini back and restarts the agent, which rebuilds its bridges and
tunnels: what an operator does, and harmless when a remediation already fixed the fault.
"""
from __future__ import annotations

from stackproof_lab.daemons import ovs as labovs
from stackproof_lab.faults import Fault, FaultError, register
from stackproof.render.neutron import AGENT_INI, render_agent_ini, with_options, without_option
from stackproof.render.ovs import ovs_layout


def _default_host(site) -> str | None:
    hosts = labovs.ovs_hosts(site)
    return hosts[-1] if hosts else None        # the report's newest node: compute2


def _need(host):
    if host is None:
        raise FaultError("the site has no host with role ovs_agent")
    return host


def _vsctl(lab, host, *args: str) -> None:
    lab.shell(_need(host)).run(["ovs-vsctl", "--timeout=10", *args])


def _restore(lab, site, host) -> None:
    shell = lab.shell(_need(host))
    labovs.write_file(shell, AGENT_INI, render_agent_ini(site, host), mode=0o640)
    labovs.restart_synced(shell)
    # the real agent makes its tunnels in its first loops after 'initialized': wait for the
    # full mesh (hosts without l2_population), so the next fault starts from a whole layout
    if host not in site.overlay.l2_population:
        labovs.wait_until(lambda: labovs.layout_built(shell, site, host), 180,
                          f"[{host}] the agent's tunnels after its restart")


def _edit_ini(lab, site, host, edit) -> None:
    shell = lab.shell(_need(host))
    text = shell.run(["cat", AGENT_INI]).stdout
    labovs.write_file(shell, AGENT_INI, edit(text), mode=0o640)
    # the agent may refuse the new ini (a local_ip not on the host): that is the fault
    labovs.restart_reacted(shell)


def wrong_local_ip(site, host) -> str:
    """A plausible mistake: the address of the physical host under the node (or, for a
    physical node, the underlay gateway's)."""
    hv = site.hypervisor_of(host)
    if hv is not None:
        return str(site.hosts[hv].underlay.address)
    return str(site.underlay.gateway or next(
        site.address_of(n) for n in site.physical_hosts() if n != host))


def _first_tunnel(site, host):
    tunnels = ovs_layout(site, _need(host)).tunnels
    if not tunnels:
        raise FaultError(f"{host} has no other overlay endpoint")
    return tunnels[0]


register(Fault(
    "ovs-br-tun-missing", "ovs", "br-tun deleted: patch-tun reports \"No usable peer "
    "'patch-int' exists in 'system' datapath.\" and every VXLAN port is gone",
    inject=lambda lab, site, host: _vsctl(lab, host, "del-br",
                                          site.overlay.tunnel_bridge),
    heal=_restore, default_host=_default_host))
register(Fault(
    "ovs-patch-port-missing", "ovs", "patch-int deleted from br-tun: patch-tun has no peer",
    inject=lambda lab, site, host: _vsctl(lab, host, "--if-exists", "del-port",
                                          site.overlay.tunnel_bridge, "patch-int"),
    heal=_restore, default_host=_default_host))
register(Fault(
    "ovs-vxlan-port-missing", "ovs", "the VXLAN port to one other endpoint deleted",
    inject=lambda lab, site, host: _vsctl(lab, host, "--if-exists", "del-port",
                                          site.overlay.tunnel_bridge,
                                          _first_tunnel(site, host).name),
    heal=_restore, default_host=_default_host))
register(Fault(
    "ovs-ini-no-tunnel-types", "ovs", "openvswitch_agent.ini without `tunnel_types = vxlan` "
    "(agent restarted with it)",
    inject=lambda lab, site, host: _edit_ini(
        lab, site, host, lambda t: without_option(t, "agent", "tunnel_types")),
    heal=_restore, default_host=_default_host))
register(Fault(
    "ovs-ini-wrong-local-ip", "ovs", "openvswitch_agent.ini with a wrong local_ip (the "
    "physical host's address); the agent, restarted, logs \"Tunneling can't be enabled with "
    "invalid local_ip\" and builds nothing (its privsep helper keeps the process alive)",
    inject=lambda lab, site, host: _edit_ini(
        lab, site, host, lambda t: with_options(t, {("ovs", "local_ip"):
                                                    wrong_local_ip(site, host)})),
    heal=_restore, default_host=_default_host))
