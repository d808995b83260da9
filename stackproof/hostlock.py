"""A per-host lock that two remediation runs on one site share: `flock` on the target host.

One SSH channel per held lock runs a small shell that takes `flock` on LOCK_PATH, writes who
holds it (run id, client pid, since when) into the file, prints LOCKED and then waits on its
stdin. Closing the channel (or losing the connection, or the run dying) ends the shell and
the kernel drops the lock: no stale lock survives its holder. A second run waits up to
`wait` seconds in `flock -w`, then reads the holder line and fails with it.
"""
from __future__ import annotations

import os
import select
import shlex
import socket
import time
from dataclasses import dataclass

LOCK_PATH = "/run/lock/stackproof.lock"
BUSY_RC = 75

_SCRIPT = """\
f={path}
mkdir -p "$(dirname "$f")" 2>/dev/null
exec 9>>"$f" || exit 74
if ! flock -n 9; then
  echo WAITING
  if ! flock -w {wait} 9; then echo BUSY; cat "$f"; exit {busy}; fi
fi
printf '%s since=%s remote_pid=%s\\n' {info} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" > "$f"
echo LOCKED
cat >/dev/null
: > "$f"
"""


class LockError(Exception):
    """The lock was not taken: held by another run past the wait, or the host refused."""


def lock_script(path: str, wait: float, info: str) -> str:
    return _SCRIPT.format(path=shlex.quote(path), wait=max(0, int(wait)),
                          info=shlex.quote(info), busy=BUSY_RC)


def holder_info(run_id: str) -> str:
    """What a waiting run is told about us."""
    return f"run={run_id} pid={os.getpid()} client={socket.gethostname()}"


def parse_busy(output: str) -> str:
    """The holder line from a BUSY answer ('' when the holder wrote none yet)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    while lines and lines[0] in ("WAITING", "BUSY"):
        lines = lines[1:]
    return lines[0] if lines else ""


@dataclass
class HostLock:
    """The lock on one host, held by one open channel."""
    host: str
    channel: object
    waited: bool = False        # another run held it first: its fix may have landed meanwhile

    def release(self) -> None:
        chan = self.channel
        try:
            chan.shutdown_write()           # EOF on the holder's stdin: it exits, flock drops
            deadline = time.monotonic() + 5
            while not chan.exit_status_ready() and time.monotonic() < deadline:
                time.sleep(0.05)
        except Exception:  # a broken connection releases the lock by itself
            pass
        finally:
            try:
                chan.close()
            except Exception:
                pass


def acquire(remote, run_id: str, wait: float, path: str = LOCK_PATH) -> HostLock:
    """Take the lock on `remote`'s host, waiting up to `wait` seconds for another holder."""
    chan = remote.open_channel()
    chan.exec_command(lock_script(path, wait, holder_info(run_id)))
    out = bytearray()
    deadline = time.monotonic() + wait + remote.spec.connect_timeout + 10
    while True:
        while chan.recv_ready():
            out += chan.recv(4096)
        text = out.decode(errors="replace")
        if "LOCKED\n" in text:
            return HostLock(remote.name, chan, waited="WAITING\n" in text)
        if chan.exit_status_ready() and not chan.recv_ready():
            rc = chan.recv_exit_status()
            err = b""
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(4096)
            chan.close()
            if rc == BUSY_RC:
                who = parse_busy(text) or "a holder that has not written its name yet"
                raise LockError(f"{remote.name}: locked by another stackproof run for more "
                                f"than {wait:g} s ({path}: {who})")
            raise LockError(f"{remote.name}: cannot take {path}: rc {rc}: "
                            f"{(err.decode(errors='replace') or text).strip()[:300]}")
        left = deadline - time.monotonic()
        if left <= 0:
            chan.close()
            raise LockError(f"{remote.name}: no answer while taking {path} within "
                            f"{wait:g} s")
        select.select([chan], [], [], min(left, 0.5))
