"""Contract: the official `kubernetes` client (strict pydantic models) accepts every response
of the API stand-in, captured (tests/data/kube/api) and live (an in-process stand-in on
127.0.0.1, driven through a kubeconfig exactly as the suite does)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from fixtures.kube import KubeConfigError, connect
from stackproof.facts.kubernetes import KubeFacts, KubeUnavailable
from stackproof_lab.kube.cluster import Cluster, NodeConfig
from stackproof_lab.kube.server import StandInServer
from stackproof.site import parse_site

API = Path(__file__).resolve().parents[1] / "data" / "kube" / "api"
CAPTURED = sorted(API.glob("*.json"))


def response_type(record: dict) -> str:
    """The model the client's method declares for this response (error bodies: Status)."""
    req, status = record["request"], record["status"]
    path = req["path"].split("?")[0]
    if status >= 400:
        return "V1Status"
    if path.endswith("/eviction"):
        return "V1Eviction"
    if path.endswith("/poddisruptionbudgets"):
        return "V1PodDisruptionBudgetList"
    if path.endswith("/nodes"):
        return "V1NodeList"
    if "/nodes/" in path:
        return "V1Node"
    if path.endswith("/pods"):
        return "V1PodList"
    return "V1Pod"


def test_every_kind_of_response_was_captured():
    names = {p.stem for p in CAPTURED}
    for needed in ("nodes-list", "node-read", "patch-strategic-cordon", "patch-merge-label",
                   "patch-json-unlabel", "eviction-201", "eviction-429", "node-404",
                   "pods-on-worker", "pdbs"):
        assert needed in names


@pytest.mark.parametrize("path", CAPTURED, ids=[p.stem for p in CAPTURED])
def test_the_client_deserializes_every_captured_response(path):
    record = json.loads(path.read_text())
    kind = response_type(record)
    obj = client.ApiClient().deserialize(json.dumps(record["response"]), kind,
                                         record["content_type"])
    assert type(obj).__name__ == kind
    if kind == "V1Status":
        assert obj.code == record["status"] and obj.status == "Failure" and obj.reason
    if kind == "V1NodeList":
        for node in obj.items:
            info = node.status.node_info
            assert info.machine_id and info.boot_id and info.kubelet_version
            assert all(c.last_heartbeat_time and c.last_transition_time and c.reason
                       for c in node.status.conditions)
            assert {a.type for a in node.status.addresses} >= {"Hostname"}
            assert node.status.capacity["pods"] and node.status.allocatable["cpu"]


def test_captured_429_names_the_budget():
    record = json.loads((API / "eviction-429.json").read_text())
    assert record["status"] == 429
    status = client.ApiClient().deserialize(json.dumps(record["response"]), "V1Status",
                                            "application/json")
    assert status.reason == "TooManyRequests"
    assert status.details.causes[0].reason == "DisruptionBudget"
    assert status.details.causes[0].message.startswith("The disruption budget web needs ")


# --- live -----------------------------------------------------------------------------------
TOKEN = "unit-test-token"


@pytest.fixture(scope="module")
def standin(tmp_path_factory, request):
    seed = yaml.safe_load((Path(__file__).resolve().parents[2] / "inventories" /
                           "seed.yml").read_text())
    nodes = [NodeConfig(n["name"], n["name"] == "master", n["internal_ip"])
             for n in seed["kubernetes"]["nodes"]]
    cluster = Cluster(nodes, cluster_id="contract")
    server = StandInServer(cluster, TOKEN)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    d = tmp_path_factory.mktemp("kube")
    kubeconfig = d / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "lab", "cluster": {"server": server.url}}],
        "contexts": [{"name": seed["kubernetes"]["context"],
                      "context": {"cluster": "lab", "user": "admin"}},
                     {"name": "other", "context": {"cluster": "lab", "user": "nobody"}}],
        "users": [{"name": "admin", "user": {"token": TOKEN}},
                  {"name": "nobody", "user": {"token": "wrong"}}]}))
    seed["kubernetes"]["kubeconfig"] = str(kubeconfig)
    site = parse_site(seed)
    yield site, server, cluster
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def api(standin):
    site, _, _ = standin
    return connect(site)


def test_list_with_selectors_and_pages(api, standin):
    site = standin[0]
    names = [n.name for n in site.kubernetes.nodes]
    listed = api.core.list_node()
    assert [n.metadata.name for n in listed.items] == names
    cp = api.core.list_node(label_selector="node-role.kubernetes.io/control-plane")
    assert [n.metadata.name for n in cp.items] == ["master"]
    assert cp.items[0].spec.taints[0].key == "node-role.kubernetes.io/control-plane"
    one = api.core.list_node(field_selector=f"metadata.name={names[1]}")
    assert [n.metadata.name for n in one.items] == [names[1]]
    page = api.core.list_node(limit=2)
    assert len(page.items) == 2 and page.metadata.remaining_item_count == 1
    rest = api.core.list_node(limit=2, _continue=page.metadata.var_continue)
    assert [n.metadata.name for n in rest.items] == names[2:]


def test_read_and_patch_with_all_three_content_types(api):
    node = api.core.read_node("k8s-worker-1")
    assert node.status.addresses[0].type == "InternalIP"
    cordoned = api.core.patch_node("k8s-worker-1", {"spec": {"unschedulable": True}})
    assert cordoned.spec.unschedulable is True
    labelled = api.core.patch_node("k8s-worker-1", {"metadata": {"labels": {"x": "y"}}},
                                   _content_type="application/merge-patch+json")
    assert labelled.metadata.labels["x"] == "y" and labelled.spec.unschedulable
    unlabelled = api.core.patch_node("k8s-worker-1",
                                     [{"op": "remove", "path": "/metadata/labels/x"},
                                      {"op": "remove", "path": "/spec/unschedulable"}])
    assert "x" not in unlabelled.metadata.labels and not unlabelled.spec.unschedulable
    assert int(unlabelled.metadata.resource_version) > int(node.metadata.resource_version)


def test_pods_by_node_and_label_and_eviction_with_a_budget(api, standin):
    _, _, cluster = standin
    on = api.core.list_pod_for_all_namespaces(field_selector="spec.nodeName=k8s-worker-1")
    assert on.items and {p.spec.node_name for p in on.items} == {"k8s-worker-1"}
    assert any(p.metadata.owner_references[0].kind == "DaemonSet" for p in on.items)
    web = api.core.list_namespaced_pod("default", label_selector="app=web")
    mine = [p for p in web.items if p.spec.node_name == "k8s-worker-1"]
    assert len(mine) == 2 and mine[0].spec.volumes[0].empty_dir is not None
    pdb = api.policy.list_pod_disruption_budget_for_all_namespaces().items[0]
    assert pdb.status.disruptions_allowed == 1
    body = client.V1Eviction(api_version="policy/v1", kind="Eviction",
                             metadata=client.V1ObjectMeta(name=mine[0].metadata.name,
                                                          namespace="default"))
    done = api.core.create_namespaced_pod_eviction(mine[0].metadata.name, "default", body)
    assert done.kind == "Status"
    body.metadata.name = mine[1].metadata.name
    with pytest.raises(ApiException) as blocked:
        api.core.create_namespaced_pod_eviction(mine[1].metadata.name, "default", body)
    assert blocked.value.status == 429
    status = api.client.deserialize(blocked.value.body, "V1Status", "application/json")
    assert status.details.causes[0].reason == "DisruptionBudget"


def test_errors_are_status_objects(api, standin):
    with pytest.raises(ApiException) as missing:
        api.core.read_node("no-such-node")
    assert missing.value.status == 404
    status = api.client.deserialize(missing.value.body, "V1Status", "application/json")
    assert (status.reason, status.details.kind) == ("NotFound", "nodes")
    with pytest.raises(ApiException) as bad:
        api.core.list_pod_for_all_namespaces(field_selector="spec.nope=x")
    assert bad.value.status == 400 and "field label not supported" in bad.value.body
    ds = next(p for p in api.core.list_pod_for_all_namespaces().items
              if p.metadata.owner_references[0].kind == "DaemonSet")
    deleted = api.core.delete_namespaced_pod(ds.metadata.name, ds.metadata.namespace)
    assert deleted.metadata.deletion_timestamp is not None


def test_the_kubeconfig_context_carries_the_token(standin):
    site = standin[0]
    wrong = parse_site({**site.model_dump(mode="json", exclude_none=True),
                        "kubernetes": {**site.kubernetes.model_dump(mode="json",
                                                                   exclude_none=True),
                                       "context": "other"}})
    facts = KubeFacts(connect(wrong))
    with pytest.raises(KubeUnavailable, match="401"):
        facts.nodes()
    missing = parse_site({**site.model_dump(mode="json", exclude_none=True),
                          "kubernetes": {**site.kubernetes.model_dump(mode="json",
                                                                     exclude_none=True),
                                         "context": "no-such-context"}})
    with pytest.raises(KubeConfigError, match="no-such-context"):
        connect(missing)


def test_facts_list_nodes_once_per_run(api):
    facts = KubeFacts(api)
    for _ in range(3):
        assert facts.node("master").control_plane
    assert facts.calls == 1
    facts.pods_on("master")
    facts.pods_on("master")
    assert facts.calls == 2
    facts.invalidate()
    facts.nodes()
    assert facts.calls == 3
