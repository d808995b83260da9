"""A real SSH host for the engine's unit tests: this machine's own sshd in inetd mode
(`sshd -i` as the client's ProxyCommand, like the lab, in a mount namespace of its own), with a throwaway host key, client key
and known_hosts in a temp dir. No listener, no network: the connection is a pipe."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from stackproof.site import SshSpec

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server",
                                "/usr/lib/ssh/sftp-server") if os.path.exists(p)), "")


def available() -> str | None:
    """Why a local SSH host cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (sshd -i)"
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen") or not SFTP_SERVER:
        return "needs openssh-server (sshd, sftp-server) and ssh-keygen"
    return None


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)
    return path.with_name(path.name + ".pub").read_text().strip()


def make_host(d: Path, name: str, *, proxy: str | None = None, **spec) -> SshSpec:
    """An SshSpec that reaches this machine's sshd under the inventory name `name`."""
    d.mkdir(parents=True, exist_ok=True)
    host_pub = _keygen(d / "host_key")
    client_pub = _keygen(d / "id")
    (d / "authorized_keys").write_text(client_pub + "\n")
    os.chmod(d / "authorized_keys", 0o600)
    (d / "sshd_config").write_text(
        f"HostKey {d}/host_key\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUseDNS no\n"
        f"Subsystem sftp {SFTP_SERVER}\n")
    (d / "known_hosts").write_text(f"{name} {' '.join(host_pub.split()[:2])}\n")
    # sshd wants /run/sshd (privilege separation): a private /run in its own mount namespace,
    # so the machine's /run is left as it is
    proxy = proxy or (f"unshare --mount --propagation private -- /bin/sh -c 'mount -t tmpfs "
                      f"tmpfs /run && mkdir -m 755 /run/sshd && exec {SSHD} -i -f "
                      f"{d}/sshd_config'")
    (d / "ssh_config").write_text(
        f"Host {name}\n  ProxyCommand {proxy}\n  User root\n  IdentityFile {d}/id\n"
        f"  UserKnownHostsFile {d}/known_hosts\n")
    return SshSpec(ssh_config=str(d / "ssh_config"), **spec)
