"""The Neutron agent's message bus: transport_url parsed from the agents' neutron.conf as
the lab's real agents had it (tests/data/openstack/real-agent/neutron.conf-<host>, captured
by tests/data/ovs/capture_real.py, password replaced with ***), the check against the
controller, and the remediation's edit run for real (sed) on a copy broken the way the lab
fault breaks it."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from remediations import neutron_agent_transport
from stackproof.checks import openstack as checks
from stackproof.facts import openstack as f
from stackproof_lab.faults.ovs import wrong_local_ip
from stackproof.remedy import Context
from stackproof.remote import CommandResult

DATA = Path(__file__).resolve().parents[1] / "data" / "openstack" / "real-agent"
HOSTS = ["controller", "compute", "compute2"]


class Node:
    """A Remote whose /etc/neutron/neutron.conf is a file on this machine."""

    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path

    def fact(self, key, compute):
        return compute()

    def run(self, command: str) -> CommandResult:
        assert command == f"cat {f.NEUTRON_CONF}", command
        proc = subprocess.run(["cat", str(self.path)], capture_output=True, text=True)
        return CommandResult(command, proc.returncode, proc.stdout, proc.stderr)


def conf(tmp_path, host: str) -> Path:
    p = tmp_path / f"neutron.conf-{host}"
    p.write_text((DATA / f"neutron.conf-{host}").read_text())
    return p


@pytest.mark.parametrize("host", HOSTS)
def test_the_real_agents_name_the_controllers_bus(seed_site, tmp_path, host):
    t = f.parse_transport_url((DATA / f"neutron.conf-{host}").read_text())
    ctl = str(seed_site.address_of("controller"))
    assert t.scheme == "rabbit" and t.hosts == (((ctl if host != "controller"
                                                  else "127.0.0.1"), 5672),)
    assert checks.agent_transport(seed_site, Node(host, conf(tmp_path, host))) is None


def test_a_wrong_bus_is_found_and_the_edit_restores_it(seed_site, tmp_path):
    host = "compute2"
    path = conf(tmp_path, host)
    wrong = wrong_local_ip(seed_site, host)
    # break it as the lab fault does (stackproof_lab.faults.openstack.bus_unreachable)
    expr = rf"/^transport_url/ s#@[^:/,@]+(:[0-9]+)?([,/]|$)#@{wrong}\1\2#"
    subprocess.run(["sed", "-i", "-E", expr, str(path)], check=True)
    finding = checks.agent_transport(seed_site, Node(host, path))
    assert finding.remediation == "neutron_agent_transport"
    assert f"names {wrong}:5672, not the controller's message bus" in finding.message
    edit, restart = neutron_agent_transport.plan(Context(seed_site, {}), finding).steps
    assert restart.command == "systemctl restart neutron-openvswitch-agent"
    assert "***" not in edit.command and "password" not in edit.command
    local = edit.command.replace(shlex.quote(f.NEUTRON_CONF), shlex.quote(str(path)))
    subprocess.run(local, shell=True, check=True)
    assert checks.agent_transport(seed_site, Node(host, path)) is None
    assert path.read_text() == (DATA / f"neutron.conf-{host}").read_text()   # all else kept
    assert Path(f"{path}.stackproof-bak").read_text().count(wrong) == 1


def test_a_missing_conf_blocks_the_fix(seed_site, tmp_path):
    finding = checks.agent_transport(seed_site, Node("compute", tmp_path / "nope"))
    plan = neutron_agent_transport.plan(Context(seed_site, {}), finding)
    assert plan.blocked and "missing" in plan.blocked
