"""BGP layer: FRR parsers, checks and remediation plans on real FRR 8.4 captures of the
seed site's BGP hosts (tests/data/bgp, see its README and capture.sh)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from remediations import bgp_session, frr_config, frr_enable_bgpd, frr_running, static_route
from stackproof.checks import bgp as checks
from stackproof.facts import frr as facts
from stackproof.facts.routes import parse_kernel_routes
from stackproof.finding import Cause
from stackproof.remedy import Context, Finding, Run, WriteFile, write_file_commands, write_names
from stackproof.remote import CommandResult
from stackproof.render.frr import render_frr_conf, set_bgpd
from stackproof.site import parse_site
from fakes import ReplayCache, stage_locally  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp"
A, B, C = "openstack-host", "kubernetes-host", "compute-2-host"


class Captured(ReplayCache):
    """A Remote that answers the fact commands with what the real host printed
    (`<case>/<host>/<name>`, mapped through the capture's COMMANDS file). Any other command
    fails the test: a check must not ask what the facts module does not define."""

    def __init__(self, case: str, name: str):
        self.name, self.dir = name, DATA / case / name
        assert self.dir.is_dir(), f"no capture {self.dir}"
        self.commands_run = 0
        self._facts: dict = {}
        self._by_command = {}
        for line in (self.dir / "COMMANDS").read_text().splitlines():
            file, _, command = line.partition(": ")
            self._by_command[command] = file

    def output(self, file: str) -> CommandResult:
        p = self.dir / file
        rc = self.dir / f"{file}.rc"
        err = self.dir / f"{file}.stderr"
        return CommandResult(file, int(rc.read_text()) if rc.exists() else 0, p.read_text(),
                             err.read_text() if err.exists() else "")

    def put_file(self, path: str, content: str, mode: int = 0o600) -> None:
        self.uploaded = (path, content)      # reload_diff's intended config, over SFTP

    def run(self, command: str) -> CommandResult:
        self.commands_run += 1
        if command.startswith("t=/tmp/stackproof-frr-"):   # reload_diff: --test of a temp file
            assert "--test" in command
            if "--input /etc/frr/frr.conf" in command:  # against the file, not the daemons
                return self.output("frr-reload-test-input")
            return self.output("frr-reload-test")
        assert command in self._by_command, f"unexpected command on {self.name}: {command}"
        return self.output(self._by_command[command])



def fleet(case: str, *names: str):
    remotes = {n: Captured(case, n) for n in names}
    return remotes, remotes.__getitem__


def text(case: str, host: str, name: str) -> str:
    return (DATA / case / host / name).read_text()


class Fleet:
    def __init__(self, remotes):
        self.remotes = remotes

    def __getitem__(self, name):
        return self.remotes[name]


def ctx(site, *remotes: Captured) -> Context:
    return Context(site, Fleet({r.name: r for r in remotes}))


@pytest.fixture
def lab_site(seed_raw):
    """The seed site as the lab writes it: Debian hosts without systemd."""
    seed_raw["os_family"], seed_raw["init"] = "debian", "sysv"
    return parse_site(seed_raw)


# --- parsers -------------------------------------------------------------------------------
def test_daemons_file_and_the_bgpd_transform():
    on = facts.parse_daemons(0, text("healthy", C, "daemons"))
    off = facts.parse_daemons(0, text("bgpd-off", C, "daemons"))
    assert on.exists and on.bgpd is True
    assert off.bgpd is False
    fixed = set_bgpd(off.text, True)
    assert facts.bgpd_enabled(fixed) is True
    changed = [(a, b) for a, b in zip(off.text.splitlines(), fixed.splitlines()) if a != b]
    assert changed == [("bgpd=no", "bgpd=yes")]          # every other line untouched
    assert facts.parse_daemons(1, "").exists is False


def test_processes_from_pid_files():
    healthy = facts.parse_processes(text("healthy", A, "processes"))
    assert healthy.missing() == []
    assert {p.name for p in healthy.processes} == {"watchfrr", "zebra", "bgpd", "staticd"}
    off = facts.parse_processes(text("bgpd-off", C, "processes"))
    assert off.missing() == ["bgpd"] and off.alive("watchfrr")
    stopped = facts.parse_processes(text("frr-stopped", C, "processes"))
    assert stopped.processes == () and stopped.missing() == ["watchfrr", "zebra", "bgpd"]


def test_processes_carry_the_daemons_age():
    just = facts.parse_processes(text("bgpd-restarted", C, "processes"))
    assert just.uptime("bgpd") is not None and just.uptime("bgpd") < checks.BGPD_STARTING
    old = facts.parse_processes(text("healthy", A, "processes"))
    off = facts.parse_processes(text("bgpd-off", C, "processes"))
    assert off.uptime("bgpd") is None                  # not running: no age
    assert facts.parse_processes("bgpd 248 bgpd S\n").uptime("bgpd") is None   # 4 columns
    assert old.uptime("zebra") is not None


def test_sessions_down_right_after_bgpd_started_are_its_symptoms(seed_site):
    """Captured right after `frrinit.sh restart` on compute-2-host: its sessions Idle, the
    peer's session to it Active. Both name the FRR scenario of compute-2-host as their
    cause (the engine re-verifies them once that was fixed, instead of resetting them)."""
    remotes, peers = fleet("bgpd-restarted", C, A, B)
    here = checks.neighbors_established(seed_site, remotes[C], peers)
    assert here.remediation == "bgp_session" and here.caused_by == Cause("bgp.frr-running", C)
    assert "bgpd here started" in here.message and "still coming up" in here.message
    there = checks.neighbors_established(seed_site, remotes[A], peers)
    assert there.remediation == "bgp_session" and there.caused_by == Cause("bgp.frr-running", C)
    assert "bgpd on compute-2-host started" in there.message


def test_a_session_down_long_after_bgpd_started_has_no_start_cause(seed_site):
    f = checks.neighbors_established(seed_site, Captured("bgpd-off", A))
    assert f.caused_by is None and "started" not in f.message


def test_a_zombie_or_reused_pid_is_not_a_running_daemon():
    bgpd = facts.parse_processes(text("healthy", A, "processes"))
    real = next(p for p in bgpd.processes if p.name == "bgpd")
    assert real.alive
    assert not facts.FrrProcess("bgpd", real.pid, "bgpd", "Z").alive
    assert not facts.FrrProcess("bgpd", real.pid, "sleep", "S").alive
    assert not facts.FrrProcess("bgpd", None, "-", "-").alive


def test_neighbors_established():
    got = facts.parse_neighbors(0, text("healthy", A, "show-bgp-neighbors.json"))
    assert got.answered
    assert {a: (n.state, n.remote_as) for a, n in got.peers.items()} == {
        "10.10.10.2": ("Established", 65000), "10.10.10.3": ("Established", 65000)}
    assert got.peers["10.10.10.2"].hostname == B
    assert got.peers["10.10.10.2"].update_source == "enp7s0"


def test_neighbor_after_a_wrong_remote_as_says_bad_peer_as():
    peer_side = facts.parse_neighbors(0, text("wrong-remote-as", B, "show-bgp-neighbors.json"))
    n = peer_side.peers["10.10.10.1"]
    assert n.state == "Idle"
    assert n.last_notification == "OPEN Message Error/Bad Peer AS"
    assert n.error_code == "0202"
    assert "OPEN Message Error/Bad Peer AS" in n.why()
    wrong_side = facts.parse_neighbors(0, text("wrong-remote-as", A, "show-bgp-neighbors.json"))
    assert wrong_side.peers["10.10.10.2"].remote_as == 65099
    assert wrong_side.peers["10.10.10.2"].state != "Established"


def test_neighbor_of_a_host_whose_bgpd_stopped_is_active():
    got = facts.parse_neighbors(0, text("bgpd-off", A, "show-bgp-neighbors.json"))
    n = got.peers["10.10.10.3"]
    assert n.state == "Active" and n.last_reset == "Peer closed the session"
    assert n.up_ms is None and got.peers["10.10.10.2"].up_ms is not None


def test_vtysh_without_bgpd_or_without_any_daemon():
    d = DATA / "bgpd-off" / C
    got = facts.parse_neighbors(int((d / "show-bgp-neighbors.json.rc").read_text()),
                                (d / "show-bgp-neighbors.json").read_text(),
                                (d / "show-bgp-neighbors.json.stderr").read_text())
    assert not got.answered and got.error == "bgpd is not running"
    d = DATA / "frr-stopped" / C
    run = facts.parse_running_config(int((d / "show-running-config.rc").read_text()),
                                     (d / "show-running-config").read_text(),
                                     (d / "show-running-config.stderr").read_text())
    assert not run.answered and "failed to connect to any daemons" in run.error


def test_kernel_routes_bgp_and_a_static_route_without_protocol():
    healthy = parse_kernel_routes(text("healthy", A, "ip-route.json"))
    bgp = {r.dst: r for r in healthy if r.protocol == "bgp"}
    assert bgp["172.20.112.0/24"].gateways == ("10.10.10.2",)
    assert bgp["45.120.120.0/24"].gateways == ("10.10.10.3",)
    shadowed = parse_kernel_routes(text("static-shadow", A, "ip-route.json"))
    route = next(r for r in shadowed if r.dst == "172.20.112.0/24")
    assert route.protocol == "boot"          # `ip -j` leaves out the default protocol
    assert route.gateways == ("10.10.10.2",) and route.metric is None


def test_zebra_bgp_routes():
    rib = facts.parse_bgp_rib(0, text("healthy", A, "show-ip-route-bgp.json"))
    entry = rib["172.20.112.0/24"][0]
    assert entry.selected and entry.installed and entry.distance == 200
    assert entry.nexthops == ("10.10.10.2",)
    assert facts.parse_bgp_rib(1, "") == {}


def test_running_config_equals_the_rendered_config(seed_site):
    for host in (A, B, C):
        running = text("healthy", host, "show-running-config")
        assert facts.config_paths(running) == facts.config_paths(render_frr_conf(seed_site,
                                                                                 host))
        assert facts.config_paths(text("healthy", host, "frr.conf")) == \
            facts.config_paths(running)


def test_config_paths_keep_the_context():
    paths = facts.config_paths(text("healthy", A, "show-running-config"))
    assert ("router bgp 65000", "address-family ipv4 unicast",
            "neighbor 10.10.10.2 next-hop-self") in paths
    assert ("router bgp 65000", "neighbor 10.10.10.2 update-source enp7s0") in paths
    assert not any(p[-1] in ("exit", "exit-address-family", "end", "!") for p in paths)
    assert not any(p[0].startswith("frr version") for p in paths)


def test_frr_reload_test_output():
    assert facts.parse_reload_test(0, text("healthy", A, "frr-reload-test")).empty
    drift = facts.parse_reload_test(0, text("drift", A, "frr-reload-test"))
    assert drift.to_delete == ()
    assert ("router bgp 65000", " address-family ipv4 unicast", "  redistribute connected") \
        in drift.to_add
    assert ("router bgp 65000", " address-family ipv4 unicast",
            "  neighbor 10.10.10.2 next-hop-self") in drift.to_add
    wrong = facts.parse_reload_test(0, text("wrong-remote-as", A, "frr-reload-test"))
    assert wrong.to_delete == (("router bgp 65000", " no neighbor 10.10.10.2 remote-as 65099"),)
    assert wrong.to_add == (("router bgp 65000", " neighbor 10.10.10.2 remote-as 65000"),)
    d = DATA / "frr-stopped" / C
    failed = facts.parse_reload_test(int((d / "frr-reload-test.rc").read_text()), "",
                                     (d / "frr-reload-test.stderr").read_text())
    assert not failed.available and not failed.empty


# --- checks --------------------------------------------------------------------------------
@pytest.mark.parametrize("host", [A, B, C])
def test_a_healthy_host_passes_every_check(seed_site, host):
    remotes, peers = fleet("healthy", A, B, C)
    r = remotes[host]
    assert checks.bgpd_enabled(seed_site, r) is None
    assert checks.frr_running(seed_site, r) is None
    assert checks.config_file_matches(seed_site, r) is None
    assert checks.running_config_matches(seed_site, r) is None
    assert checks.neighbors_established(seed_site, r, peers) is None
    assert checks.prefixes_learned(seed_site, r, peers) is None
    assert checks.no_static_shadow(seed_site, r) is None
    # one query per fact: the checks above share daemons, processes, neighbors, routes;
    # frr-reload.py --test referees the file (--input) and the running config
    assert r.commands_run == 8
    assert all(x.commands_run == 0 for n, x in remotes.items() if n != host)


def test_bgpd_off_is_reported_on_the_host_itself(seed_site):
    r = Captured("bgpd-off", C)
    f = checks.bgpd_enabled(seed_site, r)
    assert f.remediation == "frr_enable_bgpd" and "bgpd=no" in f.message
    for check in (checks.frr_running, checks.running_config_matches,
                  checks.neighbors_established):
        assert check(seed_site, r).remediation == "frr_enable_bgpd"


def test_a_peer_with_bgpd_off_is_the_cause_named_on_its_neighbors(seed_site):
    remotes, peers = fleet("bgpd-off", A, C)
    f = checks.neighbors_established(seed_site, remotes[A], peers)
    assert f.host == A and f.remediation == "frr_enable_bgpd" and f.params["on"] == C
    assert "neighbor 10.10.10.3 (compute-2-host) is Active, not Established " \
           "(last reset: Peer closed the session)" in f.message
    assert "cause on compute-2-host" in f.message and "bgpd=no" in f.message
    learned = checks.prefixes_learned(seed_site, Captured("bgpd-off", A), peers)
    assert learned.remediation == "frr_enable_bgpd" and learned.params["on"] == C
    assert "45.120.120.0/24 from compute-2-host" in learned.message


def test_without_the_peers_a_down_session_gets_a_reset(seed_site):
    f = checks.neighbors_established(seed_site, Captured("bgpd-off", A))
    assert f.remediation == "bgp_session"
    assert f.params == {"peers": ["10.10.10.3"], "idle": [], "mode": "reset"}   # Active: wait
    remotes, _ = fleet("wrong-remote-as", A, B)
    # B's side alone looks fine, and its Idle session (after Bad Peer AS) gets a reset
    idle = checks.neighbors_established(seed_site, remotes[B])
    assert idle.remediation == "bgp_session" and idle.params["idle"] == ["10.10.10.1"]


def test_wrong_remote_as_on_the_host(seed_site):
    f = checks.neighbors_established(seed_site, Captured("wrong-remote-as", A))
    assert f.remediation == "frr_config" and "on" not in f.params
    assert "remote-as 65099, the inventory says 65000" in f.message


def test_wrong_remote_as_seen_from_the_peer_says_bad_peer_as(seed_site):
    remotes, peers = fleet("wrong-remote-as", A, B)
    f = checks.neighbors_established(seed_site, remotes[B], peers)
    assert f.host == B and f.remediation == "frr_config" and f.params["on"] == A
    assert "10.10.10.1 (openstack-host) is Idle" in f.message
    assert "OPEN Message Error/Bad Peer AS" in f.message
    assert "`router bgp 65000 > neighbor 10.10.10.2 remote-as 65000`" in f.message


def test_running_config_drift_names_the_missing_lines_and_carries_a_diff(seed_site):
    f = checks.running_config_matches(seed_site, Captured("drift", A))
    assert f.remediation == "frr_config"
    assert f.facts["missing"] == [
        "router bgp 65000 > address-family ipv4 unicast > neighbor 10.10.10.2 next-hop-self",
        "router bgp 65000 > address-family ipv4 unicast > redistribute connected"]
    assert f.facts["extra"] == [] and f.facts["stale"] == []
    assert f.facts["decided by"] == "frr-reload.py --test"
    assert "-  redistribute connected" in f.facts["diff"]
    assert "frr-reload.py --test" in f.facts["diff"] and "Lines To Add" in f.facts["diff"]
    assert checks.config_file_matches(seed_site, Captured("drift", A)) is None


def test_removed_neighbor(seed_site):
    f = checks.neighbors_established(seed_site, Captured("neighbor-removed", A))
    assert f.remediation == "frr_config"
    assert "neighbor 10.10.10.2 (kubernetes-host) is not configured" in f.message
    remotes, peers = fleet("neighbor-removed", A, B)
    seen_from_b = checks.neighbors_established(seed_site, remotes[B], peers)
    assert seen_from_b.params["on"] == A
    assert "neighbor 10.10.10.1 (openstack-host) is Active, not Established (last " \
           "notification: Cease/Peer De-configured (code/subcode 0603)" in seen_from_b.message


def test_static_route_shadowing_a_bgp_prefix(seed_site):
    r = Captured("static-shadow", A)
    f = checks.no_static_shadow(seed_site, r)
    assert f.remediation == "static_route"
    assert f.params == {"routes": [{"dst": "172.20.112.0/24", "gateways": ["10.10.10.2"],
                                    "dev": "enp7s0", "protocol": "boot", "metric": None}]}
    assert "from kubernetes-host" in f.message
    learned = checks.prefixes_learned(seed_site, r)
    assert learned.remediation == "static_route" and learned.params == f.params
    assert "172.20.112.0/24 from kubernetes-host is not a BGP route via 10.10.10.2" in \
        learned.message


def test_a_network_down_on_its_host_is_not_a_bgp_problem(seed_site):
    remotes, peers = fleet("network-down", A, B)
    f = checks.prefixes_learned(seed_site, remotes[B], peers)
    assert f.remediation == "bgp_session"
    assert f.params["blocked"].startswith(
        "openstack-host has no address in 192.168.200.0/24 (external network ext-net-new: "
        "its gateway 192.168.200.1 belongs on virbr10)")
    plan = bgp_session.plan(ctx(seed_site, remotes[B]), f)
    assert plan.blocked == f.params["blocked"] and plan.steps == ()
    # without the peers: the sessions are up and the config is intended, so the routes are
    # waited for (a young session) or asked for again (route refresh)
    alone = checks.prefixes_learned(seed_site, Captured("network-down", B))
    up = facts.parse_neighbors(0, text("network-down", B, "show-bgp-neighbors.json")) \
        .peers["10.10.10.1"].up_ms
    assert alone.params == {"peers": ["10.10.10.1"],
                            "mode": "wait" if up < checks.SETTLE_MS else "soft"}
    assert "192.168.200.0/24 from openstack-host is not a BGP route via 10.10.10.1; the " \
           "kernel has no route; not received over BGP: 192.168.200.0/24" == alone.message


def test_frr_stopped(seed_site):
    r = Captured("frr-stopped", C)
    f = checks.frr_running(seed_site, r)
    assert f.remediation == "frr_running" and f.params == {"watchfrr": False}
    assert "watchfrr, zebra, bgpd not running" in f.message


# --- remediation plans ---------------------------------------------------------------------
def test_enable_bgpd_plan(lab_site):
    r = Captured("bgpd-off", C)
    plan = frr_enable_bgpd.plan(ctx(lab_site, r), checks.bgpd_enabled(lab_site, r))
    write, restart = plan.steps
    assert isinstance(write, WriteFile) and write.path == "/etc/frr/daemons"
    assert write.content == set_bgpd(text("bgpd-off", C, "daemons"), True)
    assert write.validate == "sh -n {path}"
    assert isinstance(restart, Run) and restart.command == "service frr restart"


def test_enabled_daemons_file_passes_its_validation(tmp_path):
    target = tmp_path / "daemons"
    target.write_text(text("bgpd-off", C, "daemons"))
    step = WriteFile("h", str(target), set_bgpd(target.read_text(), True), "why",
                     validate="sh -n {path}")
    names, stage, commit = stage_locally(step, tmp_path / "backups")
    assert subprocess.run(["sh", "-c", f"{stage} && {commit}"]).returncode == 0
    assert facts.bgpd_enabled(target.read_text()) is True
    assert open(names.backup).read() == text("bgpd-off", C, "daemons")


def test_plans_on_systemd_hosts(seed_site):
    r = Captured("bgpd-off", C)
    plan = frr_enable_bgpd.plan(ctx(seed_site, r), checks.bgpd_enabled(seed_site, r))
    assert plan.steps[1].command == "systemctl restart frr"
    stopped = Captured("frr-stopped", C)
    start = frr_running.plan(ctx(seed_site, stopped), checks.frr_running(seed_site, stopped))
    assert start.steps[0].command == "systemctl enable --now frr"


def test_running_plan_starts_or_restarts(lab_site):
    stopped = Captured("frr-stopped", C)
    plan = frr_running.plan(ctx(lab_site, stopped), checks.frr_running(lab_site, stopped))
    assert [s.command for s in plan.steps] == ["service frr start"]
    half = Captured("bgpd-off", C)     # watchfrr up, bgpd not: a second start would not help
    finding = Finding("frr_running", C, "bgpd not running", {"watchfrr": True})
    plan = frr_running.plan(ctx(lab_site, half), finding)
    assert [s.command for s in plan.steps] == ["service frr restart"]


def test_config_plan_writes_validates_and_reloads(lab_site, tmp_path):
    r = Captured("drift", A)
    plan = frr_config.plan(ctx(lab_site, r), checks.running_config_matches(lab_site, r))
    assert not plan.destructive
    write, running, load = plan.steps
    # the file held no drift: merging leaves it as it is
    assert write.path == "/etc/frr/frr.conf" and write.content == text("drift", A, "frr.conf")
    assert (write.owner, write.mode, write.validate) == ("frr:frr", "0640",
                                                         "vtysh -C -f {path}")
    # the running config with the two missing lines back, loaded by frr-reload.py
    assert running.path == frr_config.RELOAD_INPUT and running.validate == frr_config.VALIDATE
    assert "  redistribute connected" in running.content.splitlines()
    assert "  neighbor 10.10.10.2 next-hop-self" in running.content.splitlines()
    assert f"( {frr_config.reload_command(frr_config.RELOAD_INPUT)} ) || service frr restart" \
        in load.command
    assert load.command.count(f"--reload {frr_config.RELOAD_INPUT}") == 1
    # without frr-reload.py (no frr-pythontools) the restart still applies the file, and
    # frr.conf is what the plan wrote even when the reload saved the running config over it
    conf = tmp_path / "frr.conf"
    conf.write_text("merged\n")
    fake = load.command.replace(" ".join(facts.RELOAD_SCRIPTS), "/nonexistent/frr-reload.py") \
        .replace("service frr restart", f"echo restarted; echo written > {conf}") \
        .replace(frr_config.RELOAD_INPUT, str(tmp_path / "input")) \
        .replace("/etc/frr/frr.conf", str(conf))
    res = subprocess.run(["sh", "-c", fake], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "restarted", res.stderr
    assert conf.read_text() == "merged\n" and not (tmp_path / "frr.conf.stackproof-keep").exists()
    stage, _ = write_file_commands(write, write_names(write.path, "x", 1))
    assert "vtysh -C -f /etc/frr/frr.conf.stackproof-x-1.new || { rm -f " in stage


def test_config_plan_for_a_peer_and_without_bgpd(lab_site):
    remotes, peers = fleet("wrong-remote-as", A, B)
    finding = checks.neighbors_established(lab_site, remotes[B], peers)
    plan = frr_config.plan(ctx(lab_site, remotes[A], remotes[B]), finding)
    assert plan.hosts == {A}                                   # the fix goes to the peer
    # the wrong remote-as of the running config, back to the inventory's in the reload input
    assert " neighbor 10.10.10.2 remote-as 65000" in plan.steps[1].content.splitlines()
    assert " neighbor 10.10.10.2 remote-as 65099" not in plan.steps[1].content.splitlines()
    down = Captured("bgpd-off", C)
    plan = frr_config.plan(ctx(lab_site, down),
                           Finding("frr_config", C, "x", {}))
    assert plan.steps[1].command == "service frr restart"


@pytest.mark.skipif(shutil.which("vtysh") is None, reason="vtysh (frr) is not installed")
def test_vtysh_dry_run_accepts_the_rendered_config_and_refuses_a_typo(tmp_path, seed_site,
                                                                      four_site):
    for site in (seed_site, four_site):
        for host in (h for h in site.hosts if site.hosts[h].kind == "physical"):
            target = tmp_path / f"{host}.conf"
            step = WriteFile(host, str(target), render_frr_conf(site, host), "why",
                             validate=frr_config.VALIDATE)
            _, stage, _ = stage_locally(step, tmp_path / "backups")
            assert subprocess.run(["sh", "-c", stage], capture_output=True).returncode == 0
    bad = WriteFile("h", str(tmp_path / "bad.conf"), (DATA / "validate" / "bad.conf").read_text(),
                    "why", validate=frr_config.VALIDATE)
    _, stage, _ = stage_locally(bad, tmp_path / "backups")
    assert subprocess.run(["sh", "-c", stage], capture_output=True).returncode == 3
    captured = DATA / "validate" / A
    assert (captured / "vtysh-C-bad.rc").read_text().strip() == "2"
    assert "Unknown command" in (captured / "vtysh-C-bad.stderr").read_text()
    assert not (captured / "vtysh-C-intended.rc").exists()


def test_static_route_plan_deletes_exactly_the_route_seen(lab_site):
    r = Captured("static-shadow", A)
    plan = static_route.plan(ctx(lab_site, r), checks.no_static_shadow(lab_site, r))
    delete, persist = plan.steps
    assert delete.command == ("ip route del 172.20.112.0/24 via 10.10.10.2 dev enp7s0 "
                              "proto boot table main")
    assert delete.ok_rc == (0, 2)                 # already gone: nothing to do
    assert "/etc/network/interfaces" in persist.command


def test_static_route_delete_quotes_every_value():
    cmd = static_route.delete_command({"dst": "10.0.0.0/8", "gateways": ["1.2.3.4"],
                                       "dev": "x; reboot", "protocol": "boot", "metric": 5})
    assert cmd == "ip route del 10.0.0.0/8 via 1.2.3.4 dev 'x; reboot' proto boot metric 5 " \
        "table main"
    ecmp = static_route.delete_command({"dst": "10.0.0.0/8", "gateways": ["1.2.3.4", "1.2.3.5"],
                                        "dev": None, "protocol": "static", "metric": None})
    assert "via" not in ecmp


@pytest.mark.parametrize("family,name,lines,kept", [
    ("rhel", "route-enp7s0",
     ["172.20.112.0/24 via 10.10.10.2 dev enp7s0", "192.168.100.0/24 via 10.10.10.1",
      "# 172.20.112.0/24 via 10.10.10.2"],
     ["192.168.100.0/24 via 10.10.10.1", "# 172.20.112.0/24 via 10.10.10.2"]),
    ("debian", "interfaces",
     ["iface enp7s0 inet static", "    up ip route add 172.20.112.0/24 via 10.10.10.2",
      "    up ip route add 172.20.112.0/25 via 10.10.10.2"],
     ["iface enp7s0 inet static", "    up ip route add 172.20.112.0/25 via 10.10.10.2"]),
])
def test_persistent_route_lines_are_removed_once(tmp_path, family, name, lines, kept):
    f = tmp_path / name
    f.write_text("\n".join(lines) + "\n")
    files = static_route.ROUTE_FILES[family].replace("/etc/sysconfig/network-scripts",
                                                     str(tmp_path)) \
        .replace("/etc/network", str(tmp_path))
    backups = tmp_path.parent / f"{tmp_path.name}-backups"
    cmd = static_route.persistent_command(files, "172.20.112.0/24", "10.10.10.2", "x",
                                          str(backups))
    first = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    assert first.returncode == 0 and "removed the route" in first.stdout
    assert f.read_text().splitlines() == kept
    backup = backups / str(f).lstrip("/")
    assert backup.read_text().splitlines() == lines
    again = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""          # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing left where boot reads
    f.write_text("\n".join(lines) + "\n")                          # a second removal, same run
    subprocess.run(["sh", "-c", cmd], check=True, capture_output=True)
    assert backup.read_text().splitlines() == lines                # the first backup kept
    assert backup.with_name(backup.name + ".2").read_text().splitlines() == lines


def test_session_plan_resets_idle_and_connecting_sessions(lab_site):
    plan = bgp_session.plan(ctx(lab_site), Finding(
        "bgp_session", A, "x", {"peers": ["10.10.10.2", "10.10.10.3"], "idle": ["10.10.10.3"],
                                "mode": "reset"}))
    assert [s.command for s in plan.steps] == ["vtysh -c 'clear bgp 10.10.10.3'",
                                               "vtysh -c 'clear bgp 10.10.10.2'"]
    assert "reset 10.10.10.2" in plan.summary and "wait for it" in plan.summary
    waiting = bgp_session.plan(ctx(lab_site), Finding(
        "bgp_session", A, "x", {"peers": ["10.10.10.2"], "idle": [], "mode": "reset"}))
    # Connect/Active may sit on FRR's 120 s connect-retry timer (an MD5 neighbor re-added)
    assert [s.command for s in waiting.steps] == ["vtysh -c 'clear bgp 10.10.10.2'"]
    assert not waiting.blocked
    soft = bgp_session.plan(ctx(lab_site), Finding(
        "bgp_session", A, "x", {"peers": ["10.10.10.2"], "mode": "soft"}))
    assert soft.steps[0].command == "vtysh -c 'clear bgp ipv4 unicast 10.10.10.2 soft in'"


def test_reload_commands_find_the_script_and_quote_the_file():
    cmd = frr_config.reload_command("/etc/frr/my frr.conf")
    assert cmd.endswith("\"$R\" --reload '/etc/frr/my frr.conf'")
    assert all(p in cmd for p in facts.RELOAD_SCRIPTS)
    res = subprocess.run(["sh", "-c", facts.find_reload_script().replace(
        " ".join(facts.RELOAD_SCRIPTS), "/nonexistent/frr-reload.py") + "; echo found"],
        capture_output=True, text=True)
    assert res.returncode == 127 and "install frr-pythontools" in res.stderr


def test_every_bgp_remediation_gives_bgp_time():
    for module in (frr_enable_bgpd, frr_running, frr_config, bgp_session):
        assert module.VERIFY_TIMEOUT >= 20          # restart + Established + routes: ~3 s
        assert module.DESTRUCTIVE is False


# --- cause links (stackproof.finding.Cause): the check id and host that explain a finding --
def test_bgpd_off_here_makes_the_other_bgp_checks_its_symptoms(seed_site):
    from stackproof.finding import Cause
    r = Captured("bgpd-off", C)
    assert checks.bgpd_enabled(seed_site, r).caused_by is None          # the root cause
    for check in (checks.running_config_matches, checks.neighbors_established):
        assert check(seed_site, r).caused_by == Cause("bgp.frr-running", C)


def test_a_peers_bgpd_off_is_the_cause_of_its_neighbors_findings(seed_site):
    from stackproof.finding import Cause
    remotes, peers = fleet("bgpd-off", A, C)
    assert checks.neighbors_established(seed_site, remotes[A], peers).caused_by == \
        Cause("bgp.frr-running", C)
    learned = checks.prefixes_learned(seed_site, Captured("bgpd-off", A), peers)
    assert learned.caused_by == Cause("bgp.frr-running", C)


def test_local_drift_causes_the_sessions_finding_and_the_routes_follow_it(seed_site):
    from stackproof.finding import Cause
    remotes, peers = fleet("wrong-remote-as", A, B)
    seen_from_b = checks.neighbors_established(seed_site, remotes[B], peers)
    assert seen_from_b.caused_by == Cause("bgp.config-matches", A)


def test_a_network_down_on_its_host_is_caused_by_libvirt(seed_site):
    from stackproof.finding import Cause
    remotes, peers = fleet("network-down", A, B)
    f = checks.prefixes_learned(seed_site, remotes[B], peers)
    assert f.caused_by == Cause("libvirt.networks-active", A)


def test_a_symptom_carrying_its_causes_own_fix_says_so(seed_site):
    """The engine records the cause as fixed too when such a symptom is remediated (root
    causes first); a symptom with a fix of its own (or none) does not claim the cause."""
    from stackproof.fixed_causes import fixed_at_root
    remotes, peers = fleet("bgpd-off", A, C)
    on_peer = checks.neighbors_established(seed_site, remotes[A], peers)
    assert on_peer.params["on"] == C and on_peer.caused_by.fix == on_peer.remediation
    assert fixed_at_root(on_peer)
    here = checks.running_config_matches(seed_site, Captured("bgpd-off", C))
    assert fixed_at_root(here)
    remotes, peers = fleet("network-down", A, B)
    blocked = checks.prefixes_learned(seed_site, remotes[B], peers)
    assert blocked.caused_by.fix is None and not fixed_at_root(blocked)
