"""The lab's own record of what it created: JSON at <state_dir>/state.json.

Every creation step is recorded *before* it happens and the file is rewritten atomically
(tmp + rename) each time, so a crash at any point leaves a record that `down` can act on:
a recorded namespace or process that never came to exist is simply skipped.

Processes are recorded with their start time (field 22 of /proc/<pid>/stat, clock ticks
since boot): `down` kills a PID only if it still has that start time, so a PID reused by an
unrelated process after a crash is never touched.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "state.json"


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after comm (field 3 on), or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def group_members(leader: int, since: int) -> list[int]:
    """Processes in the process group `leader` leads, started at or after `since` (the
    leader's start): the workers a recorded daemon forked, which outlive a killed leader.
    While any member lives the kernel keeps the group's number, so it names no other group."""
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and in_group(int(e.name), leader, since)]


def in_group(pid: int, leader: int, since: int) -> bool:
    """`pid` is alive, in `leader`'s process group, and started at or after `since`."""
    rest = _stat_fields(pid)
    return bool(rest) and rest[0] not in ("Z", "X") and int(rest[2]) == leader and \
        int(rest[19]) >= since


def proc_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, or None if it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'
    rest = raw[raw.rindex(")") + 2:].split()
    if rest[0] in ("Z", "X"):          # state (field 3): exited, waiting to be reaped
        return None
    return int(rest[19])               # field 22 overall = index 19 after comm


def signal_if(pid: int, sig: int, still_ours) -> bool:
    """Send `sig` to `pid` if `still_ours()` holds, without a PID-reuse race: the check is
    made while holding a pidfd, and the signal goes through that pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return False
    try:
        if not still_ours():
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


@dataclass
class ProcRecord:
    pid: int
    start: int                         # /proc/<pid>/stat field 22 when recorded
    role: str                          # "holder:<host>", "init:<host>", or a daemon's label

    def alive(self) -> bool:
        return proc_start_time(self.pid) == self.start

    def kill(self, sig: int) -> bool:
        """Signal the process only if it is still the one recorded; True if signalled."""
        return signal_if(self.pid, sig, lambda: proc_start_time(self.pid) == self.start)

    def members(self) -> list[int]:
        """Its process group's other members (a daemon's forked workers), if it led one.
        Empty once its pid belongs to another process: then the group is not ours (while a
        member of ours lives, the kernel does not hand that number out again)."""
        if proc_start_time(self.pid) not in (self.start, None):
            return []
        return [m for m in group_members(self.pid, self.start) if m != self.pid]

    def kill_group(self, sig: int) -> None:
        """The process and the workers it forked (oslo.service's outlive their parent)."""
        self.kill(sig)
        for m in self.members():
            # the check just before the signal reads that one pid, not all of /proc again
            signal_if(m, sig, lambda m=m: in_group(m, self.pid, self.start))


@dataclass
class HostRecord:
    name: str
    netns: str
    root: str                          # private directory on the root side
    init_pid: int | None = None        # the host's PID 1, as seen from the root namespace
    init_start: int | None = None
    holder_pid: int | None = None      # `ip netns exec ... unshare` (parent of init)


@dataclass
class FaultRecord:
    name: str
    host: str | None


@dataclass
class LabState:
    lab_id: str
    inventory: str                     # absolute path of the source inventory
    state_dir: str
    phase: str = "creating"            # creating -> up -> down
    created: float = field(default_factory=time.time)
    netns: list[str] = field(default_factory=list)
    processes: list[ProcRecord] = field(default_factory=list)
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    faults: list[FaultRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.RLock()

    # --- persistence --------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self.state_dir) / STATE_FILE

    def save(self) -> None:
        with self._lock:
            data = {k: v for k, v in asdict(self).items()}
            tmp = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}")
            with open(tmp, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)

    @classmethod
    def load(cls, state_dir: str | Path) -> LabState:
        data = json.loads((Path(state_dir) / STATE_FILE).read_text())
        data["processes"] = [ProcRecord(**p) for p in data.get("processes", [])]
        data["hosts"] = {n: HostRecord(**h) for n, h in data.get("hosts", {}).items()}
        data["faults"] = [FaultRecord(**f) for f in data.get("faults", [])]
        return cls(**data)

    @classmethod
    def exists(cls, state_dir: str | Path) -> bool:
        return (Path(state_dir) / STATE_FILE).is_file()

    # --- recording (each call saves) ----------------------------------------------------
    def add_netns(self, name: str) -> None:
        with self._lock:
            if name not in self.netns:
                self.netns.append(name)
            self.save()

    def add_process(self, pid: int, role: str) -> ProcRecord | None:
        """Record a running process; returns None if it already exited."""
        start = proc_start_time(pid)
        if start is None:
            return None
        rec = ProcRecord(pid=pid, start=start, role=role)
        with self._lock:
            self.processes.append(rec)
            self.save()
        return rec

    def add_host(self, rec: HostRecord) -> None:
        with self._lock:
            self.hosts[rec.name] = rec
            self.save()

    def update_host(self, name: str, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.hosts[name], k, v)
            self.save()

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
            self.save()

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)
            self.save()

    def add_fault(self, name: str, host: str | None) -> None:
        with self._lock:
            self.faults.append(FaultRecord(name, host))
            self.save()

    def drop_fault(self, name: str, host: str | None) -> None:
        with self._lock:
            self.faults = [f for f in self.faults if (f.name, f.host) != (name, host)]
            self.save()

    def alive_processes(self) -> list[ProcRecord]:
        return [p for p in self.processes if p.alive()]
