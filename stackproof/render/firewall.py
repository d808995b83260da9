"""An expected iptables rule as the command that adds, checks or deletes it: what the
findings quote and what the firewall fix runs."""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackproof.expect import IptablesRule


def command(rule: IptablesRule, position: int | None = 1, quote: bool = False,
            action: str | None = None, wait: bool = False) -> str:
    """The rule as an operator types it: `iptables [-t T] -I CHAIN 1 <spec>` when it must come
    first, `-A` otherwise (or `action`: -C, -D). `quote=True` shell-quotes every word and
    `wait=True` adds `-w` (wait for the xtables lock): what a plan runs."""
    words = shlex.split(rule.spec)
    spec = " ".join(shlex.quote(w) for w in words) if quote else rule.spec
    table = "" if rule.table == "filter" else f"-t {shlex.quote(rule.table)} "
    chain = shlex.quote(rule.chain) if quote else rule.chain
    if action is None:
        action = "-I" if rule.first else "-A"
    where = f" {position}" if action == "-I" and position is not None else ""
    lock = "-w " if wait else ""
    return f"iptables {lock}{table}{action} {chain}{where} {spec}"
