"""Enable bgpd in /etc/frr/daemons (the report's `sed -i 's/bgpd=no/bgpd=yes/'`), then
restart FRR so watchfrr starts it.

Managed scope: the `bgpd=` line of /etc/frr/daemons (every other line kept) and the FRR
service restart; frr.conf is not edited, FRR reloads it as it is.
"""
from __future__ import annotations

from stackproof.facts import frr as facts
from stackproof.osfamily import profile
from stackproof.remedy import Plan, Run, WriteFile
from stackproof.render.frr import set_bgpd

ID = "frr_enable_bgpd"
DESTRUCTIVE = False
# restart ~1 s, sessions Established ~1-2 s later, routes ~1 s after that (LAB-NOTES);
# the engine stops polling as soon as the fact holds
VERIFY_TIMEOUT = 30.0


def plan(ctx, finding) -> Plan:
    host = finding.params.get("on", finding.host)
    daemons = facts.daemons(ctx.fleet[host])
    if not daemons.exists:
        return Plan(ID, f"enable bgpd on {host}", (), blocked=f"{facts.DAEMONS_FILE} is "
                    f"missing on {host}: install the frr package first")
    os = profile(ctx.site, host)
    return Plan(ID, f"enable bgpd on {host} and restart FRR", (
        # frrcommon.sh sources the file: `sh -n` refuses a file it could not source
        WriteFile(host, facts.DAEMONS_FILE, set_bgpd(daemons.text, True),
                  "bgpd=yes: watchfrr starts only the daemons enabled here",
                  validate="sh -n {path}"),
        Run(host, os.service("frr", "restart"), "start bgpd with the new daemons file"),
    ))
