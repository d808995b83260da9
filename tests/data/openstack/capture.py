"""Capture the OpenStack API responses the unit tests parse, from a running lab.

    .venv/bin/python tests/data/openstack/capture.py <lab state dir> [case ...]

Writes tests/data/openstack/<case>/<collection>.json: the raw JSON bodies of GET
/os-services, /os-hypervisors (microversion 2.53), /v2.0/agents, networks, subnets, routers,
floatingips, ports, exactly as stackproof.facts.openstack.OpenStackFacts reads them, for the
healthy lab and with each lab fault injected (then healed). For the nova-compute cases also
`stat -c '%F|%U|%G|%a' <instances_path>` and /etc/nova/nova.conf from the compute node (the
transport_url password replaced by the capture with `***`: it is the lab's own secret).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof.facts.openstack import COLLECTIONS, OpenStackFacts  # noqa: E402
from stackproof_lab import faults  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof_lab.openstack import resources  # noqa: E402

OUT = Path(__file__).resolve().parent
CASES = [("healthy", None), ("ovs-agent-stopped", "neutron-ovs-agent-stopped"),
         ("instances-path-missing", "nova-instances-path-missing"),
         ("instances-path-root-owned", "nova-instances-path-root-owned"),
         ("host-unmapped", "nova-host-unmapped"),
         ("external-network-overlap", "external-network-overlap"),
         ("floating-ip-detached", "floating-ip-detached")]


def capture(lab: Lab, case: str, host: str | None) -> None:
    site = lab.site
    conn = resources.connect(lab.state_dir / "openstack" / "clouds.yaml", site)
    facts = OpenStackFacts(conn)
    d = OUT / case
    d.mkdir(parents=True, exist_ok=True)
    for name in COLLECTIONS:
        (d / f"{name}.json").write_text(json.dumps(facts.raw(name), indent=1, sort_keys=True)
                                        + "\n")
    conn.close()
    node = host if host in site.with_role("nova_compute") else site.with_role("nova_compute")[-1]
    sh = lab.shell(node)
    path = site.openstack.instances_path
    st = sh.run(["stat", "-c", "%F|%U|%G|%a", path], check=False)
    (d / "stat-instances-path").write_text(json.dumps(
        {"host": node, "path": path, "rc": st.returncode, "stdout": st.stdout}) + "\n")
    conf = sh.run(["cat", "/etc/nova/nova.conf"]).stdout
    (d / "nova.conf").write_text(re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", conf))


def main(state_dir: str, only: list[str]) -> None:
    from stackproof_lab.state import LabState
    st = LabState.load(state_dir)
    lab = Lab(st.inventory, state_dir=state_dir)
    for case, fault in CASES:
        if only and case not in only:
            continue
        host = None
        if fault:
            host = faults.inject(lab, fault)
        try:
            capture(lab, case, host)
            print(f"captured {case}" + (f" ({fault} on {host})" if fault else ""))
        finally:
            if fault:
                faults.heal(lab, fault, host)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
