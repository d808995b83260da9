"""What the stand-in serves for kubectl: https with the lab's CA, discovery (aggregated and
unaggregated), content negotiation, server-side Tables, node events, node leases and
DaemonSets; in-process on 127.0.0.1 with a fake kubelet view. The last tests run the real
kubectl on PATH against it (skipped where none is installed; the lab tests run it too)."""
from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
import yaml

from stackproof_lab.kube import discovery, tables, tls
from stackproof_lab.kube.cluster import Cluster, NodeConfig
from stackproof_lab.kube.kubelet import KubeletView
from stackproof_lab.kube.negotiate import choose
from stackproof_lab.kube.patch import STRATEGIC_MERGE_PATCH
from stackproof_lab.kube.server import StandInServer

TOKEN = "unit-token"
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2B1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_DISCOVERY = f"{AGG_V2},{AGG_V2B1},application/json"
TABLE = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
         "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")
NOT_READY_MSG = 'failed to validate nodeIP: node IP: "10.0.0.2" not found in the host\'s ' \
                "network interfaces"


class Standin:
    def __init__(self, tmp_path):
        self.state = {"cp": "True", "w1": "True", "w2": "True"}

        def observer(cfg):
            r = self.state[cfg.name]
            return KubeletView(cfg.internal_ip, "test", cfg.internal_ip, r,
                               "KubeletReady" if r == "True" else "KubeletNotReady",
                               "kubelet is posting ready status" if r == "True"
                               else NOT_READY_MSG, "Debian GNU/Linux 12 (bookworm)")
        nodes = [NodeConfig("cp", True, "10.0.0.1"), NodeConfig("w1", False, "10.0.0.2"),
                 NodeConfig("w2", False, "10.0.0.3")]
        self.cluster = Cluster(nodes, cluster_id="kubectl-unit", observer=observer,
                               startup_delay=0.3, terminate_delay=0.1)
        self.certs = tls.ensure(tmp_path)
        self.server = StandInServer(self.cluster, TOKEN,
                                    ssl_context=tls.server_context(self.certs))
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.kubeconfig = tmp_path / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": {
                "server": self.server.url,
                "certificate-authority-data":
                    base64.b64encode(self.certs.ca.read_bytes()).decode()}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}]}))
        self.cache = tmp_path / "kubectl-cache"

    def get(self, path: str, accept: str = "application/json", token: str | None = TOKEN):
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.server.url + path, headers=headers)
        ctx = tls.client_context(self.certs.ca)
        try:
            with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
                return resp.status, resp.headers, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, json.loads(exc.read())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def standin(tmp_path):
    s = Standin(tmp_path)
    yield s
    s.close()


# --- transport ------------------------------------------------------------------------------
def test_https_only_with_the_labs_ca_and_the_token(standin):
    assert standin.server.url.startswith("https://127.0.0.1:")
    code, _, body = standin.get("/api/v1/nodes", token=None)
    assert (code, body["reason"]) == (401, "Unauthorized")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(standin.server.url + "/version", timeout=10,
                               context=ssl.create_default_context())
    assert standin.get("/version")[0] == 200


def test_tls_files_are_made_once_and_the_key_is_private(tmp_path):
    first = tls.ensure(tmp_path)
    pem = first.cert.read_bytes()
    assert tls.ensure(tmp_path).cert.read_bytes() == pem
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"


# --- discovery ------------------------------------------------------------------------------
def test_unaggregated_discovery(standin):
    code, headers, body = standin.get("/api")
    assert code == 200 and body["kind"] == "APIVersions" and body["versions"] == ["v1"]
    assert headers["Content-Type"] == "application/json"
    _, _, groups = standin.get("/apis")
    assert {g["name"] for g in groups["groups"]} == {"apps", "coordination.k8s.io", "policy"}
    _, _, core = standin.get("/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["nodes"]["namespaced"] is False and by_name["nodes"]["kind"] == "Node"
    assert "patch" in by_name["nodes"]["verbs"] and by_name["nodes"]["shortNames"] == ["no"]
    evict = by_name["pods/eviction"]
    assert (evict["group"], evict["version"], evict["kind"], evict["verbs"]) == \
        ("policy", "v1", "Eviction", ["create"])
    _, _, policy = standin.get("/apis/policy/v1")
    assert policy["groupVersion"] == "policy/v1"
    assert [r["name"] for r in policy["resources"]] == ["poddisruptionbudgets"]
    code, _, group = standin.get("/apis/policy")
    assert code == 200 and group["kind"] == "APIGroup"
    code, _, missing = standin.get("/apis/batch/v1")
    assert (code, missing["reason"]) == (404, "NotFound")


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
def test_aggregated_discovery_when_asked(standin, version):
    accept = AGG_V2 if version == "v2" else AGG_V2B1 + ",application/json"
    code, headers, core = standin.get("/api", accept)
    assert code == 200 and headers["Content-Type"] == discovery.aggregated_content_type(version)
    assert core["kind"] == "APIGroupDiscoveryList"
    assert core["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    assert headers["ETag"] and headers["Vary"] == "Accept"
    (item,) = core["items"]
    assert "name" not in item["metadata"]                # the core group has no name
    resources = {r["resource"]: r for r in item["versions"][0]["resources"]}
    assert resources["nodes"]["scope"] == "Cluster"
    assert resources["pods"]["subresources"] == [
        {"subresource": "eviction",
         "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
         "verbs": ["create"]}]
    _, _, named = standin.get("/apis", accept)
    assert {i["metadata"]["name"] for i in named["items"]} == \
        {"apps", "coordination.k8s.io", "policy"}
    assert all(v["freshness"] == "Current" for i in named["items"] for v in i["versions"])


def test_every_discovered_list_is_served(standin):
    _, _, core = standin.get("/api", KUBECTL_DISCOVERY)
    _, _, named = standin.get("/apis", KUBECTL_DISCOVERY)
    for item in core["items"] + named["items"]:
        group = item["metadata"].get("name")
        for v in item["versions"]:
            prefix = f"/apis/{group}/{v['version']}" if group else f"/api/{v['version']}"
            for r in v["resources"]:
                assert "list" in r["verbs"]
                code, _, body = standin.get(f"{prefix}/{r['resource']}")
                assert code == 200 and body["kind"] == r["responseKind"]["kind"] + "List", r
                code, _, table = standin.get(f"{prefix}/{r['resource']}", TABLE)
                assert code == 200 and table["kind"] == "Table", r


def test_negotiation():
    assert choose(TABLE, table=True).kind == "table"
    assert choose(TABLE).kind == "object"            # no Table for this route: plain JSON
    assert choose("application/json;as=Table;v=v1beta1;g=meta.k8s.io",
                  table=True).version == "v1beta1"
    assert choose(KUBECTL_DISCOVERY, discovery=True).version == "v2"
    assert choose(None).kind == "object" and choose("*/*").kind == "object"
    assert choose("application/vnd.kubernetes.protobuf") is None
    assert choose("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io") is None


def test_not_acceptable_is_a_406_status(standin):
    code, _, body = standin.get("/api/v1/nodes", "application/vnd.kubernetes.protobuf")
    assert (code, body["kind"], body["reason"]) == (406, "Status", "NotAcceptable")


# --- tables ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (59, "59s"), (119, "119s"), (125, "2m5s"), (600, "10m"), (179 * 60, "179m"),
    (3 * 3600, "3h"), (7 * 3600 + 1800, "7h30m"), (30 * 3600, "30h"), (3 * 86400, "3d"),
    (50 * 3600, "2d2h"), (20 * 86400, "20d"), (800 * 86400, "2y70d"), (-5, "<invalid>")])
def test_age_column_format(seconds, text):
    assert tables.human_duration(seconds) == text


def test_node_table_status_roles_and_internal_ip(standin):
    standin.state["w1"] = "False"
    standin.cluster.refresh(max_age=0)
    standin.cluster.patch_node("w1", STRATEGIC_MERGE_PATCH, {"spec": {"unschedulable": True}})
    code, _, table = standin.get("/api/v1/nodes", TABLE)
    assert code == 200 and (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP",
                     "OS-Image", "Kernel-Version", "Container-Runtime"]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0] * 5 + [1] * 5
    rows = {r["cells"][0]: r for r in table["rows"]}
    assert rows["w1"]["cells"][1] == "NotReady,SchedulingDisabled"
    assert rows["w2"]["cells"][1:3] == ["Ready", "<none>"]
    assert rows["cp"]["cells"][2] == "control-plane"
    assert rows["w1"]["cells"][5:8] == ["10.0.0.2", "<none>", "Debian GNU/Linux 12 (bookworm)"]
    assert rows["w1"]["object"]["kind"] == "PartialObjectMetadata"
    assert "status" not in rows["w1"]["object"] and table["metadata"]["resourceVersion"]
    _, _, full = standin.get("/api/v1/nodes/w1?includeObject=Object", TABLE)
    assert full["rows"][0]["object"]["kind"] == "Node" and full["rows"][0]["object"]["status"]
    _, _, bare = standin.get("/api/v1/nodes?includeObject=None", TABLE)
    assert all("object" not in r for r in bare["rows"])


def test_pod_table_ready_status_and_terminating(standin):
    _, _, pods = standin.get("/api/v1/namespaces/default/pods")
    victim = pods["items"][0]["metadata"]["name"]
    standin.cluster.delete_pod("default", victim, {"gracePeriodSeconds": 30})
    code, _, table = standin.get("/api/v1/pods?limit=500", TABLE)
    assert code == 200
    rows = {r["cells"][0]: r["cells"] for r in table["rows"]}
    assert rows[victim][2] == "Terminating"
    proxy = next(c for n, c in rows.items() if n.startswith("kube-proxy-"))
    assert proxy[1:4] == ["1/1", "Running", "0"] and proxy[6] in ("cp", "w1", "w2")
    assert proxy[5] == standin.cluster.nodes[proxy[6]].cfg.internal_ip   # host network
    assert proxy[7:] == ["<none>", "<none>"]


def test_pdb_table(standin):
    _, _, table = standin.get("/apis/policy/v1/namespaces/default/poddisruptionbudgets", TABLE)
    (row,) = table["rows"]
    assert row["cells"][:4] == ["web", "2", "N/A", 1]


# --- events, leases, daemonsets -------------------------------------------------------------
def test_cordon_and_readiness_are_node_events_from_kubelet(standin):
    c = standin.cluster
    c.patch_node("w2", STRATEGIC_MERGE_PATCH, {"spec": {"unschedulable": True}})
    c.patch_node("w2", STRATEGIC_MERGE_PATCH, {"spec": {"unschedulable": None}})
    standin.state["w2"] = "False"
    c.refresh(max_age=0)
    sel = "involvedObject.kind=Node,involvedObject.name=w2,involvedObject.namespace=," \
          "involvedObject.uid=w2"
    code, _, events = standin.get(f"/api/v1/events?fieldSelector={sel}")
    assert code == 200
    got = [(e["reason"], e["message"], e["source"]) for e in events["items"]]
    assert got == [(r, f"Node w2 status is now: {r}", {"component": "kubelet", "host": "w2"})
                   for r in ("NodeNotSchedulable", "NodeSchedulable", "NodeNotReady")]
    other = standin.get("/api/v1/events?fieldSelector=involvedObject.name%3Dw1")[2]
    assert other["items"] == []
    code, _, bad = standin.get("/api/v1/events?fieldSelector=spec.nope%3Dx")
    assert (code, bad["reason"]) == (400, "BadRequest")


def test_node_leases_are_renewed_by_a_live_kubelet(standin):
    code, _, lease = standin.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/"
                                 "leases/w1")
    assert code == 200 and lease["spec"]["holderIdentity"] == "w1"
    assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    code, _, missing = standin.get("/apis/coordination.k8s.io/v1/namespaces/default/leases/w1")
    assert (code, missing["details"]["group"]) == (404, "coordination.k8s.io")


def test_daemonsets_that_own_the_daemonset_pods(standin):
    _, _, pods = standin.get("/api/v1/pods")
    owners = {(p["metadata"]["namespace"], o["name"]) for p in pods["items"]
              for o in p["metadata"]["ownerReferences"] if o["kind"] == "DaemonSet"}
    assert owners
    for ns, name in owners:
        code, _, ds = standin.get(f"/apis/apps/v1/namespaces/{ns}/daemonsets/{name}")
        assert code == 200 and ds["status"]["desiredNumberScheduled"] == 3
        assert ds["status"]["numberReady"] == 3
    code, _, body = standin.get("/apis/apps/v1/namespaces/default/daemonsets/nope")
    assert (code, body["message"]) == (404, 'daemonsets.apps "nope" not found')


# --- the real kubectl -------------------------------------------------------------------------
KUBECTL = shutil.which("kubectl")


def kubectl(standin, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(standin.kubeconfig)
    return subprocess.run([KUBECTL, "--cache-dir", str(standin.cache), *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl on PATH")
def test_kubectl_get_nodes_wide_and_describe(standin):
    standin.state["w1"] = "False"
    standin.cluster.refresh(max_age=0)
    assert kubectl(standin, "cordon", "w2").stdout.strip() == "node/w2 cordoned"
    got = kubectl(standin, "get", "nodes", "-o", "wide")
    assert got.returncode == 0, got.stderr
    lines = [ln.split() for ln in got.stdout.splitlines()]
    assert lines[0][:6] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP"]
    rows = {ln[0]: ln for ln in lines[1:]}
    assert rows["w1"][1] == "NotReady" and rows["w1"][5] == "10.0.0.2"
    assert rows["w2"][1] == "Ready,SchedulingDisabled"
    described = kubectl(standin, "describe", "node", "w1")
    assert described.returncode == 0, described.stderr
    assert NOT_READY_MSG in described.stdout
    assert "HolderIdentity:  w1" in described.stdout
    assert "Non-terminated Pods:" in described.stdout
    assert "NodeNotReady" in described.stdout
    missing = kubectl(standin, "get", "node", "nope")
    assert missing.returncode == 1
    assert 'Error from server (NotFound): nodes "nope" not found' in missing.stderr


@pytest.mark.skipif(KUBECTL is None, reason="no kubectl on PATH")
def test_kubectl_drain_waits_for_the_budget(standin):
    pods = kubectl(standin, "get", "pods", "-A", "-o", "wide")
    assert pods.returncode == 0 and pods.stdout.split()[:9] == [
        "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED"]
    web = [ln.split() for ln in pods.stdout.splitlines() if ln.startswith("default ")]
    busiest = max(("w1", "w2"), key=lambda n: sum(1 for w in web if w[7] == n))
    other = "w2" if busiest == "w1" else "w1"
    assert kubectl(standin, "cordon", other).returncode == 0
    blocked = kubectl(standin, "drain", busiest, "--ignore-daemonsets",
                      "--delete-emptydir-data", "--timeout=4s")
    assert blocked.returncode == 1
    assert "Cannot evict pod as it would violate the pod's disruption budget." in blocked.stderr
    assert f'error: unable to drain node "{busiest}"' in blocked.stderr
    assert kubectl(standin, "uncordon", other).returncode == 0
    drained = kubectl(standin, "drain", busiest, "--ignore-daemonsets",
                      "--delete-emptydir-data", "--timeout=60s")
    assert drained.returncode == 0, drained.stderr
    assert f"node/{busiest} drained" in drained.stdout
    left = kubectl(standin, "get", "pods", "-A", "--field-selector", f"spec.nodeName={busiest}")
    assert {ln.split()[1].rsplit("-", 1)[0] for ln in left.stdout.splitlines()[1:]} == \
        {"kube-proxy", "kube-flannel-ds"}
