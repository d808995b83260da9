"""The lab is hermetic: on a machine whose /etc/keystone, /etc/nova, /etc/neutron,
/etc/glance, /etc/openstack, root's ~/.config/openstack and ~/.kube and OS_* environment all
hold wrong leftovers (a cloud and a context of the site's own names, pointing at nobody), the
seed lab comes up and the whole acceptance suite is green against it.

The leftovers live only in a private mount namespace (tests/decoy.py: copy-on-write /etc and
/root): the machine is never changed, which the test checks afterwards too.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import decoy  # noqa: E402

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "inventories" / "seed.yml"

RUN = """
set -u
py={py}
$py -m stackproof.cli lab up --inventory {inv} --state-dir {state} || exit 10
$py -m pytest features/ --inventory {state}/inventory.yml -q -rfs -p no:randomly
rc=$?
$py -m stackproof.cli lab down --inventory {inv} --state-dir {state} || exit 11
exit $rc
"""


def test_the_seed_lab_is_green_on_a_machine_full_of_leftovers(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    from stackproof.site import load_site
    site = load_site(SEED)
    state = tmp_path / "state"
    before = {p: p.exists() for p in (Path("/etc/keystone"), Path("/etc/nova"),
                                      Path("/root/.config/openstack"), Path("/root/.kube"))}
    script = RUN.format(py=sys.executable, inv=SEED, state=state)
    try:
        proc = subprocess.run(
            decoy.argv(tmp_path / "decoy", site.openstack.cloud, site.kubernetes.context or
                       site.site, ["bash", "-c", script]),
            cwd=ROOT, capture_output=True, text=True, timeout=1500,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        from stackproof_lab.lab import Lab
        from stackproof_lab.state import LabState
        if LabState.exists(state):          # the inner run died before its own `lab down`
            Lab.from_state(state).down()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out and " failed" not in out, out[-6000:]
    # every layer ran: OpenStack and Kubernetes scenarios were not skipped
    assert "the inventory has no" not in out and "cannot reach cloud" not in out.lower()
    assert decoy.MARK not in out, out[-6000:]
    # the machine is as it was
    assert {p: p.exists() for p in before} == before
