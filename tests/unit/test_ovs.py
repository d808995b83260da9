"""Overlay layer: Open vSwitch and agent-ini parsers, checks and remediation plans on real
Open vSwitch 3.1 captures of the seed site's ovs_agent hosts (tests/data/ovs, see its README
and capture.py), plus the renderers and the lab's stand-in agent."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from remediations import ovs_agent_ini, ovs_interface_error, ovs_patch_ports, ovs_vxlan_ports
from stackproof.checks import overlay as checks
from stackproof.expect import overlay_endpoints, ovs_layout, vxlan_mesh
from stackproof.facts import ovs as facts
from stackproof_lab.daemons import ovs_agent as standin
from stackproof.remedy import Context, Run, WriteFile
from stackproof.remote import CachedFact
from stackproof.remote import CommandResult
from stackproof.render import neutron, ovs
from fakes import ReplayCache  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "ovs"
PATCH_ERROR = "No usable peer 'patch-int' exists in 'system' datapath."


class Captured(ReplayCache):
    """A Remote that answers the fact commands with what the real host printed
    (`<case>/<host>/<name>`, mapped through the capture's COMMANDS file). Any other command
    fails the test: a check must not ask what the facts module does not define."""

    def __init__(self, case: str, name: str):
        self.name, self.dir = name, DATA / case / name
        assert self.dir.is_dir(), f"no capture {self.dir}"
        self.commands: list[str] = []
        self._facts: dict = {}
        self._by_command = {}
        for line in (self.dir / "COMMANDS").read_text().splitlines():
            file, _, command = line.partition(": ")
            self._by_command[command] = file

    def output(self, file: str) -> CommandResult:
        p, rc, err = (self.dir / file, self.dir / f"{file}.rc", self.dir / f"{file}.stderr")
        return CommandResult(file, int(rc.read_text()) if rc.exists() else 0, p.read_text(),
                             err.read_text() if err.exists() else "")

    def run(self, command: str) -> CommandResult:
        self.commands.append(command)
        assert command in self._by_command, f"unexpected command on {self.name}: {command}"
        return self.output(self._by_command[command])



def ctx_for(site, remote) -> Context:
    return Context(site, {remote.name: remote})


def state(case: str, host: str) -> facts.OvsState:
    return facts.ovs_state(Captured(case, host))


# --- parsing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["controller", "compute", "compute2"])
def test_healthy_tables_parse_into_the_agents_layout(seed_site, host):
    st = state("healthy", host)
    layout = ovs_layout(seed_site, host)
    assert st.running and not st.errors()
    assert set(st.bridges) == set(layout.bridges)
    for b in st.bridges.values():
        assert (b.fail_mode, b.datapath_type) == ("secure", "system")
    assert st.interfaces["patch-tun"].type == "patch"
    assert st.interfaces["patch-tun"].options == {"peer": "patch-int"}
    assert st.bridge_of("patch-tun") == "br-int" and st.bridge_of("patch-int") == "br-tun"
    tunnels = {i.name: i for i in st.interfaces_on("br-tun") if i.type == "vxlan"}
    assert {t.name for t in vxlan_mesh(seed_site, host)} == set(tunnels)
    for t in vxlan_mesh(seed_site, host):
        assert tunnels[t.name].options == {
            "df_default": "true", "egress_pkt_mark": "0", "in_key": "flow", "out_key": "flow",
            "local_ip": t.local_ip, "remote_ip": t.remote_ip}
    assert st.interfaces["br-int"].ofport == 65534     # the LOCAL port


def test_br_tun_missing_shows_the_reports_error():
    st = state("br-tun-missing", "compute2")
    assert "br-tun" not in st.bridges
    assert [(i.name, i.error) for i in st.errors()] == [("patch-tun", PATCH_ERROR)]
    show = (DATA / "br-tun-missing" / "compute2" / "ovs-vsctl-show").read_text()
    assert f'error: "{PATCH_ERROR}"' in show           # what the operator saw


def test_a_one_member_set_and_an_empty_column_are_decoded():
    st = state("one-port-bridge", "compute2")
    probe = st.bridges["br-probe"]
    assert probe.ports == ("br-probe",)                 # encoded bare, not ["set", [...]]
    assert probe.fail_mode is None and probe.datapath_type == ""
    assert st.port_interfaces["br-probe"] == ("br-probe",)


def test_ovs_down_is_a_state_not_an_exception(seed_site):
    st = state("ovs-down", "compute2")
    assert not st.running and "database connection failed" in st.error
    f = checks.tunnel_bridge_exists(seed_site, Captured("ovs-down", "compute2"))
    assert f.remediation == "ovs_service" and "database connection failed" in f.message


def test_unexpected_output_is_a_fact_error():
    with pytest.raises(ValueError):
        facts.parse_ovs_tables('{"data":[],"headings":[]}\n')


def test_agent_ini_parses_like_oslo_config():
    ini = facts.parse_agent_ini("x", "[DEFAULT]\ndebug = true\n[ovs]\nlocal_ip = 1.2.3.4\n"
                                     "local_ip = 5.6.7.8\n[agent]\ntunnel_types=vxlan, gre\n")
    assert ini.get("ovs", "local_ip") == "5.6.7.8"      # the last one wins
    assert ini.get("agent", "tunnel_types") == "vxlan, gre"
    assert ini.get("ovs", "debug") is None              # DEFAULT is not copied into groups
    bad = facts.parse_agent_ini("x", "local_ip = 1.2.3.4\n")
    assert bad.exists and "section" in bad.error.lower()


# --- checks on the captures --------------------------------------------------------------------
ALL_CHECKS = (checks.agent_ini_tunnels, checks.ovs_answers, checks.tunnel_bridge_exists,
              checks.patch_ports_peer, checks.no_interface_errors, checks.vxlan_mesh)


@pytest.mark.parametrize("host", ["controller", "compute", "compute2"])
def test_healthy_hosts_pass_every_check_with_one_ovs_query(seed_site, host):
    remote = Captured("healthy", host)
    for check in ALL_CHECKS:
        if check is checks.vxlan_mesh and host in seed_site.overlay.l2_population:
            # the stand-in's capture: its tunnels to hosts without a shared port are extra
            assert check(seed_site, remote, {}) is None
            continue
        assert check(seed_site, remote) is None, check.__name__
    if host in seed_site.overlay.l2_population:
        assert checks.agent_ini_l2_population(seed_site, remote) is None
    assert remote.commands.count(facts.OVS_QUERY) == 1    # one query serves every check


def test_br_tun_missing_fails_bridge_errors_and_mesh(seed_site):
    remote = Captured("br-tun-missing", "compute2")
    f = checks.tunnel_bridge_exists(seed_site, remote)
    assert f.remediation == "ovs_patch_ports" and "br-tun missing" in f.message
    assert sorted(f.params["ports"]) == ["patch-int", "patch-tun"]
    f = checks.no_interface_errors(seed_site, remote)
    assert f.remediation == "ovs_patch_ports" and PATCH_ERROR in f.message
    assert f.params["ports"] == ["patch-int", "patch-tun"]
    f = checks.vxlan_mesh(seed_site, remote)
    assert f.params["missing"] == [t.name for t in vxlan_mesh(seed_site, "compute2")]
    assert f.params["bridge_missing"] is True
    assert checks.agent_ini_tunnels(seed_site, remote) is None


def test_patch_port_missing_fails_the_peers_and_errors_only(seed_site):
    remote = Captured("patch-port-missing", "compute2")
    assert checks.tunnel_bridge_exists(seed_site, remote) is None
    f = checks.patch_ports_peer(seed_site, remote)
    assert f.params == {"ports": ["patch-int"]}
    assert "patch-int missing from br-tun" in f.message
    assert checks.no_interface_errors(seed_site, remote).remediation == "ovs_patch_ports"
    assert checks.vxlan_mesh(seed_site, remote) is None


def test_vxlan_port_missing_names_the_endpoint(seed_site):
    remote = Captured("vxlan-port-missing", "compute2")
    f = checks.vxlan_mesh(seed_site, remote)
    gone = vxlan_mesh(seed_site, "compute2")[0]
    assert f.params["missing"] == [gone.name] and not f.params["wrong"]
    assert not f.params["remove"]
    assert f"to {gone.peer} ({gone.remote_ip}" in f.message
    for check in ALL_CHECKS[:-1]:
        assert check(seed_site, remote) is None


def test_wrong_local_ip_fails_the_ini_only(seed_site):
    """The agent refuses an address the host does not have and exits before touching its
    tunnels: they keep the right local_ip."""
    remote = Captured("ini-wrong-local-ip", "compute2")
    want = overlay_endpoints(seed_site)["compute2"]
    f = checks.agent_ini_tunnels(seed_site, remote)
    assert f.remediation == "ovs_agent_ini" and f"expected '{want}'" in f.message
    assert checks.vxlan_mesh(seed_site, remote) is None


def test_a_tunnel_with_a_wrong_local_ip_is_named(seed_site):
    remote = Captured("vxlan-wrong-local-ip", "compute2")
    want = overlay_endpoints(seed_site)["compute2"]
    first = sorted(vxlan_mesh(seed_site, "compute2"), key=lambda t: t.name)[0]
    f = checks.vxlan_mesh(seed_site, remote)
    assert f.params["wrong"] == [first.name] and not f.params["remove"]
    assert not f.params["missing"] and f"{first.name} to {first.peer}: local_ip=" in f.message
    assert f"expected {want}" in f.message


def test_missing_tunnel_types_fails_the_ini(seed_site):
    remote = Captured("ini-no-tunnel-types", "compute2")
    f = checks.agent_ini_tunnels(seed_site, remote)
    assert f.message.endswith("[agent] tunnel_types is missing, expected 'vxlan'")


def test_l2_population_only_where_asked(seed_site):
    text = (DATA / "healthy" / "controller" / "openvswitch_agent.ini").read_text()
    assert "l2_population = True" in text
    remote = Captured("healthy", "controller")
    remote._facts[("stackproof.facts.ovs", "agent_ini", neutron.AGENT_INI)] = CachedFact(
        facts.parse_agent_ini(neutron.AGENT_INI,
                              neutron.without_option(text, "agent", "l2_population")), None)
    f = checks.agent_ini_l2_population(seed_site, remote)
    assert f and "l2_population is missing" in f.message
    assert checks.agent_ini_tunnels(seed_site, remote) is None
    assert ("agent", "l2_population") not in neutron.required_options(seed_site, "compute")


def test_an_unknown_interface_error_is_not_auto_fixed(seed_site):
    st = state("br-tun-missing", "compute2")
    broken = facts.Interface("eth9", "", {}, "could not open network device eth9", -1)
    odd = facts.OvsState(True, st.bridges, {**st.interfaces, "eth9": broken},
                         st.port_interfaces)
    remote = Captured("healthy", "compute2")
    remote._facts[("stackproof.facts.ovs", "ovs_state")] = CachedFact(odd, None)
    f = checks.no_interface_errors(seed_site, remote)
    assert f.remediation == "ovs_interface_error"
    plan = ovs_interface_error.plan(ctx_for(seed_site, remote), f)
    assert plan.blocked and "eth9" in plan.render()


# --- remediation plans -------------------------------------------------------------------------
def test_patch_ports_plan_rebuilds_br_tun_idempotently(seed_site):
    remote = Captured("br-tun-missing", "compute2")
    f = checks.tunnel_bridge_exists(seed_site, remote)
    plan = ovs_patch_ports.plan(ctx_for(seed_site, remote), f)
    [step] = plan.steps
    assert isinstance(step, Run) and not plan.blocked
    assert step.command == ovs.vsctl(
        ["--may-exist", "add-br", "br-tun"],
        ["set", "Bridge", "br-tun", "fail_mode=secure", "datapath_type=system"],
        ["--may-exist", "add-port", "br-int", "patch-tun"],
        ["set", "Interface", "patch-tun", "type=patch", "options:peer=patch-int"],
        ["--may-exist", "add-port", "br-tun", "patch-int"],
        ["set", "Interface", "patch-int", "type=patch", "options:peer=patch-tun"])


def test_vxlan_plan_restarts_the_agent_and_never_adds_a_tunnel_port(seed_site):
    remote = Captured("vxlan-port-missing", "compute2")
    f = checks.vxlan_mesh(seed_site, remote)
    [step] = ovs_vxlan_ports.plan(ctx_for(seed_site, remote), f).steps
    assert step.command == "systemctl restart neutron-openvswitch-agent"   # seed: systemd
    assert "add-port" not in step.command


def test_vxlan_plan_for_a_wrong_local_ip_restarts_the_agent(seed_site):
    """The agent's add_tunnel_port sets the options of its own port again at start."""
    remote = Captured("vxlan-wrong-local-ip", "compute2")
    f = checks.vxlan_mesh(seed_site, remote)
    steps = ovs_vxlan_ports.plan(ctx_for(seed_site, remote), f).steps
    assert [s.command for s in steps] == ["systemctl restart neutron-openvswitch-agent"]


def test_vxlan_plan_removes_a_port_on_the_wrong_bridge_before_the_restart(seed_site):
    remote = Captured("healthy", "compute2")
    st = state("healthy", "compute2")
    first = sorted(vxlan_mesh(seed_site, "compute2"), key=lambda t: t.name)[0]
    moved = {**st.port_interfaces}
    # the port listed under br-int instead of br-tun (same captured interface rows)
    bridges = {**st.bridges}
    tun, integ = bridges["br-tun"], bridges["br-int"]
    bridges["br-tun"] = type(tun)(**{**tun.__dict__, "ports": tuple(
        x for x in tun.ports if x != first.name)})
    bridges["br-int"] = type(integ)(**{**integ.__dict__, "ports": (*integ.ports, first.name)})
    remote._facts[("stackproof.facts.ovs", "ovs_state")] = CachedFact(facts.OvsState(
        True, bridges, st.interfaces, moved), None)
    f = checks.vxlan_mesh(seed_site, remote)
    assert f.params["remove"] == [first.name]
    delete, restart = ovs_vxlan_ports.plan(ctx_for(seed_site, remote), f).steps
    assert f"del-port {first.name}" in delete.command and "add-port" not in delete.command
    assert restart.command == "systemctl restart neutron-openvswitch-agent"


def test_agent_ini_plan_edits_in_place_validates_and_restarts(seed_site, tmp_path):
    remote = Captured("ini-wrong-local-ip", "compute2")
    remote._by_command[f"cat {neutron.AGENT_INI}"] = "openvswitch_agent.ini"
    f = checks.agent_ini_tunnels(seed_site, remote)
    write, restart = ovs_agent_ini.plan(ctx_for(seed_site, remote), f).steps
    assert isinstance(write, WriteFile) and write.path == neutron.AGENT_INI
    new = facts.parse_agent_ini("new", write.content)
    assert new.get("ovs", "local_ip") == overlay_endpoints(seed_site)["compute2"]
    assert new.get("ovs", "bridge_mappings") == "physnet1:br-ex"       # the rest is kept
    assert restart.command == "systemctl restart neutron-openvswitch-agent"   # seed: systemd
    # the validation accepts the new file and rejects one that would not parse
    good, bad = tmp_path / "good.ini", tmp_path / "bad.ini"
    good.write_text(write.content)
    bad.write_text("local_ip = 1.2.3.4\n" + write.content)
    run = lambda p: subprocess.run(write.validate.replace("{path}", str(p)), shell=True,
                                   capture_output=True).returncode  # noqa: E731
    assert (run(good), run(bad) != 0) == (0, True)


# --- renderers and the stand-in agent ----------------------------------------------------------
@pytest.mark.parametrize("host", ["controller", "compute", "compute2"])
def test_the_lab_wrote_the_rendered_ini(seed_site, host):
    captured = (DATA / "healthy" / host / "openvswitch_agent.ini").read_text()
    assert captured == neutron.render_agent_ini(seed_site, host)


def test_with_options_keeps_comments_and_drops_duplicates():
    text = "# top\n[ovs]\n# the address\nlocal_ip = 9.9.9.9\nlocal_ip = 8.8.8.8\n\n[agent]\n"
    out = neutron.with_options(text, {("ovs", "local_ip"): "1.1.1.1",
                                      ("agent", "tunnel_types"): "vxlan",
                                      ("securitygroup", "firewall_driver"): "openvswitch"})
    assert out == ("# top\n[ovs]\n# the address\nlocal_ip = 1.1.1.1\n\n[agent]\n"
                   "tunnel_types = vxlan\n\n[securitygroup]\nfirewall_driver = openvswitch\n")


def test_four_host_layout_and_options(four_site):
    eps = overlay_endpoints(four_site)
    assert set(eps) == set(four_site.with_role("ovs_agent"))
    for host in eps:
        layout = ovs_layout(four_site, host)
        assert len(layout.tunnels) == len(eps) - 1
        assert {t.remote_ip for t in layout.tunnels} == set(eps.values()) - {eps[host]}
        opts = neutron.required_options(four_site, host)
        assert opts[("ovs", "local_ip")] == eps[host]
        assert (("agent", "l2_population") in opts) == (host in four_site.overlay.l2_population)
        assert ("ovs", "bridge_mappings") in neutron.agent_options(four_site, host)


def test_standin_agent_builds_what_the_suite_expects(seed_site):
    """The stand-in is written independently of the suite; they must agree on names and
    options, or the lab would test the suite against itself."""
    for t in vxlan_mesh(seed_site, "compute"):
        theirs = standin.ensure_tunnel("br-tun", standin.tunnel_port_name("vxlan", t.remote_ip),
                                       "vxlan", t.local_ip, t.remote_ip, 4789)
        assert theirs == ovs.ensure_tunnel("br-tun", t)
    assert standin.ensure_bridge("br-tun") == ovs.ensure_bridge("br-tun")
    pair = ovs_layout(seed_site, "compute").patch_named("patch-tun")
    assert standin.ensure_patch(pair.bridge, pair.port, pair.peer) == ovs.ensure_patch(pair)


def test_standin_reads_its_ini(tmp_path, seed_site):
    p = tmp_path / "agent.ini"
    p.write_text(neutron.render_agent_ini(seed_site, "compute2"))
    conf = standin.read_config(str(p))
    assert conf["local_ip"] == overlay_endpoints(seed_site)["compute2"]
    assert conf["tunnel_types"] == ["vxlan"] and conf["bridge_mappings"] == {
        "physnet1": "br-ex"}
    # it runs under the host's own python3 (no venv, no third-party packages): -I -S
    proc = subprocess.run(["/usr/bin/python3", "-I", "-S", standin.__file__, "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "--endpoints" in proc.stdout, proc.stderr
