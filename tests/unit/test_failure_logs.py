"""A failed `lab up` keeps its logs (never its configs) where CI leaves them for a later
look (stackproof_lab.failure_logs)."""
from __future__ import annotations

import os

from stackproof_lab import failure_logs


def _state(tmp_path):
    state = tmp_path / "state"
    (state / "openstack" / "logs").mkdir(parents=True)
    (state / "openstack" / "logs" / "nova-conductor.log").write_text("conductor said\n")
    (state / "openstack" / "nova").mkdir()
    (state / "openstack" / "nova" / "nova.conf").write_text("password = s3cret\n")
    log = state / "hosts" / "compute" / ".overlay" / "var_log" / "upper" / "nova"
    log.mkdir(parents=True)
    (log / "nova-compute.log").write_text("compute said\n")
    (state / "hosts" / "compute" / ".lab").mkdir()
    (state / "hosts" / "compute" / ".lab" / "init.log").write_text("init 12 starting\n")
    etc = state / "hosts" / "compute" / ".overlay" / "etc" / "upper" / "nova"
    etc.mkdir(parents=True)
    (etc / "nova.conf").write_text("password = s3cret\n")
    return state


def test_logs_are_kept_and_configs_are_not(tmp_path):
    dest = failure_logs.save(_state(tmp_path), "homelab-1", tmp_path / "kept")
    assert dest.parent == tmp_path / "kept" and dest.name.startswith("homelab-1-")
    assert (dest / "openstack" / "nova-conductor.log").read_text() == "conductor said\n"
    assert (dest / "hosts" / "compute" / "var" / "log" / "nova" / "nova-compute.log"
            ).read_text() == "compute said\n"
    assert (dest / "hosts" / "compute" / "init.log").read_text() == "init 12 starting\n"
    kept = [p for p in dest.rglob("*") if p.is_file()]
    assert len(kept) == 3
    assert not any("s3cret" in p.read_text() for p in kept)


def test_a_large_log_keeps_its_end(tmp_path, monkeypatch):
    monkeypatch.setattr(failure_logs, "MAX_FILE", 100)
    state = _state(tmp_path)
    big = state / "openstack" / "logs" / "nova-conductor.log"
    big.write_text("old line\n" * 50 + "the last words\n")
    dest = failure_logs.save(state, "homelab-1", tmp_path / "kept")
    text = (dest / "openstack" / "nova-conductor.log").read_text()
    assert text.startswith("[... kept the last 100 bytes]") and text.endswith("the last words\n")
    assert len(text.split("\n", 1)[1]) == 100


def test_only_the_newest_runs_stay(tmp_path, monkeypatch):
    monkeypatch.setattr(failure_logs, "KEEP", 2)
    root = tmp_path / "kept"
    for i in range(4):
        old = root / f"homelab-old{i}"
        old.mkdir(parents=True)
        os.utime(old, (1000 + i, 1000 + i))
    dest = failure_logs.save(_state(tmp_path), "homelab-1", root)
    assert sorted(p.name for p in root.iterdir()) == sorted(["homelab-old3", dest.name])


def test_nothing_is_kept_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(failure_logs.ENV, raising=False)
    assert failure_logs.wanted() is None
    monkeypatch.setenv(failure_logs.ENV, str(tmp_path))
    assert failure_logs.wanted() == tmp_path
