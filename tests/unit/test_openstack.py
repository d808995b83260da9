"""OpenStack layer: parsers and checks on API responses captured from the lab's real
Keystone/Neutron/Nova (tests/data/openstack, see capture.py there), and the remediation
plans."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackproof.checks import openstack as checks
from stackproof.facts import openstack as f
from stackproof.remedy import Call, Context, Plan, Run, WriteFile
from stackproof.remote import CommandResult
from stackproof.site import load_site

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "openstack"
SITE = load_site(ROOT / "inventories" / "seed.yml")
INSTANCES = [n for n, h in SITE.instances().items() if h.floating_ip is not None]


class CapturedCloud(f.OpenStackFacts):
    """OpenStackFacts whose raw responses come from a capture directory."""

    def __init__(self, case: str):
        super().__init__(conn=None)
        self.case = DATA / case

    def _fetch(self, name: str) -> dict:
        self.calls += 1
        return json.loads((self.case / f"{name}.json").read_text())


class CapturedNode:
    """A Remote answering the two SSH facts from the capture (stat, nova.conf)."""

    def __init__(self, case: str, name: str | None = None):
        d = DATA / case
        self.stat = json.loads((d / "stat-instances-path").read_text())
        self.name = name or self.stat["host"]
        self.conf = (d / "nova.conf").read_text()
        self.commands: list[str] = []

    def fact(self, key, compute):
        return compute()

    def run(self, command: str) -> CommandResult:
        self.commands.append(command)
        if command.startswith("cat /etc/nova/nova.conf"):
            return CommandResult(command, 0, self.conf, "")
        if command.startswith("stat "):
            return CommandResult(command, self.stat["rc"], self.stat["stdout"], "")
        raise AssertionError(f"unexpected command {command}")


def all_findings(cloud, node_case="healthy"):
    out = {}
    for host in SITE.with_role("nova_compute"):
        node = CapturedNode(node_case, host)
        out[f"nova {host}"] = checks.nova_compute_up(SITE, cloud, node)
        out[f"mapped {host}"] = checks.host_mapped(SITE, cloud, host)
    for host in [n for n, h in SITE.hosts.items() if {"ovs_agent", "network_node"} & set(h.roles)]:
        out[f"agents {host}"] = checks.agents_alive(SITE, cloud, host)
    out["external"] = checks.external_network(SITE, cloud)
    out["overlap"] = checks.no_nat_overlap(SITE, cloud)
    out["router"] = checks.router_gateway(SITE, cloud)
    for name in INSTANCES:
        out[f"fip {name}"] = checks.floating_ip_attached(SITE, cloud, name)
    return {k: v for k, v in out.items() if v is not None}


def test_parsers_read_every_collection():
    cloud = CapturedCloud("healthy")
    services = cloud.compute_services()
    assert {s.host for s in services if s.binary == "nova-compute"} == \
        set(SITE.with_role("nova_compute"))
    assert all(s.state == "up" and s.status == "enabled" for s in services
               if s.binary == "nova-compute")
    assert {a.binary for a in cloud.agents() if a.host == "controller"} == {
        "neutron-openvswitch-agent", "neutron-dhcp-agent", "neutron-l3-agent",
        "neutron-metadata-agent"}
    ext = cloud.network(SITE.openstack.external_network.name)
    assert ext.external and ext.network_type == "flat" and ext.physical_network == "physnet1"
    (sub,) = cloud.subnets_of(ext.id)
    assert (sub.cidr, sub.gateway_ip, sub.allocation_pools) == (
        "192.168.200.0/24", "192.168.200.1", (("192.168.200.10", "192.168.200.200"),))
    assert cloud.router(SITE.openstack.router).external_network_id == ext.id
    assert {x.address for x in cloud.floating_ips()} == {"192.168.200.106", "192.168.200.129"}
    ports = {p.name: p for p in cloud.ports() if p.device_owner == "compute:nova"}
    assert ports["k8s-worker-2"].binding_host == "compute2"


def test_each_collection_is_fetched_once_until_invalidated():
    cloud = CapturedCloud("healthy")
    all_findings(cloud)
    assert cloud.calls == len(f.COLLECTIONS)
    cloud.invalidate()
    cloud.networks()
    assert cloud.calls == len(f.COLLECTIONS) + 1


def test_healthy_capture_has_no_finding():
    assert all_findings(CapturedCloud("healthy")) == {}


def test_dead_ovs_agent():
    found = all_findings(CapturedCloud("ovs-agent-stopped"))
    assert list(found) == ["agents compute2"]
    (fd,) = found.values()
    assert fd.remediation == "neutron_agent_restart"
    assert fd.params == {"binary": "neutron-openvswitch-agent"}
    assert "is dead" in fd.message


@pytest.mark.parametrize("case, problem", [
    ("instances-path-missing", "does not exist"),
    ("instances-path-root-owned", "owned by root:root, not nova:nova")])
def test_nova_compute_down_names_the_instances_path(case, problem):
    cloud = CapturedCloud(case)
    found = all_findings(cloud, node_case=case)
    assert list(found) == ["nova compute2"], found
    fd = found["nova compute2"]
    assert fd.remediation == "nova_instances_path"
    assert problem in fd.message and "is down" in fd.message
    assert fd.params["path"] == SITE.openstack.instances_path


def test_compute_down_with_a_good_path_asks_for_a_restart():
    cloud = CapturedCloud("instances-path-missing")
    fd = checks.nova_compute_up(SITE, cloud, CapturedNode("healthy", "compute2"))
    assert fd.remediation == "nova_compute_restart"


def test_unmapped_host():
    found = all_findings(CapturedCloud("host-unmapped"))
    assert list(found) == ["mapped compute2"]
    assert found["mapped compute2"].remediation == "nova_discover_hosts"
    assert found["mapped compute2"].params == {"controller": "controller"}


def test_overlapping_external_network():
    found = all_findings(CapturedCloud("external-network-overlap"))
    assert set(found) == {"external", "overlap", *(f"fip {n}" for n in INSTANCES)}
    assert found["external"].remediation == "external_network_rebuild"
    assert "192.168.100.0/24" in found["overlap"].message
    assert "libvirt network default" in found["overlap"].message
    assert all(found[f"fip {n}"].params["exists"] is False for n in INSTANCES)


def test_detached_floating_ip():
    found = all_findings(CapturedCloud("floating-ip-detached"))
    assert list(found) == [f"fip {INSTANCES[0]}"]
    fd = found[f"fip {INSTANCES[0]}"]
    assert fd.remediation == "floating_ip_attach" and "is not attached" in fd.message
    assert fd.params["fixed_ip"] == str(SITE.instances()[INSTANCES[0]].address)


# --- remediation plans ---------------------------------------------------------------------
def test_set_default_option_keeps_everything_else():
    from remediations.nova_instances_path import set_default_option
    text = (DATA / "healthy" / "nova.conf").read_text()
    out = set_default_option(text, "instances_path", "/srv/x")
    assert "instances_path = /srv/x" in out
    assert out.count("instances_path") == 1
    assert "transport_url = rabbit://nova:***@" in out
    added = set_default_option("[DEFAULT]\ndebug = true\n[api]\nx = 1\n", "instances_path", "/p")
    assert added == "[DEFAULT]\ninstances_path = /p\ndebug = true\n[api]\nx = 1\n"
    assert set_default_option("", "k", "v") == "[DEFAULT]\nk = v\n\n"


def _ctx(cloud, site=SITE):
    class Fleet(dict):
        def __missing__(self, key):
            self[key] = CapturedNode("instances-path-root-owned", key)
            return self[key]
    return Context(site, Fleet(), {"openstack": object(), "openstack_facts": cloud})


def test_instances_path_plan():
    import remediations.nova_instances_path as m
    cloud = CapturedCloud("instances-path-root-owned")
    fd = checks.nova_compute_up(SITE, cloud, CapturedNode("instances-path-root-owned"))
    plan = m.plan(_ctx(cloud), fd)
    kinds = [type(s) for s in plan.steps]
    assert kinds == [Run, WriteFile, Run]
    assert plan.steps[0].command == ("mkdir -p /var/lib/nova/instances && chown nova:nova "
                                     "/var/lib/nova/instances && chmod 755 "
                                     "/var/lib/nova/instances")
    assert plan.steps[2].command == "systemctl restart openstack-nova-compute"   # rhel site


def test_rebuild_plan_lists_every_step_and_is_destructive():
    import remediations.external_network_rebuild as m
    cloud = CapturedCloud("external-network-overlap")
    plan: Plan = m.plan(_ctx(cloud), checks.external_network(SITE, cloud))
    assert plan.destructive and m.DESTRUCTIVE
    assert all(isinstance(s, Call) for s in plan.steps)
    text = plan.render()
    expected = ["unset the external gateway of router router1",
                "delete subnet ext-net-new-subnet (192.168.100.0/24)",
                "delete network ext-net-new",
                "create network ext-net-new: flat, router:external, physical network physnet1",
                "create subnet ext-net-new-subnet: 192.168.200.0/24, gateway 192.168.200.1, "
                "pool 192.168.200.10-192.168.200.200, no DHCP",
                "set the external gateway of router router1 to ext-net-new"]
    pos = [text.index(e) for e in expected]
    assert pos == sorted(pos), text
    assert "[DESTRUCTIVE]" in text


def test_rebuild_refuses_to_drop_floating_ips_the_inventory_does_not_own():
    import remediations.external_network_rebuild as m
    from stackproof.remedy import Finding
    cloud = CapturedCloud("healthy")             # the instances' FIPs on the external network
    ext = SITE.openstack.external_network
    on_ext = {x.address for x in cloud.floating_ips()
              if x.network_id == cloud.network(ext.name).id}
    assert on_ext and on_ext <= m.inventory_fips(SITE)
    finding = Finding("external_network_rebuild", "openstack", "x", {})
    plan = m.plan(_ctx(cloud), finding)
    assert not plan.blocked and any("delete floating IP" in s.describe() for s in plan.steps)
    # the same cloud, seen by an inventory that owns one of those addresses less
    dropped = INSTANCES[0]
    hosts = dict(SITE.hosts)
    hosts[dropped] = hosts[dropped].model_copy(update={"floating_ip": None})
    owned = SITE.model_copy(update={"hosts": hosts})
    blocked = m.plan(_ctx(cloud, owned), finding)
    gone = str(SITE.hosts[dropped].floating_ip)
    assert blocked.steps == () and gone in blocked.blocked and "not in the inventory" in \
        blocked.blocked


def test_tenant_overlap_is_not_rebuilt_automatically():
    import remediations.external_network_rebuild as m
    from stackproof.remedy import Finding
    plan = m.plan(_ctx(CapturedCloud("healthy")),
                  Finding("external_network_rebuild", "openstack", "x", {"which": "tenant"}))
    assert plan.blocked and plan.steps == ()


def test_discover_hosts_runs_on_the_controller():
    import remediations.nova_discover_hosts as m
    cloud = CapturedCloud("host-unmapped")
    plan = m.plan(_ctx(cloud), checks.host_mapped(SITE, cloud, "compute2"))
    (step,) = plan.steps
    assert (step.host, step.command) == ("controller",
                                         "nova-manage cell_v2 discover_hosts --verbose")
