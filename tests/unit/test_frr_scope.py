"""FRR ownership scope on captured LIVED-IN configurations (tests/data/bgp/lived-in, made by
its capture.sh from real FRR 8.4 with ospfd and bfdd: OSPF, route-maps, prefix-lists, a
neighbor password on both ends of an inventory session, BFD, a VRF, `router bgp N vrf X`,
a static route to Null0, `log file`): what is managed, what is kept, the referee
(frr-reload.py --test) filtered to the scope, the merge, exact mode, and forwarding."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from remediations import frr_config, ip_forward
from stackproof.checks import bgp as checks
from stackproof.checks import forwarding as fwd_check
from stackproof.expect import bgp_intent
from stackproof.facts import forwarding as fwd
from stackproof.facts import frr as facts
from stackproof.remedy import Context, Finding, Run, WriteFile, write_file_commands
from stackproof.remote import CommandResult
from stackproof.render.frr import render_frr_conf
from stackproof.render.frr_scope import (KERNEL, MANAGED, STALE, UNMANAGED, classify,
                                         config_lines, frr_scope, merge_frr_conf, reload_text,
                                         split)
from stackproof.site import parse_site
from fakes import ReplayCache  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "bgp" / "lived-in"
A, B = "openstack-host", "kubernetes-host"
# What the operator added (capture.sh writes it; FRR prints it back in its own spelling)
OPERATOR = ("log file /var/log/frr/frr.log informational", "ip route 203.0.113.0/24 Null0",
            "ip prefix-list OPERATOR-IN seq 10 permit 198.51.100.0/24",
            "route-map OPERATOR-IN permit 10",
            "route-map OPERATOR-IN permit 10 > set local-preference 200",
            "vrf tenant-red > ip route 192.0.2.0/24 Null0", "router bgp 64512 vrf tenant-red",
            "router ospf > network 10.10.10.0/24 area 0", "bfd > peer 10.10.10.2",
            "router bgp 65000 > neighbor 10.10.10.2 password lab-md5-key",
            "router bgp 65000 > neighbor 10.10.10.2 description operator note: rack uplink",
            "router bgp 65000 > neighbor 10.10.10.2 bfd",
            "router bgp 65000 > bgp log-neighbor-changes")


def text(case: str, host: str, name: str) -> str:
    return (DATA / case / host / name).read_text()


class Captured(ReplayCache):
    """A Remote answering the fact commands with the lived-in capture (COMMANDS maps each
    command to its file); the referee's temp-file commands to frr-reload-test(-input)."""

    def __init__(self, case: str, name: str):
        self.name, self.dir = name, DATA / case / name
        self._facts: dict = {}
        self._by_command = dict(reversed(line.split(": ", 1)) for line in
                                (self.dir / "COMMANDS").read_text().splitlines())

    def put_file(self, path: str, content: str, mode: int = 0o600) -> None:
        self.uploaded = (path, content)      # reload_diff's intended config, over SFTP

    def run(self, command: str) -> CommandResult:
        if command.startswith(("t=$(mktemp", "t=/tmp/stackproof-frr-")):
            name = "frr-reload-test-input" if "--input /etc/frr/frr.conf" in command \
                else "frr-reload-test"
        else:
            assert command in self._by_command, f"unexpected command: {command}"
            name = self._by_command[command]
        return CommandResult(command, 0, (self.dir / name).read_text(), "")


class Fleet(dict):
    pass


@pytest.fixture
def exact_site(seed_raw):
    seed_raw["bgp"]["config"] = "exact"
    seed_raw["os_family"], seed_raw["init"] = "debian", "sysv"
    return parse_site(seed_raw)


@pytest.fixture
def lab_site(seed_raw):
    seed_raw["os_family"], seed_raw["init"] = "debian", "sysv"
    return parse_site(seed_raw)


# --- the split --------------------------------------------------------------------------------
@pytest.mark.parametrize("host", [A, B])
def test_operator_configuration_is_unmanaged_and_the_bgp_settings_managed(seed_site, host):
    scope = frr_scope(seed_site, host)
    got = split(scope, text("healthy", host, "show-running-config"))
    peer = "10.10.10.1" if host == B else "10.10.10.2"
    operator = {o.replace("10.10.10.2", peer) for o in OPERATOR if "ospf >" not in o}
    assert operator <= set(got.unmanaged), operator - set(got.unmanaged)
    assert not set(got.managed) & operator
    assert f"router bgp 65000 > neighbor {peer} remote-as 65000" in got.managed
    assert "router bgp 65000 > address-family ipv4 unicast > redistribute connected" \
        in got.managed
    assert any(m.startswith("router bgp 65000 > bgp router-id ") for m in got.managed)
    assert got.stale == () and got.kernel == ("no ipv6 forwarding",)


def test_stale_neighbor_and_forwarding_in_the_drifted_running_config(seed_site):
    got = split(frr_scope(seed_site, A), text("drift", A, "show-running-config"))
    assert got.stale == ("router bgp 65000 > neighbor 10.10.10.99 remote-as 65000",
                         "router bgp 65000 > address-family ipv4 unicast > "
                         "neighbor 10.10.10.99 next-hop-self")
    assert set(got.kernel) == {"no ip forwarding", "no ipv6 forwarding"}
    assert "router bgp 65000 > timers bgp 5 15" in got.managed


def test_classify_names_slots_not_values(seed_site, four_site):
    scope = frr_scope(seed_site, A)
    r = "router bgp 65000"
    assert classify(scope, (r, "neighbor 10.10.10.2 remote-as 65099")) == MANAGED
    assert classify(scope, (r, "no neighbor 10.10.10.3 update-source eth9")) == MANAGED
    assert classify(scope, (r, "neighbor 10.10.10.2 timers 1 3")) == UNMANAGED
    assert classify(scope, (r, "neighbor 10.10.10.2 route-map OPERATOR-IN in")) == UNMANAGED
    assert classify(scope, (r, "neighbor 192.0.2.7 password x")) == STALE
    assert classify(scope, (r, "neighbor SPINES peer-group")) == UNMANAGED
    assert classify(scope, ("router bgp 64512 vrf tenant-red", "neighbor 192.0.2.7 "
                            "remote-as 1")) == UNMANAGED
    assert classify(scope, ("ip forwarding",)) == KERNEL
    # eBGP: the route-map slots of inventory neighbors and the permit-all policy are managed
    host = next(iter(four_site.hosts))
    ebgp = frr_scope(four_site, host)
    n = bgp_intent(four_site, host).neighbors[0]
    rb = f"router bgp {four_site.asn_of(host)}"
    assert classify(ebgp, (rb, "address-family ipv4 unicast",
                           f"neighbor {n.address} route-map OPERATOR in")) == MANAGED
    assert classify(ebgp, ("route-map ALLOW_ALL permit 10",)) == MANAGED
    assert classify(ebgp, ("route-map OPERATOR-IN permit 10",)) == UNMANAGED


# --- the referee: frr-reload.py --test, filtered to the scope ----------------------------------
@pytest.mark.parametrize("host", [A, B])
def test_a_lived_in_host_has_no_drift_though_frr_reload_lists_the_operator_lines(seed_site,
                                                                                 host):
    for name in ("frr-reload-test", "frr-reload-test-input"):
        diff = facts.parse_reload_test(0, text("healthy", host, name))
        assert len(diff.changes()) >= 10            # OSPF, BFD, VRF, route-map, log file, ...
        assert not checks.scoped_difference(frr_scope(seed_site, host), diff)
    r = Captured("healthy", host)
    assert checks.config_file_matches(seed_site, r) is None
    assert checks.running_config_matches(seed_site, r) is None
    kept = checks.kept_configuration(seed_site, r, "running")
    assert "router ospf > network 10.10.10.0/24 area 0" in kept


def test_drift_is_reported_as_missing_extra_and_stale_with_the_rest_kept(seed_site):
    r = Captured("drift", A)
    f = checks.running_config_matches(seed_site, r)
    assert f.remediation == "frr_config"
    assert f.facts["missing"] == [
        "router bgp 65000 > address-family ipv4 unicast > neighbor 10.10.10.2 next-hop-self",
        "router bgp 65000 > timers bgp 3 9"]
    assert f.facts["extra"] == ["router bgp 65000 > timers bgp 5 15"]
    assert f.facts["stale"] == [
        "router bgp 65000 > address-family ipv4 unicast > neighbor 10.10.10.99 next-hop-self",
        "router bgp 65000 > neighbor 10.10.10.99 remote-as 65000"]
    assert "missing: " in f.message and "stale" in f.message and "extra" in f.message
    # kernel state zebra reflects is no drift; frr-reload's `ip forwarding` is not reported
    assert "forwarding" not in f.message
    assert "router bgp 65000 > neighbor 10.10.10.2 password lab-md5-key" in \
        f.facts[checks.UNMANAGED_KEPT]
    ff = checks.config_file_matches(seed_site, r)
    assert ff.facts["missing"] == [
        "router bgp 65000 > address-family ipv4 unicast > redistribute connected"]
    assert ff.facts["stale"] == ["router bgp 65000 > neighbor 10.10.10.99 remote-as 65000"]


# --- the merge ---------------------------------------------------------------------------------
def _is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@pytest.mark.parametrize("case,name", [("drift", "frr.conf"), ("drift", "show-running-config"),
                                       ("healthy", "frr.conf")])
def test_merge_keeps_every_unmanaged_line_in_place(seed_site, case, name):
    scope = frr_scope(seed_site, A)
    before = text(case, A, name)
    merged = merge_frr_conf(scope, bgp_intent(seed_site, A), before)
    owned = {cl.index for cl in config_lines(before) if classify(scope, cl.path) in
             (MANAGED, STALE) and len(cl.path) > 1}
    kept = [ln for i, ln in enumerate(before.splitlines()) if i not in owned]
    assert _is_subsequence(kept, merged.splitlines())        # byte for byte, in order
    assert " ! operator: MD5 on this session (the peer has the same key)" in merged or \
        name != "frr.conf"
    assert " neighbor 10.10.10.2 password lab-md5-key" in merged.splitlines()
    after = split(scope, merged)
    assert after.stale == ()
    assert set(split(scope, render_frr_conf(seed_site, A)).managed) == set(after.managed)
    assert merge_frr_conf(scope, bgp_intent(seed_site, A), merged) == merged   # idempotent
    if case == "healthy":
        assert merged == before


def test_merge_into_an_ebgp_site_and_into_a_file_without_a_router(four_site):
    host = next(iter(four_site.hosts))
    scope = frr_scope(four_site, host)
    before = text("healthy", A, "frr.conf")
    merged = merge_frr_conf(scope, bgp_intent(four_site, host), before)
    assert set(split(scope, render_frr_conf(four_site, host)).managed) <= \
        set(split(scope, merged).managed)
    assert "route-map OPERATOR-IN permit 10" in merged and "router ospf" in merged
    # the old AS's neighbors are not the inventory's: stale, removed with their password
    assert "password" not in merged
    assert merge_frr_conf(scope, bgp_intent(four_site, host), merged) == merged
    no_router = "\n".join(ln for ln in text("healthy", A, "frr.conf").splitlines()
                          if not ln.startswith(" ") and not ln.startswith("router bgp 65000")
                          and ln != "exit") + "\n"
    merged = merge_frr_conf(frr_scope(four_site, host), bgp_intent(four_site, host), no_router)
    assert f"router bgp {four_site.asn_of(host)}" in merged and "log file" in merged


def test_reload_input_keeps_the_running_forwarding_lines(seed_site):
    running = text("drift", A, "show-running-config")
    loaded = reload_text(seed_site, A, running).splitlines()
    assert "no ip forwarding" in loaded and "ip forwarding" not in loaded
    assert "Building configuration..." not in loaded
    assert "  neighbor 10.10.10.2 next-hop-self" in loaded
    assert not any("10.10.10.99" in ln for ln in loaded)


needs_frr = pytest.mark.skipif(shutil.which("vtysh") is None or not any(
    Path(p).exists() for p in facts.RELOAD_SCRIPTS), reason="frr + frr-pythontools not installed")


@needs_frr
def test_real_frr_accepts_the_merge_and_sees_no_managed_difference(tmp_path, seed_site):
    """vtysh -C validates the merged file and reload input; frr-reload.py --test --input
    (no daemons needed) finds nothing in scope between them and the rendering."""
    intended = tmp_path / "intended.conf"
    intended.write_text(render_frr_conf(seed_site, A))
    scope = frr_scope(seed_site, A)
    for produced in (merge_frr_conf(scope, bgp_intent(seed_site, A), text("drift", A, "frr.conf")),
                     reload_text(seed_site, A, text("drift", A, "show-running-config"))):
        f = tmp_path / "merged.conf"
        f.write_text(produced)
        assert subprocess.run(["vtysh", "-C", "-f", str(f)], capture_output=True).returncode == 0
        res = subprocess.run(["sh", "-c", facts.reload_test_command(str(intended), running=str(f))],
                             capture_output=True, text=True)
        diff = facts.parse_reload_test(res.returncode, res.stdout, res.stderr)
        assert diff.available and diff.changes(), res.stderr   # the operator's lines differ
        assert not checks.scoped_difference(scope, diff)       # ... and nothing else


# --- the plans -----------------------------------------------------------------------------------
def test_merged_plan_is_not_destructive_and_keeps_the_password(lab_site):
    r = Captured("drift", A)
    plan = frr_config.plan(Context(lab_site, Fleet({A: r})),
                           checks.running_config_matches(lab_site, r))
    assert not plan.destructive and "[DESTRUCTIVE]" not in plan.render()
    write, loaded, load = plan.steps
    for step in (write, loaded):
        assert " neighbor 10.10.10.2 password lab-md5-key" in step.content.splitlines()
        assert "router ospf" in step.content and "bfd" in step.content
    assert "managed lines changed in place" in write.why
    assert "lab-md5-key" not in __import__("stackproof.redact", fromlist=["x"]).redact(
        plan.render())


def test_exact_mode_owns_the_whole_file_and_its_plan_is_destructive(exact_site):
    r = Captured("drift", A)
    finding = checks.running_config_matches(exact_site, r)
    # full ownership: the operator's lines are drift too (but never forwarding)
    assert any("router ospf" in e for e in finding.facts["extra"])
    assert "forwarding" not in finding.message
    plan = frr_config.plan(Context(exact_site, Fleet({A: r})), finding)
    assert plan.destructive and "[DESTRUCTIVE]" in plan.render()
    write, loaded, load = plan.steps
    assert write.content == render_frr_conf(exact_site, A)
    assert "password" not in loaded.content and "router ospf" not in loaded.content
    assert "no ip forwarding" in loaded.content.splitlines()   # forwarding left as it is
    assert frr_scope(exact_site, A).statement().startswith("exact")


def test_bgp_config_takes_only_merged_or_exact(seed_raw):
    seed_raw["bgp"]["config"] = "overridden"
    with pytest.raises(Exception) as exc:
        parse_site(seed_raw)
    assert "bgp.config: overridden: Input should be 'merged' or 'exact'" in str(exc.value)
    del seed_raw["bgp"]["config"]
    assert parse_site(seed_raw).bgp.config == "merged"


# --- forwarding --------------------------------------------------------------------------------
def test_forwarding_fact_on_the_captured_host(seed_site):
    captured = (DATA / "ip-forward" / A / "forwarding").read_text()
    f = fwd.parse_forwarding(captured)
    assert f.runtime == "0" and not f.on
    assert f.persisted is None


def test_forwarding_parser_orders_files_as_sysctl_does(tmp_path):
    """The fact command over real files under tmp_path (paths mapped back after): sysctl.d
    files by name, /etc shadowing /usr/lib, /etc/sysctl.conf last; the last one wins."""
    files = {"etc/sysctl.d/10-net.conf": "net.ipv4.ip_forward = 1\n",
             "usr/lib/sysctl.d/10-net.conf": "net.ipv4.ip_forward = 0\n",     # shadowed
             "usr/lib/sysctl.d/50-default.conf": "# net.ipv4.ip_forward = 0\nkernel.x = 1\n",
             fwd.OUR_FILE.lstrip("/"): "net.ipv4.ip_forward = 1\n",
             "etc/sysctl.conf": "kernel.y = 2\n  net/ipv4/ip_forward=0\n"}
    f = fwd.parse_forwarding(forwarding_output(tmp_path, None, files))
    assert f.runtime is None
    assert [(s.path, s.value) for s in f.settings] == [
        ("/etc/sysctl.d/10-net.conf", "1"), (fwd.OUR_FILE, "1"), ("/etc/sysctl.conf", "0")]
    assert f.persisted.path == "/etc/sysctl.conf" and f.persisted.line == 2
    assert [s.path for s in f.after(fwd.OUR_FILE)] == ["/etc/sysctl.conf"]


class FwdHost(ReplayCache):
    """A host whose forwarding fact is the captured one (runtime 0, no file)."""
    name = A

    def __init__(self):
        self._facts = {}

    def run(self, command):
        assert command == fwd.FORWARDING_CMD
        return CommandResult(command, 0, (DATA / "ip-forward" / A / "forwarding").read_text(),
                             "")


def test_forwarding_off_is_a_finding_with_its_own_fix(lab_site):
    f = fwd_check.forwarding_on(lab_site, FwdHost())
    assert f.remediation == "ip_forward" and "net.ipv4.ip_forward is 0" in f.message
    plan = ip_forward.plan(Context(lab_site, Fleet()), f)
    run, write = plan.steps
    assert isinstance(run, Run) and run.command == "sysctl -w net.ipv4.ip_forward=1"
    assert isinstance(write, WriteFile) and write.path == fwd.OUR_FILE
    assert write.content.rstrip().endswith("net.ipv4.ip_forward = 1")
    assert not plan.blocked and not plan.destructive
    later = Finding("ip_forward", A, "x", {"conflicts": [
        {"path": "/etc/sysctl.conf", "line": 28, "value": "0"}]})
    assert "/etc/sysctl.conf line 28" in ip_forward.plan(Context(lab_site, Fleet()), later).blocked


def forwarding_output(tmp_path: Path, runtime: str | None, files: dict[str, str]) -> str:
    """The fact's own command run over real files under tmp_path (/proc's value in a file,
    none for None), paths mapped back after."""
    if runtime is not None:
        (tmp_path / "proc").write_text(runtime + "\n")
    for rel, body in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    cmd = fwd.FORWARDING_CMD.replace(fwd.PROC, str(tmp_path / "proc"))    # absent: None
    for path in (*fwd.SYSCTL_DIRS, fwd.SYSCTL_CONF):
        cmd = cmd.replace(f"{path}", f"{tmp_path}{path}")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout
    return out.replace(str(tmp_path), "")


class ForwardingHost(FwdHost):
    def __init__(self, name: str, output: str):
        super().__init__()
        self.name, self.output = name, output

    def run(self, command):
        assert command == fwd.FORWARDING_CMD
        return CommandResult(command, 0, self.output, "")


def router_site():
    from stackproof.site import load_site
    return load_site(Path(__file__).resolve().parents[1] / "data" / "inventories" /
                     "bgp-router-host.yml")


def test_forwarding_on_only_at_runtime_is_flagged_where_no_role_turns_it_on(tmp_path):
    site = router_site()
    router = next(h for h in site.hosts if not fwd_check.switched_on_at_boot_by_role(site, h))
    hypervisor = next(h for h in site.hosts if fwd_check.switched_on_at_boot_by_role(site, h))
    runtime_only = forwarding_output(tmp_path, "1", {})
    assert fwd.parse_forwarding(runtime_only).on
    f = fwd_check.forwarding_on(site, ForwardingHost(router, runtime_only))
    assert f is not None and f.remediation == "ip_forward", f
    assert "on only at runtime" in f.message and "off after a reboot" in f.message
    assert not ip_forward.plan(Context(site, Fleet()), f).blocked
    # a hypervisor's libvirt turns it on at boot: no file needed there
    assert fwd_check.forwarding_on(site, ForwardingHost(hypervisor, runtime_only)) is None
    # the fix's own file keeps it on at boot: green on the router too
    kept = forwarding_output(tmp_path, "1", {fwd.OUR_FILE.lstrip("/"):
                                             ip_forward.CONTENT})
    assert fwd_check.forwarding_on(site, ForwardingHost(router, kept)) is None


def test_the_role_variation_has_a_bgp_host_the_lab_leaves_without_forwarding():
    from stackproof_lab.daemons.frr import lab_forwarding
    from stackproof.site import load_site
    site = load_site(Path(__file__).resolve().parents[1] / "data" / "inventories" /
                     "bgp-router-host.yml")
    got = {h: lab_forwarding(site, h) for h in site.hosts if "bgp" in site.hosts[h].roles}
    assert sorted(got.values()) == ["0", "1", "1"]


@needs_frr
def test_a_spelling_only_difference_is_no_drift(tmp_path, seed_site):
    """frr-reload.py normalises both sides through vtysh: extra blanks in managed lines of
    the captured frr.conf are not a difference (the referee decides, not a text diff)."""
    intended = tmp_path / "intended.conf"
    intended.write_text(render_frr_conf(seed_site, A))
    spelled = tmp_path / "spelled.conf"
    spelled.write_text(text("healthy", A, "frr.conf")
                       .replace(" timers bgp 3 9", " timers bgp  3   9")
                       .replace("  redistribute connected", "  redistribute   connected"))
    res = subprocess.run(["sh", "-c", facts.reload_test_command(str(intended),
                                                                running=str(spelled))],
                         capture_output=True, text=True)
    diff = facts.parse_reload_test(res.returncode, res.stdout, res.stderr)
    assert diff.available, res.stderr
    assert not checks.scoped_difference(frr_scope(seed_site, A), diff)
    # while a real change in the same place is one
    spelled.write_text(text("healthy", A, "frr.conf").replace(" timers bgp 3 9",
                                                              " timers bgp 4 12"))
    res = subprocess.run(["sh", "-c", facts.reload_test_command(str(intended),
                                                                running=str(spelled))],
                         capture_output=True, text=True)
    got = checks.scoped_difference(frr_scope(seed_site, A),
                                   facts.parse_reload_test(res.returncode, res.stdout))
    assert got.extra == ("router bgp 65000 > timers bgp 4 12",)


def test_a_neighbor_removed_by_hand_comes_back_with_its_password_from_frr_conf(seed_site):
    """The reload input re-adds the neighbor (managed) and, from frr.conf, the operator's
    password of it (unmanaged): without it the session would sit in Connect."""
    from stackproof.render.frr_scope import reload_text
    running = text("healthy", A, "show-running-config")
    conf = text("healthy", A, "frr.conf")
    peer = "10.10.10.2"
    password = next(ln for ln in conf.splitlines() if f"neighbor {peer} password" in ln)
    # the running config after `no neighbor <peer>`: every line of that neighbor gone
    removed = "\n".join(ln for ln in running.splitlines()
                        if not ln.strip().startswith(f"neighbor {peer} ")) + "\n"
    out = reload_text(seed_site, A, removed, conf).splitlines()
    remote_as = next(i for i, ln in enumerate(out) if ln.strip().startswith(
        f"neighbor {peer} remote-as"))
    assert password in out and out.index(password) == remote_as + 1
    # a neighbor still in the running config takes nothing from the file
    assert reload_text(seed_site, A, running, conf).count(password) == \
        running.count(password)
