"""Firewall layer: the iptables-save parser, the checks and the remediation plans, on real
captures (tests/data/firewall, see its README), plus one run against real iptables in a
scratch network namespace (root only)."""
from __future__ import annotations

import os
import re
import secrets
import select
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from remediations import _iptables as iptables_edit
from remediations import iptables_rules as rules_fix
from remediations import iptables_save as save_fix
from stackproof.checks import firewall as checks
from stackproof.expect import IptablesRule
from stackproof.facts import firewall as facts
from stackproof.facts import firewall as facts_fw
from stackproof.facts.firewall import parse_iptables_save, render_iptables_save
from stackproof.render import firewall as render_fw
from stackproof.remedy import Context, Finding, Remedy, Run, WriteFile
from stackproof.remote import CommandResult
from stackproof.site import parse_site
from stackproof.targets import select_hosts
from fakes import ReplayCache  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "firewall"


def capture(name: str) -> str:
    return (DATA / name).read_text()


def parsed(name: str) -> facts.Ruleset:
    stderr = DATA / name.replace(".txt", ".stderr.txt")
    return parse_iptables_save(capture(name), "iptables-save",
                               stderr.read_text() if stderr.exists() else "")


def save_lines(text: str) -> dict[str, list[str]]:
    """The `-A` lines of each table, straight from the capture text."""
    out, table = {}, None
    for line in text.splitlines():
        if line.startswith("*"):
            table = out.setdefault(line[1:], [])
        elif line.startswith("-A "):
            table.append(line)
    return out


class FakeRemote(ReplayCache):
    """A host whose `iptables-save`, rules file and save tools are canned captures."""

    def __init__(self, name, live="guest.empty.txt", saved=None, tools=""):
        self.name, self.live, self.saved, self.tools = name, live, saved, tools
        self.commands: list[str] = []
        self._facts: dict = {}

    def run(self, command: str) -> CommandResult:
        self.commands.append(command)
        if command == "iptables-save":
            err = DATA / self.live.replace(".txt", ".stderr.txt")
            return CommandResult(command, 0, capture(self.live),
                                 err.read_text() if err.exists() else "")
        if command == iptables_edit.PROBE:
            return CommandResult(command, 0, self.tools, "")
        if command.startswith("[ -e "):
            if self.saved is None:
                return CommandResult(command, facts.MISSING_RC, "", "")
            return CommandResult(command, 0, capture(self.saved), "")
        raise AssertionError(f"unexpected command {command!r}")



def ctx_for(site, *remotes) -> Context:
    return Context(site, {r.name: r for r in remotes})


# --- parser --------------------------------------------------------------------------------
CAPTURES = sorted(p.name for p in DATA.glob("*.txt") if not p.name.endswith(".stderr.txt"))


@pytest.mark.parametrize("name", CAPTURES)
def test_parser_keeps_every_rule_in_order_and_spelling(name):
    text = capture(name)
    rules = parsed(name)
    assert not rules.unparsed
    want = {t: [re.sub(r"^\[\d+:\d+\] ", "", ln) for ln in lines]
            for t, lines in save_lines(re.sub(r"(?m)^\[\d+:\d+\] ", "", text)).items()}
    got = {}
    for tname, table in rules.tables.items():
        got[tname] = [ln for c in table.chains.values() for ln in c.listing()]
    # iptables-save groups rules by chain in chain order: the listing reproduces the lines
    assert {t: sorted(v) for t, v in got.items()} == {t: sorted(v) for t, v in want.items()}
    for tname, table in rules.tables.items():
        for chain in table.chains.values():
            assert [r.position for r in chain.rules] == list(range(1, len(chain.rules) + 1))
            in_file = [ln for ln in want[tname] if ln.startswith(f"-A {chain.name} ")]
            assert chain.listing() == in_file


def test_parser_reads_libvirt_chains_and_policies():
    rules = parsed("compute-2-host.libvirt.txt")
    assert list(rules.tables) == ["mangle", "filter", "nat"]
    filt = rules.tables["filter"]
    assert list(filt.chains) == ["INPUT", "FORWARD", "OUTPUT", "LIBVIRT_FWI", "LIBVIRT_FWO",
                                 "LIBVIRT_FWX", "LIBVIRT_INP", "LIBVIRT_OUT"]
    assert filt.chains["FORWARD"].policy == "ACCEPT" and filt.chains["FORWARD"].builtin
    assert filt.chains["LIBVIRT_FWI"].policy is None
    fwi = filt.chains["LIBVIRT_FWI"].rules
    assert [r.target for r in fwi] == ["ACCEPT", "REJECT"]
    assert fwi[1].spec == "-o virbr10 -j REJECT --reject-with icmp-port-unreachable"
    assert [r.target for r in filt.chains["FORWARD"].rules] == \
        ["LIBVIRT_FWX", "LIBVIRT_FWI", "LIBVIRT_FWO"]


def test_counters_do_not_change_the_rules():
    plain = parsed("compute-2-host.report.txt")
    counted = parsed("compute-2-host.report-counters.txt")
    assert counted.tables == plain.tables


def test_an_empty_ruleset_still_has_builtin_chains():
    rules = parsed("guest.empty.txt")
    assert rules.tables == {}
    assert rules.chain("filter", "INPUT").rules == ()
    assert rules.chain("nat", "POSTROUTING").policy == "ACCEPT"
    assert rules.chain("filter", "LIBVIRT_FWI") is None     # only libvirt makes that one


def test_legacy_warning_is_kept():
    rules = parsed("guest.legacy-warning.txt")
    assert rules.warnings == ("Warning: iptables-legacy tables present, use "
                              "iptables-legacy-save to see them",)
    assert not rules.has("filter", "INPUT", "-p udp -m udp --dport 4789 -j ACCEPT")


def test_first_blocking_rule_follows_jumps_into_rejecting_chains():
    rules = parsed("compute-2-host.libvirt.txt")
    # LIBVIRT_FWX only accepts; LIBVIRT_FWI ends in REJECT, so the jump to it can reject
    assert rules.first_blocking("filter", "FORWARD").spec == "-j LIBVIRT_FWI"
    assert rules.first_blocking("filter", "LIBVIRT_FWI").position == 2
    assert rules.first_blocking("filter", "INPUT") is None      # LIBVIRT_INP only accepts
    guest = parsed("guest.rhel-appended.txt")
    assert guest.first_blocking("filter", "INPUT").spec == \
        "-j REJECT --reject-with icmp-host-prohibited"


@pytest.mark.parametrize("name", ["compute-2-host.report.txt", "guest.rhel-appended.txt"])
def test_render_round_trips(name):
    rules = parsed(name)
    again = parse_iptables_save(render_iptables_save(rules))
    assert again.tables == rules.tables


# --- which rule is checked where -----------------------------------------------------------
@pytest.mark.parametrize("which", ["seed_site", "four_site"])
def test_every_expected_rule_belongs_to_one_scenario_family(which, request):
    site = request.getfixturevalue(which)
    for host in site.hosts:
        for rule in checks.expected_rules(site, host):
            fam = checks.family_of(site, rule)
            assert fam in checks.FAMILIES
            if fam == "forward":
                assert (rule.table, rule.chain) in {("filter", "FORWARD"), ("nat", "POSTROUTING")}
            if fam == "vxlan":
                assert str(site.overlay.udp_port) in rule.spec


def test_firewall_selector_is_every_host_with_rules(seed_site):
    hosts = select_hosts(seed_site, "firewall")
    assert hosts == ["openstack-host", "kubernetes-host", "compute-2-host", "controller",
                     "compute", "compute2"]
    assert "master" not in hosts and "k8s-worker-1" not in hosts


# --- checks on real captures ---------------------------------------------------------------
ALL_CHECKS = {"libvirt": checks.libvirt_chains_accept, "forward": checks.forward_and_masquerade,
              "vxlan": checks.vxlan_accepted, "saved": checks.rules_saved}


def _result(site, host, live, family, saved=None):
    return ALL_CHECKS[family](site, FakeRemote(host, live, saved if saved else live))


@pytest.mark.parametrize("host,live", [("openstack-host", "openstack-host.report.txt"),
                                       ("compute2", "guest.report.txt")])
def test_the_reports_rules_pass(seed_site, host, live):
    for family in ALL_CHECKS:
        assert _result(seed_site, host, live, family) is None, family


def test_fresh_libvirt_host_misses_every_rule_with_operator_commands(seed_site):
    f = _result(seed_site, "compute-2-host", "compute-2-host.libvirt.txt", "libvirt")
    assert isinstance(f, Finding) and f.remediation == "iptables_rules"
    assert f.host == "compute-2-host"
    assert f.params["missing"] == [
        "iptables -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 45.120.120.0/24 -j ACCEPT",
        "iptables -I LIBVIRT_FWO 1 -s 45.120.120.0/24 -d 10.10.10.0/24 -j ACCEPT",
        "iptables -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT"]
    for cmd in f.params["missing"]:
        assert f"`{cmd}`" in f.message
    # the facts show the chains as read, REJECT included
    assert "-A LIBVIRT_FWI -o virbr10 -j REJECT --reject-with icmp-port-unreachable" in \
        f.facts["iptables-save"]["filter LIBVIRT_FWI"]
    fwd = _result(seed_site, "compute-2-host", "compute-2-host.libvirt.txt", "forward")
    assert "iptables -t nat -A POSTROUTING -s 45.120.120.0/24 ! -d 10.10.10.0/24 -j MASQUERADE" \
        in fwd.params["missing"]
    assert len(fwd.params["rules"]) == 7


def test_libvirt_network_restart_puts_accepts_behind_the_reject(seed_site):
    f = _result(seed_site, "compute-2-host", "compute-2-host.net-restarted.txt", "libvirt")
    assert f.params["missing"] == []
    assert len(f.params["misplaced"]) == 3
    assert "behind rule 2 `-A LIBVIRT_FWI -o virbr10 -j REJECT" in f.message


def test_appended_fwo_accept_is_misplaced_not_missing(seed_site):
    f = _result(seed_site, "openstack-host", "openstack-host.fwo-appended.txt", "libvirt")
    assert f.params["misplaced"] == [
        "iptables -I LIBVIRT_FWO 1 -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT"]
    assert "is rule 3, behind rule 2" in f.message


def test_reports_appended_forward_rules_sit_behind_libvirts_jump(seed_site):
    """The report appended three FORWARD accepts on compute-2-host: behind `-j LIBVIRT_FWI`,
    whatever libvirt rejects never reaches them."""
    f = _result(seed_site, "compute-2-host", "compute-2-host.report.txt", "forward")
    assert f.params["missing"] == []
    assert f.params["misplaced"] == [
        "iptables -I FORWARD 1 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "iptables -I FORWARD 1 -s 45.120.120.0/24 -j ACCEPT",
        "iptables -I FORWARD 1 -d 45.120.120.0/24 -j ACCEPT"]
    assert "whose chain rejects with `-A LIBVIRT_FWI -o virbr10 -j REJECT" in f.message
    assert "filter LIBVIRT_FWI" in f.facts["iptables-save"]
    for family in ("libvirt", "vxlan", "saved"):
        assert _result(seed_site, "compute-2-host", "compute-2-host.report.txt", family) is None


def test_vxlan_rule_behind_rhel_default_reject(seed_site):
    f = _result(seed_site, "compute2", "guest.rhel-appended.txt", "vxlan")
    assert f.params["misplaced"] == ["iptables -I INPUT 1 -p udp -m udp --dport 4789 -j ACCEPT"]
    assert "icmp-host-prohibited" in f.message


def test_legacy_rule_is_missing_and_the_warning_is_shown(seed_site):
    f = _result(seed_site, "compute2", "guest.legacy-warning.txt", "vxlan")
    assert f.params["missing"] == ["iptables -I INPUT 1 -p udp -m udp --dport 4789 -j ACCEPT"]
    assert "iptables-legacy tables present" in f.message
    assert f.facts["warnings"]


def test_kubernetes_host_lacks_only_the_vxlan_input_rule(seed_site):
    live = "kubernetes-host.report.txt"
    assert _result(seed_site, "kubernetes-host", live, "libvirt") is None
    assert _result(seed_site, "kubernetes-host", live, "forward") is None   # none expected
    assert checks.expected_rules(seed_site, "kubernetes-host", "forward") == []
    assert _result(seed_site, "kubernetes-host", live, "vxlan").params["missing"] == \
        ["iptables -I INPUT 1 -p udp -m udp --dport 4789 -j ACCEPT"]


def test_missing_rules_file_is_reported(seed_site):
    remote = FakeRemote("compute2", "guest.report.txt", saved=None)
    f = checks.rules_saved(seed_site, remote)
    assert f.remediation == "iptables_save"
    assert f.message.startswith("/etc/sysconfig/iptables does not exist")
    assert f.params["path"] == "/etc/sysconfig/iptables"


def test_stale_rules_file_names_what_a_reboot_loses(seed_site):
    remote = FakeRemote("compute-2-host", "compute-2-host.report.txt",
                        saved="compute-2-host.libvirt.txt")
    f = checks.rules_saved(seed_site, remote)
    assert f.message.startswith("/etc/sysconfig/iptables lacks 13 of 13 rule(s)")
    assert "`iptables -t nat -A POSTROUTING -s 192.168.200.0/24 -j MASQUERADE`" in f.message


def test_one_iptables_save_per_host_serves_every_check(seed_site):
    remote = FakeRemote("compute-2-host", "compute-2-host.libvirt.txt",
                        saved="compute-2-host.libvirt.txt")
    for fn in ALL_CHECKS.values():
        fn(seed_site, remote)
    assert remote.commands.count("iptables-save") == 1
    assert len(remote.commands) == 2          # + one read of the rules file


# --- remediation plans ---------------------------------------------------------------------
def _plan(site, remote, finding):
    module = rules_fix if finding.remediation == "iptables_rules" else save_fix
    return module.plan(ctx_for(site, remote), finding)


def _runs(plan) -> list[str]:
    return [s.command for s in plan.steps if isinstance(s, Run)]


def test_plan_inserts_missing_rules_in_intended_order_after_validation(seed_site):
    remote = FakeRemote("compute-2-host", "compute-2-host.libvirt.txt")
    finding = checks.libvirt_chains_accept(seed_site, remote)
    plan = _plan(seed_site, remote, finding)
    assert plan.blocked is None and not plan.destructive
    runs = _runs(plan)
    assert runs[0].startswith("iptables-restore --test <<'STACKPROOF_RULES'\n*filter\n")
    assert runs[1:4] == [
        # two for LIBVIRT_FWI, inserted last first so k3snat's ends up on top
        "iptables -w -C LIBVIRT_FWI -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT 2>/dev/null"
        " || iptables -w -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT",
        "iptables -w -C LIBVIRT_FWI -s 10.10.10.0/24 -d 45.120.120.0/24 -j ACCEPT 2>/dev/null"
        " || iptables -w -I LIBVIRT_FWI 1 -s 10.10.10.0/24 -d 45.120.120.0/24 -j ACCEPT",
        "iptables -w -C LIBVIRT_FWO -s 45.120.120.0/24 -d 10.10.10.0/24 -j ACCEPT 2>/dev/null"
        " || iptables -w -I LIBVIRT_FWO 1 -s 45.120.120.0/24 -d 10.10.10.0/24 -j ACCEPT"]
    # the validated text is the table as it will be: accepts first, libvirt's REJECT last
    text = runs[0].split("\n", 1)[1]
    fwi = [ln for ln in text.splitlines() if ln.startswith("-A LIBVIRT_FWI ")]
    assert fwi == ["-A LIBVIRT_FWI -s 10.10.10.0/24 -d 45.120.120.0/24 -j ACCEPT",
                   "-A LIBVIRT_FWI -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT",
                   "-A LIBVIRT_FWI -d 45.120.120.0/24 -o virbr10 -m conntrack --ctstate "
                   "RELATED,ESTABLISHED -j ACCEPT",
                   "-A LIBVIRT_FWI -o virbr10 -j REJECT --reject-with icmp-port-unreachable"]
    assert text.endswith("COMMIT\nSTACKPROOF_RULES")


def test_planned_state_passes_the_check(seed_site):
    live = parsed("compute-2-host.libvirt.txt")
    wanted = checks.expected_rules(seed_site, "compute-2-host")
    after = iptables_edit.apply_changes(live, iptables_edit.changes(live, wanted))
    assert all(facts_fw.evaluate(after, r).ok for r in wanted)
    assert iptables_edit.changes(after, wanted) == []
    # the nat rules are appended after libvirt's jump, not inserted
    post = after.chain("nat", "POSTROUTING").listing()
    assert post[0] == "-A POSTROUTING -j LIBVIRT_PRT"
    assert post[1:] == ["-A POSTROUTING -s 192.168.200.0/24 -j MASQUERADE",
                        "-A POSTROUTING -s 45.120.120.0/24 ! -d 10.10.10.0/24 -j MASQUERADE"]


def test_plan_quotes_every_value(seed_site):
    remote = FakeRemote("compute-2-host", "compute-2-host.libvirt.txt")
    plan = _plan(seed_site, remote, checks.forward_and_masquerade(seed_site, remote))
    runs = _runs(plan)
    assert ("iptables -w -t nat -C POSTROUTING -s 45.120.120.0/24 '!' -d 10.10.10.0/24 "
            "-j MASQUERADE 2>/dev/null || iptables -w -t nat -A POSTROUTING -s 45.120.120.0/24 "
            "'!' -d 10.10.10.0/24 -j MASQUERADE") in runs
    odd = IptablesRule("filter", "INPUT",
                       '-p tcp -m tcp --dport 179 -m comment --comment "bgp; rm -rf /" -j ACCEPT',
                       True, "x")
    cmd = render_fw.command(odd, quote=True, wait=True)
    assert "'bgp; rm -rf /'" in cmd
    assert shlex.split(cmd) == ["iptables", "-w", "-I", "INPUT", "1", "-p", "tcp", "-m", "tcp",
                                "--dport", "179", "-m", "comment", "--comment", "bgp; rm -rf /",
                                "-j", "ACCEPT"]


def test_plan_touches_only_missing_rules(seed_site):
    # openstack-host with the report's rules, but the FWO accept re-added behind the REJECT
    remote = FakeRemote("openstack-host", "openstack-host.fwo-appended.txt")
    plan = _plan(seed_site, remote, checks.libvirt_chains_accept(seed_site, remote))
    changes = [c for c in _runs(plan)[1:] if c.startswith("iptables ")]
    assert changes == [
        "iptables -w -D LIBVIRT_FWO -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT",
        "iptables -w -C LIBVIRT_FWO -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT 2>/dev/null"
        " || iptables -w -I LIBVIRT_FWO 1 -s 192.168.100.0/24 -d 10.10.10.0/24 -j ACCEPT"]


def test_no_command_for_rules_already_in_place(seed_site):
    live = parsed("openstack-host.report.txt")
    wanted = checks.expected_rules(seed_site, "openstack-host")
    assert iptables_edit.changes(live, wanted) == []
    remote = FakeRemote("openstack-host", "openstack-host.report.txt")
    finding = Finding("iptables_rules", "openstack-host", "stale",
                      {"rules": [r.__dict__ for r in wanted]})
    plan = _plan(seed_site, remote, finding)
    assert plan.steps == () and "nothing to change" in plan.summary


def test_plan_is_blocked_when_libvirt_chains_are_absent(seed_site):
    remote = FakeRemote("compute-2-host", "guest.empty.txt")
    finding = checks.libvirt_chains_accept(seed_site, remote)
    assert finding.params["absent_chains"] == ["filter LIBVIRT_FWI", "filter LIBVIRT_FWO"]
    plan = _plan(seed_site, remote, finding)
    assert plan.blocked and "libvirt" in plan.blocked and plan.steps == ()


def _site(seed_raw, family):
    seed_raw["os_family"] = family
    return parse_site(seed_raw)


@pytest.mark.parametrize("family,tools,expect_run,path", [
    ("rhel", "iptables-services", "service iptables save", None),
    ("rhel", "", None, "/etc/sysconfig/iptables"),
    ("debian", "netfilter-persistent", "netfilter-persistent save", None),
    ("debian", "", None, "/etc/iptables/rules.v4"),
    ("debian", "iptables-services", None, "/etc/iptables/rules.v4"),   # not a Debian tool
])
def test_persistence_per_os_family(seed_raw, family, tools, expect_run, path):
    site = _site(seed_raw, family)
    remote = FakeRemote("compute2", "guest.empty.txt", tools=tools)
    plan = _plan(site, remote, checks.vxlan_accepted(site, remote))
    last = plan.steps[-1]
    if expect_run:
        assert isinstance(last, Run) and last.command == expect_run
        assert not any(isinstance(s, WriteFile) for s in plan.steps)
    else:
        assert isinstance(last, WriteFile) and last.path == path
        assert last.validate == "iptables-restore --test {path}" and last.mode == "0600"
        assert plan.steps[-2].command == f"mkdir -p {os.path.dirname(path)}"
        saved = parse_iptables_save(last.content)
        assert saved.has("filter", "INPUT", "-p udp -m udp --dport 4789 -j ACCEPT")
    # the inserts come before the save
    assert any("-I INPUT 1" in c for c in _runs(plan)[:-1])


def test_save_plan_adds_rules_that_are_not_live_first(seed_site):
    remote = FakeRemote("kubernetes-host", "kubernetes-host.report.txt", saved=None,
                        tools="iptables-services")
    finding = checks.rules_saved(seed_site, remote)
    plan = _plan(seed_site, remote, finding)
    runs = _runs(plan)
    assert runs[-1] == "service iptables save"
    inserts = [c for c in runs if c.startswith("iptables -w")]
    assert inserts == ["iptables -w -C INPUT -p udp -m udp --dport 4789 -j ACCEPT 2>/dev/null"
                       " || iptables -w -I INPUT 1 -p udp -m udp --dport 4789 -j ACCEPT"]
    assert "after adding 1 rule change(s)" in plan.summary


def test_save_plan_with_everything_live_only_saves(seed_site):
    remote = FakeRemote("openstack-host", "openstack-host.report.txt", saved=None,
                        tools="iptables-services")
    plan = _plan(seed_site, remote, checks.rules_saved(seed_site, remote))
    assert _runs(plan) == ["service iptables save"]


# --- against real iptables in a scratch namespace -------------------------------------------
class NsRemote(FakeRemote):
    """A scratch host: its own network namespace and a mount namespace with /etc copy-on-write
    (the rules file lands there, never in the machine's /etc)."""

    def __init__(self, name, pid):
        super().__init__(name)
        self.pid = pid

    def run(self, command: str) -> CommandResult:
        self.commands.append(command)
        proc = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-n", "--", "/bin/sh",
                               "-c", command], capture_output=True, text=True, timeout=30)
        return CommandResult(command, proc.returncode, proc.stdout, proc.stderr)

    def put_file(self, path: str, content: str, mode: int = 0o600) -> None:
        """The engine's SFTP upload, here through stdin into the scratch namespace."""
        self.commands.append(f"put {path}")
        subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-n", "--", "/bin/sh", "-c",
                        f"umask 077 && cat > {shlex.quote(path)} && chmod {mode:o} "
                        f"{shlex.quote(path)}"], input=content, text=True, check=True,
                       timeout=30)


@pytest.fixture
def scratch_host(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: network and mount namespaces")
    ns = f"spfw-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    holder = None
    try:
        d = shlex.quote(str(tmp_path))
        script = (f"mount -t tmpfs tmpfs {d} && mkdir {d}/u {d}/w && mount -t overlay overlay "
                  f"-o lowerdir=/etc,upperdir={d}/u,workdir={d}/w /etc"
                  " && echo ready && exec sleep infinity")
        holder = subprocess.Popen(["ip", "netns", "exec", ns, "unshare", "--mount",
                                   "--propagation", "private", "--", "/bin/sh", "-c", script],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        ready = False
        while time.monotonic() < deadline and holder.poll() is None:
            if select.select([holder.stdout], [], [], 0.2)[0]:
                ready = holder.stdout.readline().strip() == "ready"
                break
        if not ready:
            why = holder.stderr.read() if holder.poll() is not None else "timeout"
            pytest.skip(f"scratch namespace not ready: {why}")
        yield ns, holder.pid
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_remediation_against_real_iptables(seed_site, scratch_host, tmp_path):
    """libvirt's real chains (the capture) loaded into a scratch namespace; every firewall
    scenario of compute-2-host remediated by the engine; the second pass changes nothing."""
    ns, pid = scratch_host
    host = NsRemote("compute-2-host", pid)
    load = subprocess.run(["ip", "netns", "exec", ns, "iptables-restore"],
                          input=capture("compute-2-host.net-restarted.txt"), text=True,
                          capture_output=True)
    assert load.returncode == 0, load.stderr
    assert host.run("[ -e /etc/sysconfig/iptables ]").rc != 0
    engine = Remedy(seed_site, {host.name: host}, {"iptables_rules": rules_fix,
                                                   "iptables_save": save_fix},
                    remediate=True, plan_only=False, allow_destructive=False,
                    poll_interval=0.05, host_locks=False,
                    backup_root=str(tmp_path / "backups"))
    broken = {fam for fam, fn in ALL_CHECKS.items() if fn(seed_site, host) is not None}
    assert broken == {"libvirt", "forward", "saved"}      # VXLAN rules survived the restart
    started = time.monotonic()
    for family in ("libvirt", "forward", "vxlan", "saved"):    # the feature's order
        engine.ensure(lambda fn=ALL_CHECKS[family]: fn(seed_site, host))
    elapsed = time.monotonic() - started
    # fixing the live rules saved them too: the reboot scenario had nothing left to do
    assert [(o.finding.remediation, o.status) for o in engine.outcomes] == \
        [("iptables_rules", "remediated")] * 2
    # real iptables now holds every rule ahead of libvirt's rejects, and the file has them
    host.invalidate()
    live = facts.live_rules(host)
    assert all(facts_fw.evaluate(live, r).ok for r in checks.expected_rules(seed_site, host.name))
    saved = parse_iptables_save(host.run("cat /etc/sysconfig/iptables").stdout)
    assert saved.tables["filter"].chains["LIBVIRT_FWI"].listing()[:2] == [
        "-A LIBVIRT_FWI -s 10.10.10.0/24 -d 45.120.120.0/24 -j ACCEPT",
        "-A LIBVIRT_FWI -s 10.10.10.0/24 -d 192.168.200.0/24 -j ACCEPT"]
    assert oct(int(host.run("stat -c %a /etc/sysconfig/iptables").stdout.strip(), 8)) == "0o600"
    # no duplicate: each expected rule exactly once
    for r in checks.expected_rules(seed_site, host.name):
        assert len(live.chain(r.table, r.chain).positions(r.spec)) == 1, r
    # second pass: nothing found, nothing planned, nothing run
    before = len(host.commands)
    host.invalidate()
    for fn in ALL_CHECKS.values():
        assert fn(seed_site, host) is None
    assert len(host.commands) - before == 2       # one iptables-save, one read of the file
    assert elapsed < 10


def test_validation_step_rejects_a_bad_rule_on_real_iptables(seed_site, scratch_host):
    _, pid = scratch_host
    host = NsRemote("compute2", pid)
    bad = IptablesRule("filter", "INPUT", "-p udp -m nosuchmatch --dport 4789 -j ACCEPT", True,
                       "x")
    live = facts.live_rules(host)
    step = iptables_edit.validate_step(host.name, live, iptables_edit.changes(live, [bad]))
    res = host.run(step.command)
    assert res.rc != 0 and "nosuchmatch" in res.stderr
    good = checks.expected_rules(seed_site, "compute2")
    ok = iptables_edit.validate_step(host.name, live, iptables_edit.changes(live, good))
    assert host.run(ok.command).rc == 0
    assert host.run("iptables-save").stdout == ""          # --test committed nothing
