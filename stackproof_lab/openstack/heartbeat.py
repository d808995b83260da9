"""Neutron agent heartbeats for one lab node, run INSIDE that node's namespaces.

A real agent reports its state over RPC to neutron-server every report_interval seconds,
and neutron-server stamps `agents.heartbeat_timestamp`; the API calls an agent alive while
that stamp is younger than agent_down_time. The lab has no message bus between a node and
the root-side neutron-api, so this process stands in for the RPC path: every INTERVAL it
looks at the node's own process table (the node's PID namespace) and, for each agent whose
process runs there, stamps that agent's row in Neutron's database (a SQLite file in the lab
state dir, visible inside the node). Stop the agent's process (`service
neutron-openvswitch-agent stop`) and its row goes stale: Neutron reports it dead exactly as
for a real agent that stopped reporting.

Standard library only:  python3 heartbeat.py SPEC.json
SPEC: {"db": path, "host": name, "interval": seconds,
       "agents": [{"binary": "neutron-l3-agent", "match": ["neutron-l3-agent", ...]}, ...]}
"""
from __future__ import annotations

import datetime
import json
import os
import signal
import sqlite3
import sys
import time


def running_commands() -> list[list[str]]:
    """argv of every process of this PID namespace (except this one)."""
    out = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        if raw:
            out.append([a.decode(errors="replace") for a in raw.split(b"\0") if a])
    return out


def is_running(match: list[str], commands: list[list[str]]) -> bool:
    """An argv element equals a pattern or ends in '/<pattern>' (a script run by its
    interpreter), or a pattern is a `python -m` module name in the argv."""
    for argv in commands:
        for arg in argv[:4]:
            base = arg.rsplit("/", 1)[-1]
            if base in match or arg in match:
                return True
    return False


def beat(db: str, host: str, binaries: list[str]) -> None:
    if not binaries:
        return
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    stamp = now.isoformat(sep=" ", timespec="microseconds")
    con = sqlite3.connect(db, timeout=10)
    try:
        with con:
            con.executemany("UPDATE agents SET heartbeat_timestamp = ? WHERE host = ? AND "
                            "binary = ?", [(stamp, host, b) for b in binaries])
    finally:
        con.close()


def main(spec_path: str) -> int:
    with open(spec_path) as fh:
        spec = json.load(fh)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(f"heartbeat for {spec['host']}: agents "
          f"{', '.join(a['binary'] for a in spec['agents'])}", flush=True)
    was: list[str] = []
    while not stop:
        commands = running_commands()
        alive = [a["binary"] for a in spec["agents"] if is_running(a["match"], commands)]
        if alive != was:
            print(f"running: {', '.join(alive) or 'none'}", flush=True)
            was = alive
        try:
            beat(spec["db"], spec["host"], alive)
        except sqlite3.Error as exc:          # a busy database: try again next round
            print(f"heartbeat: {exc}", file=sys.stderr, flush=True)
        time.sleep(spec.get("interval", 1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
