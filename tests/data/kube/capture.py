"""Capture the Kubernetes API stand-in's responses and the worker files into tests/data/kube.

    sudo .venv/bin/python tests/data/kube/capture.py [--inventory inventories/seed.yml]

Brings up a lab of the inventory with only the Kubernetes hook (hosts, guests, the API
stand-in: no other daemon is needed), sends each request with the lab's bearer token and
stores request, status and response body as api/<name>.json; runs the suite's own host
commands inside a worker and stores their stdout as host/<name>.txt; injects lab faults
(floating IP off lo, JoinConfiguration without node-ip) for the NotReady and wrong-IP
cases; then takes the lab down (also on failure). Nothing is typed by hand. Secrets (the
lab's random bootstrap token and CA hash) never reach a file: host commands read the
JoinConfiguration through the suite's own on-host filter, and every text passes
stackproof.redact before it is written.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof.expect import floating_node_ip_hosts, kubelet_intent  # noqa: E402
from stackproof.facts.kubelet import JOIN_CONFIG_FILTER  # noqa: E402
from stackproof.facts.routes import ADDR_CMD  # noqa: E402
from stackproof_lab import faults  # noqa: E402
from stackproof_lab.kube import hook as kh  # noqa: E402
from stackproof_lab.kube.kubelet import OBSERVE_SCRIPT  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.redact import redact  # noqa: E402
from stackproof.render import kubelet as rk  # noqa: E402

DATA = Path(__file__).resolve().parent


def request(lab, method, path, body=None, content_type="application/json", token=True):
    import urllib.error
    import urllib.request
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {kh.api_token(lab.state_dir)}"
    req = urllib.request.Request(kh.api_url(lab.state_dir) + path, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10,
                                    context=kh.ssl_context(lab.state_dir)) as resp:
            return resp.status, resp.headers.get("Content-Type"), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), json.loads(exc.read())


class Capture:
    def __init__(self, lab, out: Path, secrets: list[str]):
        self.lab, self.out, self.secrets = lab, out, secrets
        self.commands: list[str] = []

    def _clean(self, text: str) -> str:
        text = redact(text)
        for s in self.secrets:
            if s in text:
                raise RuntimeError("a lab secret would have reached the test data")
        return text

    def api(self, name, method, path, body=None, content_type="application/json",
            token=True):
        code, ctype, resp = request(self.lab, method, path, body, content_type, token)
        record = {"request": {"method": method, "path": path, "content_type": content_type,
                              "body": body, "with_token": token},
                  "status": code, "content_type": ctype, "response": resp}
        (self.out / "api").mkdir(parents=True, exist_ok=True)
        (self.out / "api" / f"{name}.json").write_text(
            self._clean(json.dumps(record, indent=1)) + "\n")
        self.commands.append(f"api/{name}.json: {method} {path}"
                             + (f" ({content_type})" if body is not None else "")
                             + ("" if token else " without the token"))
        return code, resp

    def host(self, name, host, script, *args):
        proc = self.lab.shell(host).run(["/bin/sh", "-c", script, "capture", *args],
                                        check=False)
        (self.out / "host").mkdir(parents=True, exist_ok=True)
        (self.out / "host" / f"{name}.txt").write_text(self._clean(proc.stdout))
        self.commands.append(f"host/{name}.txt: [{host}] {script.strip().splitlines()[0][:100]}"
                             f" (rc {proc.returncode})")


def capture(inventory: Path, out: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kube-capture-"))
    lab = Lab(inventory, state_dir=tmp / "state", daemons=False, log=lambda line: None)
    lab.guest_hooks.append(kh.kube_hook)
    try:
        lab.up()
        site = lab.site
        secret = json.loads((kh.kube_dir(lab.state_dir) / "secrets.json").read_text())
        c = Capture(lab, out, [secret["api_token"], secret["bootstrap_token"].split(".")[1],
                               secret["ca_cert_hash"].split(":")[1]])
        worker = floating_node_ip_hosts(site)[0]
        node = kubelet_intent(site, worker).node
        cp = next(n.name for n in site.kubernetes.nodes if n.host and
                  kubelet_intent(site, n.host).control_plane)

        c.api("nodes-list", "GET", "/api/v1/nodes")
        c.api("nodes-list-control-plane", "GET",
              "/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane")
        c.api("nodes-list-fieldselector", "GET", f"/api/v1/nodes?fieldSelector=metadata.name%3D{node}")
        c.api("node-read", "GET", f"/api/v1/nodes/{node}")
        c.api("node-read-control-plane", "GET", f"/api/v1/nodes/{cp}")
        c.api("node-404", "GET", "/api/v1/nodes/no-such-node")
        c.api("pods-all", "GET", "/api/v1/pods")
        c.api("pods-on-worker", "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")
        c.api("pods-namespaced-labels", "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        c.api("pdbs", "GET", "/apis/policy/v1/poddisruptionbudgets")
        c.api("selector-400", "GET", "/api/v1/nodes?labelSelector=a%20b%3Dc")
        c.api("field-400", "GET", "/api/v1/pods?fieldSelector=spec.nope%3Dx")
        c.api("unauthorized-401", "GET", "/api/v1/nodes", token=False)
        c.api("unknown-404", "GET", "/api/v1/services")
        c.api("patch-strategic-cordon", "PATCH", f"/api/v1/nodes/{node}",
              {"spec": {"unschedulable": True}}, "application/strategic-merge-patch+json")
        c.api("patch-merge-label", "PATCH", f"/api/v1/nodes/{node}",
              {"metadata": {"labels": {"stackproof.example/maintenance": "true"}}},
              "application/merge-patch+json")
        c.api("patch-json-unlabel", "PATCH", f"/api/v1/nodes/{node}",
              [{"op": "remove", "path": "/metadata/labels/stackproof.example~1maintenance"}],
              "application/json-patch+json")
        c.api("patch-415", "PATCH", f"/api/v1/nodes/{node}", {"spec": {}}, "application/json")
        c.api("patch-422", "PATCH", f"/api/v1/nodes/{node}",
              [{"op": "test", "path": "/spec/unschedulable", "value": False}],
              "application/json-patch+json")
        _, pods = c.api("pods-before-drain", "GET",
                        f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}")
        web = [p for p in pods["items"] if p["metadata"]["labels"].get("app") == "web"]
        for i, p in enumerate(web[:2]):
            name, ns = p["metadata"]["name"], p["metadata"]["namespace"]
            c.api(f"eviction-{'201' if i == 0 else '429'}", "POST",
                  f"/api/v1/namespaces/{ns}/pods/{name}/eviction",
                  {"apiVersion": "policy/v1", "kind": "Eviction",
                   "metadata": {"name": name, "namespace": ns}})
        c.api("pdbs-during-drain", "GET", "/apis/policy/v1/poddisruptionbudgets")
        ds = next(p for p in pods["items"] if p["metadata"]["ownerReferences"][0]["kind"]
                  == "DaemonSet")
        c.api("pod-delete", "DELETE", f"/api/v1/namespaces/{ds['metadata']['namespace']}/pods/"
              f"{ds['metadata']['name']}", {"kind": "DeleteOptions", "apiVersion": "v1",
                                            "gracePeriodSeconds": 0})
        c.api("pod-404", "GET", "/api/v1/namespaces/default/pods/no-such-pod")
        c.api("eviction-404", "POST", "/api/v1/namespaces/default/pods/no-such-pod/eviction",
              {"apiVersion": "policy/v1", "kind": "Eviction",
               "metadata": {"name": "no-such-pod", "namespace": "default"}})
        c.api("patch-strategic-uncordon", "PATCH", f"/api/v1/nodes/{node}",
              {"spec": {"unschedulable": None}}, "application/strategic-merge-patch+json")

        # the worker as the suite's kubelet facts read it, healthy
        c.host("join-config", worker, f"{JOIN_CONFIG_FILTER} {rk.JOIN_CONFIG}")
        c.host("kubeadm-flags", worker, f"cat {rk.KUBEADM_FLAGS}")
        c.host("lo-addresses", worker, ADDR_CMD)
        c.host("unit", worker, f"cat {rk.UNIT_PATH}")
        c.host("unit-is-enabled", worker, f"systemctl is-enabled {rk.UNIT_NAME}")
        c.host("observe-worker", worker, OBSERVE_SCRIPT, node, rk.JOIN_CONFIG)
        cp_host = next(n.host for n in site.kubernetes.nodes if n.name == cp)
        c.host("observe-control-plane", cp_host, OBSERVE_SCRIPT, cp, rk.JOIN_CONFIG)

        faults.inject(lab, "kubelet-ip-off-lo", worker)
        # no wait: the stand-in looks at the hosts again on the next request
        c.api("nodes-list-ip-off-lo", "GET", "/api/v1/nodes")
        c.host("lo-addresses-ip-off-lo", worker, ADDR_CMD)
        c.host("observe-worker-ip-off-lo", worker, OBSERVE_SCRIPT, node, rk.JOIN_CONFIG)
        faults.heal(lab, "kubelet-ip-off-lo", worker)

        faults.inject(lab, "join-config-no-node-ip", worker)
        c.api("nodes-list-no-node-ip", "GET", "/api/v1/nodes")
        c.host("join-config-no-node-ip", worker, f"{JOIN_CONFIG_FILTER} {rk.JOIN_CONFIG}")
        c.host("kubeadm-flags-no-node-ip", worker, f"cat {rk.KUBEADM_FLAGS}")
        c.host("observe-worker-no-node-ip", worker, OBSERVE_SCRIPT, node, rk.JOIN_CONFIG)
        faults.heal(lab, "join-config-no-node-ip", worker)

        faults.inject(lab, "kubelet-ip-unit-disabled", worker)
        c.host("unit-is-enabled-disabled", worker, f"systemctl is-enabled {rk.UNIT_NAME}")
        faults.heal(lab, "kubelet-ip-unit-disabled", worker)
        faults.inject(lab, "kubelet-ip-unit-missing", worker)
        c.host("unit-is-enabled-missing", worker, f"systemctl is-enabled {rk.UNIT_NAME} 2>&1")
        faults.heal(lab, "kubelet-ip-unit-missing", worker)

        (out / "COMMANDS").write_text(
            f"# captured from {inventory.name} (lab {lab.lab_id}) on "
            f"{time.strftime('%Y-%m-%d')}; worker {worker} (node {node})\n"
            + "\n".join(c.commands) + "\n")
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--inventory", default=str(ROOT / "inventories" / "seed.yml"))
    ap.add_argument("--out", default=str(DATA))
    args = ap.parse_args()
    t = time.monotonic()
    capture(Path(args.inventory).resolve(), Path(args.out))
    print(f"captured into {args.out} in {time.monotonic() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
