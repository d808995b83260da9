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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pytest_bdd.scenario import make_python_name

from stackproof_lab.daemons import ovs as labovs
from stackproof_lab.daemons import ovs_real
from stackproof.expect import ovs_layout

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


def agent_processes(shell) -> list[str]:
    """The agent's processes: the real one sets its title to its name, the stand-in runs
    as AGENT_BIN."""
    return [ln for ln in shell.run(["ps", "-eo", "args"]).stdout.splitlines()
            if ln.startswith(f"{labovs.AGENT_SERVICE} (") or labovs.AGENT_BIN in ln]


def test_every_ovs_agent_host_has_the_agents_layout(any_lab):
    """The real neutron-openvswitch-agent (the lab's default) on every overlay host: its
    log is Neutron's, a restart leaves exactly one agent, and a host without l2_population
    has the full mesh (the l2_population host's tunnels follow the port bindings: the
    acceptance run's overlay scenario checks them against the API)."""
    site = any_lab.site
    hosts = labovs.ovs_hosts(site)
    assert hosts
    for host in hosts:
        shell = any_lab.shell(host)
        assert labovs.agent_running(shell)
        log = shell.run(["cat", labovs.AGENT_LOG]).stdout
        assert "neutron.plugins.ml2.drivers.openvswitch.agent" in log      # the real one
    with ThreadPoolExecutor(len(hosts)) as pool:       # the hosts' agents restart together
        list(pool.map(lambda h: labovs.restart_synced(any_lab.shell(h)), hosts))
    for host in hosts:
        shell = any_lab.shell(host)
        agents = agent_processes(shell)
        assert len(agents) == 1, agents
        show = shell.run(["ovs-vsctl", "show"]).stdout
        assert "error:" not in show
        if host not in site.overlay.l2_population:
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


# --- the stand-in agent (STACKPROOF_LAB_OVS_AGENT=standin: tests that need speed) ---------
@pytest.fixture(scope="module")
def standin_lab(tmp_path_factory):
    from stackproof_lab.lab import Lab
    mp = pytest.MonkeyPatch()
    mp.setenv(ovs_real.ENV, ovs_real.STANDIN)
    lab = Lab(ROOT / "inventories" / "seed.yml", tmp_path_factory.mktemp("standin-ovs") /
              "state", daemons=False)
    lab.guest_hooks = [labovs.ovs_hook]
    try:
        lab.up()
        yield lab
    finally:
        mp.undo()
        lab.down()


def test_the_standin_builds_the_full_layout_at_once(standin_lab):
    site = standin_lab.site
    for host in labovs.ovs_hosts(site):
        shell = standin_lab.shell(host)
        assert labovs.layout_built(shell, site, host)
        assert [ln for ln in agent_processes(shell) if labovs.AGENT_BIN in ln]
