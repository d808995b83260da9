"""Firewall faults round-trip on the real lab (seed and four-host): real libvirt chains,
real iptables, SSH into the lab. Inject from the fault catalog -> red on exactly the
expected underlay scenarios -> --remediate -> green -> a second run applies nothing."""
from __future__ import annotations

import re

import pytest

from stackproof.expect import remote_compute_hypervisors

pytestmark = pytest.mark.lab
UNDERLAY = ("-m", "underlay")


def expected_red(site, name: str, host: str) -> set[str]:
    others = [h for h in site.physical_hosts() if h != host]
    # on a compute NAT host the report's `FORWARD -d <nat> -j ACCEPT` (kept ahead of
    # libvirt's jump) still lets the other hosts in: only the missing rule itself shows
    still_open = host in remote_compute_hypervisors(site)
    return {
        # elsewhere libvirt rejects what the other hosts send to this host's guests
        "libvirt-fwi-accept-missing":
            {f"test_libvirts_chains_let_the_underlay_reach_each_nat_network_and_back[{host}]"}
            | (set() if still_open else
               {f"test_physical_hosts_reach_each_others_nat_networks[{o}]" for o in others}),
        # libvirt's own `-s <nat> -i <bridge> -j ACCEPT` still lets replies out: only the
        # rule itself is missing
        "libvirt-fwo-accept-missing":
            {f"test_libvirts_chains_let_the_underlay_reach_each_nat_network_and_back[{host}]"},
        "vxlan-input-missing": {f"test_vxlan_between_overlay_nodes_is_accepted[{host}]"},
        "iptables-not-saved": {f"test_the_firewall_rules_survive_a_reboot[{host}]"},
    }[name]


@pytest.mark.parametrize("name", ["libvirt-fwi-accept-missing", "libvirt-fwo-accept-missing",
                                  "vxlan-input-missing", "iptables-not-saved"])
def test_firewall_fault_round_trips(any_lab, run_suite, fault, name):
    host = fault(any_lab, name)
    red = run_suite(any_lab, *UNDERLAY)
    assert red.rc == 1, red.output
    assert red.failed() == expected_red(any_lab.site, name, host), red.output

    green = run_suite(any_lab, *UNDERLAY, "--remediate")
    assert green.rc == 0, green.output
    assert any(re.match(rf"REMEDIATED\s+iptables_\w+\s+{re.escape(host)}\b", line)
               for line in green.remediations()), green.output

    again = run_suite(any_lab, *UNDERLAY, "--remediate")
    assert again.rc == 0 and again.remediations() == [], again.output


def test_the_fix_puts_the_accept_ahead_of_libvirts_reject_exactly_once(seed_lab, run_suite,
                                                                        fault):
    host = fault(seed_lab, "libvirt-fwi-accept-missing")
    assert run_suite(seed_lab, *UNDERLAY, "--remediate").rc == 0
    save = seed_lab.shell(host).run(["iptables-save", "-t", "filter"]).stdout
    fwi = [ln for ln in save.splitlines() if ln.startswith("-A LIBVIRT_FWI ")]
    accepts = [i for i, ln in enumerate(fwi) if ln.endswith("-j ACCEPT") and " -s " in ln]
    reject = next(i for i, ln in enumerate(fwi) if " -j REJECT" in ln)
    assert accepts and max(accepts) < reject
    assert len(set(fwi[i] for i in accepts)) == len(accepts)     # no duplicates
