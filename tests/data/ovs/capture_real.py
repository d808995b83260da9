"""Capture what the real Neutron OVS agents built, with the port bindings behind it, from a
running lab made with every layer (`stackproof lab up`: real agents, instance ports bound
and plugged on their compute hosts):

    .venv/bin/python tests/data/ovs/capture_real.py <lab state dir> [--unbound]

Writes tests/data/ovs/real-agent/<host>/ (the files and COMMANDS layout of capture.py: the
OVS_QUERY tables, `ovs-vsctl show`, the agent ini) for every ovs_agent host, and
tests/data/openstack/real-agent/{ports,agents,networks}.json: the raw Neutron API bodies
(`stackproof.facts.openstack.OpenStackFacts`) the l2_population expectation reads, and each
agent's /etc/neutron/neutron.conf as neutron.conf-<host> (its bus password replaced with
`***`: the lab's own secret).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture import save  # noqa: E402
from stackproof.facts.openstack import OpenStackFacts  # noqa: E402
from stackproof_lab.daemons import ovs as labovs  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof_lab.openstack import resources  # noqa: E402
from stackproof_lab.state import LabState  # noqa: E402

CASE = "real-agent"
API = ROOT / "tests" / "data" / "openstack" / CASE


def capture_unbound(lab: Lab) -> None:
    """tests/data/openstack/instance-port-unbound/ports.json: the API's ports with the lab
    fault `instance-port-unbound` injected (then healed)."""
    from stackproof_lab import faults
    site = lab.site
    host = faults.inject(lab, "instance-port-unbound")
    try:
        conn = resources.connect(Path(lab.state_dir) / "openstack" / "clouds.yaml", site)
        try:
            out = API.parent / "instance-port-unbound"
            out.mkdir(parents=True, exist_ok=True)
            (out / "ports.json").write_text(json.dumps(OpenStackFacts(conn).raw("ports"),
                                                       indent=1, sort_keys=True) + "\n")
        finally:
            conn.close()
        print(f"captured openstack/instance-port-unbound ({host})")
    finally:
        faults.heal(lab, "instance-port-unbound", host)


def main(state_dir: str, only_unbound: bool = False) -> int:
    st = LabState.load(state_dir)
    lab = Lab(st.inventory, state_dir=state_dir, daemons=False, log=lambda line: None)
    site = lab.site
    if only_unbound:
        capture_unbound(lab)
        return 0
    conn = resources.connect(Path(state_dir) / "openstack" / "clouds.yaml", site)
    try:
        facts = OpenStackFacts(conn)
        API.mkdir(parents=True, exist_ok=True)
        for name in ("ports", "agents", "networks"):
            (API / f"{name}.json").write_text(json.dumps(facts.raw(name), indent=1,
                                                         sort_keys=True) + "\n")
        print(f"captured openstack/{CASE}: hosts by network {facts.hosts_by_network()}")
    finally:
        conn.close()
    for host in labovs.ovs_hosts(site):
        save(lab, CASE, host)
        # the agent's neutron.conf (the lab's bus password replaced with ***)
        conf = lab.shell(host).run(["cat", "/etc/neutron/neutron.conf"]).stdout
        (API / f"neutron.conf-{host}").write_text(re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@",
                                                          conf))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], "--unbound" in sys.argv[2:]))
