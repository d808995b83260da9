"""The router's gateway port address on the external network (expect.router_gateway_port_
address): pinned to the lowest pool address no inventory floating IP uses, read here
straight from the inventory YAML."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from stackproof.expect import router_gateway_port_address
from stackproof.site import load_site

ROOT = Path(__file__).resolve().parents[2]


def _raw(path: Path) -> tuple[list[ipaddress.IPv4Address], set[str]]:
    doc = yaml.safe_load(path.read_text())
    pool = doc["openstack"]["external_network"]["pool"]
    lo, hi = (ipaddress.IPv4Address(pool[k]) for k in ("start", "end"))
    fips = {str(h["floating_ip"]) for h in doc["hosts"].values() if h.get("floating_ip")}
    return [lo + i for i in range(int(hi) - int(lo) + 1)], fips


@pytest.mark.parametrize("inventory", ["seed.yml", "four-host-ebgp.yml"])
def test_the_gateway_port_takes_the_lowest_free_pool_address(inventory):
    path = ROOT / "inventories" / inventory
    pool, fips = _raw(path)
    got = router_gateway_port_address(load_site(path))
    assert got not in fips
    assert got == next(str(a) for a in pool if str(a) not in fips)


def test_a_floating_ip_on_the_pools_first_address_pushes_the_gateway_up(tmp_path):
    doc = yaml.safe_load((ROOT / "inventories" / "seed.yml").read_text())
    start = doc["openstack"]["external_network"]["pool"]["start"]
    owner = next(n for n, h in doc["hosts"].items() if h.get("floating_ip"))
    doc["hosts"][owner]["floating_ip"] = start
    path = tmp_path / "site.yml"
    path.write_text(yaml.safe_dump(doc))
    got = router_gateway_port_address(load_site(path))
    assert got == str(ipaddress.IPv4Address(start) + 1)
