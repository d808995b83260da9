"""The ping sweep (stackproof.facts.connectivity.ping_sweep) with the real ping, inside a
network namespace of the test's own that has only its loopback: nothing leaves the machine
(an address without a route fails at once). An address counts as unreachable only when a
second, slower sweep of what the first missed fails too."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from stackproof.facts import connectivity
from stackproof.remote import CommandResult
from tests.unit.fakes import ReplayCache

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ping"),
                                reason="a network namespace needs root")

LATE = "10.255.77.1"        # put on the namespace's loopback after the first sweep


class NamespaceHost(ReplayCache):
    """Runs each command in its own network namespace; `after_first` runs there after
    the first command (an address that starts answering late)."""

    def __init__(self, netns: str, after_first: str = ""):
        self.name, self.netns, self.after_first = "pinger", netns, after_first
        self.commands: list[str] = []
        self._facts: dict = {}

    def run(self, command: str) -> CommandResult:
        self.commands.append(command)
        proc = subprocess.run(["ip", "netns", "exec", self.netns, "sh", "-c", command],
                              capture_output=True, text=True, timeout=30)
        if len(self.commands) == 1 and self.after_first:
            subprocess.run(["ip", "netns", "exec", self.netns, "sh", "-c", self.after_first],
                           check=True)
        return CommandResult(command, proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def netns():
    name = f"sp-unit-ping-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                       check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def test_all_answering_is_one_sweep(netns):
    host = NamespaceHost(netns)
    got = connectivity.ping_sweep(host, ("127.0.0.1", "127.0.0.2"))
    assert [r.reachable for r in got] == [True, True]
    assert len(host.commands) == 1


def test_a_late_answer_counts_and_a_dead_address_stays_dead(netns):
    host = NamespaceHost(netns, after_first=f"ip addr add {LATE}/32 dev lo")
    got = connectivity.ping_sweep(host, ("127.0.0.1", LATE, "10.255.77.2"))
    assert {r.address: r.reachable for r in got} == {
        "127.0.0.1": True, LATE: True, "10.255.77.2": False}
    assert len(host.commands) == 2
    again = host.commands[1]
    assert LATE in again and "10.255.77.2" in again and "127.0.0.1" not in again
    assert f"-c {connectivity.RETRY_COUNT}" in again and f"-W {connectivity.RETRY_WAIT_S}" in again
