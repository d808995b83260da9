"""The real kubectl against the seed lab's Kubernetes API stand-in, with the lab's kubeconfig
(KUBECONFIG, a private --cache-dir: never ~/.kube). An independent client proves the
stand-in: what kubectl prints is what the suite reads.

- a NotReady node (the lo fault) shows in `kubectl get nodes -o wide` with the INTERNAL-IP
  the suite reports, and `kubectl describe node` shows kubelet's condition message;
- `kubectl drain --ignore-daemonsets --delete-emptydir-data` blocked by the budget fails as
  kubectl reports it, then succeeds once the budget allows;
- `kubectl cordon` / `uncordon` are seen by the suite's scenarios, and the uncordon
  command the remediation plan shows is the one that works.

kubectl is the one on PATH, or $STACKPROOF_KUBECTL (e.g. Debian's 1.20 unpacked elsewhere).
Needs root. Run: .venv/bin/pytest tests/lab/test_kubectl_lab.py -v
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time

import pytest

from stackproof_lab.kube import hook as kh
from stackproof.expect import kubelet_intent

pytestmark = pytest.mark.lab

KUBECTL = os.environ.get("STACKPROOF_KUBECTL") or shutil.which("kubectl")
KUBE = ("-k", "cluster_knows or ready_with_its or left_cordoned or joined_with_its_floating "
              "or stays_on_lo")
READY = "test_the_node_is_ready_with_its_inventory_internalip"
CORDONED = "test_no_node_is_left_cordoned"
ON_LO = "test_the_floating_ip_stays_on_lo_across_reboots"
BUDGET_MSG = "Cannot evict pod as it would violate the pod's disruption budget."
DEADLINE = 60.0


@pytest.fixture
def kubectl(seed_lab, tmp_path):
    if KUBECTL is None:
        pytest.skip("no kubectl on PATH (make install-kubectl)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["KUBECONFIG"] = str(kh.kubeconfig_path(seed_lab.state_dir))

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([KUBECTL, "--cache-dir", str(tmp_path / "kubectl-cache"),
                               *args], env=env, capture_output=True, text=True,
                              timeout=timeout)
    return run


def table(out: str) -> dict[str, dict[str, str]]:
    """kubectl's columns by header, per NAME (or NAMESPACE/NAME). Columns start where the
    header has a run of 2+ spaces behind it; headers like NOMINATED NODE keep one space."""
    lines = out.splitlines()
    starts = [0] + [m.end() for m in re.finditer(r" {2,}", lines[0])]
    bounds = list(zip(starts, starts[1:] + [None]))
    names = [lines[0][s:e].strip() for s, e in bounds]
    rows = {}
    for line in lines[1:]:
        cells = {n: line[s:e].strip() for n, (s, e) in zip(names, bounds)}
        key = f"{cells['NAMESPACE']}/{cells['NAME']}" if "NAMESPACE" in cells else cells["NAME"]
        rows[key] = cells
    return rows


def poll(what: str, fn, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def node_of(lab, host: str) -> str:
    return kubelet_intent(lab.site, host).node


def workers(lab) -> list[str]:
    return [n.name for n in lab.site.kubernetes.nodes
            if n.host and "kube_worker" in lab.site.hosts[n.host].roles]


def test_get_nodes_shows_the_not_ready_node_with_the_suites_internal_ip(seed_lab, kubectl,
                                                                        run_suite, fault):
    healthy = kubectl("get", "nodes", "-o", "wide")
    assert healthy.returncode == 0, healthy.stderr
    for node in seed_lab.site.kubernetes.nodes:
        row = table(healthy.stdout)[node.name]
        assert (row["STATUS"], row["INTERNAL-IP"]) == ("Ready", str(node.internal_ip))

    host = fault(seed_lab, "kubelet-ip-off-lo")
    node = node_of(seed_lab, host)

    def not_ready():
        got = kubectl("get", "nodes", "-o", "wide")
        return got.returncode == 0 and table(got.stdout)[node]["STATUS"] == "NotReady" and got
    row = table(poll(f"kubectl to show {node} NotReady", not_ready).stdout)[node]
    ip = row["INTERNAL-IP"]
    described = kubectl("describe", "node", node)
    assert described.returncode == 0, described.stderr
    assert f'failed to validate nodeIP: node IP: "{ip}" not found in the host\'s network ' \
           "interfaces" in described.stdout
    assert "KubeletNotReady" in described.stdout and "NodeNotReady" in described.stdout

    red = run_suite(seed_lab, *KUBE)
    assert red.failed() == {f"{READY}[{host}]", f"{ON_LO}[{host}]"}, red.output
    assert f'node IP: "{ip}" not found' in red.output           # the suite's report ...
    assert f"the floating IP {ip} must be on lo" in red.output  # ... names the same address
    assert ip == str(next(n.internal_ip for n in seed_lab.site.kubernetes.nodes
                          if n.name == node))


def test_cordon_and_uncordon_are_seen_by_the_suite(seed_lab, kubectl, run_suite):
    node = workers(seed_lab)[0]
    host = next(n.host for n in seed_lab.site.kubernetes.nodes if n.name == node)
    try:
        got = kubectl("cordon", node)
        assert (got.returncode, got.stdout.strip()) == (0, f"node/{node} cordoned"), got.stderr
        row = table(kubectl("get", "nodes").stdout)[node]
        assert row["STATUS"] == "Ready,SchedulingDisabled"
        red = run_suite(seed_lab, *KUBE)
        assert red.failed() == {f"{CORDONED}[{host}]"}, red.output
        # the plan names the kubectl command an operator would run: run exactly that
        planned = run_suite(seed_lab, *KUBE, "--remediate", "--plan")
        shown = re.findall(r"# (kubectl .*)$", planned.output, re.M)
        ctx = seed_lab.site.kubernetes.context
        assert shown == [f"kubectl --context {ctx} uncordon {node}"], planned.output
        got = kubectl(*shlex.split(shown[0])[1:])
        assert (got.returncode, got.stdout.strip()) == (0, f"node/{node} uncordoned")
        assert table(kubectl("get", "nodes").stdout)[node]["STATUS"] == "Ready"
        green = run_suite(seed_lab, *KUBE)
        assert green.rc == 0 and green.failed() == set(), green.output
    finally:
        kubectl("uncordon", node)


def test_drain_blocked_by_the_budget_then_succeeds(seed_lab, kubectl):
    pods = kubectl("get", "pods", "-A", "-o", "wide")
    assert pods.returncode == 0, pods.stderr
    rows = table(pods.stdout)
    # every pod kubectl lists is where the API says it is
    code, api = kh.api_request(seed_lab.state_dir, "GET", "/api/v1/pods")
    assert code == 200
    assert {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["spec"].get("nodeName")
            for p in api["items"]} == {k: r["NODE"] for k, r in rows.items()}
    web = [r for k, r in rows.items() if k.startswith("default/web-")]
    node, other = sorted(workers(seed_lab), key=lambda n: -sum(r["NODE"] == n for r in web))
    assert sum(r["NODE"] == node for r in web) >= 2      # two replicas: the budget bites
    try:
        # nowhere for replacements to go: the budget allows one eviction, not two
        assert kubectl("cordon", other).returncode == 0
        blocked = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                          "--timeout=15s")
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert f"node/{node} cordoned" in blocked.stdout
        assert "(will retry after 5s): " + BUDGET_MSG in blocked.stderr
        assert f'error: unable to drain node "{node}"' in blocked.stderr
        assert "global timeout reached: 15s" in blocked.stderr
        assert table(kubectl("get", "nodes").stdout)[node]["STATUS"] == \
            "Ready,SchedulingDisabled"
        # room again: the replacement starts on the other worker, the budget allows
        assert kubectl("uncordon", other).returncode == 0
        drained = kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                          "--timeout=90s")
        assert drained.returncode == 0, drained.stdout + drained.stderr
        assert drained.stdout.strip().splitlines()[-1] in (f"node/{node} drained",
                                                           f"node/{node} evicted")  # 1.20
        left = table(kubectl("get", "pods", "-A", "-o", "wide", "--field-selector",
                             f"spec.nodeName={node}").stdout)
        assert {k.split("/")[0] for k in left} == {"kube-system", "kube-flannel"}
        assert all(k.split("/")[1].startswith(("kube-proxy-", "kube-flannel-ds-"))
                   for k in left)
    finally:
        kubectl("uncordon", other)
        kubectl("uncordon", node)
