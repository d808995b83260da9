"""The lab's root-side OpenStack processes are blind to the machine's OpenStack leftovers,
and the suite's openstacksdk reads only the inventory's clouds.yaml. Proven with decoys
written in a private mount namespace (tests/decoy.py): the machine is never changed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import decoy  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")

PROBE = r"""
import json, os, subprocess, sys
from pathlib import Path
from stackproof_lab.openstack import hermetic
from fixtures.openstack import named_files
from openstack import config as occ
scratch, clouds = Path(sys.argv[1]), sys.argv[2]
look = "ls -a /etc/keystone /etc/nova.conf.d /etc/neutron 2>/dev/null; echo HOME=$HOME; env | grep -c '^OS_' || true"
plain = subprocess.run(["sh", "-c", look], capture_output=True, text=True).stdout
inside = subprocess.run(hermetic.command(["sh", "-c", look], scratch / "h"), capture_output=True,
                        text=True, env=hermetic.env(scratch / "home")).stdout
default = occ.OpenStackConfig().get_one(cloud="lab").auth["auth_url"]
named = occ.OpenStackConfig(**named_files(clouds)).get_one(cloud="lab").auth["auth_url"]
print(json.dumps({"plain": plain, "inside": inside, "default": default, "named": named}))
"""


def test_decoys_are_seen_plainly_and_hidden_from_the_lab(tmp_path):
    clouds = tmp_path / "lab" / "clouds.yaml"
    clouds.parent.mkdir()
    clouds.write_text("clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5555/v3\n"
                      "      username: admin\n      password: pw\n      project_name: admin\n")
    proc = subprocess.run(
        decoy.argv(tmp_path / "decoy", "lab", "lab",
                   [sys.executable, "-c", PROBE, str(tmp_path / "scratch"), str(clouds)]),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    # the decoys are in effect in that namespace ...
    assert "keystone.conf.d" in got["plain"] and "50-decoy.conf" in got["plain"]
    assert got["default"] == decoy.DEAD_URL
    # ... and none of them reaches the lab's processes or the suite's named clouds.yaml
    assert got["inside"].split("HOME=")[0].strip() == ""   # no /etc/keystone, nova.conf.d...
    assert f"HOME={tmp_path / 'scratch' / 'home'}" in got["inside"]
    assert got["inside"].strip().endswith("0")          # no OS_* variable
    assert got["named"] == "http://127.0.0.1:5555/v3"
    # the machine itself never saw them
    assert not Path("/etc/keystone/keystone.conf.d/50-decoy.conf").exists()
    assert not Path("/root/.config/openstack/secure.yaml").exists() or \
        decoy.MARK not in Path("/root/.config/openstack/secure.yaml").read_text()


def test_the_globs_cover_every_project_directory_and_conf_d():
    from stackproof_lab.openstack import hermetic
    globs = hermetic.glob_list().split()
    for p in ("keystone", "nova", "neutron", "glance", "openstack"):
        assert f"/etc/{p}" in globs and f"/etc/{p}[._-]*" in globs


OSLO = r"""
import sys
from oslo_config import cfg
from oslo_db import options
conf = cfg.ConfigOpts()
options.set_defaults(conf)
conf(args=[], project="keystone", prog="keystone", default_config_files=[sys.argv[1]])
print(conf.database.connection)
"""

WRAPPED = r"""
import subprocess, sys
from pathlib import Path
from stackproof_lab.openstack import hermetic
scratch, venv_python, oslo, lab_conf = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
argv = [venv_python, "-c", oslo, lab_conf]
plain = subprocess.run(argv, capture_output=True, text=True).stdout.strip()
wrapped = subprocess.run(hermetic.command(argv, scratch / "h"), capture_output=True, text=True,
                         env=hermetic.env(scratch / "home")).stdout.strip()
print(plain)
print(wrapped)
"""


def test_oslo_config_reads_the_decoys_unless_hermetic(tmp_path):
    """Why the wrapper exists: given only the lab's keystone.conf, oslo.config still takes
    the database from /etc/keystone/keystone.conf.d/ and OS_DATABASE__CONNECTION."""
    from stackproof_lab.openstack.layout import venv
    python = venv() / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no OpenStack venv at {venv()}")
    lab_conf = tmp_path / "keystone.conf"
    lab_conf.write_text(f"[database]\nconnection = sqlite:///{tmp_path}/lab.sqlite\n")
    proc = subprocess.run(
        decoy.argv(tmp_path / "decoy", "lab", "lab",
                   [sys.executable, "-c", WRAPPED, str(tmp_path / "scratch"), str(python),
                    OSLO, str(lab_conf)]),
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    plain, wrapped = proc.stdout.strip().splitlines()[-2:]
    assert plain == decoy.DEAD_DB
    assert wrapped == f"sqlite:///{tmp_path}/lab.sqlite"
