"""Capture the catalog endpoint probes (stackproof.facts.openstack_endpoints) from a running
lab, healthy and with Glance and Placement each stopped in the controller:

    .venv/bin/python tests/data/openstack/capture_endpoints.py <lab state dir>

Writes tests/data/openstack/endpoints/<case>.json: the probes as the product records them
(service type, URL, HTTP status or none, error), from the lab's real services.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof.facts.openstack_endpoints import probe_all  # noqa: E402
from stackproof_lab import faults  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof_lab.openstack import resources  # noqa: E402

OUT = Path(__file__).resolve().parent / "endpoints"
CASES = [("healthy", None), ("glance-down", "glance-down"),
         ("placement-down", "placement-down")]


def capture(lab: Lab, case: str) -> None:
    conn = resources.connect(lab.state_dir / "openstack" / "clouds.yaml", lab.site)
    try:
        probes = [asdict(p) for p in probe_all(conn)]
    finally:
        conn.close()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{case}.json").write_text(json.dumps(probes, indent=1, sort_keys=True) + "\n")


def main(state_dir: str) -> None:
    from stackproof_lab.state import LabState
    st = LabState.load(state_dir)
    lab = Lab(st.inventory, state_dir=state_dir)
    for case, fault in CASES:
        host = faults.inject(lab, fault) if fault else None
        try:
            capture(lab, case)
            print(f"captured {case}" + (f" ({fault} on {host})" if fault else ""))
        finally:
            if fault:
                faults.heal(lab, fault, host)


if __name__ == "__main__":
    main(sys.argv[1])
