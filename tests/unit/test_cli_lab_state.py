"""`stackproof lab break|heal|reboot --state-dir DIR` without --inventory: the lab's own record
names the inventory it was made from (no lab is built here: only the state file)."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from stackproof import cli
from stackproof_lab import cli as lab_cli
from stackproof_lab.state import LabState

SEED = Path(__file__).resolve().parents[2] / "inventories" / "seed.yml"


def _args(state_dir: Path) -> argparse.Namespace:
    return argparse.Namespace(state_dir=str(state_dir), inventory=None, bastion=None)


def _state(tmp_path: Path, inventory: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    LabState("homelab-test", str(inventory), str(d), phase="up").save()
    return d


def test_a_lab_made_from_an_inventory_knows_its_site(tmp_path):
    inv = tmp_path / "site.yml"
    shutil.copyfile(SEED, inv)
    lab = lab_cli._lab(_args(_state(tmp_path, inv)), daemons=False)
    assert lab.site is not None and "openstack-host" in lab.site.hosts


def test_a_lab_whose_inventory_is_gone_names_it(tmp_path):
    d = _state(tmp_path, tmp_path / "gone.yml")
    with pytest.raises(cli.CliError, match=r"made from .*gone\.yml, which is gone: pass "
                                           r"--inventory FILE"):
        lab_cli._lab(_args(d), daemons=False)
    # down and status still work from the record alone
    assert lab_cli._lab(_args(d), daemons=False, for_down=True).site is None


def test_no_state_no_inventory_is_one_clear_error(tmp_path):
    with pytest.raises(cli.CliError, match="no lab state in .*, and no --inventory given"):
        lab_cli._lab(_args(tmp_path / "nothing"), daemons=False)


def test_a_state_dir_the_hosts_cannot_see_is_a_usage_error(capsys):
    """Every lab host replaces /root with its own: a state dir there is refused at once,
    before anything is made, with exit 2 and the reason."""
    target = Path("/root") / "stackproof-test-never-made"
    rc = cli.main(["lab", "up", "--inventory", str(SEED), "--state-dir", str(target)])
    err = capsys.readouterr().err
    assert rc == 2 and f"state dir {target} lies under /root" in err
    assert not target.exists()
