"""Service commands per init system: a sysv restart that waits for the old daemon to go."""
from __future__ import annotations

import os
import subprocess

import pytest

from stackproof.osfamily import OsProfile

# a sysv `service` like Debian's chrony script: stop signals and returns at once, the
# daemon goes a moment later, and start while it still runs says "already running"
SLOW_STOP_SERVICE = """#!/bin/sh
run=$STATE/running
case "$2" in
  stop) [ -f $run ] && (sleep 0.6; rm -f $run) & exit 0 ;;
  status) [ -f $run ] ;;
  start) if [ -f $run ]; then echo already running; else touch $run; echo started; fi ;;
  restart) "$0" "$1" stop; "$0" "$1" start ;;
esac
"""


def profile(init: str) -> OsProfile:
    return OsProfile(family="debian", init=init, chrony_conf="/etc/chrony/chrony.conf",
                     chrony_service="chrony", iptables_rules_file="/etc/iptables/rules.v4",
                     iptables_save="true", static_routes_hint="")


@pytest.fixture
def slow_service(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "service"
    script.write_text(SLOW_STOP_SERVICE)
    script.chmod(0o755)
    (tmp_path / "running").touch()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(tmp_path)}
    return lambda command: subprocess.run(["/bin/sh", "-c", command], env=env, text=True,
                                          capture_output=True, timeout=30)


def test_the_scripts_own_restart_loses_the_daemon(slow_service, tmp_path):
    # the race this module avoids: the script's restart finds the old daemon still there
    out = slow_service("service chrony restart").stdout
    assert "already running" in out
    subprocess.run(["sleep", "1"])
    assert not (tmp_path / "running").exists()


def test_sysv_chrony_restart_waits_for_the_old_daemon(slow_service, tmp_path):
    command = profile("sysv").service("chrony", "restart")
    proc = slow_service(command)
    assert proc.returncode == 0 and proc.stdout.strip() == "started", proc
    subprocess.run(["sleep", "1"])
    assert (tmp_path / "running").exists()


@pytest.mark.parametrize("init, name, action, expected", [
    ("systemd", "chrony", "restart", "systemctl restart chrony"),
    ("systemd", "chronyd", "start", "systemctl enable --now chronyd"),
    ("sysv", "frr", "restart", "service frr restart"),
    ("sysv", "chrony", "stop", "service chrony stop"),
])
def test_other_service_commands_are_the_plain_ones(init, name, action, expected):
    assert profile(init).service(name, action) == expected
