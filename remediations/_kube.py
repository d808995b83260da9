"""Shared by the Kubernetes remediations: the API client, kubelet restarts, private uploads."""
from __future__ import annotations

import posixpath
import secrets
import shlex

from stackproof.osfamily import profile
from stackproof.remedy import RemediationFailed, new_run_id, write_names
from stackproof.remote import Remote


def api(ctx):
    """The session's Kubernetes API client (set by the `kube` fixture), or None."""
    return ctx.extras.get("kube")


def kubectl(ctx, *args: str) -> str:
    """The kubectl command an operator would run for the same change, in the inventory's
    context: plans show it next to the API call they make."""
    k = ctx.site.kubernetes
    head = ["kubectl"] + (["--context", k.context] if k is not None and k.context else [])
    return " ".join(shlex.quote(a) for a in [*head, *args])


def restart_kubelet_if_running(ctx, host: str) -> str:
    """Restart kubelet only where one runs (a host without kubelet has nothing to restart)."""
    os = profile(ctx.site, host)
    running = ("systemctl is-active --quiet kubelet" if os.init == "systemd"
               else "pgrep -x kubelet >/dev/null")
    return f"if {running}; then {os.service('kubelet', 'restart')}; fi"


def enable_unit_command(ctx, host: str, unit: str) -> str:
    """`systemctl enable` makes the WantedBy symlink; it works offline too, so a host without
    a running systemd (the lab) gets the same link. daemon-reload only where systemd runs."""
    if profile(ctx.site, host).init == "systemd":
        return f"systemctl daemon-reload && systemctl enable {shlex.quote(unit)}"
    return f"systemctl enable {shlex.quote(unit)}"


def download_private(remote: Remote, path: str) -> str:
    """Read a file holding a secret over SFTP: its content is in no command output that
    testinfra would log."""
    try:
        sftp = remote.testinfra.backend.client.open_sftp()
        try:
            with sftp.open(path, "r") as fh:
                return fh.read().decode()
        finally:
            sftp.close()
    except Exception as exc:
        raise RemediationFailed(f"{path} on {remote.name}: cannot read it over SFTP: "
                                f"{type(exc).__name__}: {exc}") from None


def upload_private(remote: Remote, path: str, text: str, mode: int = 0o600, *,
                   run_id: str | None = None,
                   backup_root: str = "/var/backups/stackproof") -> str:
    """Replace a file holding a secret without the secret crossing a command line (which
    is logged): SFTP to a temp file next to it (a name unique to this run), then back up
    the old file under <backup_root>/<run id>/<path> (never overwritten) and rename.
    Returns the backup path."""
    q = shlex.quote
    run_id = run_id or new_run_id()
    names = write_names(path, run_id, secrets.randbelow(10**6), backup_root)
    tmp, bak = names.tmp, names.backup
    try:
        sftp = remote.testinfra.backend.client.open_sftp()
        try:
            with sftp.open(tmp, "w") as fh:
                fh.chmod(mode)
                fh.write(text)
        finally:
            sftp.close()
    except Exception as exc:                  # no SFTP subsystem, no space, ...
        raise RemediationFailed(f"{path} on {remote.name}: upload over SFTP failed: "
                                f"{type(exc).__name__}: {exc}") from None
    res = remote.run(f"if [ -e {q(path)} ]; then ( umask 077 && mkdir -p "
                     f"{q(posixpath.dirname(bak))} ) && [ ! -e {q(bak)} ] && "
                     f"cp -a {q(path)} {q(bak)}; fi && mv -f {q(tmp)} {q(path)}")
    if not res.ok:
        raise RemediationFailed(f"{path} on {remote.name}: replace failed: "
                                f"{res.stderr.strip()[:300]}")
    return bak
