"""Lab bastion mode: the whole acceptance runs through `bastion:` (real OpenSSH `-W` from the
bastion host's namespace to each host's listening sshd), on its own seed lab."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

SEED = Path(__file__).resolve().parents[2] / "inventories" / "seed.yml"

pytestmark = pytest.mark.lab

# a physical host of the seed site that routes to every other host (underlay, NAT
# networks over BGP, floating IPs)
BASTION = "kubernetes-host"


def test_whole_acceptance_through_the_bastion(tmp_path_factory, run_suite):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    from stackproof_lab.bastion import PIDFILE
    from stackproof_lab.lab import Lab
    lab = Lab(SEED, state_dir=tmp_path_factory.mktemp("bastion-lab") / "state",
              bastion=BASTION)
    try:
        lab.up()
        hosts = yaml.safe_load(lab.inventory_path.read_text())["hosts"]
        others = [n for n in hosts if n != BASTION]
        assert "bastion" not in hosts[BASTION]["ssh"]      # reached through nsenter
        assert all(hosts[n]["ssh"]["bastion"] == BASTION for n in others)
        # the bastion's ssh_config names the bastion only: nothing else resolves through it
        cfg = open(hosts[others[0]]["ssh"]["ssh_config"]).read()
        assert [l for l in cfg.splitlines() if l.startswith("Host ")] == [f"Host {BASTION}"]

        run = run_suite(lab)
        assert run.rc == 0, run.output
        assert " passed" in run.output and not run.failed(), run.output

        # and that is the path: with one host's listening sshd gone, only it fails
        victim = next(n for n in others if hosts[n]["kind"] == "guest")
        lab.shell(victim).sh(f"kill $(cat {PIDFILE})")
        broken = run_suite(lab, "-k", "hostname")
        assert broken.rc == 1, broken.output
        assert broken.failed() == {f"test_the_hostname_is_the_inventory_name[{victim}]"}, \
            broken.output
    finally:
        lab.down()
