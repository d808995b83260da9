"""The remediation engine's file writing and plan rendering, run for real in a temp dir."""
from __future__ import annotations

import os
import stat
import subprocess

from stackproof.remedy import Plan, Run, WriteFile, write_file_commands


def sh(script: str) -> int:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True).returncode


def test_write_replaces_atomically_and_keeps_a_backup(tmp_path):
    target = tmp_path / "frr.conf"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    step = WriteFile("h", str(target), "new 'quoted' $(not run)\n", "why")
    stage, commit = write_file_commands(step, "20260101T000000")
    assert sh(stage) == 0
    assert target.read_text() == "old\n"            # staging does not touch the target
    assert sh(commit) == 0
    assert target.read_text() == "new 'quoted' $(not run)\n"
    backup = tmp_path / "frr.conf.stackproof-20260101T000000.bak"
    assert backup.read_text() == "old\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640   # mode kept from the old file
    assert not (tmp_path / "frr.conf.stackproof-new").exists()


def test_failed_validation_leaves_the_file_untouched(tmp_path):
    target = tmp_path / "daemons"
    target.write_text("bgpd=yes\n")
    step = WriteFile("h", str(target), "broken\n", "why", validate="grep -q bgpd= {path}")
    stage, _ = write_file_commands(step, "x")
    assert sh(stage) == 3
    assert target.read_text() == "bgpd=yes\n"
    assert not (tmp_path / "daemons.stackproof-new").exists()


def test_new_file_gets_the_requested_mode(tmp_path):
    target = tmp_path / "unit.service"
    stage, commit = write_file_commands(
        WriteFile("h", str(target), "[Unit]\n", "why", mode="0644"), "x")
    assert sh(stage) == 0 and sh(commit) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert not list(tmp_path.glob("*.bak"))        # nothing to back up


def test_plan_render_names_every_step_and_flags_destruction():
    plan = Plan("ext_net", "rebuild the external network",
                (Run("ctl", "openstack network delete x", "overlaps a NAT range"),),
                destructive=True)
    text = plan.render()
    assert "[DESTRUCTIVE]" in text
    assert "[ctl] $ openstack network delete x" in text
    assert plan.hosts == {"ctl"}
