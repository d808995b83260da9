"""Run commands inside a lab host: `nsenter` into the namespaces held by the host's init."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stackproof.redact import redact


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
                              timeout=timeout, cwd="/", env=host_env())
        if check and proc.returncode != 0:
            # a command may carry a secret (an operator's BGP password): errors reach logs
            raise LabCommandError(redact(f"[{self.name}] {' '.join(argv)} -> rc "
                                         f"{proc.returncode}: "
                                         f"{proc.stderr.strip() or proc.stdout.strip()}"))
        return proc

    def sh(self, script: str, *, check: bool = True, timeout: float = 60):
        return self.run(["/bin/sh", "-c", script], check=check, timeout=timeout)

    def spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        """Start a long-running process inside the host, detached from our session."""
        with open(log, "ab") as out:
            return subprocess.Popen(self.argv(argv), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd="/", start_new_session=True,
                                    env=host_env())


def host_env() -> dict[str, str]:
    """What a process inside a lab host starts with: the caller's environment without what
    would reach the host's services from outside (OS_* for oslo.config and openstacksdk,
    KUBECONFIG, XDG config dirs), and the host's own HOME, as over SSH or at boot."""
    out = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in ("KUBECONFIG", "XDG_CONFIG_HOME",
                                                     "XDG_CONFIG_DIRS", "HOME")}
    out["HOME"] = "/root"
    return out
