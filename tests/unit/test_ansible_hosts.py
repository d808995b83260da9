"""Connection details from an Ansible inventory, read by ansible-core's own loader."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stackproof.ansible_hosts import host_vars_to_spec, ssh_args_to_spec
from stackproof.site import InventoryError, load_site

pytest.importorskip("ansible")

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "inventories" / "seed.yml"


def _site_with(tmp_path: Path, ansible_name: str, ansible_text: str, **edit) -> Path:
    (tmp_path / ansible_name).write_text(ansible_text)
    data = yaml.safe_load(SEED.read_text())
    data["ansible_inventory"] = ansible_name
    for name, ssh in edit.items():
        data["hosts"][name.replace("_", "-")]["ssh"] = ssh
    site = tmp_path / "site.yml"
    site.write_text(yaml.safe_dump(data))
    return site


def _ini(site_hosts: list[str]) -> str:
    lines = ["[hypervisors]"]
    for i, name in enumerate(site_hosts):
        lines.append(f"{name} ansible_host=198.51.100.{i + 10}")
    lines += ["", "[hypervisors:vars]", "ansible_user=ops", "ansible_port=2222",
              "ansible_ssh_private_key_file=/keys/ops",
              "ansible_ssh_common_args='-o ProxyJump=jump@203.0.113.5:2200 "
              "-o UserKnownHostsFile=/keys/known_hosts -o StrictHostKeyChecking=no'"]
    return "\n".join(lines) + "\n"


def test_ini_inventory_fills_ssh_details(tmp_path):
    names = list(yaml.safe_load(SEED.read_text())["hosts"])
    site = load_site(_site_with(tmp_path, "hosts.ini", _ini(names)))
    ssh = site.ssh_of(names[0])
    assert ssh.address == "198.51.100.10"
    assert (ssh.user, ssh.port, ssh.identity_file) == ("ops", 2222, "/keys/ops")
    assert ssh.bastion == "jump@203.0.113.5:2200"
    assert ssh.known_hosts == "/keys/known_hosts"
    assert ssh.verify_host_key is True        # never relaxed by the Ansible inventory


def test_site_host_ssh_wins_over_ansible(tmp_path):
    names = list(yaml.safe_load(SEED.read_text())["hosts"])
    first = names[0]
    path = _site_with(tmp_path, "hosts.ini", _ini(names),
                      **{first.replace("-", "_"): {"user": "admin"}})
    ssh = load_site(path).ssh_of(first)
    assert ssh.user == "admin" and ssh.port == 2222


def test_yaml_inventory_with_group_vars(tmp_path):
    names = list(yaml.safe_load(SEED.read_text())["hosts"])
    inv = {"all": {"vars": {"ansible_user": "deploy"},
                   "children": {"site": {"hosts": {n: {"ansible_host": f"192.0.2.{i + 1}"}
                                                   for i, n in enumerate(names)}}}}}
    site = load_site(_site_with(tmp_path, "hosts.yml", yaml.safe_dump(inv)))
    assert site.ssh_of(names[1]).address == "192.0.2.2"
    assert site.ssh_of(names[1]).user == "deploy"


def test_a_site_host_missing_from_ansible_is_a_field_error(tmp_path):
    names = list(yaml.safe_load(SEED.read_text())["hosts"])
    with pytest.raises(InventoryError) as exc:
        load_site(_site_with(tmp_path, "hosts.ini", _ini(names[1:])))
    assert exc.value.problems == [f"hosts.{names[0]}: not in the Ansible inventory "
                                  f"{tmp_path / 'hosts.ini'}"]


def test_a_missing_ansible_file_is_a_field_error(tmp_path):
    data = yaml.safe_load(SEED.read_text())
    data["ansible_inventory"] = "nowhere.ini"
    path = tmp_path / "site.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InventoryError) as exc:
        load_site(path)
    assert exc.value.problems == [f"ansible_inventory: {tmp_path / 'nowhere.ini'}: no such file"]


@pytest.mark.parametrize("args, want", [
    ("-J bastion.example", {"bastion": "bastion.example"}),
    ("-o ProxyJump=u@b:22", {"bastion": "u@b:22"}),
    ("-oProxyCommand='nc -X connect %h %p'", {"proxy_command": "nc -X connect %h %p"}),
    ("-F /etc/ssh/lab.conf -o UserKnownHostsFile=/k", {"ssh_config": "/etc/ssh/lab.conf",
                                                       "known_hosts": "/k"}),
    ("-o StrictHostKeyChecking=no", {}),
])
def test_ssh_args(args, want):
    assert ssh_args_to_spec(args) == want


def test_host_vars_prefer_the_short_names():
    spec = host_vars_to_spec({"ansible_user": "a", "ansible_ssh_user": "b", "ansible_port": "22"})
    assert spec == {"user": "a", "port": 22}
