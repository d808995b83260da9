"""The suite's Kubernetes layer on captured data: node and pod facts from the stand-in's
responses, kubelet facts from the worker's captured files, the checks' findings, and the
remediation plans (the token never in a plan); the drain against an in-process stand-in."""
from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from remediations import kube_drain, kube_join_config, kube_uncordon, kubelet_ip_lo
from stackproof.checks import kubernetes as checks
from stackproof.facts import kubelet as kf
from stackproof.facts.kubelet import JOIN_CONFIG_FILTER
from stackproof.facts.kubernetes import parse_node, parse_pod
from stackproof.facts.routes import ADDR_CMD
from stackproof.remedy import Call, Context, Run, WriteFile
from stackproof.remote import CommandResult
from stackproof.render import kubelet as rk
from stackproof.site import parse_site
from stackproof.targets import select_hosts
from fakes import ReplayCache  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "kube"
WORKER = "k8s-worker-1"


def captured(name: str, kind: str):
    record = json.loads((DATA / "api" / f"{name}.json").read_text())
    return client.ApiClient().deserialize(json.dumps(record["response"]), kind,
                                          "application/json")


def host_file(name: str) -> str:
    return (DATA / "host" / f"{name}.txt").read_text()


class FakeRemote(ReplayCache):
    """A host answering the suite's commands with captured outputs."""

    def __init__(self, name: str, answers: dict[str, tuple[int, str]]):
        self.name, self.answers, self.ran = name, answers, []
        self._facts = {}

    def run(self, command: str) -> CommandResult:
        self.ran.append(command)
        # a file the host does not have: cat's own words (only those count as "missing")
        rc, out = self.answers.get(command, (1, f"cat: {command.split()[-1]}: No such file "
                                                "or directory"))
        return CommandResult(command, rc, out if rc == 0 else "", "" if rc == 0 else out)


def worker(**override) -> FakeRemote:
    files = {
        "join": (0, host_file("join-config")), "flags": (0, host_file("kubeadm-flags")),
        "lo": (0, host_file("lo-addresses")), "unit": (0, host_file("unit")),
        "enabled": (0, host_file("unit-is-enabled")),
    }
    files.update(override)
    return FakeRemote(WORKER, {
        f"{JOIN_CONFIG_FILTER} {rk.JOIN_CONFIG}": files["join"],
        f"cat {rk.KUBEADM_FLAGS}": files["flags"],
        # captured as `ip -j -4 addr show dev lo`: lo's entry of ADDR_CMD's answer
        ADDR_CMD: files["lo"],
        f"cat {rk.UNIT_PATH}": files["unit"],
        f"systemctl is-enabled {rk.UNIT_NAME}": files["enabled"],
    })


class Fleet(dict):
    def __missing__(self, name):
        raise KeyError(name)


@pytest.fixture
def lab_site(seed_raw):
    """The seed site as a lab builds it: Debian hosts, no systemd."""
    for h in seed_raw["hosts"].values():
        h.update({"os_family": "debian", "init": "sysv"})
    return parse_site(seed_raw)


def ctx_for(site, remote, extras=None) -> Context:
    return Context(site, Fleet({remote.name: remote}), extras or {})


# --- facts -------------------------------------------------------------------------------
def test_node_facts_from_the_captured_list(seed_site):
    nodes = {n.metadata.name: parse_node(n) for n in captured("nodes-list", "V1NodeList").items}
    assert set(nodes) == {n.name for n in seed_site.kubernetes.nodes}
    for inv in seed_site.kubernetes.nodes:
        got = nodes[inv.name]
        assert got.internal_ip == str(inv.internal_ip) and got.ready == "True"
        assert got.control_plane == (inv.name == "master")
        assert not got.unschedulable


def test_pod_facts_know_daemonsets_mirrors_and_emptydirs():
    pods = [parse_pod(p) for p in captured("pods-all", "V1PodList").items]
    by_owner = {p.owner_kind for p in pods}
    assert {"DaemonSet", "ReplicaSet", "Node"} <= by_owner
    assert all(p.mirror for p in pods if p.owner_kind == "Node")
    web = [p for p in pods if dict(p.labels).get("app") == "web"]
    assert web and all(p.emptydir_volumes == ("cache",) for p in web)
    on_worker = [parse_pod(p) for p in captured("pods-on-worker", "V1PodList").items]
    assert {p.node for p in on_worker} == {WORKER}


def test_kubelet_facts_from_the_worker_files(seed_site):
    r = worker()
    join = kf.join_config(r)
    assert join.present and join.node_ip == "192.168.200.106" and join.has_token
    assert join.api_server_endpoint == seed_site.kubernetes.api_endpoint
    assert "token" not in json.dumps(join.__dict__).replace("has_token", "")
    flags = kf.kubelet_flags(r)
    assert flags.node_ip == "192.168.200.106" and flags.args[0].startswith("--container")
    assert "192.168.200.106/32" in kf.lo_addresses(r)
    assert kf.unit_enabled(r) == "enabled"
    assert kf.lo_addresses(r) == kf.lo_addresses(r)
    assert r.ran.count(ADDR_CMD) == 1                       # cached per host


def test_join_config_parser_takes_both_kubeadm_spellings():
    v4 = yaml.safe_dump({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration",
                         "nodeRegistration": {"kubeletExtraArgs": [
                             {"name": "node-ip", "value": "192.0.2.7"}]}})
    assert kf.parse_join_config("p", v4).node_ip == "192.0.2.7"
    assert kf.parse_join_config("p", "a: [").error.startswith("not valid YAML")
    assert not kf.parse_join_config("p", None).present


# --- checks on the kubelet host --------------------------------------------------------------
def test_healthy_worker_has_no_findings(seed_site):
    r = worker()
    for check in (checks.node_ip_on_lo, checks.unit_file_ok, checks.unit_enabled,
                  checks.join_config_node_ip):
        assert check(seed_site, r) is None


def test_rendered_unit_satisfies_the_check_and_every_part_matters():
    text = rk.unit_text("192.0.2.7")
    assert kf.unit_problems(kf.parse_unit("u", text), "192.0.2.7") == []
    for line, why in (("RemainAfterExit=yes", "RemainAfterExit"),
                      ("ExecStop=/usr/sbin/ip addr del 192.0.2.7/32 dev lo", "ExecStop"),
                      ("Wants=network-online.target", "Wants"),
                      ("WantedBy=multi-user.target", "WantedBy")):
        broken = text.replace(line + "\n", "")
        problems = kf.unit_problems(kf.parse_unit("u", broken), "192.0.2.7")
        assert len(problems) == 1 and why in problems[0]
    other = kf.parse_unit("u", text.replace("192.0.2.7", "192.0.2.8"))
    assert len(kf.unit_problems(other, "192.0.2.7")) == 2
    assert kf.is_ip_addr_command("-/sbin/ip address add 192.0.2.7/32 dev lo", "add",
                                 "192.0.2.7/32", "lo")


def test_floating_ip_off_lo_plans_the_address_and_a_kubelet_restart(lab_site):
    r = worker(lo=(0, host_file("lo-addresses-ip-off-lo")))
    finding = checks.node_ip_on_lo(lab_site, r)
    assert finding.remediation == "kubelet_ip_lo" and "is not on lo" in finding.message
    plan = kubelet_ip_lo.plan(ctx_for(lab_site, r), finding)
    commands = [s.command for s in plan.steps]
    assert commands == ["ip addr replace 192.168.200.106/32 dev lo",
                        "if pgrep -x kubelet >/dev/null; then service kubelet restart; fi"]


def test_missing_unit_is_written_and_enabled_per_init(seed_site, lab_site):
    missing = host_file("unit-is-enabled-missing")
    r = worker(unit=(1, "cat: x: No such file or directory"), enabled=(1, missing))
    finding = checks.unit_file_ok(lab_site, r)
    assert finding and f"{rk.UNIT_PATH} is missing" in finding.message
    assert kf.unit_enabled(r) == "not-found"
    lab_plan = kubelet_ip_lo.plan(ctx_for(lab_site, r), finding)
    assert isinstance(lab_plan.steps[0], WriteFile) and lab_plan.steps[0].path == rk.UNIT_PATH
    assert lab_plan.steps[1].command == f"systemctl enable {rk.UNIT_NAME}"
    prod_plan = kubelet_ip_lo.plan(ctx_for(seed_site, worker(unit=(1, "No such file or directory"),
                                                       enabled=(1, missing))),
                                   finding)
    assert prod_plan.steps[1].command.startswith("systemctl daemon-reload && systemctl enable")


def test_disabled_unit_only_gets_enabled(lab_site):
    r = worker(enabled=(1, host_file("unit-is-enabled-disabled")))
    finding = checks.unit_enabled(lab_site, r)
    assert finding and "is disabled" in finding.message
    plan = kubelet_ip_lo.plan(ctx_for(lab_site, r), finding)
    assert [type(s) for s in plan.steps] == [Run]


def test_join_without_node_ip_plans_the_file_edit_and_the_flags(lab_site):
    r = worker(join=(0, host_file("join-config-no-node-ip")),
               flags=(0, host_file("kubeadm-flags-no-node-ip")))
    finding = checks.join_config_node_ip(lab_site, r)
    assert finding.remediation == "kube_join_config"
    assert "node-ip none" in finding.message and "--node-ip none" in finding.message
    plan = kube_join_config.plan(ctx_for(lab_site, r), finding)
    assert plan.blocked is None
    call, flags, restart = plan.steps
    assert isinstance(call, Call) and "never shown" in call.describe()
    assert flags.path == rk.KUBEADM_FLAGS and "--node-ip=192.168.200.106" in flags.content
    assert "--container-runtime-endpoint=" in flags.content
    assert "kubelet" in restart.command


def test_a_node_that_must_rejoin_is_a_plan_for_the_operator(lab_site, seed_raw):
    r = worker(join=(1, ""), flags=(1, "No such file or directory"))
    finding = checks.join_config_node_ip(lab_site, r)
    plan = kube_join_config.plan(ctx_for(lab_site, r), finding)
    assert plan.blocked and "kubeadm token create" in plan.blocked
    text = plan.render()
    assert "kubeadm reset -f && kubeadm join --config /etc/kubernetes/join-config.yaml" in text
    assert "<a bootstrap token" in yaml.safe_load(plan.steps[0].content)["discovery"][
        "bootstrapToken"]["token"]


def test_env_flag_replacement_keeps_the_rest():
    text = 'KUBELET_EXTRA_ARGS="--v=2 --node-ip 10.0.0.1"\n'
    assert kube_join_config.replace_env_flag(text, "KUBELET_EXTRA_ARGS", "node-ip", "1.2.3.4") \
        == 'KUBELET_EXTRA_ARGS="--v=2 --node-ip=1.2.3.4"\n'
    assert kube_join_config.replace_env_flag("", "KUBELET_EXTRA_ARGS", "node-ip", "1.2.3.4") \
        == 'KUBELET_EXTRA_ARGS="--node-ip=1.2.3.4"\n'
    assert rk.kubeadm_flags_text("1.2.3.4", ["--a=b", "--node-ip", "9.9.9.9"]) == \
        'KUBELET_KUBEADM_ARGS="--a=b --node-ip=1.2.3.4"\n'


def test_setting_node_ip_keeps_the_token():
    config = rk.join_config(endpoint="e:6443", token="abcdef.0123456789abcdef",
                            ca_cert_hash="sha256:" + "0" * 64, node="n", node_ip=None)
    out = rk.set_join_node_ip(config, "192.0.2.9")
    assert out["discovery"] == config["discovery"]
    assert out["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": "192.0.2.9"}
    assert "kubeletExtraArgs" not in rk.set_join_node_ip(out, None)["nodeRegistration"]


# --- checks on the API side --------------------------------------------------------------
class FakeKube:
    def __init__(self, nodes, pods=()):
        self._nodes = {n.name: n for n in nodes}
        self._pods = list(pods)

    def nodes(self):
        return self._nodes

    def node(self, name):
        return self._nodes.get(name)

    def pods_on(self, node):
        return [p for p in self._pods if p.node == node]


def kube_from(name: str, **extra) -> FakeKube:
    return FakeKube([parse_node(n) for n in captured(name, "V1NodeList").items], **extra)


def inv_node(site, name):
    return next(n for n in site.kubernetes.nodes if n.name == name)


def test_not_ready_without_the_floating_ip_points_at_lo(seed_site):
    kube = kube_from("nodes-list-ip-off-lo")
    f = checks.ready(seed_site, kube, inv_node(seed_site, WORKER))
    assert f.remediation == "kubelet_ip_lo" and f.host == WORKER
    assert 'node IP: "192.168.200.106" not found' in f.message
    assert checks.ready(seed_site, kube, inv_node(seed_site, "master")) is None


def test_joined_without_node_ip_points_at_the_join_config(seed_site):
    kube = kube_from("nodes-list-no-node-ip")
    node = inv_node(seed_site, WORKER)
    f = checks.internal_ip(seed_site, kube, node)
    assert f.remediation == "kube_join_config" and "the inventory says 192.168.200.106" in f.message
    ready = checks.ready(seed_site, kube, node)
    assert ready is None or ready.remediation == "kube_join_config"


def test_cordoned_node_is_uncordoned_through_the_api(seed_site):
    cordoned = parse_node(captured("patch-strategic-cordon", "V1Node"))
    assert cordoned.unschedulable
    kube = FakeKube([cordoned])
    f = checks.schedulable(seed_site, kube, inv_node(seed_site, WORKER))
    assert f.remediation == "kube_uncordon"
    calls = []

    class Core:
        def patch_node(self, name, body, **kw):
            calls.append((name, body))
            return captured("patch-strategic-uncordon", "V1Node")

    class Api:
        core = Core()
    plan = kube_uncordon.plan(Context(seed_site, Fleet(), {"kube": Api()}), f)
    assert f"# kubectl --context {seed_site.kubernetes.context} uncordon {WORKER}" in \
        plan.render()
    assert plan.steps[0].fn() == f"node {WORKER} unschedulable=False"
    assert calls == [(WORKER, {"spec": {"unschedulable": None}})]


def test_unregistered_node_needs_a_join(seed_site):
    kube = FakeKube([parse_node(n) for n in captured("nodes-list", "V1NodeList").items
                     if n.metadata.name != WORKER])
    f = checks.registered(seed_site, kube, inv_node(seed_site, WORKER))
    assert f.remediation == "kube_join_config" and f.params["missing"]
    schedulable_node = dict(seed_site.kubernetes.nodes[0].model_dump())
    assert schedulable_node["schedulable"] is True


def test_drained_check_ignores_daemonsets_and_mirror_pods(seed_site):
    pods = [parse_pod(p) for p in captured("pods-all", "V1PodList").items]
    kube = FakeKube([], pods)
    f = checks.drained(seed_site, kube, WORKER)
    assert f.remediation == "kube_drain" and "default/web-" in f.message
    assert "kube-proxy" not in f.message and "kube-flannel" not in f.message
    only_ds = FakeKube([], [p for p in pods if p.daemonset or p.mirror])
    assert checks.drained(seed_site, only_ds, WORKER) is None
    assert checks.drained(seed_site, only_ds, "master") is None


def test_selectors_for_the_kubernetes_scenarios(seed_site, four_site):
    assert select_hosts(seed_site, "kube_node") == ["master", "k8s-worker-1", "k8s-worker-2"]
    assert select_hosts(seed_site, "kube_floating_ip") == ["k8s-worker-1", "k8s-worker-2"]
    assert select_hosts(four_site, "kube_floating_ip") == ["kw-1", "kw-2"]


# --- the drain, against an in-process stand-in ---------------------------------------------
@pytest.fixture
def live(seed_site, tmp_path):
    from fixtures.kube import connect
    from stackproof.facts.kubernetes import KubeFacts
    from stackproof_lab.kube.cluster import Cluster, NodeConfig
    from stackproof_lab.kube.server import StandInServer
    nodes = [NodeConfig(n.name, n.name == "master", str(n.internal_ip))
             for n in seed_site.kubernetes.nodes]
    from stackproof_lab.kube import tls
    certs = tls.ensure(tmp_path)            # https with a CA, as the lab serves it
    server = StandInServer(Cluster(nodes, cluster_id="drain"), "t",
                           ssl_context=tls.server_context(certs))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    cfg = tmp_path / "kubeconfig"
    cfg.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "homelab",
        "clusters": [{"name": "c", "cluster": {
            "server": server.url,
            "certificate-authority-data": base64.b64encode(certs.ca.read_bytes()).decode()}}],
        "contexts": [{"name": "homelab", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    raw = seed_site.model_dump(mode="json", exclude_none=True)
    raw["kubernetes"]["kubeconfig"] = str(cfg)
    api = connect(parse_site(raw))
    yield api, KubeFacts(api)
    server.shutdown()
    server.server_close()


def test_drain_cordons_evicts_through_budgets_and_leaves_daemonsets(seed_site, live,
                                                                    monkeypatch):
    api, facts = live
    monkeypatch.setattr(kube_drain, "RETRY_INTERVAL", 0.2)
    finding = checks.cordoned(seed_site, facts, WORKER)
    assert finding.remediation == "kube_drain"
    plan = kube_drain.plan(Context(seed_site, Fleet(), {"kube": api, "kube_facts": facts}),
                           finding)
    assert plan.destructive and "emptyDir data deleted" in plan.render()
    assert "default/web (allows 1 now)" in plan.render()
    kubectl = f"# kubectl --context {seed_site.kubernetes.context}"
    assert f"{kubectl} cordon {WORKER}" in plan.render()
    assert f"{kubectl} drain {WORKER} --ignore-daemonsets --delete-emptydir-data" in \
        plan.render()
    results = [s.fn() for s in plan.steps]
    assert results[0] == f"node {WORKER} unschedulable=True"
    assert "waited for a PodDisruptionBudget" in results[1]
    facts.invalidate()
    assert checks.cordoned(seed_site, facts, WORKER) is None
    assert checks.drained(seed_site, facts, WORKER) is None
    left = facts.pods_on(WORKER)
    assert left and all(p.daemonset for p in left)


def test_not_ready_for_an_unknown_reason_says_where_to_look_and_plans_nothing(seed_site):
    """kube_node_ready is no fix: the finding names kubelet's status and log on the node's
    host, and its plan is blocked with no step (a captured NotReady node whose message no
    known cause explains: kubelet's message removed)."""
    from dataclasses import replace
    from remediations import kube_node_ready
    kube = kube_from("nodes-list-ip-off-lo")
    node = inv_node(seed_site, WORKER)
    got = kube.node(WORKER)
    assert got.ready == "False"
    unexplained = FakeKube([replace(got, ready_message="")])
    f = checks.ready(seed_site, unexplained, node)
    assert f.remediation == "kube_node_ready" and f.host == node.host
    assert f"look on {node.host}: `systemctl status kubelet`" in f.message
    assert "journalctl -u kubelet" in f.message
    plan = kube_node_ready.plan(Context(seed_site, Fleet(), {}), f)
    assert plan.steps == () and "no known fix" in plan.blocked
