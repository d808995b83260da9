"""The lab core, for real: namespaces, holders, underlay, SSH, down, crash recovery.

Needs root. Each lab here uses its own state dir (so its lab id, and every namespace name,
differs from a lab an operator brought up with the CLI) and is always taken down by a
finalizer. Run: .venv/bin/pytest tests/lab/test_lab_lifecycle.py -v
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stackproof_lab.lab import Lab, LabError  # noqa: E402
from stackproof_lab.state import LabState, ProcRecord, proc_start_time  # noqa: E402
from stackproof_lab.topology import uplink_address  # noqa: E402
from stackproof.site import load_site  # noqa: E402

SEED = ROOT / "inventories" / "seed.yml"
FOUR = ROOT / "inventories" / "four-host-ebgp.yml"
PY = sys.executable

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")]


def netns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def root_ns_snapshot() -> dict:
    """What the lab must never change in the root namespace (read-only commands)."""
    def j(*args):
        return json.loads(subprocess.run(["ip", "-j", *args], capture_output=True,
                                         text=True, check=True).stdout or "[]")
    return {
        "routes": j("route", "show", "table", "all"),
        "rules": j("rule"),
        "links": sorted((link["ifname"], link.get("address")) for link in j("link")),
        "addrs": sorted((a["ifname"], i["local"], i["prefixlen"])
                        for a in j("addr") for i in a.get("addr_info", [])),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
    }


def ssh(lab: Lab, host: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ssh", "-F", str(lab.ssh_config), host, command],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def root_before():
    return root_ns_snapshot()


@pytest.fixture(scope="module")
def seed_lab(tmp_path_factory, root_before):
    lab = Lab(SEED, tmp_path_factory.mktemp("seed-lab"), daemons=False, log=quiet)
    t = time.monotonic()
    try:
        lab.up()
        lab.bring_up_seconds = time.monotonic() - t
        yield lab
    finally:
        lab.down()


# --- up -------------------------------------------------------------------------------------
def test_seed_bring_up_is_fast(seed_lab):
    print(f"seed lab up in {seed_lab.bring_up_seconds:.2f} s")
    assert seed_lab.bring_up_seconds < 20


def test_status_reports_every_host_alive(seed_lab):
    s = seed_lab.status()
    assert s["up"] is True
    assert set(s["hosts"]) == set(seed_lab.site.hosts)
    assert all(h["alive"] and h["netns_exists"] for h in s["hosts"].values())
    assert all(ns.startswith(seed_lab.prefix) for ns in s["netns"])
    assert set(s["netns"]) <= netns_list()


def test_ssh_hostname_on_every_host(seed_lab):
    for name in seed_lab.site.hosts:
        res = ssh(seed_lab, name, "hostname; cat /etc/hostname")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == [name, name]


def test_ssh_rejects_a_wrong_host_key(seed_lab, tmp_path):
    """StrictHostKeyChecking is real: a known_hosts with another host's key refuses."""
    keys = dict(line.split(" ", 1) for line in seed_lab.known_hosts.read_text().splitlines())
    a, b = list(keys)[:2]
    bad_known = tmp_path / "known_hosts"
    bad_known.write_text(f"{a} {keys[b]}")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(seed_lab.ssh_config.read_text().replace(str(seed_lab.known_hosts),
                                                           str(bad_known)))
    res = subprocess.run(["ssh", "-F", str(cfg), a, "hostname"], capture_output=True,
                         text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert res.returncode == 255
    assert a not in res.stdout


def test_testinfra_paramiko_through_ssh_config(seed_lab):
    """testinfra's stock paramiko backend works through the ProxyCommand (but it never reads
    known_hosts: it accepts any host key with a warning); stackproof.remote, fed the lab
    inventory, verifies host keys and works too."""
    testinfra = pytest.importorskip("testinfra")
    name = next(iter(seed_lab.site.guests()))
    with pytest.warns(UserWarning, match="Unknown ssh-ed25519 host key"):
        host = testinfra.get_host(f"paramiko://root@{name}", ssh_config=str(seed_lab.ssh_config))
        assert host.run("hostname").stdout.strip() == name
    assert host.file("/etc/frr/daemons").exists

    from stackproof.remote import Fleet
    fleet = Fleet(load_site(seed_lab.inventory_path))
    try:
        for n in seed_lab.site.hosts:
            assert fleet[n].run("hostname").stdout.strip() == n
    finally:
        fleet.close()


def test_lab_inventory_points_into_the_lab(seed_lab):
    site = load_site(seed_lab.inventory_path)
    assert set(site.hosts) == set(seed_lab.site.hosts)
    for name, h in site.hosts.items():
        assert h.kernel == "shared" and h.init == "sysv"
        spec = site.ssh_of(name)
        assert spec.verify_host_key
        assert Path(spec.ssh_config) == seed_lab.ssh_config
        assert Path(spec.known_hosts) == seed_lab.known_hosts
        assert Path(spec.identity_file).is_file()


def test_private_etc_frr_per_host(seed_lab, tmp_path):
    inodes = {}
    for name in seed_lab.site.hosts:
        res = ssh(seed_lab, name, "stat -c %i /etc/frr && ls /etc/frr")
        assert res.returncode == 0, res.stderr
        inodes[name] = res.stdout.split()[0]
        assert "daemons" in res.stdout.split()
    assert len(set(inodes.values())) == len(inodes)
    assert str(os.stat("/etc/frr").st_ino) not in inodes.values()
    first, second = list(seed_lab.site.physical_hosts())[:2]
    marker = f"stackproof-test-{os.getpid()}"
    assert ssh(seed_lab, first, f"touch /etc/frr/{marker}").returncode == 0
    assert ssh(seed_lab, second, f"test -e /etc/frr/{marker}").returncode == 1
    assert not Path("/etc/frr", marker).exists()
    assert (seed_lab.shell(first).root / "etc/frr" / marker).exists()


def test_etc_is_copy_on_write(seed_lab):
    """Edits anywhere under /etc stay in the host: `sed -i` (rename over /etc/fstab) works,
    /etc/sysconfig exists in the host but not on the machine."""
    name = next(iter(seed_lab.site.physical_hosts()))
    machine_fstab = Path("/etc/fstab").read_text()
    res = ssh(seed_lab, name, "grep -c ' / ' /etc/fstab; echo '/swap.img none swap sw 0 0' "
                              ">> /etc/fstab; sed -i '/swap/d' /etc/fstab && grep -c swap "
                              "/etc/fstab; test -d /etc/sysconfig && echo sysconfig")
    assert res.stdout.split() == ["1", "0", "sysconfig"], res.stderr
    assert Path("/etc/fstab").read_text() == machine_fstab
    assert not Path("/etc/sysconfig").exists() or Path("/etc/sysconfig").is_dir()


def test_hosts_file_resolves_inventory_names(seed_lab):
    site = seed_lab.site
    name = next(iter(site.guests()))
    res = ssh(seed_lab, name, "getent hosts " + " ".join(site.hosts))
    got = {line.split()[1]: line.split()[0] for line in res.stdout.splitlines()}
    assert got == {n: str(site.address_of(n)) for n in site.hosts}


def test_underlay_ping_between_physical_hosts(seed_lab):
    site = seed_lab.site
    a, b = list(site.physical_hosts())[:2]
    peer = site.hosts[b].underlay
    res = ssh(seed_lab, a, f"ip -j addr show dev {site.hosts[a].underlay.interface}; "
                           f"ping -c1 -W2 {peer.address}")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"1 received" in res.stdout


def test_guest_is_on_its_nat_network(seed_lab):
    site = seed_lab.site
    for name, g in site.guests().items():
        nw = site.nat_network(g.hypervisor, g.network)
        res = ssh(seed_lab, name, f"cat /sys/class/net/{g.interface}/address; "
                                  f"ip -4 -o addr show dev {g.interface}; "
                                  f"ping -c1 -W2 {nw.gateway}")
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.splitlines()[0] == g.mac
        assert f"{g.address}/{nw.cidr.prefixlen}" in res.stdout


def test_uplink_answers_outside_addresses(seed_lab):
    """The internet stand-in: a documentation address (never leaves the lab) answers."""
    site = seed_lab.site
    name = next(iter(site.physical_hosts()))
    res = ssh(seed_lab, name, f"ping -c1 -W2 198.51.100.7 && ping -c1 -W2 {uplink_address(site)}")
    assert res.returncode == 0, res.stdout + res.stderr


def test_root_namespace_untouched_while_up(seed_lab, root_before):
    assert root_ns_snapshot() == root_before


def test_already_up_is_refused(seed_lab):
    with pytest.raises(LabError, match="already up"):
        Lab(SEED, seed_lab.state_dir, daemons=False, log=quiet).up()


# --- two labs at once ------------------------------------------------------------------------
def test_four_host_lab_runs_alongside_seed(seed_lab, tmp_path):
    with Lab(FOUR, tmp_path / "four", daemons=False, log=quiet) as four:
        assert four.lab_id != seed_lab.lab_id
        assert not set(four.status()["netns"]) & set(seed_lab.status()["netns"])
        for name in four.site.hosts:
            assert ssh(four, name, "hostname").stdout.strip() == name
        a, b = list(four.site.physical_hosts())[:2]
        assert ssh(four, a, f"ping -c1 -W2 {four.site.hosts[b].underlay.address}"
                   ).returncode == 0
        four_ns = set(four.status()["netns"])
    assert not four_ns & netns_list()
    assert seed_lab.status()["up"]
    host = next(iter(seed_lab.site.hosts))
    assert ssh(seed_lab, host, "hostname").stdout.strip() == host


# --- down ------------------------------------------------------------------------------------
def test_down_leaves_nothing_and_is_idempotent(tmp_path, root_before):
    lab = Lab(FOUR, tmp_path / "lab", daemons=False, log=quiet)
    try:
        lab.up()
        st = LabState.load(lab.state_dir)
        recorded_ns = set(st.netns)
        recorded = list(st.processes)
        in_hosts = {name: subprocess.run(["ip", "netns", "pids", h.netns], capture_output=True,
                                         text=True).stdout.split()
                    for name, h in st.hosts.items()}
        assert recorded_ns <= netns_list()
        assert all(p.alive() for p in recorded if p.role.startswith("init:"))
    finally:
        lab.down()
    assert not recorded_ns & netns_list()
    assert not [p for p in recorded if p.alive()]
    assert not [pid for pids in in_hosts.values() for pid in pids
                if Path(f"/proc/{pid}").exists() and proc_start_time(int(pid))]
    assert not lab.state_dir.exists()
    lab.down()                                   # again: nothing to do, no error
    Lab(FOUR, tmp_path / "lab", daemons=False, log=quiet).down()
    assert root_ns_snapshot() == root_before


def test_down_never_kills_a_reused_pid():
    victim = subprocess.Popen(["sleep", "30"])
    try:
        start = proc_start_time(victim.pid)
        stale = ProcRecord(pid=victim.pid, start=start + 1, role="init:ghost")
        assert not stale.alive()
        assert stale.kill(signal.SIGKILL) is False
        time.sleep(0.05)
        assert victim.poll() is None
        assert ProcRecord(pid=victim.pid, start=start, role="x").kill(signal.SIGKILL)
        assert victim.wait(timeout=5) == -signal.SIGKILL
    finally:
        victim.kill()
        victim.wait()


# --- crash recovery --------------------------------------------------------------------------
CRASH_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from stackproof_lab.lab import Lab
lab = Lab({inv!r}, {state!r}, daemons=False, log=lambda line: None)
def hook(lab, site):
    print("IN-HOOK", flush=True)
    time.sleep(120)
lab.daemon_hooks.append(hook)
lab.up()
"""


def _crash_and_recover(tmp_path, when) -> None:
    state_dir = tmp_path / "crash"
    script = CRASH_SCRIPT.format(root=str(ROOT), inv=str(SEED), state=str(state_dir))
    proc = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, text=True)
    lab = Lab(SEED, state_dir, daemons=False, log=quiet)
    try:
        when(proc, state_dir)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        st = LabState.load(state_dir)
        assert st.phase == "creating"
        recorded_ns = set(st.netns)
        assert recorded_ns & netns_list(), "the crash should have left namespaces behind"
        holders = [p for p in st.processes if p.role.startswith("holder:")]
        assert any(p.alive() for p in holders), "hosts outlive the crashed process"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        lab.down()                              # a fresh Lab: only the state file to go on
    assert not recorded_ns & netns_list()
    assert not [n for n in netns_list() if n.startswith(lab.prefix)]
    assert not [p for p in st.processes if p.alive()]
    assert not state_dir.exists()


def test_crash_during_daemon_hooks_then_down(tmp_path):
    def in_hook(proc, _state_dir):
        assert proc.stdout.readline().strip() == "IN-HOOK"
    _crash_and_recover(tmp_path, in_hook)


def test_crash_while_hosts_start_then_down(tmp_path):
    def after_two_hosts(_proc, state_dir):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                # hosts are recorded before they start (they start side by side): wait
                # for two started ones, i.e. two recorded holder processes
                st = LabState.load(state_dir)
                if sum(p.role.startswith("holder:") for p in st.processes) >= 2:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        pytest.fail("the lab never recorded two hosts")
    _crash_and_recover(tmp_path, after_two_hosts)


# --- CLI -------------------------------------------------------------------------------------
def cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "stackproof.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=120)


def test_cli_status_of_running_lab(seed_lab):
    res = cli("lab", "status", "--inventory", str(SEED), "--state-dir", str(seed_lab.state_dir))
    assert res.returncode == 0, res.stderr
    assert "up;" in res.stdout.splitlines()[0]
    res = cli("lab", "status", "--state-dir", str(seed_lab.state_dir), "--json")
    assert json.loads(res.stdout)["up"] is True


def test_cli_bad_inventory_is_one_clear_message(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("site: x\nhosts: {a: {kind: physical}}\n")
    res = cli("lab", "up", "--inventory", str(bad))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "hosts.a.underlay: missing" in res.stderr
    res = cli("lab", "status", env={"STACKPROOF_INVENTORY": ""})
    assert res.returncode == 2 and "no inventory" in res.stderr


def test_cli_up_status_down(tmp_path):
    state = str(tmp_path / "cli")
    try:
        res = cli("lab", "up", "--inventory", str(FOUR), "--state-dir", state, "--no-daemons")
        assert res.returncode == 0, res.stderr
        assert "[lab] host rack-a up (pid" in res.stdout
        assert cli("lab", "status", "-i", str(FOUR), "--state-dir", state).returncode == 0
    finally:
        res = cli("lab", "down", "-i", str(FOUR), "--state-dir", state)
    assert res.returncode == 0, res.stderr
    assert cli("lab", "status", "-i", str(FOUR), "--state-dir", state).returncode == 3


# --- fault registry --------------------------------------------------------------------------
def test_fault_registry_inject_heal_records(seed_lab):
    """A registered fault is injected on its default host, recorded in the state, and healed
    by `heal()` with no name (the layer modules of others plug in the same way)."""
    from stackproof_lab import faults
    faults.load_layers()
    marker = "/etc/stackproof-test-fault"
    phys = next(iter(seed_lab.site.physical_hosts()))

    @faults.register
    class TouchMarker:
        name = "test-touch-marker"
        layer = "test"
        description = "a marker file in /etc (test only)"

        def inject(self, lab, site, host):
            lab.shell(host).run(["touch", marker])

        def heal(self, lab, site, host):
            lab.shell(host).run(["rm", "-f", marker])

        def default_host(self, site):
            return next(iter(site.physical_hosts()))

    try:
        assert faults.inject(seed_lab, "test-touch-marker") == phys
        assert ssh(seed_lab, phys, f"test -e {marker}").returncode == 0
        assert not Path(marker).exists()
        assert {"name": "test-touch-marker", "host": phys} in seed_lab.status()["faults"]
        assert faults.heal(seed_lab) == [("test-touch-marker", phys)]
        assert ssh(seed_lab, phys, f"test -e {marker}").returncode == 1
        assert seed_lab.status()["faults"] == []
        with pytest.raises(faults.FaultError, match="unknown fault"):
            faults.inject(seed_lab, "no-such-fault")
        with pytest.raises(faults.FaultError, match="not a host"):
            faults.inject(seed_lab, "test-touch-marker", "no-such-host")
    finally:
        faults.REGISTRY.pop("test-touch-marker", None)
