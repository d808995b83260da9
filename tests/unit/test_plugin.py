"""The plugin as an operator meets it, without a lab: bad inventories and host selection."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackproof.site import load_site
from stackproof.targets import select_hosts

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "features/", "-q", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_bad_inventory_names_each_field_and_reason_without_a_traceback(tmp_path):
    bad = tmp_path / "site.yml"
    text = (ROOT / "inventories/seed.yml").read_text()
    bad.write_text(text.replace("cidr: 10.10.10.0/24", "cidr: 10.10.10.0/33")
                   .replace('mac: "52:54:00:74:a9:78"', 'mac: "52:54:00:74:a9:zz"'))
    proc = run_pytest("--inventory", str(bad), "--collect-only")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out             # pytest's usage error
    assert "underlay.cidr" in out and "10.10.10.0/33" in out
    assert "hosts.compute2.mac: 52:54:00:74:a9:zz" in out
    assert "Traceback" not in out


def test_features_without_an_inventory_say_so(monkeypatch):
    monkeypatch.delenv("STACKPROOF_INVENTORY", raising=False)
    proc = run_pytest("--collect-only")
    assert proc.returncode != 0
    assert "--inventory" in proc.stdout + proc.stderr


def test_role_tags_become_one_test_per_host_named_after_it():
    proc = run_pytest("--inventory", str(ROOT / "inventories/seed.yml"), "--collect-only",
                      "-k", "hostname")
    ids = {line.split("[", 1)[1].rstrip("]") for line in proc.stdout.splitlines()
           if "test_the_hostname_is_the_inventory_name[" in line}
    assert ids == set(load_site(ROOT / "inventories/seed.yml").hosts)


@pytest.mark.parametrize("inventory", ["seed.yml", "four-host-ebgp.yml"])
def test_selectors(inventory):
    site = load_site(ROOT / "inventories" / inventory)
    assert select_hosts(site, "time_server") == [site.time.server]
    assert site.time.server not in select_hosts(site, "time_client")
    assert set(select_hosts(site, "time_client")) | {site.time.server} == set(site.hosts)
    assert set(select_hosts(site, "physical")) == set(site.physical_hosts())
    with pytest.raises(ValueError, match="unknown target selector"):
        select_hosts(site, "no-such-role")
