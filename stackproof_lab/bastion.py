"""Lab bastion mode (`stackproof lab up --bastion HOST`): the other hosts are reached the way
a production site behind a jump host is, through `bastion:` and real OpenSSH `-W`.

- Every host but the bastion runs a listening sshd inside its own namespaces, bound only to
  the address the suite reaches it on (its underlay or guest address, an instance's floating
  IP); the bastion opens the TCP connection from its own network namespace.
- The bastion itself is still reached through the lab's ProxyCommand (nsenter + `sshd -i`):
  `ssh/ssh_config.bastion` holds only its entry, and the lab inventory gives it to the other
  hosts as their `ssh_config`, so the inner ssh of the ProxyCommand resolves the bastion's
  name there and nothing else resolves through it.
The sshds run in the hosts' PID namespaces and end with them (no process record needed).
"""
from __future__ import annotations

from pathlib import Path

from stackproof_lab import ssh as sshmod
from stackproof_lab.shell import NsShell
from stackproof_lab.wait import wait_until
from stackproof.site import Site

PIDFILE = "/run/sshd-listen.pid"
LISTEN_TIMEOUT = 30.0


class BastionSetupError(RuntimeError):
    pass


def bastion_ssh_config(state_dir: Path) -> Path:
    return sshmod.ssh_dir(state_dir) / "ssh_config.bastion"


def write_bastion_config(state_dir: Path, bastion: str, pid: int) -> Path:
    d = sshmod.ssh_dir(state_dir)
    path = bastion_ssh_config(state_dir)
    text = sshmod.ssh_config_text({bastion: pid}, d / "id_ed25519", d / "known_hosts")
    sshmod._atomic_write(path, text)
    return path


def listen_addresses(site: Site, host: str) -> list[str]:
    """The address the suite reaches `host` on (what the bastion's `-W` connects to), and
    the host's own address: an instance's floating IP is DNATed to its tenant address on
    the compute node, so the connection arrives there."""
    out = [str(site.ssh_of(host).address), str(site.address_of(host))]
    return list(dict.fromkeys(out))


def start_listener(shell: NsShell, addresses: list[str]) -> None:
    """A daemon sshd in the host, on `addresses`:22 only (no wildcard listener)."""
    argv = [sshmod.SSHD, "-f", "/etc/ssh/sshd_config", "-o", "Port=22",
            "-o", f"PidFile={PIDFILE}"]
    for address in addresses:
        argv += ["-o", f"ListenAddress={address}"]
    shell.run(argv)


def listening(shell: NsShell, addresses: list[str]) -> bool:
    out = shell.run(["ss", "-Htln"], check=False).stdout
    bound = {cols[3] for cols in (l.split() for l in out.splitlines()) if len(cols) >= 4}
    return all(f"{a}:22" in bound for a in addresses)


def start_listeners(shells: dict[str, NsShell], site: Site, bastion: str,
                    timeout: float = LISTEN_TIMEOUT) -> dict[str, list[str]]:
    """Start the listening sshds on every host but the bastion; return host -> addresses."""
    wanted = {n: listen_addresses(site, n) for n in site.hosts if n != bastion}
    for name, address in wanted.items():
        if not listening(shells[name], address):
            start_listener(shells[name], address)
    pending = dict(wanted)

    def all_listening() -> bool:
        for n in [n for n, a in pending.items() if listening(shells[n], a)]:
            del pending[n]
        return not pending
    wait_until(all_listening, timeout, "sshd to listen", error=BastionSetupError,
               describe=lambda: "not on " + ", ".join(f"{n} ({' '.join(a)})"
                                                     for n, a in pending.items()))
    return wanted
