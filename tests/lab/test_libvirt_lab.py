"""libvirt faults round-trip on the real lab: inject, red on exactly the expected scenarios
(the underlay features), --remediate, green, and a second run that applies nothing."""
from __future__ import annotations

import pytest

from stackproof.expect import bgp_hosts
from stackproof_lab.faults.libvirt import _new_compute_host

pytestmark = pytest.mark.lab
UNDERLAY = ("-m", "underlay")


def expected_red(site, fault: str, host: str) -> set[str]:
    # a live `virsh net-update` or `net-start` re-applies libvirt's own firewall rules ahead
    # of the operator's accepts (seen on libvirt 9): the firewall scenario goes red too
    libvirt_reordered = f"test_libvirts_chains_let_the_underlay_reach_each_nat_network_and_back[{host}]"
    if fault == "dhcp-reservation-missing":
        return {f"test_every_guest_keeps_its_address[{host}]", libvirt_reordered}
    # the network is down: its prefix leaves BGP, its gateway and guests go dark, and
    # libvirt's restart will put its REJECTs ahead of the operator's accepts
    others = [h for h in bgp_hosts(site) if h != host]
    guests = [g for g, gh in site.guests().items() if gh.hypervisor == host]
    return ({f"test_the_nat_networks_are_up[{host}]"}
            | {f"test_the_other_hosts_networks_are_learned_over_bgp[{o}]" for o in others}
            | {f"test_physical_hosts_reach_each_others_nat_networks[{o}]" for o in others}
            | {f"test_guests_have_their_way_out_through_the_nat[{g}]" for g in guests})


@pytest.mark.parametrize("name", ["dhcp-reservation-missing", "nat-network-inactive"])
def test_libvirt_fault_round_trips(any_lab, run_suite, fault, name):
    host = fault(any_lab, name)
    assert host == _new_compute_host(any_lab.site)
    red = run_suite(any_lab, *UNDERLAY)
    assert red.rc == 1, red.output
    assert red.failed() == expected_red(any_lab.site, name, host), red.output

    green = run_suite(any_lab, *UNDERLAY, "--remediate")
    assert green.rc == 0, green.output
    assert any(line.startswith("REMEDIATED") and "libvirt_" in line
               for line in green.remediations()), green.output

    again = run_suite(any_lab, *UNDERLAY, "--remediate")
    assert again.rc == 0 and again.remediations() == [], again.output
