"""Persistence proven by a reboot, on the real lab (seed and four-host): each fault that only
a reboot reveals is injected, the suite with --reboot-check reboots the scenario's host and
goes red, --remediate fixes it (its verify reboots again), and a third run reboots once more
and stays green. Every test ends with a host that booted healthy."""
from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# fault -> (scenario, remediation)
CASES = {
    "iptables-not-saved": ("test_the_firewall_rules_survive_a_reboot", "iptables_save"),
    "kubelet-ip-unit-disabled": ("test_the_floating_ip_stays_on_lo_across_reboots",
                                 "kubelet_ip_lo"),
    "kubelet-ip-unit-missing": ("test_the_floating_ip_stays_on_lo_across_reboots",
                                "kubelet_ip_lo"),
    "fip-route-not-persisted": ("test_each_floating_ip_is_routed_on_towards_its_instance",
                                "fip_route"),
    "hostname-runtime-only": ("test_the_hostname_is_the_inventory_name", "hostname"),
    "swap-in-fstab": ("test_swap_stays_off_after_a_reboot", "swap_fstab"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_fault_only_a_reboot_reveals_round_trips(any_lab, run_suite, fault, name):
    scenario, remediation = CASES[name]
    host = fault(any_lab, name)
    only = ("-k", f"{scenario} and {host}", "--reboot-check")
    red = run_suite(any_lab, *only)
    assert red.rc == 1, red.output
    assert red.failed() == {f"{scenario}[{host}]"}, red.output
    assert "after a reboot" in red.output, red.output

    fixed = run_suite(any_lab, *only, "--remediate")
    assert fixed.rc == 0, fixed.output
    assert any(re.match(rf"REMEDIATED\s+{remediation}\s+{re.escape(host)}\b", line)
               for line in fixed.remediations()), fixed.output

    again = run_suite(any_lab, *only)          # one more boot: the fix was persisted
    assert again.rc == 0 and again.remediations() == [], again.output


def test_a_reboot_restores_a_hypervisor_and_its_guests_from_their_files(seed_lab, run_suite):
    lab = seed_lab
    host = next(h for h in lab.site.physical_hosts()
                if any(g.hypervisor == h for g in lab.site.guests().values()))
    before = {n: r.init_pid for n, r in lab.state.hosts.items()}
    report = lab.reboot(host)
    after = {n: r.init_pid for n, r in lab.state.hosts.items()}
    guests = [g for g, gh in lab.site.guests().items() if gh.hypervisor == host]
    assert set(report.rebooted) == {host, *guests} and report.down == []
    assert all(after[n] != before[n] for n in report.rebooted)
    assert report.boot == {}, report.boot          # no boot step failed
    print(f"reboot {host} with {guests}: {report.seconds:.1f} s")
    from stackproof_lab.reboot import wait_settled
    assert wait_settled(lab) == []
    green = run_suite(lab)
    assert green.rc == 0, green.output
