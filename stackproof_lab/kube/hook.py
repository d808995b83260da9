"""`kube_hook(lab, site)`: the Kubernetes layer of a lab.

1. Each node's host gets what kubeadm leaves behind: the control plane its kubelet flags
   (no node-ip), each worker its JoinConfiguration (node-ip = the inventory's internal_ip,
   a random bootstrap token and CA hash per lab, mode 0600) and the kubelet flags kubeadm
   join wrote from it. A worker whose node IP is its floating IP also gets the IP on lo as
   a /32 and add-kubelet-ip.service, enabled (the multi-user.target.wants symlink:
   what `systemctl enable` makes and `systemctl is-enabled` reads; lab hosts run no
   systemd, so the hook adds the address the way the unit would at boot).
2. The API stand-in (`server.py`) starts on the root side, bound to a free port on
   127.0.0.1 (it writes the port to <state>/kube/port), recorded with `lab.record_process`
   so `lab down` stops it. Its config names each node's lab host and that host's init PID.
   It serves https with a CA and serving certificate made for this lab (`tls.py`): kubectl
   sends a bearer token over https only.
3. <state>/kube/kubeconfig (mode 0600): context `site.kubernetes.context`, the lab CA as
   `certificate-authority-data` (as kubeadm's admin.conf), a bearer token the stand-in
   requires. The lab inventory points `kubernetes.kubeconfig` at it; the real kubectl works
   with it unchanged (`KUBECONFIG=<state>/kube/kubeconfig kubectl get nodes -o wide`).
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from stackproof_lab.kube import tls as tlsmod
from stackproof_lab.shell import NsShell
from stackproof.render import kubelet as rk
from stackproof.site import Site

KUBE_DIR = "kube"
START_TIMEOUT = 20.0
READY_TIMEOUT = 20.0
PROCESS_ROLE = "kube-api-standin"
ROOT = Path(__file__).resolve().parents[2]


# stackproof_lab.daemons lists this hook, so its helpers are imported when used, not here
def write_file(*args, **kwargs):
    from stackproof_lab.daemons.common import write_file as write
    return write(*args, **kwargs)


from stackproof_lab.wait import wait_until  # noqa: E402  (the lab's one wait)


class KubeLabError(RuntimeError):
    pass


def kube_dir(state_dir: Path) -> Path:
    return Path(state_dir) / KUBE_DIR


def kubeconfig_path(state_dir: Path) -> Path:
    return kube_dir(state_dir) / "kubeconfig"


def context_name(site: Site) -> str:
    return site.kubernetes.context or f"{site.site}-lab"


def _secret_file(d: Path) -> dict:
    """This lab's secrets, made once: the API token, the bootstrap token, the CA hash."""
    path = d / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    data = {"api_token": secrets.token_urlsafe(32),
            "bootstrap_token": "".join(secrets.choice(alphabet) for _ in range(6)) + "." +
                               "".join(secrets.choice(alphabet) for _ in range(16)),
            "ca_cert_hash": "sha256:" + secrets.token_hex(32)}
    _write_private(path, json.dumps(data))
    return data


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def api_token(state_dir: Path) -> str:
    return json.loads((kube_dir(state_dir) / "secrets.json").read_text())["api_token"]


def api_url(state_dir: Path) -> str:
    port = (kube_dir(state_dir) / "port").read_text().strip()
    return f"https://127.0.0.1:{port}"


def ssl_context(state_dir: Path) -> ssl.SSLContext:
    """Verifies the stand-in against this lab's CA."""
    return tlsmod.client_context(tlsmod.files(kube_dir(state_dir)).ca)


def api_request(state_dir: Path, method: str, path: str, body=None,
                content_type: str = "application/json", timeout: float = 10.0):
    """One call to the lab's API stand-in: (status, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api_url(state_dir) + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {api_token(state_dir)}",
                                          "Content-Type": content_type,
                                          "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout,
                                    context=ssl_context(state_dir)) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- the hosts -----------------------------------------------------------------------------
def write_join_config(shell: NsShell, config: dict) -> None:
    shell.run(["mkdir", "-p", os.path.dirname(rk.JOIN_CONFIG)])
    write_file(shell, rk.JOIN_CONFIG, rk.join_config_text(config), mode=0o600)


def read_join_config(shell: NsShell) -> dict | None:
    proc = shell.run(["cat", rk.JOIN_CONFIG], check=False)
    return yaml.safe_load(proc.stdout) if proc.returncode == 0 else None


def write_flags(shell: NsShell, node_ip: str | None) -> None:
    shell.run(["mkdir", "-p", os.path.dirname(rk.KUBEADM_FLAGS)])
    write_file(shell, rk.KUBEADM_FLAGS, rk.kubeadm_flags_text(node_ip), mode=0o644)


def install_unit(shell: NsShell, ip: str) -> None:
    write_file(shell, rk.UNIT_PATH, rk.unit_text(ip), mode=0o644)
    enable_unit(shell)


def enable_unit(shell: NsShell) -> None:
    q = shlex.quote
    shell.sh(f"mkdir -p {q(rk.WANTS_DIR)} && ln -sfn {q(rk.UNIT_PATH)} {q(rk.UNIT_LINK)}")


def add_ip_on_lo(shell: NsShell, ip: str) -> None:
    shell.run(["ip", "addr", "replace", f"{ip}/32", "dev", "lo"])


def prepare_host(shell: NsShell, site: Site, intent: rk.KubeletIntent, secret: dict) -> None:
    if intent.control_plane:
        write_flags(shell, None)                 # kubeadm init: kubelet picks its address
        return
    config = rk.join_config(endpoint=rk.api_endpoint(site), token=secret["bootstrap_token"],
                            ca_cert_hash=secret["ca_cert_hash"], node=intent.node,
                            node_ip=intent.node_ip)
    write_join_config(shell, config)
    write_flags(shell, intent.node_ip)
    if intent.on_lo:
        install_unit(shell, intent.node_ip)
        add_ip_on_lo(shell, intent.node_ip)      # what the unit does at boot


# --- the stand-in --------------------------------------------------------------------------
def _node_configs(lab, site: Site) -> list[dict]:
    out = []
    for node in site.kubernetes.nodes:
        rec = lab.state.hosts.get(node.host) if node.host else None
        cp = node.host is not None and "kube_control_plane" in site.hosts[node.host].roles
        out.append({"name": node.name, "control_plane": cp,
                    "internal_ip": str(node.internal_ip), "host": node.host,
                    "pid": rec.init_pid if rec else None,
                    "start": rec.init_start if rec else None,
                    "join_config": rk.JOIN_CONFIG})
    return out


def kubeconfig_text(site: Site, url: str, token: str, ca_pem: bytes) -> str:
    ctx = context_name(site)
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": ctx, "cluster": {
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
            "server": url}}],
        "contexts": [{"name": ctx, "context": {"cluster": ctx, "user": f"{ctx}-admin"}}],
        "current-context": ctx,
        "users": [{"name": f"{ctx}-admin", "user": {"token": token}}],
        "preferences": {}}, sort_keys=False)


def start_standin(lab, site: Site, secret: dict) -> subprocess.Popen:
    d = kube_dir(lab.state_dir)
    port_file = d / "port"
    port_file.unlink(missing_ok=True)
    tls = tlsmod.ensure(d)
    config = {"cluster_id": lab.lab_id, "token": secret["api_token"],
              "tls": {"ca": str(tls.ca), "cert": str(tls.cert), "key": str(tls.key)},
              "nodes": _node_configs(lab, site), "port_file": str(port_file),
              "request_log": str(d / "requests.log"), "poll_interval": 1.0,
              "lab_state_dir": str(lab.state_dir)}
    _write_private(d / "config.json", json.dumps(config, indent=1))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    with open(d / "standin.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "stackproof_lab.kube.server",
                                 "--config", str(d / "config.json")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(ROOT), env=env, start_new_session=True)
    lab.record_process(proc, PROCESS_ROLE)

    def started():
        if proc.poll() is not None:
            raise KubeLabError(f"the Kubernetes API stand-in exited (rc {proc.returncode}): "
                              f"{_tail(d / 'standin.log')}")
        return port_file.exists()
    wait_until(started, START_TIMEOUT, "the Kubernetes API stand-in to listen")
    return proc


def _tail(path: Path, n: int = 5) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-n:])
    except OSError:
        return "(no log)"


def wait_nodes_ready(lab, site: Site, timeout: float = READY_TIMEOUT) -> dict[str, str]:
    """Every node with a lab host Ready: {node: ready status}."""
    hosted = {n.name for n in site.kubernetes.nodes if n.host in site.hosts}
    last: dict[str, str] = {}

    def ready():
        code, body = api_request(lab.state_dir, "GET", "/api/v1/nodes")
        if code != 200:
            return False
        for item in body["items"]:
            cond = next(c for c in item["status"]["conditions"] if c["type"] == "Ready")
            last[item["metadata"]["name"]] = f"{cond['status']} ({cond.get('message', '')})"
        return all(last.get(n, "").startswith("True") for n in hosted)
    wait_until(ready, timeout, "every lab node Ready in the Kubernetes API stand-in",
               describe=lambda: json.dumps(last))
    return last


def kube_hook(lab, site: Site) -> None:
    if site.kubernetes is None:
        return
    d = kube_dir(lab.state_dir)
    d.mkdir(mode=0o700, exist_ok=True)
    secret = _secret_file(d)
    for host in rk.kube_node_hosts(site):
        prepare_host(lab.shell(host), site, rk.kubelet_intent(site, host), secret)
    t = time.monotonic()
    start_standin(lab, site, secret)
    url = api_url(lab.state_dir)
    ca_pem = tlsmod.files(d).ca.read_bytes()
    _write_private(kubeconfig_path(lab.state_dir), kubeconfig_text(site, url,
                                                                  secret["api_token"], ca_pem))
    states = wait_nodes_ready(lab, site)
    lab.say(f"Kubernetes API stand-in on {url} ({len(states)} nodes Ready, "
            f"{time.monotonic() - t:.1f} s); kubeconfig {kubeconfig_path(lab.state_dir)}")
