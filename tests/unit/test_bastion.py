"""The bastion ProxyCommand: real address and port, strict options, checked by OpenSSH's own
option parser (`ssh -G` evaluates the command line and prints the result, connecting to
nothing); and the loader refuses bastion values that would become ssh options."""
from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from stackproof.bastion import bastion_command, parse_bastion
from stackproof.site import InventoryError, parse_site


def _with_ssh(data: dict, **ssh) -> dict:
    data = {**data, "ssh": {**data.get("ssh", {}), **ssh}}
    return data


def test_command_has_the_targets_real_address_and_strict_options(inventory, tmp_path):
    data, _ = inventory
    kh = tmp_path / "known hosts"                 # a space: quoting matters
    site = parse_site(_with_ssh(data, bastion="ops@jump-1.example.org:2222",
                                known_hosts=str(kh)))
    for name in site.hosts:
        spec = site.ssh_of(name)
        argv = shlex.split(bastion_command(spec))
        assert "%h" not in " ".join(argv) and "%p" not in " ".join(argv)
        assert argv[argv.index("-W") + 1] == f"{spec.address}:{spec.port}"
        assert argv[-2:] == ["--", "ops@jump-1.example.org"]
        assert argv[argv.index("-p") + 1] == "2222"
        opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
        assert {"BatchMode=yes", "StrictHostKeyChecking=yes",
                f"UserKnownHostsFile={kh}"} <= set(opts)


def test_openssh_accepts_the_command(inventory, tmp_path):
    if not shutil.which("ssh"):
        pytest.skip("needs the OpenSSH client")
    data, _ = inventory
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    site = parse_site(_with_ssh(data, bastion="ops@jump-1.example.org:2222",
                                known_hosts=str(kh)))
    name = next(iter(site.hosts))
    argv = shlex.split(bastion_command(site.ssh_of(name)))
    # -G: print the configuration OpenSSH would use for this command line, then exit
    proc = subprocess.run([argv[0], "-G", *argv[1:]], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    conf = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert conf["hostname"] == "jump-1.example.org" and conf["user"] == "ops"
    assert conf["port"] == "2222" and conf["batchmode"] == "yes"
    assert conf["stricthostkeychecking"] in ("true", "yes")
    assert conf["userknownhostsfile"] == str(kh)


def test_ipv6_target_is_bracketed():
    from stackproof.site import SshSpec
    spec = SshSpec(address="fd00::5", port=2200, bastion="jump")
    argv = shlex.split(bastion_command(spec))
    assert argv[argv.index("-W") + 1] == "[fd00::5]:2200"


@pytest.mark.parametrize("value, reason", [
    ("-oProxyCommand=touch /tmp/pwned", "begins with '-'"),
    ("-F/etc/passwd", "begins with '-'"),
    ("jump host", "not [user@]host[:port]"),
    ("jump;reboot", "not [user@]host[:port]"),
    ("jump:0", "outside 1-65535"),
    ("jump:70000", "outside 1-65535"),
    ("jump\n-oProxyCommand=x", "not [user@]host[:port]"),
])
def test_bad_bastion_values_are_field_errors(inventory, value, reason):
    data, _ = inventory
    host = next(iter(data["hosts"]))
    bad = {**data, "hosts": {**data["hosts"], host: {
        **data["hosts"][host], "ssh": {"bastion": value}}}}
    with pytest.raises(InventoryError) as err:
        parse_site(bad)
    assert len(err.value.problems) == 1
    line = err.value.problems[0]
    assert line.startswith(f"hosts.{host}.ssh.bastion: ") and reason in line
    assert "\n" not in line


def test_parse_bastion():
    assert parse_bastion("jump") == (None, "jump", None)
    assert parse_bastion("ops@10.0.0.9:2022") == ("ops", "10.0.0.9", 2022)
