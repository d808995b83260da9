"""The remediation engine under faults on a real lab: a hung remote command isolated within
its timeout, a restart that fails after a write rolled back, two concurrent --remediate runs
serialized by the per-host lock."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stackproof.suite import suite_command

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
BGP = ("-k", "frr_runs or bgp_session or networks_are_learned or static_route")
TIME = ("-k", "chrony or time_server")
SHORT_TIMEOUT = 5


def inventory_with(lab, tmp_path, **ssh) -> Path:
    """The lab's inventory with extra ssh settings on every host (e.g. a short
    command_timeout): what an operator would put in the site file."""
    data = yaml.safe_load(lab.inventory_path.read_text())
    for h in data["hosts"].values():
        h["ssh"].update(ssh)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class At:
    """run_suite takes a lab; this stands for one with another inventory file."""
    def __init__(self, path: Path):
        self.inventory_path = path


def test_a_hung_command_fails_only_its_host_within_the_timeout(seed_lab, run_suite, fault,
                                                               tmp_path):
    from stackproof_lab import faults
    inv = At(inventory_with(seed_lab, tmp_path, command_timeout=SHORT_TIMEOUT))
    host = fault(seed_lab, "remote-command-hangs")
    import time
    started = time.monotonic()
    hung = run_suite(inv, *BGP, timeout=900)               # the run ends on its own
    failed = hung.failed()
    print(f"hung {host}: rc {hung.rc} in {time.monotonic() - started:.1f} s, "
          f"failed {sorted(failed)}")
    assert hung.rc == 1 and failed, hung.output
    assert all(t.endswith(f"[{host}]") for t in failed), hung.output   # others stay green
    assert f"timed out after {SHORT_TIMEOUT} s: vtysh" in hung.output
    assert f"[{host}]" in " ".join(failed)
    faults.heal(seed_lab, "remote-command-hangs", host)
    # sessions reset while vtysh hung come back within seconds: poll the run to a deadline
    deadline = time.monotonic() + 120
    while True:
        healed = run_suite(inv, *BGP)
        if healed.rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert healed.rc == 0, healed.output


@pytest.mark.remediation_fails
def test_a_restart_that_fails_after_the_write_is_rolled_back(seed_lab, run_suite, fault):
    host = fault(seed_lab, "chrony-default-pool")
    fault(seed_lab, "service-start-fails", host)
    shell = seed_lab.shell(host)
    conf = "/etc/chrony/chrony.conf"
    before = shell.sh(f"cat {conf}").stdout
    run = run_suite(seed_lab, *TIME, "--remediate")
    assert run.rc == 1, run.output
    line = next((ln for ln in run.remediations() if "chrony_config" in ln and host in ln), "")
    assert line.startswith("FAILED"), run.output
    assert "start refused" in line and f"rolled back: restored {conf} on {host}" in line, line
    # the file is the one from before the plan, and its backup sits in this run's directory
    print(line)
    assert shell.sh(f"cat {conf}").stdout == before
    backups = shell.sh(f"ls /var/backups/stackproof/*{conf}").stdout.split()
    assert backups and shell.sh(f"cat {backups[-1]}").stdout == before
    assert "stackproof backups" in run.output
    assert f"chrony_config            {host}:/var/backups/stackproof/" in run.output
    assert not shell.sh("ls /etc/chrony").stdout.count(".stackproof-")   # no temp file left


def test_two_concurrent_remediations_end_green_or_name_the_lock(seed_lab, fault, tmp_path):
    host = fault(seed_lab, "bgpd-off")
    cmd = suite_command("features/", seed_lab.inventory_path, "-q", "-rf", *BGP,
                         "--remediate", "--lock-wait", "300")
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs):
        lines = [ln for ln in out.splitlines() if "frr_" in ln and ("REMEDIATED" in ln
                                                                    or "FAILED" in ln)]
        print(f"run rc {p.returncode}: {lines}")
    for p, out in zip(procs, outs):
        assert p.returncode == 0 or "locked by another stackproof run" in out, out
        assert "stackproof-new" not in out and "cannot access" not in out, out
    assert any(p.returncode == 0 for p in procs), outs
    # exactly one run changed the daemons file: the other found it fixed under the lock
    fixes = [out.count(f"REMEDIATED frr_enable_bgpd") for out in outs]
    assert sum(fixes) >= 1, outs
    after = subprocess.run([*cmd[:-3]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert after.returncode == 0, after.stdout + after.stderr
    assert host
