"""nova-compute is down because instances_path is missing, owned by root or not set in
nova.conf: create it nova:nova 0755, set it in nova.conf, restart nova-compute.

Managed scope: the instances_path directory (owner and mode) and the `instances_path` key in
nova.conf's [DEFAULT]; every other option, section and comment of nova.conf is kept.
"""
from __future__ import annotations

import re
import shlex

from remediations._openstack import nova_compute_service, restart
from stackproof.facts import openstack as facts
from stackproof.remedy import Plan, Run, WriteFile

ID = "nova_instances_path"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 90.0          # nova-compute takes ~10-20 s to start and report


def set_default_option(text: str, key: str, value: str) -> str:
    """nova.conf with `key = value` in [DEFAULT]: an existing live line replaced, else the
    line added right after the [DEFAULT] header (a section is made if there is none).
    Comments and every other line stay as they are."""
    lines = text.splitlines()
    section, start = None, None
    for i, line in enumerate(lines):
        head = re.match(r"^\s*\[([^\]]+)\]\s*$", line)
        if head:
            section = head.group(1)
            if section == "DEFAULT" and start is None:
                start = i
            continue
        if section == "DEFAULT" and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            lines[i] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    if start is None:
        lines = ["[DEFAULT]", f"{key} = {value}", ""] + lines
    else:
        lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def plan(ctx, finding) -> Plan:
    host, path = finding.host, finding.params["path"]
    q = shlex.quote(path)
    steps = [Run(host, f"mkdir -p {q} && chown nova:nova {q} && chmod 755 {q}",
                 "nova-compute creates the instances' directories there as user nova")]
    # written even when it already says so: the file keeps its content, backed up first
    text = facts.nova_conf(ctx.fleet[host]) or ""
    steps.append(WriteFile(host, facts.NOVA_CONF,
                           set_default_option(text, "instances_path", path),
                           f"instances_path = {path} in [DEFAULT]"))
    name = nova_compute_service(ctx.site, host)
    steps.append(Run(host, restart(ctx.site, host, name), "nova-compute reads it at start"))
    # a restart that fails on the new nova.conf: the old file back, nova-compute on it again
    return Plan(ID, f"make {path} nova:nova 0755 on {host}, set it in nova.conf, restart "
                f"{name}", tuple(steps),
                rollback=(Run(host, restart(ctx.site, host, name), "back on the old nova.conf"),))
