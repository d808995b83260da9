"""Capture the lab's real Nova logs that stackproof_lab.openstack.nodes.telling reads when
nova-compute does not register (the timeout's message quotes them).

    .venv/bin/python tests/data/openstack/capture_logs.py <lab state dir>

Writes tests/data/openstack/logs/:
- nova-compute-healthy.log: a compute's /var/log/nova/nova-compute.log after the lab came up
- nova-conductor.log: the root-side conductor's log (<state>/openstack/logs)
- nova-compute-login-refused.log: the same compute's log when nova-compute started while
  Nova's RabbitMQ user had no permissions on the vhost (the capture clears them, starts
  nova-compute, waits for it to exit, then restores them and restarts it)
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof_lab.daemons import ovs_real  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof_lab.openstack import config, nodes  # noqa: E402
from stackproof_lab.state import LabState  # noqa: E402

OUT = Path(__file__).resolve().parent / "logs"
LOG = "/var/log/nova/nova-compute.log"


def main(state_dir: str) -> None:
    st = LabState.load(state_dir)
    lab = Lab(st.inventory, state_dir=state_dir, daemons=False, log=lambda line: None)
    site = lab.site
    compute = site.with_role("nova_compute")[0]
    shell = lab.shell(compute)
    bus = lab.shell(ovs_real.bus_host(site))
    OUT.mkdir(exist_ok=True)
    (OUT / "nova-compute-healthy.log").write_text(shell.run(["cat", LOG]).stdout)
    shutil.copyfile(lab.state_dir / "openstack" / "logs" / "nova-conductor.log",
                    OUT / "nova-conductor.log")
    user = config.NOVA_RABBIT_USER
    ctl = ovs_real.RABBITMQCTL
    nodes.service(shell, "nova-compute", "stop")
    bus.sh(ovs_real.as_rabbit(f"{ctl} clear_permissions {user}"))
    try:
        shell.sh(f": > {LOG}")
        nodes.service(shell, "nova-compute", "start")
        deadline = time.monotonic() + 90
        while nodes.service(shell, "nova-compute", "status", check=False).returncode == 0:
            if time.monotonic() > deadline:
                raise SystemExit("nova-compute kept running without its permissions")
            time.sleep(1)
        (OUT / "nova-compute-login-refused.log").write_text(shell.run(["cat", LOG]).stdout)
    finally:
        bus.sh(ovs_real.as_rabbit(f"{ctl} set_permissions {user} '.*' '.*' '.*'"))
        nodes.service(shell, "nova-compute", "restart")
    print(f"wrote {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main(sys.argv[1])
