#!/usr/bin/env python3
"""The memory one lab uses: the proportional set size (PSS, shared pages split between their
users) of every process in the lab's hosts (their PID namespaces) and of the root-side
processes the lab recorded (the OpenStack APIs, the Kubernetes stand-in) with their children.

    python scripts/lab-memory.py <lab state dir>
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int, parents: dict[int, int]) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in parents.items():
            if pp == p and c not in out:
                out.add(c)
                todo.append(c)
    return out


def main(state_dir: str) -> int:
    st = json.loads((Path(state_dir) / "state.json").read_text())
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    parents, ns = {}, {}
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            parents[p] = int(stat[1])
            ns[p] = os.readlink(f"/proc/{p}/ns/pid")
        except OSError:
            continue
    by_host: dict[str, int] = {}
    for name, rec in st["hosts"].items():
        init = rec.get("pid") or rec.get("init_pid")
        if not init or init not in ns:
            continue
        mine = [p for p in ns if ns[p] == ns[init]]
        by_host[name] = sum(pss_kib(p) for p in mine)
    root = set()
    for rec in st.get("processes", []):
        pid = rec.get("pid") if isinstance(rec, dict) else rec[0]
        if pid in parents:
            root |= {pid} | children(pid, parents)
    root -= {p for p in root if any(ns.get(p) == ns.get(h.get("pid") or h.get("init_pid"))
                                    for h in st["hosts"].values())}
    root_kib = sum(pss_kib(p) for p in root)
    total = sum(by_host.values()) + root_kib
    for name, kib in sorted(by_host.items(), key=lambda x: -x[1]):
        print(f"{name:20s} {kib / 1024:8.1f} MiB")
    print(f"{'root-side services':20s} {root_kib / 1024:8.1f} MiB ({len(root)} processes)")
    print(f"{'total':20s} {total / 1024:8.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
