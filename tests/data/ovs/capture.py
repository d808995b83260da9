"""Capture real Open vSwitch 3.1 outputs for tests/unit/test_ovs.py.

    sudo .venv/bin/python tests/data/ovs/capture.py

Brings up a lab of inventories/seed.yml with only the Open vSwitch hook
(stackproof_lab.daemons.ovs.ovs_hook: ovsdb-server + `ovs-vswitchd --enable-dummy=system` per
ovs_agent host, the agent's ini and its bridges), runs the exact command of
stackproof.facts.ovs (OVS_QUERY), `ovs-vsctl show` and `cat` of the agent ini inside the
hosts, injects the lab faults of stackproof_lab.faults.ovs one at a time (healing each), and
takes the lab down, also on failure. Each file is the command's stdout verbatim; `.rc` and
`.stderr` sit beside it when not 0 / not empty; COMMANDS lists each file's command.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof.facts.ovs import OVS_QUERY  # noqa: E402
from stackproof_lab.daemons import ovs_real  # noqa: E402
from stackproof_lab import faults  # noqa: E402
from stackproof_lab.daemons import ovs as labovs  # noqa: E402
from stackproof_lab.faults.ovs import wrong_local_ip  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.render.neutron import AGENT_INI  # noqa: E402
from stackproof.expect import ovs_layout  # noqa: E402

DATA = Path(__file__).resolve().parent
SEED = ROOT / "inventories" / "seed.yml"
FILES = {"ovs-tables.json": ["/bin/sh", "-c", OVS_QUERY],
         "ovs-vsctl-show": ["ovs-vsctl", "show"],
         "openvswitch_agent.ini": ["cat", AGENT_INI]}


def save(lab: Lab, case: str, host: str, names=tuple(FILES)) -> None:
    out = DATA / case / host
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in names:
        argv = FILES[name]
        proc = lab.shell(host).run(argv, check=False)
        (out / name).write_text(proc.stdout)
        for suffix, value in ((".rc", str(proc.returncode) if proc.returncode else ""),
                              (".stderr", proc.stderr)):
            path = out / f"{name}{suffix}"
            path.unlink(missing_ok=True)
            if value:
                path.write_text(value if suffix == ".stderr" else value + "\n")
        shown = argv[2] if argv[:2] == ["/bin/sh", "-c"] else " ".join(argv)
        lines.append(f"{name}: {shown}")
    (out / "COMMANDS").write_text("\n".join(lines) + "\n")
    print(f"captured {case}/{host}")


def with_fault(lab: Lab, name: str, host: str, case: str, names=tuple(FILES)) -> None:
    faults.inject(lab, name, host)
    try:
        save(lab, case, host, names)
    finally:
        faults.heal(lab, name, host)


def main() -> int:
    os.environ[ovs_real.ENV] = ovs_real.STANDIN     # these cases are the stand-in's
    state = Path(tempfile.mkdtemp(prefix="sp-ovs-capture-"))
    lab = Lab(SEED, state / "state", daemons=False, log=lambda line: None)
    lab.guest_hooks = [labovs.ovs_hook]
    try:
        lab.up()
        site = lab.site
        hosts = labovs.ovs_hosts(site)
        for h in hosts:
            save(lab, "healthy", h)
        target = hosts[-1]
        with_fault(lab, "ovs-br-tun-missing", target, "br-tun-missing")
        with_fault(lab, "ovs-patch-port-missing", target, "patch-port-missing")
        with_fault(lab, "ovs-vxlan-port-missing", target, "vxlan-port-missing")
        with_fault(lab, "ovs-ini-wrong-local-ip", target, "ini-wrong-local-ip")
        with_fault(lab, "ovs-ini-no-tunnel-types", target, "ini-no-tunnel-types",
                   ("openvswitch_agent.ini",))
        # a tunnel port whose local_ip was changed by hand (the agent never does that)
        first = sorted(ovs_layout(site, target).tunnels, key=lambda t: t.name)[0]
        wrong = wrong_local_ip(site, target)
        lab.shell(target).run(["ovs-vsctl", "set", "Interface", first.name,
                               f"options:local_ip={wrong}"])
        try:
            save(lab, "vxlan-wrong-local-ip", target)
        finally:
            faults.heal(lab, "ovs-vxlan-port-missing", target)     # restarts the agent
        # a bridge with one port: OVSDB encodes a one-member set bare
        lab.shell(target).run(["ovs-vsctl", "add-br", "br-probe"])
        try:
            save(lab, "one-port-bridge", target, ("ovs-tables.json",))
        finally:
            lab.shell(target).run(["ovs-vsctl", "--if-exists", "del-br", "br-probe"])
        # ovsdb-server stopped: what ovs-vsctl says when OVS does not answer
        labovs.stop_node(lab.shell(target))
        save(lab, "ovs-down", target, ("ovs-tables.json",))
    finally:
        lab.down()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
