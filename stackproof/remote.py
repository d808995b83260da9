"""SSH to inventory hosts through testinfra, with host keys verified and facts cached.

testinfra's own paramiko backend accepts unknown host keys with a warning and never reads
known_hosts, so connections go through `VerifiedParamikoBackend`, which rejects unknown
keys unless the inventory says `verify_host_key: false`.
"""
from __future__ import annotations

import logging
import os
import select
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


class CommandTimeout(Exception):
    """A remote command still ran after the host's `command_timeout`: its channel is closed,
    the connection (and every other host) goes on."""
    def __init__(self, host: str, command: str, seconds: float):
        self.host, self.command, self.seconds = host, command, seconds
        super().__init__(f"{host}: timed out after {seconds:g} s: {command}")


# transport-level failures that deserve one reconnect before the host counts as unreachable
TRANSIENT = (paramiko.SSHException, OSError, EOFError)


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
        transport = client.get_transport()
        if transport is not None and spec.keepalive_interval:
            # a dead peer (or a silent middlebox) shows up as an error, not an endless read
            transport.set_keepalive(spec.keepalive_interval)
        self.__dict__["_client"] = client
        return client

    @client.deleter
    def client(self):
        self.__dict__.pop("_client", None)

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        return self.exec_timed(command, self.spec.command_timeout)

    def exec_timed(self, command: bytes, timeout: float) -> tuple[int, bytes, bytes]:
        """Run one command, reading stdout and stderr as they come until the command exits
        or `timeout` seconds pass; then the channel is closed and CommandTimeout raised.
        (testinfra reads a channel to EOF with no deadline.)"""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise paramiko.SSHException("SSH transport is closed")
        chan = transport.open_session(timeout=self.spec.connect_timeout)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            chan.exec_command(command)
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and (chan.eof_received or chan.closed) \
                        and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if chan.closed and not chan.exit_status_ready():
                    raise paramiko.SSHException("channel closed before the command exited")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(self.alias, command.decode(errors="replace"), timeout)
                select.select([chan], [], [], min(left, 0.5))
            return chan.recv_exit_status(), bytes(out), bytes(err)
        finally:
            chan.close()


RECONNECT_DELAY = 1.0


def _is_key_problem(exc: Exception) -> bool:
    """A host key that does not verify is no transient error: never retried."""
    return isinstance(exc, paramiko.BadHostKeyException) or \
        "not found in known_hosts" in str(exc)


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
    _generation: int = 0                 # bumped by invalidate(): in-flight reads are stale
    epoch: "Epoch" = field(default_factory=lambda: Epoch())
    _facts: dict[tuple, "CachedFact"] = field(default_factory=dict)
    _inflight: dict[tuple, threading.Event] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _connect_lock: threading.Lock = field(default_factory=threading.Lock)

    def _connect(self) -> testinfra.host.Host:
        # the scenario's thread and the fact prefetch (stackproof.prefetch) share one
        # connection: only one of them makes it
        with self._connect_lock:
            return self._connect_once()

    def _connect_once(self) -> testinfra.host.Host:
        if self._unreachable is not None:
            raise self._unreachable      # fail fast: once declared unreachable, for the run
        if self._host is None:
            exc = self._try_connect()
            if exc is not None and not _is_key_problem(exc):
                # one transient failure is not an unreachable host: reconnect once
                log.info("[%s] SSH connect failed (%s), reconnecting once", self.name, exc)
                time.sleep(RECONNECT_DELAY)
                exc = self._try_connect()
            if exc is not None:
                reason = str(exc) or type(exc).__name__
                if _is_key_problem(exc):
                    reason += " (host key not verified: add it to known_hosts)"
                self._unreachable = HostUnreachable(self.name, reason)
                raise self._unreachable from None
        assert self._host is not None
        return self._host

    def _try_connect(self) -> Exception | None:
        backend = VerifiedParamikoBackend(self.name, self.spec)
        try:
            backend.client  # connect now so errors name this host
        except TRANSIENT as exc:
            return exc
        self._host = testinfra.host.Host(backend)
        return None

    def _drop_connection(self) -> None:
        host, self._host = self._host, None
        if host is not None:
            try:
                host.backend.client.close()
            except Exception:  # the connection is already broken: nothing to report
                pass

    @property
    def testinfra(self) -> testinfra.host.Host:
        return self._connect()

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run a command; CommandTimeout after `timeout` (default: the host's
        command_timeout). A transport error gets one reconnect and retry, then the host is
        unreachable for the rest of the run."""
        with self._lock:
            self.commands_run += 1
        started = time.monotonic()
        limit = timeout if timeout is not None else self.spec.command_timeout
        for attempt in (1, 2):
            host = self._connect()
            backend: VerifiedParamikoBackend = host.backend  # type: ignore[assignment]
            try:
                rc, out, err = backend.exec_timed(backend.encode(backend.get_command(command)),
                                                  limit)
                break
            except CommandTimeout as exc:
                exc.command = command
                log.warning("[%s] %s", self.name, exc)
                raise
            except TRANSIENT as exc:
                self._drop_connection()
                if attempt == 2:
                    self._unreachable = HostUnreachable(self.name,
                                                        f"{type(exc).__name__}: {exc}")
                    raise self._unreachable from None
                log.info("[%s] SSH error (%s), reconnecting once", self.name, exc)
                time.sleep(RECONNECT_DELAY)
        res = backend.result(rc, backend.encode(command), out, err)
        log.debug("[%s] %s -> rc %s (%.0f ms)", self.name, command, res.rc,
                  (time.monotonic() - started) * 1000)
        return CommandResult(command, res.rc, res.stdout, res.stderr)

    def open_channel(self) -> paramiko.Channel:
        """A raw session channel on this host's connection (the host lock holds one open)."""
        client = self._connect().backend.client  # type: ignore[attr-defined]
        transport = client.get_transport()
        if transport is None or not transport.is_active():
            self._drop_connection()
            client = self._connect().backend.client  # type: ignore[attr-defined]
            transport = client.get_transport()
        return transport.open_session(timeout=self.spec.connect_timeout)

    def sftp(self) -> paramiko.SFTPClient:
        """An SFTP session on this host's connection (file contents never on a command line)."""
        client = self._connect().backend.client  # type: ignore[attr-defined]
        return client.open_sftp()

    def put_file(self, path: str, content: str | bytes, mode: int = 0o600) -> None:
        """Create or replace `path` with `content` over SFTP, mode set before any byte is
        written. Raises OSError/SSHException with the reason."""
        data = content.encode() if isinstance(content, str) else content
        sftp = self.sftp()
        try:
            with sftp.open(path, "w") as fh:
                fh.chmod(mode)
                fh.write(data)
        finally:
            sftp.close()

    def get_file(self, path: str) -> str | None:
        """A file's text over SFTP; None when it does not exist. Any other failure raises."""
        sftp = self.sftp()
        try:
            with sftp.open(path, "r") as fh:
                return fh.read().decode()
        except FileNotFoundError:
            return None
        finally:
            sftp.close()

    def write_file(self, path: str, content: str) -> CommandResult:
        """Write a file over SFTP (kept for callers of the old base64 command line)."""
        self.put_file(path, content, 0o644)
        return CommandResult(f"sftp put {path}", 0, "", "")

    def fact(self, key: tuple, compute: Callable[[], Any], prefetch: bool = False) -> Any:
        """The cached fact `key`, computed once. A fact another thread is computing is
        waited for, not queried twice. A prefetched value is used only while no remediation
        ran anywhere since it was read (`Epoch`): after one, it is read again, as a run
        without prefetch would read it then. A failed computation is not cached."""
        while True:
            with self._lock:
                cached = self._facts.get(key)
                if cached is not None and cached.epoch in (None, self.epoch.value):
                    return cached.value
                busy = self._inflight.get(key)
                if busy is None:
                    busy = self._inflight[key] = threading.Event()
                    started, generation = self.epoch.value, self._generation
                    break
            busy.wait()                      # then take its value, or compute it ourselves
        try:
            value = compute()
            with self._lock:
                if self._generation == generation:   # not invalidated meanwhile
                    self._facts[key] = CachedFact(value, started if prefetch else None)
            return value
        finally:
            with self._lock:
                del self._inflight[key]
            busy.set()

    def cached(self, key: tuple) -> bool:
        with self._lock:
            return key in self._facts or key in self._inflight

    def invalidate(self) -> None:
        """A remediation touched this host: drop its facts, and every prefetched fact of
        every host is read again before use."""
        with self._lock:
            self._facts.clear()
            self._generation += 1
        self.epoch.bump()

    def close(self) -> None:
        if self._host is not None:
            try:
                self._host.backend.client.close()
            except Exception:  # closing a dead connection must not mask results
                pass
            self._host = None


class Epoch:
    """Counts the remediations of a run (every Remote.invalidate): a fact prefetched in an
    earlier epoch is not trusted in a later one."""

    def __init__(self):
        self.value = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.value += 1


@dataclass(frozen=True)
class CachedFact:
    value: Any
    epoch: int | None            # the epoch it was prefetched in; None: read by a scenario


class Fleet:
    """Every inventory host's Remote, created lazily (thread-safe: the prefetch pool asks
    for hosts too), sharing one Epoch."""

    def __init__(self, site: Site):
        self.site = site
        self.epoch = Epoch()
        self._remotes: dict[str, Remote] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Remote:
        with self._lock:
            if name not in self._remotes:
                if name not in self.site.hosts:
                    raise KeyError(f"{name} is not a host of this inventory")
                self._remotes[name] = Remote(name, self.site.ssh_of(name), epoch=self.epoch)
            return self._remotes[name]

    def counts(self) -> dict[str, int]:
        return {n: r.commands_run for n, r in self._remotes.items()}

    def close(self) -> None:
        for r in self._remotes.values():
            r.close()
