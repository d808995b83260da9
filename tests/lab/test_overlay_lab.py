"""The overlay layer against the lab: real Open vSwitch (ovsdb-server + ovs-vswitchd
--enable-dummy=system) in every ovs_agent host, the agent ini and the agent's bridges, SSH
into the lab. On the seed and the four-host eBGP labs (shared session fixtures):

    each overlay fault -> the overlay scenarios fail on exactly the expected scenarios of
    exactly the faulted host -> `--remediate` -> green -> a second `--remediate` applies
    nothing.

Run: .venv/bin/pytest tests/lab/test_overlay_lab.py -v   (root; ~2-3 min with both labs)
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pytest_bdd.scenario import make_python_name

from stackproof.lab import ovs as labovs
from stackproof.lab import ovs_real
from stackproof.render.ovs import ovs_layout

ROOT = Path(__file__).resolve().parents[2]
FEATURE = ROOT / "features" / "60_overlay.feature"

pytestmark = [pytest.mark.lab]

TITLES = re.findall(r"^\s*Scenario:\s*(.+?)\s*$", FEATURE.read_text(), re.M)
TESTS = [f"test_{make_python_name(t)}" for t in TITLES]
# short names for the feature's scenarios, in the feature's order
INI, L2POP, BRIDGE, ERRORS, MESH = TESTS
SELECT = ["-k", " or ".join(TESTS)]

# fault -> (scenarios red on the faulted host, remediations applied)
CASES = {
    "ovs-br-tun-missing": ({BRIDGE, ERRORS, MESH}, ["ovs_patch_ports", "ovs_vxlan_ports"]),
    "ovs-patch-port-missing": ({BRIDGE, ERRORS}, ["ovs_patch_ports"]),
    "ovs-vxlan-port-missing": ({MESH}, ["ovs_vxlan_ports"]),
    "ovs-ini-no-tunnel-types": ({INI}, ["ovs_agent_ini"]),
    # the agent exits on a local_ip the host lacks: its tunnels keep the right one
    "ovs-ini-wrong-local-ip": ({INI}, ["ovs_agent_ini"]),
}


def applied(run) -> list[str]:
    """(status, remediation id, host) of each line of the remediation summary."""
    return [tuple(line.split()[:3]) for line in run.remediations() if line.strip()]


def test_every_ovs_agent_host_has_the_agents_layout(any_lab):
    site = any_lab.site
    hosts = labovs.ovs_hosts(site)
    assert hosts
    for host in hosts:
        shell = any_lab.shell(host)
        assert labovs.layout_built(shell, site, host)
        assert labovs.agent_running(shell)
        # a restart leaves exactly one agent (its old process group is gone)
        labovs.agent_service(shell, "restart")
        agents = [ln for ln in shell.run(["ps", "-eo", "args"]).stdout.splitlines()
                  if labovs.AGENT_BIN in ln]
        assert len(agents) == 1, agents
        show = shell.run(["ovs-vsctl", "show"]).stdout
        assert "error:" not in show
        assert show.count("type: vxlan") == len(ovs_layout(site, host).tunnels)
        use = labovs.usage(shell, host)
        assert set(use.rss_kib) >= {"ovsdb-server", "ovs-vswitchd", "agent"}
        print(f"{any_lab.lab_id} {host}: RSS " + ", ".join(
            f"{k} {v / 1024:.1f} MiB" for k, v in use.rss_kib.items())
            + f" (total {use.total_rss_mib:.1f} MiB); CPU so far "
            + ", ".join(f"{k} {v:.2f} s" for k, v in use.cpu_seconds.items()))


def test_overlay_green_on_a_fresh_lab(any_lab, run_suite):
    run = run_suite(any_lab, *SELECT)
    assert run.rc == 0, run.output
    assert not run.failed() and not applied(run)
    hosts = labovs.ovs_hosts(any_lab.site)
    assert f"{len(hosts) * 4 + len(any_lab.site.overlay.l2_population)} passed" in run.output


@pytest.mark.parametrize("name", list(CASES))
def test_fault_round_trips(any_lab, run_suite, fault, name):
    red, fixes = CASES[name]
    host = fault(any_lab, name)
    t = time.monotonic()

    run = run_suite(any_lab, *SELECT)
    assert run.failed() == {f"{s}[{host}]" for s in red}, run.output

    run = run_suite(any_lab, *SELECT, "--remediate")
    assert run.rc == 0, run.output
    assert applied(run) == [("REMEDIATED", fix, host) for fix in fixes], run.output

    run = run_suite(any_lab, *SELECT, "--remediate")
    assert run.rc == 0 and not applied(run), run.output
    print(f"{name} on {host}: red -> remediated -> clean in {time.monotonic() - t:.1f} s")


# --- the real neutron-openvswitch-agent (opt-in in the lab: STACKPROOF_LAB_OVS_AGENT=real) ---
@pytest.fixture(scope="module")
def real_agent_lab(tmp_path_factory):
    gaps = ovs_real.missing()
    if gaps:
        pytest.skip("the real OVS agent needs: " + "; ".join(gaps))
    from stackproof.lab.daemons.frr import frr_converge_hook, frr_hook
    from stackproof.lab.lab import Lab
    mp = pytest.MonkeyPatch()
    mp.setenv(ovs_real.ENV, "real")
    # FRR for the routes between NAT networks (compute2 reaches the bus on the controller)
    lab = Lab(ROOT / "inventories" / "seed.yml", tmp_path_factory.mktemp("real-ovs") / "state",
              daemons=False)
    lab.daemon_hooks = [frr_hook]
    lab.guest_hooks = [frr_converge_hook, labovs.ovs_hook]
    try:
        t = time.monotonic()
        lab.up()
        print(f"lab with real agents up in {time.monotonic() - t:.1f} s")
        yield lab
    finally:
        mp.undo()
        lab.down()


def test_the_real_agent_builds_the_layout_the_suite_expects(real_agent_lab, run_suite, fault):
    """The real agent (RabbitMQ + neutron-rpc-server in the network node) builds br-int,
    br-tun, the patch ports and, on nodes without l2_population, the full VXLAN mesh with
    the options the suite expects. An l2_population agent makes tunnels only for networks
    with ports on both ends (Neutron's fdb path): the report's controller, with router and
    DHCP ports, had them; this lab has no ports, so the controller's mesh is red."""
    lab, site = real_agent_lab, real_agent_lab.site
    for host in labovs.ovs_hosts(site):
        log = lab.shell(host).run(["cat", labovs.AGENT_LOG]).stdout
        assert "neutron.plugins.ml2.drivers.openvswitch.agent" in log     # the real one
    run = run_suite(lab, *SELECT)
    l2pop = set(site.overlay.l2_population)
    assert run.failed() == {f"{MESH}[{h}]" for h in l2pop & set(labovs.ovs_hosts(site))}, \
        run.output
    # a fault fixed by the suite while the real agent runs; the agent keeps it fixed
    host = next(h for h in reversed(labovs.ovs_hosts(site)) if h not in l2pop)
    fault(lab, "ovs-br-tun-missing", host)
    run = run_suite(lab, *SELECT, "--remediate")
    assert ("REMEDIATED", "ovs_patch_ports", host) in applied(run), run.output
    assert f"{MESH}[{host}]" not in run.failed(), run.output
