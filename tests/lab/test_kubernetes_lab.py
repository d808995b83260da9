"""The Kubernetes layer against the lab: the API stand-in whose node status follows the
worker hosts, the workers' kubelet files, and the suite through the lab's kubeconfig.

Each fault round-trips on the seed and the four-host lab: inject -> exactly the expected
scenarios fail -> `--remediate` applies the expected fix and ends green -> a second
`--remediate` applies nothing. The maintenance scenario drains a worker through the API.
Needs root. Run: .venv/bin/pytest tests/lab/test_kubernetes_lab.py -v
"""
from __future__ import annotations

import json

import pytest

from stackproof_lab.kube import hook as kh
from stackproof.expect import floating_node_ip_hosts, kubelet_intent

pytestmark = pytest.mark.lab

KUBE = ("-k", "cluster_knows or ready_with_its or left_cordoned or joined_with_its_floating "
              "or stays_on_lo")
READY = "test_the_node_is_ready_with_its_inventory_internalip"
CORDONED = "test_no_node_is_left_cordoned"
JOINED = "test_the_worker_joined_with_its_floating_ip_as_node_ip"
ON_LO = "test_the_floating_ip_stays_on_lo_across_reboots"
MAINTENANCE = "test_the_node_is_ready_to_shut_down"


def node_of(lab, host: str) -> str:
    return kubelet_intent(lab.site, host).node


def api_node(lab, name: str) -> dict:
    code, body = kh.api_request(lab.state_dir, "GET", f"/api/v1/nodes/{name}")
    assert code == 200, body
    return body


def ready_condition(node: dict) -> dict:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def test_the_lab_serves_its_nodes_on_loopback(any_lab, run_suite):
    site = any_lab.site
    assert kh.api_url(any_lab.state_dir).startswith("https://127.0.0.1:")
    roles = [p["role"] for p in any_lab.status()["processes"] if p["alive"]]
    assert kh.PROCESS_ROLE in roles
    for node in site.kubernetes.nodes:
        got = api_node(any_lab, node.name)
        assert ready_condition(got)["status"] == "True"
        assert got["status"]["addresses"][0] == {"type": "InternalIP",
                                                 "address": str(node.internal_ip)}
    green = run_suite(any_lab, *KUBE)
    assert green.rc == 0 and green.remediations() == [], green.output
    assert "passed" in green.output


@pytest.mark.parametrize("name, scenarios, remediation", [
    ("kubelet-ip-off-lo", (READY, ON_LO), "kubelet_ip_lo"),
    ("kubelet-ip-unit-missing", (ON_LO,), "kubelet_ip_lo"),
    ("kubelet-ip-unit-disabled", (ON_LO,), "kubelet_ip_lo"),
    ("join-config-no-node-ip", (READY, JOINED), "kube_join_config"),
    ("node-cordoned", (CORDONED,), "kube_uncordon"),
])
def test_fault_round_trips(any_lab, run_suite, fault, name, scenarios, remediation):
    host = fault(any_lab, name)
    if name == "kubelet-ip-off-lo":          # kubelet's own words, through the API
        ip = kubelet_intent(any_lab.site, host).node_ip
        cond = ready_condition(api_node(any_lab, node_of(any_lab, host)))
        assert (cond["status"], cond["message"]) == (
            "False", f'failed to validate nodeIP: node IP: "{ip}" not found in the host\'s '
                     "network interfaces")
    red = run_suite(any_lab, *KUBE)
    assert red.rc == 1, red.output
    assert red.failed() == {f"{s}[{host}]" for s in scenarios}, red.output

    green = run_suite(any_lab, *KUBE, "--remediate")
    assert green.rc == 0, green.output
    applied = green.remediations()
    assert len(applied) == 1 and applied[0].startswith("REMEDIATED") \
        and remediation in applied[0] and host in applied[0], green.output

    again = run_suite(any_lab, *KUBE, "--remediate")
    assert again.rc == 0 and again.remediations() == [], again.output


def test_the_token_never_reaches_the_output(seed_lab, run_suite, fault):
    secret = (kh.kube_dir(seed_lab.state_dir) / "secrets.json").read_text()
    token = json.loads(secret)["bootstrap_token"]
    fault(seed_lab, "join-config-no-node-ip")
    planned = run_suite(seed_lab, *KUBE, "--remediate", "--plan", "-s", "--log-level=DEBUG")
    fixed = run_suite(seed_lab, *KUBE, "--remediate", "-s", "--log-level=DEBUG")
    assert fixed.rc == 0, fixed.output
    for out in (planned.output, fixed.output):
        assert token.split(".")[1] not in out and token.split(".")[0] not in out
    assert "set nodeRegistration.kubeletExtraArgs.node-ip" in planned.output


def emptydir_pods_on(lab, node: str) -> int:
    code, pods = kh.api_request(lab.state_dir, "GET",
                                f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")
    assert code == 200, pods
    return sum(1 for p in pods["items"]
               if any("emptyDir" in v for v in p["spec"].get("volumes") or []))


def test_maintenance_drains_a_worker_through_the_api(any_lab, run_suite, fault):
    # the worker that holds emptyDir pods now (an earlier drain on the shared lab may have
    # moved them all to one worker): draining it deletes their data, so it is destructive
    host = max(floating_node_ip_hosts(any_lab.site),
               key=lambda h: emptydir_pods_on(any_lab, node_of(any_lab, h)))
    node = node_of(any_lab, host)
    assert emptydir_pods_on(any_lab, node), f"no emptyDir pod on any worker of {any_lab}"
    chosen = ("-m", "maintenance", "--node", node)
    default = run_suite(any_lab, *KUBE)
    assert MAINTENANCE not in default.output        # deselected without -m maintenance
    try:
        red = run_suite(any_lab, *chosen)
        assert red.failed() == {MAINTENANCE}, red.output
        assert "still takes new pods" in red.output
        refused = run_suite(any_lab, *chosen, "--remediate")
        assert any(line.startswith("REFUSED") and "kube_drain" in line
                   for line in refused.remediations()), refused.output
        drained = run_suite(any_lab, *chosen, "--remediate", "--allow-destructive")
        assert drained.rc == 0, drained.output
        assert any(line.startswith("REMEDIATED") and "kube_drain" in line
                   for line in drained.remediations()), drained.output
        code, pods = kh.api_request(any_lab.state_dir, "GET",
                                    f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")
        kinds = {p["metadata"]["ownerReferences"][0]["kind"] for p in pods["items"]}
        assert code == 200 and kinds == {"DaemonSet"}
        assert api_node(any_lab, node)["spec"]["unschedulable"] is True
        # back in service: the regular run finds the cordon and lifts it
        after = run_suite(any_lab, *KUBE)
        assert after.failed() == {f"{CORDONED}[{host}]"}, after.output
        back = run_suite(any_lab, *KUBE, "--remediate")
        assert back.rc == 0 and any("kube_uncordon" in line for line in back.remediations())
    finally:
        kh.api_request(any_lab.state_dir, "PATCH", f"/api/v1/nodes/{node}",
                       {"spec": {"unschedulable": None}},
                       "application/strategic-merge-patch+json")
