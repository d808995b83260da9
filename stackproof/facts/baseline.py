"""Host baseline facts: hostname, swap (fstab and runtime), chrony."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from stackproof.facts import fact, read_file, run_ok
from stackproof.remote import Remote


@dataclass(frozen=True)
class HostnameFact:
    runtime: str
    configured: str          # /etc/hostname, '' when missing


@dataclass(frozen=True)
class FstabEntry:
    line_no: int
    spec: str
    mountpoint: str
    fstype: str
    text: str


@dataclass(frozen=True)
class SwapDevice:
    filename: str
    type: str
    size_kib: int
    used_kib: int


@dataclass(frozen=True)
class ChronyConfig:
    path: str
    servers: tuple[tuple[str, tuple[str, ...]], ...]   # (name, options) of server/pool lines
    local_stratum: int | None
    allows: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ChronySource:
    mode: str      # ^ server, = peer, # local clock
    state: str     # * selected, + combined, - not combined, ? unreachable, x falseticker, ~
    address: str


@dataclass(frozen=True)
class ChronyState:
    running: bool
    sources: tuple[ChronySource, ...]
    error: str = ""

    @property
    def selected(self) -> ChronySource | None:
        return next((s for s in self.sources if s.state == "*"), None)


def parse_hostname(output: str) -> HostnameFact:
    runtime, _, configured = output.partition("\n---\n")
    return HostnameFact(runtime.strip(), configured.strip())


def parse_fstab(text: str) -> list[FstabEntry]:
    """Active (uncommented) fstab entries."""
    entries = []
    for no, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 3:
            entries.append(FstabEntry(no, fields[0], fields[1], fields[2], line))
    return entries


def parse_proc_swaps(text: str) -> list[SwapDevice]:
    devices = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) >= 4:
            devices.append(SwapDevice(f[0], f[1], int(f[2]), int(f[3])))
    return devices


def parse_chrony_conf(path: str, text: str) -> ChronyConfig:
    servers, allows, stratum = [], [], None
    for line in text.splitlines():
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        if f[0] in ("server", "pool") and len(f) >= 2:
            servers.append((f[1], tuple(f[2:])))
        elif f[0] == "local":
            stratum = int(f[f.index("stratum") + 1]) if "stratum" in f[:-1] else 10
        elif f[0] == "allow":
            allows.append(f[1] if len(f) > 1 else "all")
    return ChronyConfig(path, tuple(servers), stratum, tuple(allows), text)


def parse_chronyc_sources(rc: int, output: str, error: str) -> ChronyState:
    """`chronyc -n -c sources`: CSV, one source a line; rc != 0 when chronyd does not answer."""
    if rc != 0:
        return ChronyState(False, (), (error or output).strip())
    sources = []
    for line in output.splitlines():
        f = line.split(",")
        if len(f) >= 3:
            sources.append(ChronySource(f[0], f[1], f[2]))
    return ChronyState(True, tuple(sources))


@fact
def hostname(remote: Remote) -> HostnameFact:
    return parse_hostname(run_ok(remote, "hostname; echo ---; cat /etc/hostname 2>/dev/null",
                                 "read the hostname"))


@fact
def fstab(remote: Remote) -> list[FstabEntry]:
    return parse_fstab(run_ok(remote, "cat /etc/fstab", "read /etc/fstab"))


@fact
def swaps(remote: Remote) -> list[SwapDevice]:
    return parse_proc_swaps(run_ok(remote, "cat /proc/swaps", "read /proc/swaps"))


@fact
def chrony_config(remote: Remote, path: str) -> ChronyConfig | None:
    text = read_file(remote, path)      # None: no such file; unreadable raises
    return parse_chrony_conf(path, text) if text is not None else None


@fact
def chrony_state(remote: Remote) -> ChronyState:
    res = remote.run("chronyc -n -c sources")
    return parse_chronyc_sources(res.rc, res.stdout, res.stderr)
