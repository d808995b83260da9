"""FRR facts: the daemons file, FRR's processes, BGP neighbors, zebra's BGP routes, the
running configuration and frr-reload.py's view of what differs from a file. The kernel's
routes (where zebra installs BGP's) are stackproof.facts.routes'.

One remote command per fact, cached per host per run (`@fact`). The parsers are plain
functions of the command output so they can be tested on captured real outputs
(tests/data/bgp/, made by its capture.sh from these very command strings).
"""
from __future__ import annotations

import json
import secrets
import shlex
from dataclasses import dataclass, field

from stackproof.facts import fact, json_int
from stackproof.remote import Remote
from stackproof.render.frr import BGPD_LINE, normalize_running_config

DAEMONS_FILE = "/etc/frr/daemons"
FRR_CONF = "/etc/frr/frr.conf"
FRR_RUN_DIR = "/var/run/frr"           # frrcommon.sh's V_PATH: pid files of every daemon
# frr-reload.py (package frr-pythontools): Debian path first, then RHEL's.
RELOAD_SCRIPTS = ("/usr/lib/frr/frr-reload.py", "/usr/libexec/frr/frr-reload.py")
# The daemons FRR needs for BGP: watchfrr is the service itself (it starts and watches the
# others), zebra installs routes into the kernel, bgpd speaks BGP.
BGP_DAEMONS = ("watchfrr", "zebra", "bgpd")

DAEMONS_CMD = f"cat {DAEMONS_FILE}"
# Each pid file with the process's comm and state: a stale pid file (daemon gone, pid reused
# or a zombie) is told apart from a live daemon without trusting `kill -0` alone.
PROCESSES_CMD = (
    f"cd {FRR_RUN_DIR} 2>/dev/null || exit 0; "
    "for f in *.pid; do [ -e \"$f\" ] || continue; p=$(cat \"$f\" 2>/dev/null); "
    "case \"$p\" in ''|*[!0-9]*) echo \"${f%.pid} - - -\"; continue;; esac; "
    "c=$(cat /proc/$p/comm 2>/dev/null) || c=-; "
    "s=$(sed -n 's/^State:[[:space:]]*\\([A-Z]\\).*/\\1/p' /proc/$p/status 2>/dev/null); "
    "e=$(ps -o etimes= -p \"$p\" 2>/dev/null | tr -d ' '); "
    "echo \"${f%.pid} $p ${c:--} ${s:--} ${e:--}\"; done")
NEIGHBORS_CMD = "vtysh -c 'show bgp neighbors json'"
BGP_RIB_CMD = "vtysh -c 'show ip route bgp json'"
RUNNING_CONFIG_CMD = "vtysh -c 'show running-config'"
CONFIG_FILE_CMD = f"cat {FRR_CONF}"


def find_reload_script() -> str:
    """Shell that sets $R to frr-reload.py, or exits 127 naming the missing package."""
    paths = " ".join(shlex.quote(p) for p in RELOAD_SCRIPTS)
    return (f"R=; for p in {paths}; do [ -x \"$p\" ] && R=$p && break; done; "
            "[ -n \"$R\" ] || { echo 'frr-reload.py not found: install frr-pythontools' >&2; "
            "exit 127; }")


def _reload(action: str, word: str) -> str:
    return f"{find_reload_script()}; \"$R\" --{action} {word}"


def reload_test_command(path: str, running: str | None = None) -> str:
    """Print what `--reload` of `path` would change (`Lines To Delete/Add`); INFO on stderr.
    With `running`, compare with that file instead of the daemons' running config
    (`--input`): the same referee for frr.conf and for the running configuration."""
    word = shlex.quote(path)
    if running is not None:
        word = f"--input {shlex.quote(running)} {word}"
    return _reload("test", word)


# --- records -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DaemonsFile:
    exists: bool
    bgpd: bool | None          # None: the file says nothing about bgpd (FRR: disabled)
    text: str


@dataclass(frozen=True)
class FrrProcess:
    name: str                  # pid file name: watchfrr, zebra, bgpd, staticd, ...
    pid: int | None
    comm: str                  # /proc/<pid>/comm, '-' when the pid does not exist
    state: str                 # /proc/<pid>/status State letter, '-' when gone
    uptime: int | None = None  # seconds since it started (ps etimes), None when unknown

    @property
    def alive(self) -> bool:
        # comm is cut at 15 characters by the kernel; Z/X: a dead process not yet reaped
        return self.pid is not None and self.comm == self.name[:15] and \
            self.state not in ("Z", "X", "-")


@dataclass(frozen=True)
class FrrProcesses:
    processes: tuple[FrrProcess, ...]

    def alive(self, name: str) -> bool:
        return any(p.name == name and p.alive for p in self.processes)

    def missing(self, names=BGP_DAEMONS) -> list[str]:
        return [n for n in names if not self.alive(n)]

    def uptime(self, name: str) -> int | None:
        """Seconds since the live daemon `name` started, None when unknown or not running."""
        return next((p.uptime for p in self.processes if p.name == name and p.alive), None)


@dataclass(frozen=True)
class Neighbor:
    address: str
    state: str                 # Idle, Connect, Active, OpenSent, OpenConfirm, Established
    remote_as: int | None
    local_as: int | None
    hostname: str | None       # the peer's hostname from its OPEN (FRR capability)
    last_reset: str | None     # lastResetDueTo
    last_notification: str | None   # lastNotificationReason: "OPEN Message Error/Bad Peer AS"
    error_code: str | None     # lastErrorCodeSubcode, e.g. "0202"
    connections_established: int
    update_source: str | None
    up_ms: int | None = None   # bgpTimerUpMsec: time Established (FRR counts whole seconds)

    def why(self) -> str:
        """The last reset and notification, as an operator reads them."""
        parts = []
        if self.last_notification:
            parts.append(f"last notification: {self.last_notification}"
                         + (f" (code/subcode {self.error_code})" if self.error_code else ""))
        if self.last_reset:
            parts.append(f"last reset: {self.last_reset}")
        return "; ".join(parts) or "no reset recorded"


@dataclass(frozen=True)
class Neighbors:
    answered: bool             # False: bgpd does not answer (stopped, or vtysh failed)
    peers: dict[str, Neighbor] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class RibRoute:
    """One entry of zebra's RIB for a prefix (`show ip route bgp json`)."""
    prefix: str
    protocol: str
    selected: bool
    installed: bool
    distance: int | None
    nexthops: tuple[str, ...]


@dataclass(frozen=True)
class RunningConfig:
    answered: bool
    text: str
    error: str = ""


@dataclass(frozen=True)
class ReloadDiff:
    """frr-reload.py --test: the changes `--reload` would make, each as its context path
    ("router bgp <asn>", " address-family ipv4 unicast", "  neighbor ... next-hop-self")."""
    available: bool            # False: frr-reload.py missing or failed
    to_delete: tuple[tuple[str, ...], ...] = ()
    to_add: tuple[tuple[str, ...], ...] = ()
    raw: str = ""
    error: str = ""

    @property
    def empty(self) -> bool:
        return self.available and not self.to_delete and not self.to_add

    def changes(self) -> tuple["ConfigChange", ...]:
        """Each change as the line it is about, in context, unindented. A delete is printed
        in its `no` form (`no X`, or `X` for a line `no X`): turned back into the line that
        exists. frr-reload prints some deletes as adds of `no X` (static routes,
        prefix-lists): those stay adds of `no X`."""
        out = []
        for group in self.to_delete:
            *ctx, last = (g.strip() for g in group)
            line = last[3:] if last.startswith("no ") else f"no {last}"
            out.append(ConfigChange((*ctx, line), delete=True))
        for group in self.to_add:
            out.append(ConfigChange(tuple(g.strip() for g in group), delete=False))
        return tuple(out)


@dataclass(frozen=True)
class ConfigChange:
    """One change frr-reload would make: `delete` the line `path[-1]` (which exists) or add
    it (which does not), inside the blocks `path[:-1]`."""
    path: tuple[str, ...]
    delete: bool


# --- parsers -------------------------------------------------------------------------------
def bgpd_enabled(daemons_text: str) -> bool | None:
    """What /etc/frr/daemons says about bgpd: True, False, or None when it says nothing.
    Like frrcommon.sh (which sources the file: the last line wins), anything but `no`, `0`
    or empty enables the daemon."""
    found = BGPD_LINE.findall(daemons_text)
    if not found:
        return None
    value = found[-1].split("=", 1)[1].strip().strip("\"'")
    return value not in ("", "no", "0")


def parse_daemons(rc: int, text: str) -> DaemonsFile:
    if rc != 0:
        return DaemonsFile(False, None, "")
    return DaemonsFile(True, bgpd_enabled(text), text)


def parse_processes(text: str) -> FrrProcesses:
    procs = []
    for line in text.splitlines():
        f = line.split()
        if len(f) not in (4, 5):     # 4: captured before the uptime column
            continue
        name, pid, comm, state = f[:4]
        up = f[4] if len(f) == 5 else ""
        procs.append(FrrProcess(name, int(pid) if pid.isdigit() else None, comm, state,
                                int(up) if up.isdigit() else None))
    return FrrProcesses(tuple(procs))


def parse_neighbors(rc: int, stdout: str, stderr: str = "") -> Neighbors:
    """`show bgp neighbors json`: {address: {...}}. vtysh says `bgpd is not running`
    (rc 1) when bgpd is down, `Exiting: failed to connect to any daemons.` when FRR is."""
    if rc != 0:
        return Neighbors(False, {}, (stderr or stdout).strip() or f"vtysh rc {rc}")
    try:
        data = json.loads(stdout or "{}")
    except json.JSONDecodeError as exc:
        return Neighbors(False, {}, f"not JSON: {exc}: {stdout.strip()[:200]}")
    peers = {}
    for addr, n in (data or {}).items():
        if not isinstance(n, dict) or "bgpState" not in n:
            continue
        peers[addr] = Neighbor(
            address=addr, state=n.get("bgpState", "?"),
            remote_as=json_int(n.get("remoteAs")), local_as=json_int(n.get("localAs")),
            hostname=n.get("hostname"),
            last_reset=n.get("lastResetDueTo"),
            last_notification=n.get("lastNotificationReason"),
            error_code=n.get("lastErrorCodeSubcode"),
            connections_established=json_int(n.get("connectionsEstablished")) or 0,
            update_source=n.get("updateSource"),
            up_ms=json_int(n.get("bgpTimerUpMsec")) if n.get("bgpState") == "Established"
            else None)
    return Neighbors(True, peers)


def parse_bgp_rib(rc: int, stdout: str) -> dict[str, tuple[RibRoute, ...]]:
    if rc != 0:
        return {}
    out = {}
    for prefix, entries in (json.loads(stdout or "{}") or {}).items():
        out[prefix] = tuple(RibRoute(
            prefix=prefix, protocol=e.get("protocol", "?"), selected=bool(e.get("selected")),
            installed=bool(e.get("installed")), distance=json_int(e.get("distance")),
            nexthops=tuple(nh["ip"] for nh in e.get("nexthops", []) if "ip" in nh))
            for e in entries)
    return out


def parse_running_config(rc: int, stdout: str, stderr: str = "") -> RunningConfig:
    if rc != 0:
        return RunningConfig(False, "", (stderr or stdout).strip() or f"vtysh rc {rc}")
    return RunningConfig(True, stdout)


# Lines that only close a block: their block's lines already carry the nesting.
_BLOCK_ENDS = {"exit", "exit-address-family", "exit-vrf", "exit-vnc", "end", "quit"}


def config_paths(text: str) -> set[tuple[str, ...]]:
    """An FRR configuration (frr.conf or `show running-config`) as a set of context paths,
    e.g. ("router bgp <asn>", "address-family ipv4 unicast", "redistribute connected"):
    order-free and context-aware, the way FRR itself applies configuration. Banner, version
    stamp, `!` separators and block ends are not configuration."""
    paths: set[tuple[str, ...]] = set()
    stack: list[tuple[int, str]] = []          # (indent, line) of the open blocks
    for line in normalize_running_config(text):
        body = line.strip()
        if body in _BLOCK_ENDS:
            continue
        indent = len(line) - len(line.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        paths.add(tuple(s for _, s in stack) + (body,))
        stack.append((indent, body))
    return paths


def _groups(lines: list[str]) -> tuple[tuple[str, ...], ...]:
    """frr-reload prints each change under its context, a top-level line opening each."""
    groups: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        if not line.startswith(" ") or not groups:
            groups.append([line])
        else:
            groups[-1].append(line)
    return tuple(tuple(g) for g in groups)


def parse_reload_test(rc: int, stdout: str, stderr: str = "") -> ReloadDiff:
    """frr-reload.py --test output: nothing when the file matches the running config, else
    `Lines To Delete` / `Lines To Add` sections, each underlined with `=`."""
    if rc != 0:
        return ReloadDiff(False, raw=stdout, error=(stderr or stdout).strip()[-400:])
    sections: dict[str, list[str]] = {"delete": [], "add": []}
    current = None
    for line in stdout.splitlines():
        if line.strip() == "Lines To Delete":
            current = "delete"
        elif line.strip() == "Lines To Add":
            current = "add"
        elif set(line.strip()) == {"="}:
            continue
        elif current:
            sections[current].append(line.rstrip())
    return ReloadDiff(True, _groups(sections["delete"]), _groups(sections["add"]), stdout)


# --- facts ---------------------------------------------------------------------------------
@fact
def daemons(remote: Remote) -> DaemonsFile:
    res = remote.run(DAEMONS_CMD)
    return parse_daemons(res.rc, res.stdout)


@fact
def processes(remote: Remote) -> FrrProcesses:
    return parse_processes(remote.run(PROCESSES_CMD).stdout)


@fact
def neighbors(remote: Remote) -> Neighbors:
    res = remote.run(NEIGHBORS_CMD)
    return parse_neighbors(res.rc, res.stdout, res.stderr)


@fact
def bgp_rib(remote: Remote) -> dict[str, tuple[RibRoute, ...]]:
    res = remote.run(BGP_RIB_CMD)
    return parse_bgp_rib(res.rc, res.stdout)


@fact
def running_config(remote: Remote) -> RunningConfig:
    res = remote.run(RUNNING_CONFIG_CMD)
    return parse_running_config(res.rc, res.stdout, res.stderr)


@fact
def config_file(remote: Remote) -> str | None:
    res = remote.run(CONFIG_FILE_CMD)
    return res.stdout if res.ok else None


@fact(per_host=True)
def reload_diff(remote: Remote, intended: str, against: str | None = None) -> ReloadDiff:
    """What frr-reload.py would change to make the running config `intended`: the text goes
    over SFTP (never on a command line) to a temp file on the host, removed again;
    frr-reload compares it with the daemons, or with the file `against` (`--input`, e.g.
    frr.conf): one referee for both."""
    tmp = f"/tmp/stackproof-frr-{secrets.token_hex(8)}.conf"
    remote.put_file(tmp, intended, 0o600)
    word = '"$t"' if against is None else f'--input {shlex.quote(against)} "$t"'
    test = _reload("test", word)
    cmd = f"t={shlex.quote(tmp)}; ( {test} ); rc=$?; rm -f \"$t\"; exit $rc"
    res = remote.run(cmd)
    return parse_reload_test(res.rc, res.stdout, res.stderr)
