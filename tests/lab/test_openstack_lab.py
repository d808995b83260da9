"""The OpenStack layer against the lab's real Keystone, neutron-api, nova-api and
nova-compute, on the seed and the four-host inventory (shared labs from conftest).

Each fault: inject -> the OpenStack scenarios are red on exactly the expected ones ->
`--remediate` (with --allow-destructive where the fix rebuilds a network) -> green -> a
second `--remediate` applies nothing. Only the OpenStack feature's scenarios run (-k), so
that other layers' state cannot blur what this layer decides.

Run: .venv/bin/pytest tests/lab/test_openstack_lab.py -v
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]

K = ("novacompute or neutron_agent or external_network_is_flat or openstack_subnet or "
     "external_gateway_address or router_leaves or floating_ip_is_attached_to_its_instance "
     "or image_and_placement")
NOVA = "test_novacompute_is_enabled_and_up_on_every_compute_host[{}]"
AGENTS = "test_every_expected_neutron_agent_is_alive_and_up[{}]"
EXT = "test_the_external_network_is_flat_and_external_with_the_expected_addresses"
OVERLAP = "test_no_openstack_subnet_overlaps_a_libvirt_nat_range"
GATEWAY = "test_the_external_gateway_address_is_on_the_host_bridge"
FIP = "test_every_expected_floating_ip_is_attached_to_its_instance[{}]"
SERVERS = "test_the_image_and_placement_services_answer_so_servers_can_be_booted"


def _fips(site) -> set[str]:
    return {FIP.format(n) for n, h in site.instances().items() if h.floating_ip is not None}


# fault -> (scenarios expected red given the site and the host acted on, destructive fix?)
FAULTS = {
    "neutron-ovs-agent-stopped": (lambda site, h: {AGENTS.format(h)}, False),
    # the fix is the agent's transport (neutron_agent_transport), not a restart
    "neutron-agent-bus-unreachable": (lambda site, h: {AGENTS.format(h)}, False),
    "nova-instances-path-missing": (lambda site, h: {NOVA.format(h)}, False),
    "nova-instances-path-root-owned": (lambda site, h: {NOVA.format(h)}, False),
    "nova-host-unmapped": (lambda site, h: {NOVA.format(h)}, False),
    "external-gateway-missing": (lambda site, h: {GATEWAY}, False),
    "floating-ip-detached": (lambda site, h: {FIP.format(h)}, False),
    "instance-port-unbound": (lambda site, h: {FIP.format(h)}, False),
    "external-network-overlap": (lambda site, h: {EXT, OVERLAP} | _fips(site), True),
    # server operations fail with the service named; the fix restarts it on the controller
    "glance-down": (lambda site, h: {SERVERS}, False),
    "placement-down": (lambda site, h: {SERVERS}, False),
}


NAMED = {"glance-down": "Glance down: server operations fail",
         "placement-down": "Placement down: server operations fail"}


def suite(run_suite, lab, *args):
    return run_suite(lab, "-k", K, *args)


def test_healthy_lab_is_green(any_lab, run_suite):
    """Every OpenStack scenario passes on a fresh lab, with real services behind them."""
    res = suite(run_suite, any_lab)
    assert res.rc == 0, res.output[-3000:]
    site = any_lab.site
    ran = int(re.search(r"(\d+) passed", res.output).group(1))
    expected = (len(site.with_role("nova_compute"))
                + len([n for n, h in site.hosts.items()
                       if {"ovs_agent", "network_node"} & set(h.roles)])
                + 5 + len(site.instances()))
    assert ran == expected, res.output[-2000:]


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_round_trip(any_lab, run_suite, fault, name):
    lab = any_lab
    expected_red, destructive = FAULTS[name]
    host = fault(lab, name)
    red = suite(run_suite, lab)
    assert red.rc != 0
    assert red.failed() == expected_red(lab.site, host), red.output[-3000:]
    if name in NAMED:                    # the finding names the service that is down
        assert NAMED[name] in red.output, red.output[-3000:]
    extra = ("--allow-destructive",) if destructive else ()
    t0 = time.monotonic()
    fixed = suite(run_suite, lab, "--remediate", *extra)
    took = time.monotonic() - t0
    assert fixed.rc == 0, fixed.output[-3000:]
    done = [ln for ln in fixed.remediations() if ln.startswith("REMEDIATED")]
    assert done, fixed.output[-2000:]
    print(f"{lab.lab_id} {name} on {host}: remediated in {took:.1f} s: {done}")
    again = suite(run_suite, lab, "--remediate")
    assert again.rc == 0, again.output[-3000:]
    assert again.remediations() == [], again.remediations()


def test_rebuild_is_refused_without_allow_destructive(seed_lab, run_suite, fault):
    """The destructive fix: --plan lists every step; --remediate alone refuses, clearly."""
    fault(seed_lab, "external-network-overlap")
    site = seed_lab.site
    ext = site.openstack.external_network
    plan = suite(run_suite, seed_lab, "--remediate", "--plan", "-s", "--log-level=INFO")
    refused = suite(run_suite, seed_lab, "--remediate")
    assert refused.rc != 0
    assert "external_network_rebuild refused: destructive: rerun with --allow-destructive" \
        in refused.output, refused.output[-3000:]
    for step in (f"unset the external gateway of router {site.openstack.router}",
                 "delete subnet", f"delete network {ext.name}",
                 f"create network {ext.name}: flat, router:external",
                 f"create subnet {ext.name}-subnet: {ext.cidr}, gateway {ext.gateway}",
                 f"set the external gateway of router {site.openstack.router} to {ext.name}",
                 "[DESTRUCTIVE]"):
        assert step in plan.output, (step, plan.output[-4000:])
    # nothing was changed: still red the same way
    again = suite(run_suite, seed_lab)
    assert EXT in again.failed()


def test_transport_url_password_never_reaches_the_report(seed_lab, run_suite, fault,
                                                         tmp_path):
    """The compute node's nova.conf (transport_url with the bus password) is read and
    rewritten by the instances_path fix, whose plan shows the file: the allure results must
    carry it masked, never the password."""
    site = seed_lab.site
    host = site.with_role("nova_compute")[-1]
    conf = seed_lab.shell(host).run(["cat", "/etc/nova/nova.conf"]).stdout
    password = re.search(r"transport_url\s*=\s*rabbit://[^:]+:([^@]+)@", conf).group(1)
    fault(seed_lab, "nova-instances-path-root-owned", host)
    results = tmp_path / "allure-results"
    res = suite(run_suite, seed_lab, "--remediate", "--alluredir", str(results))
    assert res.rc == 0, res.output[-3000:]
    files = [p for p in results.rglob("*") if p.is_file()]
    assert files
    leaked = [p.name for p in files if password in p.read_text(errors="replace")]
    assert leaked == []
    masked = [p.name for p in files if "rabbit://nova:***@" in p.read_text(errors="replace")]
    assert masked, "the plan with nova.conf was not attached: the test proves nothing"
    assert password not in res.output


def test_clouds_yaml_is_plain_openstacksdk(any_lab):
    """The lab inventory names a clouds.yaml holding the cloud; openstacksdk alone reaches
    all three services with it."""
    import openstack
    from stackproof.site import load_site
    site = load_site(any_lab.inventory_path)
    assert site.openstack.clouds_yaml and Path(site.openstack.clouds_yaml).is_file()
    os.environ["OS_CLIENT_CONFIG_FILE"] = site.openstack.clouds_yaml
    try:
        conn = openstack.connect(cloud=site.openstack.cloud)
        names = {n.name for n in conn.network.networks()}
        assert {site.openstack.external_network.name, site.openstack.tenant_network.name} <= names
        hosts = {s.host for s in conn.compute.services() if s.binary == "nova-compute"}
        assert hosts == set(site.with_role("nova_compute"))
        conn.close()
    finally:
        del os.environ["OS_CLIENT_CONFIG_FILE"]


def test_nothing_a_host_runs_reads_the_checkout(any_lab):
    """Every init script and wrapper in the OpenStack nodes names the lab's staged programs
    or the OpenStack venv, never the checkout: a host replaces /root with its own, so a
    checkout under /root was out of sight there (stackproof_lab.openstack.programs)."""
    repo = str(Path(__file__).resolve().parents[2])
    site = any_lab.site
    hosts = sorted({*site.with_role("openstack_controller"), *site.with_role("nova_compute"),
                    *site.with_role("ovs_agent")})
    read = 0
    for host in hosts:
        out = any_lab.shell(host).sh(
            "for f in /etc/init.d/* /usr/local/sbin/* /var/lib/neutron/server/*.py; do "
            "[ -f \"$f\" ] && printf '== %s\\n' \"$f\" && cat \"$f\"; done; true").stdout
        read += out.count("== ")
        assert repo not in out, f"{host} runs something from {repo}:\n{out}"
        assert "programs/nova_compute.py" in out or "nova_compute" not in site.hosts[host].roles
    assert read >= 3 * len(hosts)          # the init scripts were there to read
