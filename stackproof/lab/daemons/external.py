"""The external network's gateway on the fronting host's NAT bridge (the report's fix for
floating IPs that had no gateway once ext-net moved off the NAT range)."""
from __future__ import annotations

import shlex

from stackproof.expect import external_gateway


def external_gateway_hook(lab, site) -> None:
    found = external_gateway(site)
    if found is None:
        return
    host, addr = found
    lab.shell(host).sh(f"ip addr replace {shlex.quote(addr.cidr)} dev {shlex.quote(addr.dev)}")
