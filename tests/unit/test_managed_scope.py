"""Every remediation names its managed scope, and the fixes that edit shared files keep what
is outside it (operator lines captured from a lived-in lab, tests/data/unmanaged)."""
from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from remediations import load_registry
from remediations.chrony_config import serving
from remediations.libvirt_network_redefine import with_kept_entries
from stackproof_lab import lived_in, unmanaged
from stackproof.render.libvirt import network_xml
from stackproof.site import parse_site

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "unmanaged" / "homelab"


def lab_site():
    data = yaml.safe_load((ROOT / "inventories" / "seed.yml").read_text())
    for h in data["hosts"].values():
        h["os_family"] = "debian"
    return parse_site(data, "seed.yml")


@pytest.mark.parametrize("ident", sorted(load_registry()))
def test_each_remediation_names_its_managed_scope(ident):
    module = load_registry()[ident]
    doc = ast.get_docstring(ast.parse(Path(module.__file__).read_text())) or ""
    assert re.search(r"^Managed scope\b[^\n]*:", doc, re.M), \
        f"{module.__file__}: no `Managed scope: ...` paragraph"


def _captured(host: str) -> tuple[lived_in.HostItems, dict[str, str]]:
    it = lived_in.host_items(lab_site())[host]
    return it, unmanaged.split_output(it, (DATA / f"{host}.out").read_text())


def test_redefine_keeps_a_foreign_reservation_and_stays_idempotent():
    site = lab_site()
    it, out = _captured("openstack-host")
    current = out["resv_config"]                 # `virsh net-dumpxml --inactive`, lived-in
    lv = it.libvirt
    assert lv.reservation_mac in current
    new = network_xml(site, "openstack-host", lv.reservation_network)
    merged = with_kept_entries(new, current)
    hosts = [h.get("mac") for h in ET.fromstring(merged).iterfind("./ip/dhcp/host")]
    assert hosts == [h.get("mac") for h in ET.fromstring(new).iterfind("./ip/dhcp/host")] + \
        [lv.reservation_mac]
    assert with_kept_entries(merged, current) == merged
    assert with_kept_entries(new, None) == new and with_kept_entries(new, "<broken") == new


def test_serving_keeps_the_operators_allow_and_makestep():
    it, out = _captured("controller")
    conf = out["chrony_conf"]
    assert "allow 198.51.100.0/24" in conf.splitlines()
    networks = ["192.168.100.0/24", "172.20.112.0/24"]
    new = serving(conf + "allow 192.168.100.0/24\n", networks).splitlines()
    for line in it.chrony_lines:
        assert new.count(line) == 1, line
    assert new.count("allow 192.168.100.0/24") == 1 and new.count("local stratum 10") == 1
