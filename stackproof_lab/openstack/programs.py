"""The lab's own programs that run inside the lab hosts: serve.py (Glance and Placement in
the controller), nova_compute.py, heartbeat.py, and the sqlite_immediate module they import.

A lab host replaces /root with an empty directory of its own, so a checkout under /root
(a root user's usual ~/stackproof) cannot be read from inside a host: Glance, Placement and
nova-compute then die with "can't open file". The lab therefore copies these files into
its state directory, which every host sees, and the hosts run them from there.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODE_PROGRAMS = ("serve.py", "nova_compute.py", "heartbeat.py", "sqlite_immediate.py")


def stage(dest: Path) -> Path:
    """Copy the programs into `dest` (each by rename, so a host starting one never reads a
    half-written file) and return `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in NODE_PROGRAMS:
        tmp = dest / f".{name}.tmp"
        shutil.copyfile(HERE / name, tmp)
        os.replace(tmp, dest / name)
    return dest


def source(name: str) -> str:
    """A program's text, for writing it into a host's own files."""
    if name not in NODE_PROGRAMS:
        raise KeyError(name)
    return (HERE / name).read_text()
