"""Run commands inside a lab host: `nsenter` into the namespaces held by the host's init."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


class LabCommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class NsShell:
    """A lab host as seen from the root namespace.

    pid:  the host's init process (as seen from the root namespace); its mount, UTS, net and
          PID namespaces are the host's.
    root: the directory on the root side holding the host's private files (bind-mounted
          inside the host over /etc/frr, /run, /root, ...).
    """
    name: str
    pid: int
    root: Path

    def argv(self, argv: list[str]) -> list[str]:
        # no process started in a lab host may ever set the machine's clock
        return ["nsenter", "-t", str(self.pid), "-m", "-u", "-n", "-p", "--",
                "setpriv", "--bounding-set=-sys_time", "--", *argv]

    def run(self, argv: list[str], *, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(argv), input=input, capture_output=True, text=True,
                              timeout=timeout, cwd="/")
        if check and proc.returncode != 0:
            raise LabCommandError(f"[{self.name}] {' '.join(argv)} -> rc {proc.returncode}: "
                                  f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def sh(self, script: str, *, check: bool = True, timeout: float = 60):
        return self.run(["/bin/sh", "-c", script], check=check, timeout=timeout)

    def spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        """Start a long-running process inside the host, detached from our session."""
        with open(log, "ab") as out:
            return subprocess.Popen(self.argv(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
