"""IPv4 forwarding (`net.ipv4.ip_forward`): the kernel's value now, and what the sysctl files
set at boot.

A BGP host routes between the underlay and its networks only with forwarding on. zebra merely
shows the kernel's value in its running config (`no ip forwarding`): that is kernel state,
read here, not FRR configuration.

Boot order (procps `sysctl --system`, systemd-sysctl): the `*.conf` files of the sysctl.d
directories sorted by file name (a name in /etc shadows the same name in /run and /usr/lib),
then /etc/sysctl.conf; the last assignment wins.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from stackproof.facts import fact, run_ok
from stackproof.remote import Remote

KEY = "net.ipv4.ip_forward"
PROC = "/proc/sys/net/ipv4/ip_forward"
SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d",
               "/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"
# The sysctl file the ip_forward remediation owns (one key, nothing else): a file read after
# it overrides it at boot.
OUR_FILE = "/etc/sysctl.d/90-stackproof-ip-forward.conf"
# One line per fact: `runtime VALUE`, then `file PATH:LINE:TEXT` for every assignment of the
# key (dotted or slashed spelling) in every sysctl file, and `unreadable PATH` when a file
# cannot be read (a read failure is not "not set").
FORWARDING_CMD = (
    f"echo \"runtime $(cat {PROC} 2>/dev/null || echo -)\"; "
    f"for f in {' '.join(d + '/*.conf' for d in SYSCTL_DIRS)} {SYSCTL_CONF}; do "
    "[ -e \"$f\" ] || continue; "
    "[ -r \"$f\" ] || { echo \"unreadable $f\"; continue; }; "
    "grep -nE '^[[:space:]]*net[./]ipv4[./]ip_forward[[:space:]]*=' \"$f\" "
    "| sed \"s|^|file $f:|\"; done; true")


@dataclass(frozen=True)
class SysctlSetting:
    path: str
    line: int
    value: str


@dataclass(frozen=True)
class Forwarding:
    runtime: str | None                     # "1", "0", None when /proc could not be read
    settings: tuple[SysctlSetting, ...]     # in boot order: the last one wins
    unreadable: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return self.runtime == "1"

    @property
    def persisted(self) -> SysctlSetting | None:
        """The assignment that wins at boot, None when no file sets the key."""
        return self.settings[-1] if self.settings else None

    def after(self, path: str) -> tuple[SysctlSetting, ...]:
        """Settings applied after `path`'s (they override it at boot)."""
        names = [s.path for s in self.settings]
        if path not in names:
            return tuple(s for s in self.settings if _order(s.path) > _order(path))
        last = max(i for i, n in enumerate(names) if n == path)
        return tuple(s for s in self.settings[last + 1:] if s.path != path)


def _order(path: str) -> tuple[int, str, int]:
    """Boot order key: sysctl.d files by name (the directory breaks ties), sysctl.conf last."""
    if path == SYSCTL_CONF:
        return (1, "", 0)
    d = os.path.dirname(path)
    rank = SYSCTL_DIRS.index(d) if d in SYSCTL_DIRS else len(SYSCTL_DIRS)
    return (0, os.path.basename(path), rank)


def parse_forwarding(text: str) -> Forwarding:
    runtime, settings, unreadable = None, [], []
    shadowed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("runtime "):
            value = line.split(" ", 1)[1].strip()
            runtime = None if value == "-" else value
        elif line.startswith("unreadable "):
            unreadable.append(line.split(" ", 1)[1])
        elif line.startswith("file "):
            path, num, body = line[5:].split(":", 2)
            settings.append(SysctlSetting(path, int(num), body.split("=", 1)[1].strip()))
    # a file name in an earlier directory shadows the same name in a later one
    seen: dict[str, str] = {}
    for s in sorted(settings, key=lambda s: _order(s.path)):
        base = os.path.basename(s.path)
        if s.path != SYSCTL_CONF and seen.setdefault(base, s.path) != s.path:
            shadowed.add(s.path)
    ordered = sorted((s for s in settings if s.path not in shadowed),
                     key=lambda s: (_order(s.path), s.line))
    return Forwarding(runtime, tuple(ordered), tuple(unreadable))


@fact
def forwarding(remote: Remote) -> Forwarding:
    return parse_forwarding(run_ok(remote, FORWARDING_CMD, "read net.ipv4.ip_forward"))
