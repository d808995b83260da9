"""The chaos draw (stackproof_lab.chaos): reproducible from a seed, and within its rules."""
from __future__ import annotations

from pathlib import Path

import pytest

from stackproof_lab import chaos, faults
from stackproof.site import load_site

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = [ROOT / "inventories" / "seed.yml", ROOT / "inventories" / "four-host-ebgp.yml"]


@pytest.fixture(params=INVENTORIES, ids=lambda p: p.stem)
def site(request):
    return load_site(request.param)


def test_a_seed_draws_the_same_round_again(site):
    seeds = chaos.round_seeds(7, 20)
    assert seeds == chaos.round_seeds(7, 20) and len(set(seeds)) == 20
    assert [chaos.draw(site, s) for s in seeds] == [chaos.draw(site, s) for s in seeds]
    assert len({tuple(chaos.draw(site, s)) for s in seeds}) > 15      # rounds differ


def test_every_draw_keeps_the_rules(site):
    for seed in chaos.round_seeds(3, 300):
        drawn = chaos.draw(site, seed)
        assert chaos.MIN_FAULTS <= len(drawn) <= chaos.MAX_FAULTS, drawn
        assert len({d.layer for d in drawn}) == len(drawn), drawn
        hosts = [d.host for d in drawn if d.host is not None]
        assert len(set(hosts)) == len(hosts), drawn
        assert not any(chaos.in_conflict(a.name, b.name)
                       for a in drawn for b in drawn if a != b), drawn
        assert all(faults.get(d.name).chaos for d in drawn), drawn


def test_engine_faults_and_faults_without_a_target_are_never_drawn(site):
    names = {d.name for d in chaos.candidates(site)}
    assert "remote-command-hangs" not in names and "service-start-fails" not in names
    # a BGP host without the hypervisor role: neither inventory has one
    assert "ip-forward-runtime-only" not in names
    assert {"bgpd-off", "libvirt-fwi-accept-missing", "ovs-br-tun-missing"} <= names


def test_the_external_network_rebuild_never_meets_a_floating_ip_fault(site):
    assert chaos.in_conflict("dvr-fip-not-on-br-ex", "external-network-overlap")
    assert faults.get("external-network-overlap").destructive_fix
    drawn = [chaos.draw(site, s) for s in chaos.round_seeds(5, 300)]
    with_rebuild = [d for d in drawn if any(x.name == "external-network-overlap" for x in d)]
    assert with_rebuild
    assert not any(x.layer == "dvr" or x.name == "fip-route-not-persisted"
                   for d in with_rebuild for x in d)


def test_a_round_can_name_its_faults_instead_of_drawing_them(site):
    named = chaos.named(site, ["bgpd-off", "external-network-overlap"])
    assert [(d.name, d.layer) for d in named] == [("bgpd-off", "bgp"),
                                                  ("external-network-overlap", "openstack")]
    assert named[0].host in site.hosts and named[1].host is None
    with pytest.raises(ValueError, match="no-such-fault"):
        chaos.named(site, ["bgpd-off", "no-such-fault"])
