"""Keep a failed `lab up`'s logs where a later look can find them.

A failed bring-up keeps its state dir, but a test's fixture then takes the lab down, and
pytest's temp dirs rotate away: on a CI machine nothing is left to read. With
STACKPROOF_LAB_FAILURE_LOGS=DIR (`.ci/run` sets it), the lab copies the logs (never the
configs, which hold passwords) of a failed bring-up into DIR/<lab id>-<time>/:

    openstack/            the root-side services' logs (<state>/openstack/logs)
    hosts/<host>/var/log/ what each host wrote under /var/log (its copy-on-write layer)
    hosts/<host>/init.log the host's init

Files over MAX_FILE bytes keep their last MAX_FILE bytes; only the newest KEEP runs stay.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

ENV = "STACKPROOF_LAB_FAILURE_LOGS"
MAX_FILE = 2 * 1024 * 1024
KEEP = 8


def wanted() -> Path | None:
    where = os.environ.get(ENV)
    return Path(where) if where else None


def save(state_dir: Path, lab_id: str, dest_root: Path) -> Path:
    """Copy the logs of the lab in `state_dir` and return where they went."""
    dest = dest_root / f"{lab_id}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    _copy_tree(state_dir / "openstack" / "logs", dest / "openstack")
    hosts = state_dir / "hosts"
    for host in sorted(p for p in hosts.iterdir() if p.is_dir()) if hosts.is_dir() else []:
        _copy_tree(host / ".overlay" / "var_log" / "upper", dest / "hosts" / host.name / "var"
                   / "log")
        _copy_file(host / ".lab" / "init.log", dest / "hosts" / host.name / "init.log")
    _prune(dest_root)
    return dest


def _copy_tree(src: Path, dest: Path) -> None:
    if not src.is_dir():
        return
    for path in src.rglob("*"):
        if path.is_file() and not path.is_symlink():
            _copy_file(path, dest / path.relative_to(src))


def _copy_file(src: Path, dest: Path) -> None:
    if not src.is_file():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    size = src.stat().st_size
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        if size > MAX_FILE:
            fin.seek(size - MAX_FILE)
            fout.write(b"[... kept the last %d bytes]\n" % MAX_FILE)
        shutil.copyfileobj(fin, fout)


def _prune(dest_root: Path) -> None:
    runs = sorted((p for p in dest_root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in runs[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
