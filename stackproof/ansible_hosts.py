"""Connection details from a site's Ansible inventory (optional extra `stackproof[ansible]`).

A site inventory may say `ansible_inventory: hosts.ini` (INI or YAML, relative to the site
inventory). Ansible's own loader reads it, group and host variables included, so the
operator keeps one source of truth for how hosts are reached. Per host:

    ansible_host                        -> ssh.address
    ansible_user / ansible_ssh_user     -> ssh.user
    ansible_port / ansible_ssh_port     -> ssh.port
    ansible_ssh_private_key_file        -> ssh.identity_file
    ansible_ssh_common_args / _extra_args:
        -J HOST, -o ProxyJump=HOST      -> ssh.bastion
        -o ProxyCommand=CMD             -> ssh.proxy_command
        -o UserKnownHostsFile=FILE      -> ssh.known_hosts
        -F FILE                         -> ssh.ssh_config

Host keys stay verified whatever the Ansible inventory says (`StrictHostKeyChecking=no` is
not taken over): only the site inventory can turn that off, host by host. What the site
inventory says for a host itself wins over the Ansible values.
"""
from __future__ import annotations

import shlex
from pathlib import Path


class AnsibleInventoryError(ValueError):
    """One line per problem, each 'field path: value: reason'."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


_DIRECT = (("ansible_host", "address"), ("ansible_user", "user"),
           ("ansible_ssh_user", "user"), ("ansible_port", "port"),
           ("ansible_ssh_port", "port"), ("ansible_ssh_private_key_file", "identity_file"),
           ("ansible_private_key_file", "identity_file"))
_OPTIONS = {"proxyjump": "bastion", "proxycommand": "proxy_command",
            "userknownhostsfile": "known_hosts"}


def ssh_args_to_spec(args: str) -> dict[str, str]:
    """The SshSpec fields an ssh argument string sets (see the module docstring)."""
    out: dict[str, str] = {}
    words = shlex.split(args or "")
    i = 0
    while i < len(words):
        w = words[i]
        value = words[i + 1] if i + 1 < len(words) else None
        if w in ("-J", "-F", "-o") and value is None:
            break
        if w == "-J":
            out["bastion"] = value
        elif w == "-F":
            out["ssh_config"] = value
        elif w == "-o":
            key, _, val = value.partition("=")
            field = _OPTIONS.get(key.strip().lower())
            if field and val:
                out[field] = val.strip()
        elif w.startswith("-o") and len(w) > 2:
            key, _, val = w[2:].partition("=")
            field = _OPTIONS.get(key.strip().lower())
            if field and val:
                out[field] = val.strip()
            i += 1
            continue
        elif w.startswith("-J") and len(w) > 2:
            out["bastion"] = w[2:]
            i += 1
            continue
        else:
            i += 1
            continue
        i += 2
    return out


def host_vars_to_spec(hostvars: dict) -> dict:
    spec: dict = {}
    for var, field in _DIRECT:
        if hostvars.get(var) not in (None, ""):
            spec.setdefault(field, hostvars[var])
    if "port" in spec:
        spec["port"] = int(spec["port"])
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        spec.update(ssh_args_to_spec(str(hostvars.get(var) or "")))
    return {k: str(v) if k != "port" else v for k, v in spec.items()}


def connection_details(path: Path, names: list[str]) -> dict[str, dict]:
    """{site host name: SshSpec fields} for every name; AnsibleInventoryError naming each
    host the Ansible inventory lacks."""
    if not path.is_file():
        raise AnsibleInventoryError([f"ansible_inventory: {path}: no such file"])
    try:
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager
    except ImportError:
        raise AnsibleInventoryError([f"ansible_inventory: {path}: reading it needs "
                                     f"ansible-core (pip install 'stackproof[ansible]')"]
                                    ) from None
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(path)])
    if not inventory.hosts:
        raise AnsibleInventoryError([f"ansible_inventory: {path}: Ansible found no host in "
                                     f"it (not an INI or YAML inventory?)"])
    variables = VariableManager(loader=loader, inventory=inventory)
    out, missing = {}, []
    for name in names:
        host = inventory.get_host(name)
        if host is None:
            missing.append(f"hosts.{name}: not in the Ansible inventory {path}")
            continue
        hostvars = variables.get_vars(host=host, include_hostvars=False)
        out[name] = host_vars_to_spec(hostvars)
    if missing:
        raise AnsibleInventoryError(missing)
    return out
