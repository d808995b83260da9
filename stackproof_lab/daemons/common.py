"""Small helpers shared by the lab's daemon starters: files inside a host, and (re-exported)
the lab's one wait, stackproof_lab.wait.wait_until."""
from __future__ import annotations

import os
import shlex

from stackproof_lab.shell import NsShell
from stackproof_lab.wait import wait_until  # noqa: F401  (re-exported)


# The lab's hosts have no systemd: their services are driven the sysv way (the lab
# inventory says `init: sysv` for every host).
LAB_INIT = "sysv"


class DaemonError(RuntimeError):
    pass


def require_private(shell: NsShell, path: str) -> None:
    """Refuse to write into `path` unless the host sees its own copy of it (a bind mount,
    overlay or tmpfs of the lab), never the machine's directory: compares device and inode
    of the directory inside the host with the machine's."""
    inside = shell.run(["stat", "-L", "-c", "%d:%i", path], check=False)
    if inside.returncode != 0:
        raise DaemonError(f"[{shell.name}] {path}: cannot stat inside the host: "
                          f"{inside.stderr.strip()}")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return                                  # the machine has none: it cannot be shared
    if inside.stdout.strip() == f"{st.st_dev}:{st.st_ino}":
        raise DaemonError(f"[{shell.name}] {path} is the machine's own directory, not a "
                          f"private one of the lab host: refusing to write there")


def read_file(shell: NsShell, path: str) -> str | None:
    proc = shell.run(["cat", path], check=False)
    return proc.stdout if proc.returncode == 0 else None


def write_file(shell: NsShell, path: str, text: str, *, mode: int = 0o644,
               owner: str | None = None) -> None:
    """Write a file inside the host atomically (temp file + rename in the same directory),
    after checking that its directory is private to the host."""
    directory = os.path.dirname(path) or "/"
    require_private(shell, directory)
    tmp = f"{directory}/.{os.path.basename(path)}.sp-tmp"
    q = shlex.quote
    script = f"umask 077 && cat > {q(tmp)} && chmod {mode:o} {q(tmp)}"
    if owner:
        script += f" && chown {q(owner)} {q(tmp)}"
    script += f" && mv -f {q(tmp)} {q(path)}"
    shell.run(["/bin/sh", "-c", script], input=text)
