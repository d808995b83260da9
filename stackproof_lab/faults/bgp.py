"""BGP faults from the report, on the first BGP host against the second: bgpd disabled,
frr stopped, a wrong remote-as, a running config that drifted from frr.conf, a missing
neighbor, and a leftover static route shadowing a BGP prefix."""
from __future__ import annotations

import shlex

from stackproof_lab.faults import Fault, register
from stackproof_lab.templates.bgp import frr_conf, learned_routes, peers, speakers

# The sysctl file the suite's ip_forward fix writes (stackproof.facts.forwarding.OUR_FILE,
# duplicated: the lab imports no check; tests/unit/test_lab_independence.py keeps them equal).
FIX_SYSCTL_FILE = "/etc/sysctl.d/90-stackproof-ip-forward.conf"


def _peer(site, a):
    return next(h for h in speakers(site) if h != a)


def _address(site, host) -> str:
    return str(site.hosts[host].underlay.address)


def _vtysh(lab, site, host, *lines):
    cmds = ["configure terminal", f"router bgp {site.asn_of(host)}", *lines]
    lab.shell(host).sh("vtysh " + " ".join(f"-c {shlex.quote(c)}" for c in cmds))


def _bgpd_off(lab, site, a):
    lab.shell(a).sh("sed -i 's/^bgpd=.*/bgpd=no/' /etc/frr/daemons && service frr reload")


def _frr_stop(lab, site, a):
    lab.shell(a).sh("service frr stop")


def _wrong_as(lab, site, a):
    b = _peer(site, a)
    _vtysh(lab, site, a, f"neighbor {_address(site, b)} remote-as "
                         f"{site.asn_of(b) + 99}")


def _drift(lab, site, a):
    lines = ["address-family ipv4 unicast", "no redistribute connected"]
    if site.bgp.mode == "ibgp":
        lines += [f"no neighbor {p.address} next-hop-self" for p in peers(site, a)]
    _vtysh(lab, site, a, *lines)


def _neighbor_removed(lab, site, a):
    _vtysh(lab, site, a, f"no neighbor {_address(site, _peer(site, a))}")


def _static(lab, site, a):
    prefix, via, _ = next(r for r in learned_routes(site, a) if r[2] == _peer(site, a))
    lab.shell(a).sh(f"ip route add {shlex.quote(prefix)} via {shlex.quote(via)}")


def _forwarding_off(lab, site, a):
    lab.shell(a).sh("sysctl -qw net.ipv4.ip_forward=0")


def restore_forwarding(lab, site, host):
    """The host's forwarding as the lab made it, and no sysctl file of the fix left behind."""
    from stackproof_lab.daemons.frr import lab_forwarding
    lab.shell(host).sh(f"rm -f {shlex.quote(FIX_SYSCTL_FILE)}; "
                       f"sysctl -qw net.ipv4.ip_forward={lab_forwarding(site, host)}")


def restore_frr(lab, site, host):
    """The operator's frr.conf (stackproof_lab.templates.bgp), bgpd on, no leftover static
    route, frr restarted; on a
    lived-in lab the operator's FRR items go back on top (stackproof_lab.lived_in)."""
    from stackproof_lab.lived_in import reseed
    shell = lab.shell(host)
    for prefix, _, _ in learned_routes(site, host):
        shell.run(["ip", "route", "del", prefix, "proto", "boot"], check=False)
    shell.run(["/bin/sh", "-c", "sed -i 's/^bgpd=.*/bgpd=yes/' /etc/frr/daemons && "
               "cat > /etc/frr/frr.conf && chown frr:frr /etc/frr/frr.conf && "
               "service frr restart"], input=frr_conf(site, host))
    reseed(lab, host)


def _first(site):
    return speakers(site)[0]


for name, what, inject in (
        ("bgpd-off", "bgpd=no in /etc/frr/daemons (and frr reloaded)", _bgpd_off),
        ("frr-stopped", "the frr service is stopped", _frr_stop),
        ("bgp-wrong-remote-as", "one neighbor configured with the wrong remote-as", _wrong_as),
        ("frr-config-drift", "running config drifted: redistribute connected and "
                             "next-hop-self removed by hand", _drift),
        ("bgp-neighbor-removed", "one neighbor missing from the running config",
         _neighbor_removed),
        ("static-route-shadow", "a leftover static route shadows a BGP prefix", _static)):
    register(Fault(name, "bgp", what, inject=inject, heal=restore_frr, default_host=_first))

register(Fault("ip-forward-off", "bgp", "IPv4 forwarding switched off in the kernel "
               "(sysctl net.ipv4.ip_forward=0)", inject=_forwarding_off,
               heal=restore_forwarding, default_host=_first))
