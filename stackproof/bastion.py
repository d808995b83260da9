"""The OpenSSH command that reaches a host through the inventory's `bastion:`.

paramiko's ProxyCommand runs the command as given (shlex-split, no shell) and expands no
`%h`/`%p`, so the target's real address and port are written in (`-W 10.0.0.5:22`). The
inner ssh never prompts (`BatchMode=yes`), verifies the bastion's host key
(`StrictHostKeyChecking=yes`) against the inventory's known_hosts, and takes the
inventory's ssh_config and identity (an operator's bastion is usually named there).
A bastion value is `[user@]host[:port]`; the inventory loader refuses anything else, in
particular a value that begins with `-` (it would become an ssh option).
"""
from __future__ import annotations

import os
import re
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:                      # site.py validates with parse_bastion: no cycle
    from stackproof.site import SshSpec

BASTION_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})@)?"
                        r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252})(?::(?P<port>[0-9]{1,5}))?$")


class BastionError(ValueError):
    pass


def parse_bastion(value: str) -> tuple[str | None, str, int | None]:
    """(user, host, port) of a `[user@]host[:port]` bastion value."""
    if value.startswith("-"):
        raise BastionError("begins with '-': it would be read as an ssh option")
    m = BASTION_RE.match(value)
    if not m:
        raise BastionError("not [user@]host[:port]")
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 1 <= port <= 65535:
        raise BastionError(f"port {port} outside 1-65535")
    return m.group("user"), m.group("host"), port


def _forward_target(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def bastion_command(spec: SshSpec) -> str:
    """The ProxyCommand for a host whose SshSpec has `bastion` (and a resolved address)."""
    if not spec.bastion or not spec.address:
        raise BastionError("bastion_command needs a bastion and the target's address")
    user, host, port = parse_bastion(spec.bastion)
    argv = ["ssh"]
    if spec.ssh_config:
        argv += ["-F", os.path.expanduser(spec.ssh_config)]
    argv += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if spec.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={os.path.expanduser(spec.known_hosts)}"]
    if spec.identity_file:
        argv += ["-i", os.path.expanduser(spec.identity_file), "-o", "IdentitiesOnly=yes"]
    argv += ["-o", f"ConnectTimeout={max(1, int(spec.connect_timeout))}"]
    if port is not None:
        argv += ["-p", str(port)]
    argv += ["-W", _forward_target(spec.address, spec.port)]
    argv += ["--", f"{user}@{host}" if user else host]
    return shlex.join(argv)
