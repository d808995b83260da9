"""Write the intended frr.conf (rendered from the inventory) and load it with frr-reload.py,
which changes only what differs; restart FRR only when the reload fails or bgpd is down."""
from __future__ import annotations

from stackproof.facts import frr as facts
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.frr import render_frr_conf

ID = "frr_config"
DESTRUCTIVE = False
# reload ~0.5 s; a changed neighbor is Established ~1.5 s later, its routes ~1 s after
VERIFY_TIMEOUT = 30.0
# `vtysh -C -f FILE` parses FILE offline: rc 0 when every line is known, 2 on
# `line N: % Unknown command` (it does not catch a wrong ASN: that is what the check does)
VALIDATE = "vtysh -C -f {path}"


def plan(ctx, finding) -> Plan:
    host = finding.params.get("on", finding.host)
    os = profile(ctx.site, host)
    restart = os.service("frr", "restart")
    if facts.processes(ctx.fleet[host]).alive("bgpd"):
        # frr-reload.py exits 0 even when a daemon refuses lines: the check verifies
        # the subshell: a missing frr-reload.py (no frr-pythontools) also falls back
        load = Run(host, f"( {facts.reload_command(facts.FRR_CONF)} ) || {restart}",
                   "apply only the differences (unchanged sessions stay up); restart FRR "
                   "only if the reload fails")
    else:
        load = Run(host, restart, "bgpd is not running: a restart loads the file")
    return Plan(ID, f"write the intended {facts.FRR_CONF} on {host} and load it", (
        WriteFile(host, facts.FRR_CONF, render_frr_conf(ctx.site, host),
                  "the configuration rendered from the inventory", mode="0640",
                  owner="frr:frr", validate=VALIDATE),
        load,
    ))
