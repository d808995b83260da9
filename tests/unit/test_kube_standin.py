"""The Kubernetes API stand-in's pieces: selectors, the three patch types, kubelet's node-IP
decision on captured host observations, and the cluster's controllers (cordon, eviction
with budgets, DaemonSets, node taints) on a fake clock."""
from __future__ import annotations

from pathlib import Path

import pytest

from stackproof_lab.kube import kubelet
from stackproof_lab.kube.cluster import Cluster, NodeConfig
from stackproof_lab.kube.kubelet import KubeletView
from stackproof_lab.kube.objects import ApiError
from stackproof_lab.kube.patch import (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH,
                                       PatchError, apply_patch)
from stackproof_lab.kube.selectors import (SelectorError, match_fields, match_labels,
                                           parse_field_selector, parse_label_selector)

HOST = Path(__file__).resolve().parents[1] / "data" / "kube" / "host"


# --- selectors -----------------------------------------------------------------------------
@pytest.mark.parametrize("selector, labels, expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web", {"app": "db"}, False),
    ("app!=web", {}, True),
    ("app in (web, db),tier", {"app": "db", "tier": "x"}, True),
    ("app notin (web)", {"app": "web"}, False),
    ("node-role.kubernetes.io/control-plane", {"node-role.kubernetes.io/control-plane": ""},
     True),
    ("!node-role.kubernetes.io/control-plane", {"node-role.kubernetes.io/control-plane": ""},
     False),
    ("gen>1", {"gen": "2"}, True),
    ("gen<1", {"gen": "2"}, False),
    ("", {"any": "thing"}, True),
])
def test_label_selectors(selector, labels, expected):
    assert match_labels(parse_label_selector(selector), labels) is expected


@pytest.mark.parametrize("bad", ["a b=c", "app in ()", "gen>x", "app=-bad-", "a,,b"])
def test_bad_label_selectors_are_400s(bad):
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_field_selectors_know_their_fields():
    reqs = parse_field_selector(r"spec.nodeName=w1,status.phase!=Failed", {"spec.nodeName",
                                                                           "status.phase"})
    values = {"spec.nodeName": "w1", "status.phase": "Running"}
    assert match_fields(reqs, values.__getitem__)
    assert not match_fields(reqs, {**values, "status.phase": "Failed"}.__getitem__)
    esc = parse_field_selector(r"metadata.name=a\,b", {"metadata.name"})
    assert esc[0].value == "a,b"
    with pytest.raises(SelectorError, match="field label not supported: spec.nope"):
        parse_field_selector("spec.nope=x", {"spec.nodeName"})


# --- patches -------------------------------------------------------------------------------
NODE = {"metadata": {"name": "n", "labels": {"a": "1", "b": "2"}},
        "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"},
                                  {"type": "DiskPressure", "status": "False"}]}}


def test_json_patch_operations():
    out = apply_patch(NODE, JSON_PATCH, [
        {"op": "add", "path": "/spec/unschedulable", "value": True},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "replace", "path": "/metadata/labels/b", "value": "3"},
        {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/c"},
        {"op": "move", "from": "/spec/taints/0", "path": "/spec/taints/-"},
        {"op": "test", "path": "/metadata/name", "value": "n"},
    ])
    assert out["spec"]["unschedulable"] is True
    assert out["metadata"]["labels"] == {"b": "3", "c": "3"}
    assert NODE["metadata"]["labels"] == {"a": "1", "b": "2"}     # the input is untouched
    with pytest.raises(PatchError) as failed:
        apply_patch(NODE, JSON_PATCH, [{"op": "test", "path": "/metadata/name", "value": "m"}])
    assert failed.value.code == 422
    with pytest.raises(PatchError):
        apply_patch(NODE, JSON_PATCH, [{"op": "remove", "path": "/metadata/labels/zz"}])


def test_merge_patch_deletes_with_null_and_replaces_lists():
    out = apply_patch(NODE, MERGE_PATCH, {"metadata": {"labels": {"a": None, "c": "9"}},
                                          "status": {"conditions": [{"type": "Ready"}]}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "9"}
    assert out["status"]["conditions"] == [{"type": "Ready"}]


def test_strategic_merge_merges_conditions_by_type_and_replaces_taints():
    out = apply_patch(NODE, STRATEGIC_MERGE_PATCH, {
        "spec": {"unschedulable": True, "taints": [{"key": "y", "effect": "NoExecute"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"},
                                  {"type": "DiskPressure", "$patch": "delete"}]}})
    assert out["spec"]["taints"] == [{"key": "y", "effect": "NoExecute"}]
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "False"}]
    assert apply_patch(NODE, STRATEGIC_MERGE_PATCH, {"spec": {"$patch": "replace"}})["spec"] == {}
    with pytest.raises(PatchError) as wrong:
        apply_patch(NODE, "application/json", {})
    assert wrong.value.code == 415


# --- kubelet's view, from captured host observations ---------------------------------------
def observed(name: str) -> kubelet.Observation:
    return kubelet.parse_observation((HOST / f"{name}.txt").read_text())


def test_worker_with_its_floating_ip_on_lo_is_ready(seed_site):
    node = next(n for n in seed_site.kubernetes.nodes if n.name == "k8s-worker-1")
    view = kubelet.decide(observed("observe-worker"), node.name)
    assert (view.node_ip, view.internal_ip, view.ready) == (str(node.internal_ip),) * 2 + ("True",)
    assert view.source == kubelet.FLAGS_FILE
    assert view.os_image.startswith("Debian GNU/Linux")


def test_worker_without_its_floating_ip_is_not_ready_with_kubelets_message(seed_site):
    node = next(n for n in seed_site.kubernetes.nodes if n.name == "k8s-worker-1")
    view = kubelet.decide(observed("observe-worker-ip-off-lo"), node.name)
    assert view.ready == "False" and view.reason == "KubeletNotReady"
    assert view.message == (f'failed to validate nodeIP: node IP: "{node.internal_ip}" not '
                            "found in the host's network interfaces")
    assert view.internal_ip == str(node.internal_ip)


def test_worker_joined_without_node_ip_does_not_get_its_floating_ip(seed_site):
    node = next(n for n in seed_site.kubernetes.nodes if n.name == "k8s-worker-1")
    obs = observed("observe-worker-no-node-ip")
    assert kubelet.given_node_ip(obs)[0] is None
    view = kubelet.decide(obs, node.name)
    assert view.internal_ip != str(node.internal_ip)
    assert view.node_ip is None


def test_control_plane_picks_the_address_its_name_resolves_to(seed_site):
    node = next(n for n in seed_site.kubernetes.nodes if n.name == "master")
    view = kubelet.decide(observed("observe-control-plane"), node.name)
    assert (view.internal_ip, view.ready, view.source) == (str(node.internal_ip), "True",
                                                          "hostname lookup")


def test_flags_and_join_config_precedence():
    base = observed("observe-worker")
    # no flags file yet: the JoinConfiguration decides (as kubeadm join would)
    joined = kubelet.Observation(**{**base.__dict__, "flags_present": False, "flags_text": ""})
    assert kubelet.given_node_ip(joined)[1] == "JoinConfiguration"
    extra = kubelet.Observation(**{**base.__dict__,
                                   "extra_args_text": 'KUBELET_EXTRA_ARGS="--node-ip=10.9.9.9"'})
    view = kubelet.decide(extra, "k8s-worker-1")
    assert view.node_ip == "10.9.9.9" and view.ready == "False"
    assert kubelet.validate_node_ip("127.0.0.1", {"127.0.0.1"}) == \
        "nodeIP can't be loopback address"


# --- the cluster on a fake clock -------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 1_700_000_000.0

    def __call__(self):
        return self.t


def cluster(ready=None):
    clock = Clock()
    state = {"w1": "True", "w2": "True", "cp": "True", **(ready or {})}

    def observer(cfg):
        r = state[cfg.name]
        return KubeletView(cfg.internal_ip, "test", cfg.internal_ip, r,
                           "KubeletReady" if r == "True" else "KubeletNotReady",
                           "kubelet is posting ready status" if r == "True" else "broken",
                           "Debian GNU/Linux 12 (bookworm)")
    nodes = [NodeConfig("cp", True, "10.0.0.1"), NodeConfig("w1", False, "10.0.0.2"),
             NodeConfig("w2", False, "10.0.0.3")]
    return Cluster(nodes, cluster_id="unit", observer=observer, clock=clock), clock, state


def pods_of(c, node=None, label=None):
    items, _ = c.list_pods(None, label, f"spec.nodeName={node}" if node else None)
    return items


def test_seeded_cluster_runs_daemonsets_everywhere_and_web_on_workers():
    c, _, _ = cluster()
    for node in ("cp", "w1", "w2"):
        kinds = {p["metadata"]["ownerReferences"][0]["kind"] for p in pods_of(c, node)}
        assert "DaemonSet" in kinds
    assert {p["spec"]["nodeName"] for p in pods_of(c, label="app=web")} == {"w1", "w2"}
    assert {p["status"]["phase"] for p in pods_of(c)} == {"Running"}
    mirror = [p for p in pods_of(c, "cp") if p["metadata"]["ownerReferences"][0]["kind"] == "Node"]
    assert len(mirror) == 4 and all("kubernetes.io/config.mirror" in p["metadata"]["annotations"]
                                    for p in mirror)


def test_cordon_keeps_replacements_off_the_node_and_budget_says_429_until_ready():
    c, clock, _ = cluster()
    c.patch_node("w1", STRATEGIC_MERGE_PATCH, {"spec": {"unschedulable": True}})
    node = c.get_node("w1")
    assert {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"} in \
        node["spec"]["taints"]
    web = [p["metadata"]["name"] for p in pods_of(c, "w1", "app=web")]
    assert len(web) == 2
    assert c.evict("default", web[0], {"kind": "Eviction"})["code"] == 201
    with pytest.raises(ApiError) as blocked:
        c.evict("default", web[1], {"kind": "Eviction"})
    assert blocked.value.code == 429
    assert blocked.value.details["causes"][0]["reason"] == "DisruptionBudget"
    clock.t += 2                                    # the replacement on w2 becomes Ready
    assert c.evict("default", web[1], {"kind": "Eviction"})["code"] == 201
    clock.t += 2
    assert pods_of(c, "w1", "app=web") == []
    assert len([p for p in pods_of(c, "w2", "app=web") if p["status"]["phase"] == "Running"]) == 3


def test_evicted_pods_with_nowhere_to_go_stay_pending_with_the_schedulers_reason():
    c, clock, _ = cluster()
    for n in ("w1", "w2"):
        c.patch_node(n, STRATEGIC_MERGE_PATCH, {"spec": {"unschedulable": True}})
    victim = pods_of(c, "w1", "app=web")[0]["metadata"]["name"]
    c.evict("default", victim, {"kind": "Eviction"})
    clock.t += 2
    pending = [p for p in pods_of(c, label="app=web") if not p["spec"].get("nodeName")]
    assert len(pending) == 1
    msg = pending[0]["status"]["conditions"][0]["message"]
    assert "2 node(s) were unschedulable" in msg and "untolerated taint" in msg
    c.patch_node("w2", MERGE_PATCH, {"spec": {"unschedulable": None}})
    assert [p for p in pods_of(c, label="app=web") if not p["spec"].get("nodeName")] == []


def test_a_deleted_daemonset_pod_comes_back():
    c, clock, _ = cluster()
    ds = next(p for p in pods_of(c, "w2") if p["metadata"]["ownerReferences"][0]["kind"]
              == "DaemonSet")
    gone = c.delete_pod(ds["metadata"]["namespace"], ds["metadata"]["name"],
                        {"gracePeriodSeconds": 0})
    assert "deletionTimestamp" in gone["metadata"]
    clock.t += 1
    again = [p for p in pods_of(c, "w2") if p["metadata"]["labels"] == ds["metadata"]["labels"]]
    assert len(again) == 1 and again[0]["metadata"]["name"] != ds["metadata"]["name"]


def test_not_ready_node_gets_the_lifecycle_taints_and_loses_them_again():
    c, clock, state = cluster()
    state["w2"] = "False"
    clock.t += 5
    node = c.get_node("w2")
    ready = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
    assert ready["status"] == "False" and ready["lastTransitionTime"] == ready["lastHeartbeatTime"]
    keys = {(t["key"], t["effect"]) for t in node["spec"]["taints"]}
    assert keys == {("node.kubernetes.io/not-ready", "NoSchedule"),
                    ("node.kubernetes.io/not-ready", "NoExecute")}
    state["w2"] = "True"
    clock.t += 5
    assert "taints" not in c.get_node("w2")["spec"]


def test_patch_rules_of_the_api_server():
    c, _, _ = cluster()
    node = c.get_node("w1")
    stale = str(int(node["metadata"]["resourceVersion"]) - 1)
    with pytest.raises(ApiError) as conflict:
        c.patch_node("w1", MERGE_PATCH, {"metadata": {"resourceVersion": stale},
                                         "spec": {"unschedulable": True}})
    assert conflict.value.code == 409
    with pytest.raises(ApiError) as bad:
        c.patch_node("w1", MERGE_PATCH, {"spec": {"unschedulable": "yes"}})
    assert bad.value.code == 400
    with pytest.raises(ApiError) as invalid:
        c.patch_node("w1", JSON_PATCH, [{"op": "add", "path": "/spec/taints",
                                         "value": [{"key": "k", "effect": "Sometimes"}]}])
    assert invalid.value.code == 422
    # status is the kubelet's: a patch through the main resource does not change it
    after = c.patch_node("w1", MERGE_PATCH, {"status": {"addresses": []}})
    assert after["status"]["addresses"] == node["status"]["addresses"]
    with pytest.raises(ApiError) as missing:
        c.get_node("nope")
    assert missing.value.code == 404 and missing.value.message == 'nodes "nope" not found'
