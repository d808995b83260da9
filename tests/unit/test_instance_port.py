"""An instance's port bound to its compute host, on the lab's real Neutron API bodies:
tests/data/openstack/real-agent (both instance ports bound and ACTIVE) and
tests/data/openstack/instance-port-unbound (the lab fault `instance-port-unbound` injected:
k8s-worker-1's binding:host_id cleared, the port DOWN), captured by
tests/data/ovs/capture_real.py."""
from __future__ import annotations

import json
from pathlib import Path

from remediations import instance_port_bind
from stackproof.checks import openstack as checks
from stackproof.expect import vxlan_tunnels
from stackproof.facts import openstack as f
from stackproof.remedy import Call, Context

DATA = Path(__file__).resolve().parents[1] / "data" / "openstack"


class Cloud(f.OpenStackFacts):
    """API facts from a capture; ports from `ports_case`, the rest from real-agent."""

    def __init__(self, ports_case: str = "real-agent"):
        super().__init__(conn=None)
        self.ports_case = ports_case

    def _fetch(self, name: str) -> dict:
        case = self.ports_case if name == "ports" else "real-agent"
        return json.loads((DATA / case / f"{name}.json").read_text())


def test_bound_ports_pass(seed_site):
    cloud = Cloud()
    for name in seed_site.instances():
        assert checks.instance_port_bound(seed_site, cloud, name) is None


def test_an_unbound_port_is_found_and_bound_by_the_api(seed_site):
    cloud = Cloud("instance-port-unbound")
    finding = checks.instance_port_bound(seed_site, cloud, "k8s-worker-1")
    assert finding.remediation == "instance_port_bind"
    assert "bound to no host, not its compute host compute" in finding.message
    assert checks.instance_port_bound(seed_site, cloud, "k8s-worker-2") is None
    [step] = instance_port_bind.plan(Context(seed_site, {}), finding).steps
    assert isinstance(step, Call)
    assert step.describe().endswith(f"PUT /v2.0/ports/{finding.params['port_id']}: "
                                    f"binding:host_id=compute")


def test_an_unbound_port_takes_its_host_out_of_the_l2pop_tunnels(seed_site):
    """The port is DOWN: an l2_population agent on compute2 would have no tunnel to compute."""
    hbn = Cloud("instance-port-unbound").hosts_by_network()
    assert list(hbn.values()) == [{"compute2"}]
    site = seed_site.model_copy(update={"overlay": seed_site.overlay.model_copy(
        update={"l2_population": ["compute2"]})})
    assert vxlan_tunnels(site, "compute2", hbn) == []
    assert [t.peer for t in vxlan_tunnels(site, "compute2", Cloud().hosts_by_network())] \
        == ["compute"]
