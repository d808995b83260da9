"""TCP <-> unix-socket relays across the boundary between the root side and a lab node,
without any route between them (the lab's safety rule: no root namespace route into the
lab, no lab route out).

Two directions, both per connection (socat `fork`), both through a unix socket in a directory
both sides see (a network namespace does not isolate the filesystem). That directory is a
short one under /tmp, named from the lab's state dir, with `<state>/openstack/relay` linking
to it: a unix socket's path holds at most 107 bytes, and a deep state dir (pytest's
/tmp/pytest-of-root/pytest-N/popen-gwN/<test>/state) went past that, so socat never listened.

  into a node   node netns 127.0.0.1:PORT --> <relay>/api-PORT.sock --> root 127.0.0.1:PORT
                so the Keystone catalog's URLs (http://127.0.0.1:PORT) work inside nodes too;
  out of a node root 127.0.0.1:LOCAL --> <relay>/out-<host>-PORT.sock --> node 127.0.0.1:PORT
                so root-side services reach RabbitMQ, which runs inside the bus node, and
                everyone reaches Glance and Placement, which run inside the controller.

Root-side relay processes are recorded with `lab.record_process`; the node-side ones run in
the node's PID namespace and end with it. Nothing here is ever killed by name.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stackproof_lab.daemons.common import wait_until
from stackproof_lab.shell import NsShell

SOCAT = "socat"
READY_TIMEOUT = 90.0         # a node under load (make test: four labs) starts socat slowly


@dataclass(frozen=True)
class Relay:
    kind: str                  # "api" (into a node) or "out" (out of a node)
    port: int                  # the TCP port on the listening side
    socket: Path


SUN_PATH_MAX = 107                 # sizeof(sockaddr_un.sun_path) - 1 on Linux


def _short_dir(root: Path) -> Path:
    # /tmp itself, not $TMPDIR: every node sees the machine's /tmp, and it is short
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    return Path("/tmp") / f"sp-relay-{tag}"


def relay_dir(root: Path) -> Path:
    """The lab's relay directory (made on first use), short enough for socket paths."""
    d = _short_dir(root)
    d.mkdir(mode=0o700, exist_ok=True)
    link = root / "relay"
    if not link.is_symlink():
        link.symlink_to(d, target_is_directory=True)     # where an operator looks for it
    return d


def remove_relay_dir(root: Path) -> None:
    """At `lab down`: the short directory and its link (nothing else lives there)."""
    shutil.rmtree(_short_dir(root), ignore_errors=True)
    (root / "relay").unlink(missing_ok=True)


def _socket_path(path: Path) -> Path:
    if len(str(path).encode()) > SUN_PATH_MAX:
        raise ValueError(f"relay socket path longer than {SUN_PATH_MAX} bytes: {path}")
    return path


def _root_spawn(lab, argv: list[str], log: Path, role: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
    lab.record_process(proc, role)
    return proc


def _node_record(root: Path, host: str) -> Path:
    return relay_dir(root) / f"node-{host}.json"


def _node_spawn(shell: NsShell, root: Path, argv: list[str], log: Path) -> None:
    """Start a relay in the node and note it: a node's relays end with the node (a reboot),
    and `restore_node` starts them again at its boot."""
    rec = _node_record(root, shell.name)
    known = json.loads(rec.read_text()) if rec.is_file() else []
    if argv not in known:
        rec.write_text(json.dumps([*known, argv], indent=1))
    shell.spawn(argv, log)


def restore_node(shell: NsShell, root: Path, log: Path) -> int:
    """After a node's boot: its relays again (the root-side ends never stopped). Returns
    how many."""
    rec = _node_record(root, shell.name)
    argvs = json.loads(rec.read_text()) if rec.is_file() else []
    for argv in argvs:
        shell.spawn(argv, log)
    return len(argvs)


def api_socket(root: Path, port: int) -> Path:
    return _socket_path(relay_dir(root) / f"api-{port}.sock")


def serve_api(lab, root: Path, port: int, log: Path) -> Relay:
    """Root side of an API relay: unix socket -> 127.0.0.1:port (one per API, shared by
    every node)."""
    sock = api_socket(root, port)
    sock.unlink(missing_ok=True)
    _root_spawn(lab, [SOCAT, f"UNIX-LISTEN:{sock},fork,mode=600",
                      f"TCP4:127.0.0.1:{port}"], log, f"openstack:relay-api-{port}")
    wait_until(sock.exists, READY_TIMEOUT, f"relay socket {sock}")
    return Relay("api", port, sock)


def node_api(shell: NsShell, root: Path, relay: Relay, log: Path) -> None:
    """Inside a node: 127.0.0.1:port -> the relay's unix socket."""
    _node_spawn(shell, root, [SOCAT, f"TCP4-LISTEN:{relay.port},bind=127.0.0.1,fork,reuseaddr",
                              f"UNIX-CONNECT:{relay.socket}"], log)


def node_listening(shell: NsShell, port: int) -> bool:
    out = shell.run(["ss", "-Hltn", f"sport = :{port}"], check=False).stdout
    return bool(out.strip())


def wait_node_api(shell: NsShell, ports: list[int]) -> None:
    wait_until(lambda: all(node_listening(shell, p) for p in ports), READY_TIMEOUT,
               f"[{shell.name}] listeners on 127.0.0.1:{ports}")


def out_socket(root: Path, host: str, port: int) -> Path:
    return _socket_path(relay_dir(root) / f"out-{host}-{port}.sock")


def serve_out(lab, root: Path, shell: NsShell, node_port: int, local_port: int,
              log: Path) -> Relay:
    """Out of a node: root-side 127.0.0.1:local_port -> unix socket -> a relay in the node
    -> the node's 127.0.0.1:node_port (RabbitMQ; Glance and Placement in the controller)."""
    sock = out_socket(root, shell.name, node_port)
    sock.unlink(missing_ok=True)
    _node_spawn(shell, root, [SOCAT, f"UNIX-LISTEN:{sock},fork,mode=600,unlink-early",
                              f"TCP4:127.0.0.1:{node_port}"], log)
    wait_until(sock.exists, READY_TIMEOUT, f"[{shell.name}] relay socket {sock}")
    _root_spawn(lab, [SOCAT, f"TCP4-LISTEN:{local_port},bind=127.0.0.1,fork,reuseaddr",
                      f"UNIX-CONNECT:{sock}"], log,
                f"openstack:relay-out-{shell.name}-{node_port}")
    return Relay("out", local_port, sock)
