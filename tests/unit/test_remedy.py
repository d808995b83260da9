"""The remediation engine's file writing and plan rendering, run for real in a temp dir."""
from __future__ import annotations

import os
import stat
import subprocess

from fakes import stage_locally  # noqa: E402  (tests/unit on the path)
from stackproof.remedy import (BACKED_UP, Plan, Run, WriteFile, restore_command,
                               write_names)


def sh(script: str) -> int:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True).returncode


def test_write_replaces_atomically_and_keeps_a_backup(tmp_path):
    target = tmp_path / "frr.conf"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    step = WriteFile("h", str(target), "new 'quoted' $(not run)\n", "why")
    names, stage, commit = stage_locally(step, tmp_path / "bk", run_id="run1")
    assert names.tmp == f"{target}.stackproof-run1-1.new"
    assert names.backup == f"{tmp_path}/bk/run1{target}"
    assert sh(stage) == 0
    assert target.read_text() == "old\n"            # staging does not touch the target
    assert sh(commit) == 0
    assert target.read_text() == "new 'quoted' $(not run)\n"
    assert open(names.backup).read() == "old\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640   # mode kept from the old file
    assert stat.S_IMODE(os.stat(names.backup).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bk", "frr.conf"]   # nothing beside


def test_a_backup_is_never_overwritten(tmp_path):
    target = tmp_path / "chrony.conf"
    target.write_text("first\n")
    step = WriteFile("h", str(target), "second\n", "why")
    names, stage, commit = stage_locally(step, tmp_path / "bk")
    assert sh(stage) == 0 and sh(commit) == 0
    # the same names again (a second write that reused them): refused, target untouched
    _, stage, commit = stage_locally(WriteFile("h", str(target), "third\n", "why"),
                                     tmp_path / "bk")
    assert sh(stage) == 0
    res = subprocess.run(["/bin/sh", "-c", commit], capture_output=True, text=True)
    assert res.returncode == 4 and "not overwritten" in res.stderr
    assert target.read_text() == "second\n" and open(names.backup).read() == "first\n"
    # the engine numbers a second write of one path in one run
    assert write_names(str(target), "r", 7, "/b", nth=2).backup == f"/b/r{target}.2"


def test_failed_validation_leaves_the_file_untouched(tmp_path):
    target = tmp_path / "daemons"
    target.write_text("bgpd=yes\n")
    step = WriteFile("h", str(target), "broken\n", "why", validate="grep -q bgpd= {path}")
    names, stage, _ = stage_locally(step, tmp_path / "bk")
    assert sh(stage) == 3
    assert target.read_text() == "bgpd=yes\n"
    assert not os.path.exists(names.tmp)


def test_new_file_gets_the_requested_mode(tmp_path):
    target = tmp_path / "unit.service"
    _, stage, commit = stage_locally(WriteFile("h", str(target), "[Unit]\n", "why",
                                               mode="0644"), tmp_path / "bk")
    assert sh(stage) == 0
    res = subprocess.run(["/bin/sh", "-c", commit], capture_output=True, text=True)
    assert res.returncode == 0 and BACKED_UP not in res.stdout   # nothing to back up
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not (tmp_path / "bk").exists()


def test_restore_puts_the_backup_back_or_removes_a_new_file(tmp_path):
    target = tmp_path / "nova.conf"
    target.write_text("good\n")
    names, stage, commit = stage_locally(WriteFile("h", str(target), "bad\n", "why"),
                                         tmp_path / "bk")
    assert sh(stage) == 0 and sh(commit) == 0 and target.read_text() == "bad\n"
    assert sh(restore_command(str(target), names.backup, f"{target}.restore")) == 0
    assert target.read_text() == "good\n"
    assert open(names.backup).read() == "good\n"          # the backup stays for the operator
    fresh = tmp_path / "new.conf"
    fresh.write_text("x")
    assert sh(restore_command(str(fresh), None, "unused")) == 0 and not fresh.exists()


def test_plan_render_names_every_step_and_flags_destruction():
    plan = Plan("ext_net", "rebuild the external network",
                (Run("ctl", "openstack network delete x", "overlaps a NAT range"),),
                destructive=True)
    text = plan.render()
    assert "[DESTRUCTIVE]" in text
    assert "[ctl] $ openstack network delete x" in text
    assert plan.hosts == {"ctl"}
