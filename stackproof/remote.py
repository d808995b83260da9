"""SSH to inventory hosts through testinfra, with host keys verified and facts cached.

testinfra's own paramiko backend accepts unknown host keys with a warning and never reads
known_hosts, so connections go through `VerifiedParamikoBackend`, which rejects unknown
keys unless the inventory says `verify_host_key: false`.
"""
from __future__ import annotations

import logging
import os
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import paramiko
import testinfra.host
from testinfra.backend.paramiko import IgnorePolicy, ParamikoBackend

from stackproof.bastion import bastion_command
from stackproof.site import Site, SshSpec

log = logging.getLogger("stackproof.remote")


class HostUnreachable(Exception):
    def __init__(self, host: str, reason: str):
        self.host, self.reason = host, reason
        super().__init__(f"host {host} is unreachable over SSH: {reason}")


@dataclass(frozen=True)
class CommandResult:
    command: str
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class VerifiedParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, driven by an inventory SshSpec and strict on host keys."""

    def __init__(self, alias: str, spec: SshSpec):
        self.alias, self.spec = alias, spec
        super().__init__(f"{spec.user}@{alias}:{spec.port}", ssh_config=spec.ssh_config,
                         ssh_identity_file=_expand(spec.identity_file),
                         timeout=int(spec.connect_timeout))

    @property
    def client(self) -> paramiko.SSHClient:  # type: ignore[override]
        cached = self.__dict__.get("_client")
        if cached is not None:
            return cached
        client = paramiko.SSHClient()
        spec = self.spec
        cfg: dict[str, Any] = {"hostname": spec.address, "port": spec.port,
                               "username": spec.user, "timeout": spec.connect_timeout,
                               "banner_timeout": spec.connect_timeout,
                               "auth_timeout": spec.connect_timeout,
                               "allow_agent": False}
        known_hosts = _expand(spec.known_hosts)
        if spec.ssh_config:
            with open(_expand(spec.ssh_config)) as fh:
                parsed = paramiko.SSHConfig()
                parsed.parse(fh)
            entry = parsed.lookup(self.alias)
            # an ssh_config entry for the alias names the host itself (as the lab writes it)
            cfg["hostname"] = entry.get("hostname", self.alias)
            if "user" in entry:
                cfg["username"] = entry["user"]
            if "port" in entry:
                cfg["port"] = int(entry["port"])
            if "identityfile" in entry and not spec.identity_file:
                cfg["key_filename"] = _expand(entry["identityfile"][0])
            if "proxycommand" in entry:
                cfg["sock"] = paramiko.ProxyCommand(entry["proxycommand"])
            if "userknownhostsfile" in entry and not known_hosts:
                known_hosts = _expand(entry["userknownhostsfile"].split()[0])
        if spec.proxy_command and "sock" not in cfg:
            cfg["sock"] = paramiko.ProxyCommand(spec.proxy_command)
        if spec.bastion and "sock" not in cfg:
            cfg["sock"] = paramiko.ProxyCommand(bastion_command(spec))
        if spec.identity_file:
            cfg["key_filename"] = _expand(spec.identity_file)
        if spec.verify_host_key:
            client.load_system_host_keys()
            client.load_host_keys(known_hosts) if known_hosts else None
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(IgnorePolicy())
        client.connect(**cfg)
        self.__dict__["_client"] = client
        return client

    @client.deleter
    def client(self):
        self.__dict__.pop("_client", None)


def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else None


@dataclass
class Remote:
    """One inventory host: runs commands over one SSH connection, caches facts, counts calls.

    A fact is computed once per host per run (`fact()`), and the cache is dropped when a
    remediation touched the host (`invalidate()`).
    """
    name: str
    spec: SshSpec
    commands_run: int = 0
    _host: testinfra.host.Host | None = None
    _unreachable: HostUnreachable | None = None
    _facts: dict[tuple, Any] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def _connect(self) -> testinfra.host.Host:
        if self._unreachable is not None:
            raise self._unreachable      # fail fast: one connection attempt per run
        if self._host is None:
            backend = VerifiedParamikoBackend(self.name, self.spec)
            try:
                backend.client  # connect now so errors name this host
            except (paramiko.SSHException, OSError, EOFError) as exc:
                reason = str(exc) or type(exc).__name__
                if isinstance(exc, paramiko.BadHostKeyException | paramiko.SSHException) and \
                        "not found in known_hosts" in reason:
                    reason += " (host key not verified: add it to known_hosts)"
                self._unreachable = HostUnreachable(self.name, reason)
                raise self._unreachable from None
            self._host = testinfra.host.Host(backend)
        return self._host

    @property
    def testinfra(self) -> testinfra.host.Host:
        return self._connect()

    def run(self, command: str) -> CommandResult:
        host = self._connect()
        with self._lock:
            self.commands_run += 1
        started = time.monotonic()
        try:
            res = host.run(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._unreachable = HostUnreachable(self.name, f"{type(exc).__name__}: {exc}")
            raise self._unreachable from None
        log.debug("[%s] %s -> rc %s (%.0f ms)", self.name, command, res.rc,
                  (time.monotonic() - started) * 1000)
        return CommandResult(command, res.rc, res.stdout, res.stderr)

    def write_file(self, path: str, content: str) -> CommandResult:
        """Write bytes through stdin-free SSH: base64 in the command line keeps any content safe."""
        import base64
        payload = base64.b64encode(content.encode()).decode()
        return self.run(f"printf %s {payload} | base64 -d > {shlex.quote(path)}")

    def fact(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._facts:
                return self._facts[key]
        value = compute()
        with self._lock:
            self._facts[key] = value
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._facts.clear()

    def close(self) -> None:
        if self._host is not None:
            try:
                self._host.backend.client.close()
            except Exception:  # closing a dead connection must not mask results
                pass
            self._host = None


class Fleet:
    """Every inventory host's Remote, created lazily."""

    def __init__(self, site: Site):
        self.site = site
        self._remotes: dict[str, Remote] = {}

    def __getitem__(self, name: str) -> Remote:
        if name not in self._remotes:
            if name not in self.site.hosts:
                raise KeyError(f"{name} is not a host of this inventory")
            self._remotes[name] = Remote(name, self.site.ssh_of(name))
        return self._remotes[name]

    def counts(self) -> dict[str, int]:
        return {n: r.commands_run for n, r in self._remotes.items()}

    def close(self) -> None:
        for r in self._remotes.values():
            r.close()
