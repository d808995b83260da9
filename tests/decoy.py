"""Run a command on a machine poisoned with leftover OpenStack and Kubernetes configuration,
without changing the machine: in a private mount namespace, /etc and /root become
copy-on-write overlays (upper directories in SCRATCH) and the decoys are written there.

    unshare --mount --propagation private -- python tests/decoy.py SCRATCH CLOUD CONTEXT -- CMD...

or from Python: `argv(scratch, cloud, context, cmd)`. The decoys point at a closed port and
a database that does not exist, so anything that reads them fails or talks to nobody:

- /etc/keystone/keystone.conf and keystone.conf.d/, /etc/nova/nova.conf and nova.conf.d/,
  /etc/neutron/neutron.conf and neutron.conf.d/, /etc/nova.conf.d/, /etc/glance/;
- /etc/openstack/clouds.yaml and /root/.config/openstack/{clouds,secure}.yaml with a cloud
  of the same name as the site's; /root/.kube/config with a context of the same name;
- OS_CLOUD, OS_AUTH_URL, OS_PASSWORD, OS_CLIENT_CONFIG_FILE, KUBECONFIG and an oslo.config
  environment override (OS_DATABASE__CONNECTION).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
DEAD_URL = "http://127.0.0.1:9/v3"          # discard port: nothing answers there
DEAD_DB = "sqlite:////nonexistent/stackproof-decoy.sqlite"
MARK = "stackproof-decoy"


def argv(scratch: Path, cloud: str, context: str, cmd: list[str]) -> list[str]:
    return ["unshare", "--mount", "--propagation", "private", "--", sys.executable,
            str(HERE), str(scratch), cloud, context, "--", *cmd]


def _overlay(tree: str, scratch: Path) -> None:
    name = tree.strip("/").replace("/", "_")
    up, work = scratch / name / "upper", scratch / name / "work"
    up.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "overlay", MARK, "-o",
                    f"lowerdir={tree},upperdir={up},workdir={work}", tree], check=True)


def _write(path: str, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"# {MARK}: a leftover the lab must never read\n{text}")


def poison(cloud: str, context: str) -> None:
    ini = (f"[DEFAULT]\ntransport_url = rabbit://{MARK}:{MARK}@127.0.0.1:9/\n"
           f"core_plugin = {MARK}\n[database]\nconnection = {DEAD_DB}\n"
           f"[keystone_authtoken]\nauth_url = {DEAD_URL}\n[token]\nprovider = {MARK}\n")
    for project in ("keystone", "nova", "neutron", "glance"):
        _write(f"/etc/{project}/{project}.conf", ini)
        _write(f"/etc/{project}/{project}.conf.d/50-decoy.conf", ini)
        _write(f"/etc/{project}.conf.d/50-decoy.conf", ini)
    _write("/etc/keystone/fernet-keys/0", "bm90IGEga2V5\n")
    clouds = (f"clouds:\n  {cloud}:\n    auth:\n      auth_url: {DEAD_URL}\n"
              f"      username: {MARK}\n      password: {MARK}\n      project_name: {MARK}\n"
              f"      user_domain_name: Default\n      project_domain_name: Default\n"
              f"    region_name: {MARK}\n")
    for d in ("/etc/openstack", "/root/.config/openstack"):
        _write(f"{d}/clouds.yaml", clouds)
    _write("/root/.config/openstack/secure.yaml",
           f"clouds:\n  {cloud}:\n    auth:\n      password: {MARK}\n")
    _write("/root/.kube/config",
           f"apiVersion: v1\nkind: Config\ncurrent-context: {context}\n"
           f"clusters:\n- name: {MARK}\n  cluster: {{server: 'https://127.0.0.1:9'}}\n"
           f"contexts:\n- name: {context}\n  context: {{cluster: {MARK}, user: {MARK}}}\n"
           f"users:\n- name: {MARK}\n  user: {{token: {MARK}}}\n")


def poisoned_env(cloud: str) -> dict[str, str]:
    return {**os.environ, "HOME": "/root", "OS_CLOUD": cloud, "OS_AUTH_URL": DEAD_URL,
            "OS_PASSWORD": MARK, "OS_USERNAME": MARK,
            "OS_CLIENT_CONFIG_FILE": "/root/.config/openstack/clouds.yaml",
            "OS_DATABASE__CONNECTION": DEAD_DB, "KUBECONFIG": "/root/.kube/config"}


def main() -> None:
    scratch, cloud, context, sep, *cmd = sys.argv[1:]
    assert sep == "--" and cmd, "usage: decoy.py SCRATCH CLOUD CONTEXT -- CMD..."
    # refuse to run where the overlays would land on the machine itself
    if os.stat("/proc/self/ns/mnt").st_ino == os.stat(f"/proc/{os.getppid()}/ns/mnt").st_ino:
        sys.exit("decoy.py: run me in a private mount namespace (unshare --mount)")
    _overlay("/etc", Path(scratch))
    _overlay("/root", Path(scratch))
    poison(cloud, context)
    os.execvpe(cmd[0], cmd, poisoned_env(cloud))


if __name__ == "__main__":
    main()
