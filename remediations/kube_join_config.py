"""Give a node's kubelet the inventory's node IP.

- The kubeadm JoinConfiguration gets `nodeRegistration.kubeletExtraArgs.node-ip`, edited in
  place: the discovery token already in the file is kept and never shown (the file is read
  and written over SFTP, so the token is in no command line, no command output, no log).
- A node that has joined (it has /var/lib/kubelet/kubeadm-flags.env) gets `--node-ip` in
  its kubelet flags (or KUBELET_EXTRA_ARGS where that sets one) and kubelet restarted where
  one runs: no re-join and no token needed.
- A node that has not joined, or is not registered at all, must join with
  `kubeadm join --config <file>`, which needs a valid bootstrap token (they expire after
  24 h): that plan is shown and marked for the operator, never applied. Create the token on
  the control plane yourself (`kubeadm token create`): the suite never handles tokens.

Managed scope: the node-ip of the JoinConfiguration (nodeRegistration.kubeletExtraArgs.node-
ip, the rest of the file kept), the `--node-ip` flag in kubeadm-flags.env (every other flag
kept), the node-ip inside KUBELET_EXTRA_ARGS only where that file sets one (other arguments
kept), and a kubelet restart.
"""
from __future__ import annotations

import shlex

import yaml

from remediations._kube import download_private, restart_kubelet_if_running, upload_private
from stackproof.expect import api_endpoint
from stackproof.facts import kubelet as kf
from stackproof.remedy import Call, Plan, RemediationFailed, Run, WriteFile, read_file
from stackproof.render import kubelet as rk

ID = "kube_join_config"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 20.0

TOKEN_HINT = "<a bootstrap token: `kubeadm token create` on the control plane>"
HASH_HINT = "sha256:<the cluster CA's hash (kubeadm join's --discovery-token-ca-cert-hash)>"


def set_node_ip_in_file(remote, path: str, node_ip: str, run_id: str | None = None,
                       backup_root: str = "/var/backups/stackproof") -> str:
    """Read the JoinConfiguration, set its node-ip, upload it back. Returns a line for the
    transcript that names no secret."""
    text = download_private(remote, path)
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        raise RemediationFailed(f"{path} on {remote.name} is not valid YAML: fix it by "
                                "hand") from None
    if not any(isinstance(d, dict) and d.get("kind") == "JoinConfiguration" for d in docs):
        raise RemediationFailed(f"{path} on {remote.name} holds no JoinConfiguration")
    new = [rk.set_join_node_ip(d, node_ip)
           if isinstance(d, dict) and d.get("kind") == "JoinConfiguration" else d for d in docs]
    backup = upload_private(remote, path, yaml.safe_dump_all(new, sort_keys=False),
                            run_id=run_id, backup_root=backup_root)
    return f"wrote {path} with node-ip {node_ip} (discovery token kept, not shown; " \
           f"backup {backup})"


def replace_env_flag(text: str, var: str, flag: str, value: str) -> str:
    """An EnvironmentFile with `--flag=value` set in VAR (added when missing), every other
    line and argument kept."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(f"{var}="):
            # VAR="--a=b --c d": the quotes make one word; its inside splits on spaces
            args = " ".join(shlex.split(line.strip()[len(var) + 1:])).split()
            kept, skip = [], False
            for a in args:
                if skip:
                    skip = False
                elif a == f"--{flag}":
                    skip = True
                elif not a.startswith(f"--{flag}="):
                    kept.append(a)
            kept.append(f"--{flag}={value}")
            lines[i] = f'{var}="{" ".join(kept)}"'
            return "\n".join(lines) + "\n"
    return text + ("" if not text or text.endswith("\n") else "\n") + \
        f'{var}="--{flag}={value}"\n'


def _template(ctx, node: str, node_ip: str) -> str:
    config = rk.join_config(endpoint=api_endpoint(ctx.site), token=TOKEN_HINT,
                            ca_cert_hash=HASH_HINT, node=node, node_ip=node_ip)
    return rk.join_config_text(config)


def plan(ctx, finding) -> Plan:
    p = finding.params
    node, host, ip = p["node"], p.get("host"), p["node_ip"]
    summary = f"kubelet on {host or node} uses node-ip {ip}"
    if not host or host not in ctx.site.hosts:
        return Plan(ID, summary, (), blocked=f"node {node} runs on no inventory host: give "
                    f"its kubelet --node-ip {ip} by hand")
    remote = ctx.fleet[host]
    join = kf.join_config(remote)
    extra_path = rk.EXTRA_ARGS[ctx.site.os_family_of(host)]
    flags = kf.kubelet_flags(remote, extra_path)
    steps: list = []
    blocked = []
    if not join.present or join.error:
        steps.append(WriteFile(host, rk.JOIN_CONFIG, _template(ctx, node, ip),
                               "the JoinConfiguration to join with (fill in the token and "
                               "the CA hash yourself)", mode="0600"))
        blocked.append(f"{rk.JOIN_CONFIG} is {'missing' if not join.present else 'unreadable'}"
                       ": it needs this cluster's bootstrap token and CA hash, which the "
                       "suite never handles")
    elif join.node_ip != ip:
        steps.append(Call(host, f"set nodeRegistration.kubeletExtraArgs.node-ip: {ip} in "
                          f"{rk.JOIN_CONFIG} (the discovery token stays as it is and is "
                          "never shown)",
                          lambda: set_node_ip_in_file(remote, rk.JOIN_CONFIG, ip, ctx.run_id,
                                                      ctx.backup_root)))
    joined = flags.present
    if joined and flags.effective_node_ip != ip:
        if flags.extra_node_ip and flags.extra_node_ip != ip:
            current = read_file(remote, extra_path) or ""
            steps.append(WriteFile(host, extra_path, replace_env_flag(
                current, "KUBELET_EXTRA_ARGS", "node-ip", ip),
                "KUBELET_EXTRA_ARGS overrides kubeadm's flags: give kubelet the node IP here"))
        if flags.node_ip != ip:
            steps.append(WriteFile(host, rk.KUBEADM_FLAGS,
                                   rk.kubeadm_flags_text(ip, list(flags.args)),
                                   "the flags kubelet runs with (written by kubeadm join)",
                                   mode="0644"))
        steps.append(Run(host, restart_kubelet_if_running(ctx, host),
                         "kubelet registers the node with the new node IP"))
    if not joined or p.get("missing"):
        steps.append(Run(host, rk.join_command(rk.JOIN_CONFIG),
                         "(re-)join with the token in the file: never on the command line"))
        blocked.append(f"node {node} must (re-)join the cluster with `kubeadm join --config "
                       f"{rk.JOIN_CONFIG}`, which needs a valid bootstrap token in that file "
                       "(create one on the control plane with `kubeadm token create`; the "
                       "suite never prints or handles tokens)")
    if not steps:
        steps.append(Run(host, restart_kubelet_if_running(ctx, host),
                         "kubelet re-posts its node status"))
    return Plan(ID, summary, tuple(steps), blocked="; ".join(blocked) or None)

