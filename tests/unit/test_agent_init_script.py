"""The lab's agent init script (stackproof_lab.daemons.ovs.init_script), run for real with a small
agent under tmp_path: callers at once never leave two agents behind."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from stackproof_lab.daemons import ovs

AGENT = """#!/bin/sh
# a stand-in daemon: reads no config, logs the ready line after a moment, then idles
sleep 0.3
echo "{ready}"
sleep 300
"""


@pytest.fixture
def script(tmp_path):
    agent = tmp_path / "agent"
    agent.write_text(AGENT.format(ready=ovs.READY_LINE))
    agent.chmod(0o755)
    text = ovs.init_script([str(agent)], timeout=20)
    text = re.sub(r"(?m)^PIDFILE=.*$", f"PIDFILE={tmp_path}/run/agent.pid", text)
    text = re.sub(r"(?m)^LOG=.*$", f"LOG={tmp_path}/agent.log", text)
    path = tmp_path / "init"
    path.write_text(text)
    path.chmod(0o755)
    yield path
    subprocess.run([str(path), "stop"], capture_output=True, timeout=30)


def agents(tmp_path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"{tmp_path}/agent"], capture_output=True,
                         text=True).stdout
    return [int(p) for p in out.split()]


def test_two_restarts_at_once_leave_one_agent(script, tmp_path):
    assert subprocess.run([str(script), "start"], capture_output=True, timeout=30).returncode == 0
    calls = [subprocess.Popen([str(script), "restart"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outs = [c.communicate(timeout=60)[0] for c in calls]
    time.sleep(0.5)
    alive = agents(tmp_path)
    assert len(alive) == 1, (alive, outs)
    pid = int((tmp_path / "run" / "agent.pid").read_text())
    assert os.getpgid(alive[0]) == pid, (alive, pid)        # the agent leads its group
    assert any("started" in o for o in outs), outs


def test_a_waiter_whose_agent_was_replaced_keeps_the_new_pid_file(script, tmp_path):
    waiting = subprocess.Popen([str(script), "start"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    time.sleep(0.1)                                 # its agent is launched, not ready yet
    again = subprocess.run([str(script), "restart"], capture_output=True, text=True,
                           timeout=30)
    assert again.returncode == 0, again.stdout + again.stderr
    waiting.communicate(timeout=30)
    pid = int((tmp_path / "run" / "agent.pid").read_text())
    assert os.kill(pid, 0) is None                  # the replacement's pid file stayed
    assert len(agents(tmp_path)) == 1
    os.killpg(pid, signal.SIGTERM)
