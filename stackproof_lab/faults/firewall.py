"""Firewall faults from the report: libvirt's chains without the underlay accepts (a ping
from another host to a guest really fails), VXLAN not accepted, rules never saved."""
from __future__ import annotations

import shlex

from stackproof_lab.daemons.firewall import (apply_commands, apply_rules, remove_commands,
                                             save_command)
from stackproof_lab.faults import Fault, FaultError, register
from stackproof_lab.faults.libvirt import _new_compute_host
from stackproof_lab.templates.iptables import rules as iptables_rules


def _delete(lab, site, host, chain: str, predicate=lambda r: True):
    rules = [r for r in iptables_rules(site, host) if r.chain == chain and predicate(r)]
    if not rules:
        raise FaultError(f"{host} has no expected {chain} rule to remove")
    r = rules[0]
    spec = " ".join(shlex.quote(w) for w in shlex.split(r.spec))
    lab.shell(host).sh(f"iptables -w -t {r.table} -D {r.chain} {spec}")


def _heal(lab, site, host):
    apply_rules(lab, site, host)


def _unsaved(lab, site, host):
    """rules.v4 as saved before the site's rules went in: the operator's own rules stay in
    it (they are saved), the site's are live only. Taken out, saved, put back."""
    cmds = remove_commands(site, host)
    if not cmds:
        raise FaultError(f"{host} has no expected iptables rule")
    lab.shell(host).sh("\n".join(["set -e", *cmds, save_command(),
                                   *apply_commands(site, host)]))


def _underlay_in(r) -> bool:
    return r.spec.startswith("-s ") and "-j ACCEPT" in r.spec


register(Fault("libvirt-fwi-accept-missing", "firewall", "LIBVIRT_FWI lacks the underlay -> "
               "NAT accept: libvirt rejects what other hosts send to the guests",
               inject=lambda lab, site, host: _delete(lab, site, host, "LIBVIRT_FWI",
                                                      _underlay_in),
               heal=_heal, default_host=_new_compute_host))
register(Fault("libvirt-fwo-accept-missing", "firewall", "LIBVIRT_FWO lacks the NAT -> "
               "underlay accept: guests' replies to other hosts are rejected",
               inject=lambda lab, site, host: _delete(lab, site, host, "LIBVIRT_FWO"),
               heal=_heal, default_host=_new_compute_host))
register(Fault("vxlan-input-missing", "firewall", "udp/4789 (VXLAN) is not accepted on INPUT",
               inject=lambda lab, site, host: _delete(lab, site, host, "INPUT"),
               heal=_heal, default_host=_new_compute_host))
register(Fault("iptables-not-saved", "firewall", "the rules are live but not saved: a reboot "
               "loses them",
               inject=_unsaved,
               heal=_heal, default_host=_new_compute_host))
