"""Host-baseline faults round-trip on real lab hosts, plus the engine's operator-facing
behaviour (--plan, unreachable hosts) against real SSH."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

BASELINE = "-k", "hostname or swap or chrony or time_server"


@pytest.mark.parametrize("name, scenario, remediation", [
    ("hostname-drift", "test_the_hostname_is_the_inventory_name", "hostname"),
    ("swap-in-fstab", "test_swap_stays_off_after_a_reboot", "swap_fstab"),
    ("chrony-default-pool", "test_chrony_takes_its_time_from_the_time_server", "chrony_config"),
    ("chronyd-stopped", "test_chrony_takes_its_time_from_the_time_server", "chrony_running"),
])
def test_fault_round_trips(any_lab, run_suite, fault, name, scenario, remediation):
    host = fault(any_lab, name)
    red = run_suite(any_lab, *BASELINE)
    assert red.rc == 1, red.output
    assert red.failed() == {f"{scenario}[{host}]"}, red.output

    green = run_suite(any_lab, *BASELINE, "--remediate")
    assert green.rc == 0, green.output
    applied = green.remediations()
    assert len(applied) == 1 and applied[0].startswith("REMEDIATED") \
        and remediation in applied[0] and host in applied[0], green.output

    again = run_suite(any_lab, *BASELINE, "--remediate")
    assert again.rc == 0 and again.remediations() == [], again.output


def test_plan_shows_the_fix_and_touches_nothing(seed_lab, run_suite, fault):
    host = fault(seed_lab, "swap-in-fstab")
    planned = run_suite(seed_lab, "-k", "swap", "--remediate", "--plan", "-s")
    assert planned.rc == 1
    assert any(line.startswith("PLANNED") and "swap_fstab" in line
               for line in planned.remediations()), planned.output
    assert "write /etc/fstab" in planned.output
    still = run_suite(seed_lab, "-k", "swap")
    assert still.failed() == {f"test_swap_stays_off_after_a_reboot[{host}]"}


def test_an_unreachable_host_fails_only_its_own_scenarios(seed_lab, run_suite, tmp_path):
    import yaml
    data = yaml.safe_load(seed_lab.inventory_path.read_text())
    victim = next(iter(data["hosts"]))
    # the host's SSH path is gone (its sshd cannot be started), the others still answer
    data["hosts"][victim]["ssh"]["ssh_config"] = str(tmp_path / "no-such-ssh-config")
    data["hosts"][victim]["ssh"]["proxy_command"] = "false"
    broken = tmp_path / "inventory.yml"
    broken.write_text(yaml.safe_dump(data))

    class Fake:
        inventory_path = broken
    run = run_suite(Fake, "-k", "hostname")
    failed = run.failed()
    assert failed == {f"test_the_hostname_is_the_inventory_name[{victim}]"}, run.output
    assert f"host {victim} is unreachable over SSH" in run.output


def test_unknown_host_key_is_refused(seed_lab, run_suite, tmp_path):
    import yaml
    data = yaml.safe_load(seed_lab.inventory_path.read_text())
    victim = next(iter(data["hosts"]))
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    data["hosts"][victim]["ssh"]["known_hosts"] = str(empty)
    broken = tmp_path / "inventory.yml"
    broken.write_text(yaml.safe_dump(data))

    class Fake:
        inventory_path = broken
    run = run_suite(Fake, "-k", "hostname")
    assert run.failed() == {f"test_the_hostname_is_the_inventory_name[{victim}]"}, run.output
    assert "known_hosts" in run.output
