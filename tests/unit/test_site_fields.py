"""Free-text inventory fields: values that would inject lines into nova.conf or
openvswitch_agent.ini, options into ssh, or markup into XML are field errors, one line each."""
from __future__ import annotations

import copy

import pytest

from stackproof.site import InventoryError, parse_site


def _problems(data) -> list[str]:
    with pytest.raises(InventoryError) as err:
        parse_site(data)
    assert all("\n" not in p for p in err.value.problems)
    return err.value.problems


def _set(data, path: str, value):
    data = copy.deepcopy(data)
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return data


@pytest.mark.parametrize("field, value, reason", [
    ("openstack.instances_path", "/var/lib/nova\n[DEFAULT]\ndebug = true", "control character"),
    ("openstack.instances_path", "var/lib/nova/instances", "must be an absolute path"),
    ("openstack.instances_path", "/var/lib/nova instances", "should match pattern"),
    ("openstack.external_network.physical_network", "physnet1\n[ovs]", "should match pattern"),
    ("openstack.external_network.physical_network", "physnet1:br-x,physnet2",
     "should match pattern"),
    ("openstack.external_network.name", "ext<net>", "not allowed in a name"),
    ("openstack.tenant_network.name", "tenant\x1b[31m", "control character"),
    ("openstack.region", "RegionOne\u2028[x]", "control character"),
    ("openstack.router", "r]\n[x", "control character"),
    ("openstack.cloud", "cloud=x", "not allowed in a name"),
    ("ssh.user", "root\nProxyCommand touch /tmp/x", "should match pattern"),
    ("ssh.proxy_command", "nc %h %p\nrm -rf /", "control character"),
    ("ssh.known_hosts", "/tmp/kh\x00", "control character"),
    ("ssh.address", "-oProxyCommand=x", "should match pattern"),
    ("ssh.connect_timeout", float("inf"), "finite number"),
    ("ssh.connect_timeout", float("nan"), "finite number"),
    ("ssh.connect_timeout", 10 ** 30, "less than or equal to 3600"),
])
def test_free_text_fields_are_checked(inventory, field, value, reason):
    data, _ = inventory
    if field.startswith("openstack") and "openstack" not in data:
        pytest.skip("no openstack section")
    problems = _problems(_set(data, field, value))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{field}: ") and reason in problems[0], problems


def test_bridge_and_nat_names_stay_strict(inventory):
    data, _ = inventory
    host = next(n for n, h in data["hosts"].items() if h.get("nat_networks"))
    bad = copy.deepcopy(data)
    bad["hosts"][host]["nat_networks"][0]["bridge"] = "virbr0'/><x"
    bad["hosts"][host]["nat_networks"][0]["name"] = "default\n"
    problems = _problems(bad)
    assert {p.split(":")[0] for p in problems} == {
        f"hosts.{host}.nat_networks[0].bridge", f"hosts.{host}.nat_networks[0].name"}


def test_a_value_is_shown_on_one_short_line(inventory):
    data, _ = inventory
    problems = _problems(_set(data, "openstack.router", "x" * 5000 + "\x07"))
    assert len(problems[0]) < 200 and "..." in problems[0]


def test_an_unknown_key_with_control_characters_is_escaped(inventory):
    data, _ = inventory
    bad = copy.deepcopy(data)
    bad["bgp"]["evil\nkey\x1b"] = 1
    (line,) = _problems(bad)
    assert line.startswith("bgp.evil\\nkey\\x1b: ") and "unknown field" in line


def test_the_seed_values_still_load(inventory):
    _, site = inventory
    assert site.openstack is None or site.openstack.instances_path.startswith("/")


def test_an_oversized_file_is_refused_before_parsing(tmp_path):
    from stackproof import inventory_limits
    from stackproof.site import load_site
    big = tmp_path / "big.yml"
    big.write_text("# padding\n" * (inventory_limits.MAX_BYTES // 10 + 1))
    with pytest.raises(InventoryError) as err:
        load_site(big)
    (line,) = err.value.problems
    assert line.startswith("(file): ") and "larger than" in line


def test_an_unknown_key_with_a_colon_keeps_the_line_unambiguous(inventory):
    data, _ = inventory
    bad = copy.deepcopy(data)
    bad["bgp"]["a: b"] = 1
    (line,) = _problems(bad)
    assert line == "bgp.a\\x3a b: 1: unknown field"


def test_a_validator_message_with_a_control_character_stays_one_line(inventory):
    """Found by scripts/fuzz_inventory.py: an unknown role `\\x1e` printed raw."""
    data, _ = inventory
    host = next(iter(data["hosts"]))
    bad = copy.deepcopy(data)
    bad["hosts"][host]["roles"] = ["\x1e", "a\nb"]
    problems = _problems(bad)
    assert problems[0].startswith(f"hosts.{host}.roles[0]: \\x1e: unknown role")
    assert problems[1].startswith(f"hosts.{host}.roles[1]: a\\nb: unknown role")
    assert all(p.isprintable() for p in problems)
