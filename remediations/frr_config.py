"""Bring FRR's BGP configuration to what the inventory describes, in /etc/frr/frr.conf and in
the running daemons, loaded with frr-reload.py (only the differences; restart FRR only when
the reload fails or bgpd is down).

Managed scope (stackproof.render.frr_scope), by the inventory's `bgp.config`:
- merged (default): inside the default VRF's `router bgp <asn>`: `bgp router-id`,
  `timers bgp`, the inventory's neighbors with `remote-as` and `update-source`, and the
  `address-family ipv4 unicast` lines the model renders (`redistribute connected`,
  `next-hop-self`, eBGP `route-map ... in|out`); the eBGP permit-all prefix-list and
  route-map; and removal of stale neighbors (in that router, not in the inventory).
  Those lines are changed in place in the existing frr.conf, and in a copy of the running
  configuration that frr-reload.py then loads; every other line (operator route-maps,
  prefix-lists, static routes, logging, OSPF, BFD, VRFs, neighbor passwords, descriptions,
  comments, order, and configuration that exists only in memory) is kept.
- exact: frr.conf and the running configuration become the rendering: everything else is
  removed, so the plan is destructive and runs only with --allow-destructive.
Never in scope: the kernel's forwarding switches that zebra shows as `[no] ip forwarding` /
`[no] ipv6 forwarding` (the ip_forward remediation owns IPv4 forwarding). frr-reload flips
them when its input disagrees with the running config, so its input always carries the
running config's own forwarding lines: this fix never changes forwarding.
"""
from __future__ import annotations

import shlex

from stackproof.facts import frr as facts
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.frr_scope import frr_scope, intended_text, reload_text

ID = "frr_config"
DESTRUCTIVE = False          # merged; exact mode marks its own plan destructive
# reload ~0.5 s; a changed neighbor is Established ~1.5 s later, its routes ~1 s after
VERIFY_TIMEOUT = 30.0
# `vtysh -C -f FILE` parses FILE offline: rc 0 when every line is known, 2 on
# `line N: % Unknown command` (it does not catch a wrong ASN: that is what the check does)
VALIDATE = "vtysh -C -f {path}"
# frr-reload.py's input: the running configuration with the managed lines changed
RELOAD_INPUT = "/tmp/stackproof-frr-reload.conf"


def reload_command(path: str = facts.FRR_CONF) -> str:
    """Apply `path` to the running daemons (only the differences)."""
    # the facts layer finds the script ($R): the same frr-reload.py its --test fact runs
    return f"{facts.find_reload_script()}; \"$R\" --reload {shlex.quote(path)}"


def load_command(restart: str) -> str:
    """frr-reload.py --reload of RELOAD_INPUT, keeping frr.conf as written by this plan.

    frr-reload.py exits 0 even when a daemon refuses lines: the check verifies. A missing
    frr-reload.py (no frr-pythontools) falls back to the restart, which loads frr.conf."""
    q = shlex.quote
    conf, keep = q(facts.FRR_CONF), q(f"{facts.FRR_CONF}.stackproof-keep")
    return (f"cp -p {conf} {keep} && {{ ( {reload_command(RELOAD_INPUT)} ) || {restart}; "
            f"rc=$?; mv -f {keep} {conf}; rm -f {q(RELOAD_INPUT)}; exit $rc; }}")


def plan(ctx, finding) -> Plan:
    host = finding.params.get("on", finding.host)
    remote = ctx.fleet[host]
    scope = frr_scope(ctx.site, host)
    restart = profile(ctx.site, host).service("frr", "restart")
    exact = scope.mode == "exact"
    if exact:
        why = ("exact mode (bgp.config: exact): the whole file becomes the rendering; "
               "every line the inventory does not describe is removed")
    else:
        why = f"managed lines changed in place, every other line kept ({scope.statement()})"
    steps = [WriteFile(host, facts.FRR_CONF,
                       intended_text(ctx.site, host, facts.config_file(remote)), why,
                       mode="0640", owner="frr:frr", validate=VALIDATE)]
    running = facts.running_config(remote)
    if facts.processes(remote).alive("bgpd") and running.answered:
        steps.append(WriteFile(
            host, RELOAD_INPUT, reload_text(ctx.site, host, running.text,
                                            facts.config_file(remote)),
            "what the daemons will run: their running configuration with the managed lines "
            "changed " + ("(exact: the rendering)" if exact else "and nothing else") +
            "; its forwarding lines are the running ones, so forwarding is not touched",
            mode="0600", validate=VALIDATE))
        steps.append(Run(host, load_command(restart),
                         "apply only the differences (unchanged sessions stay up); restart "
                         "FRR only if the reload fails. frr-reload.py saves the running "
                         f"config over {facts.FRR_CONF} (`write`) when it loads another file: "
                         "the merged file written above is put back"))
    else:
        steps.append(Run(host, restart, "bgpd is not running: a restart loads the file"))
    return Plan(ID, f"bring the BGP settings of {facts.FRR_CONF} and of the running FRR on "
                f"{host} to the inventory's", tuple(steps), destructive=exact)
