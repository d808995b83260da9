#!/usr/bin/env python3
"""Benchmark (not a test): the seed lab's underlay check, remote commands per host, and the
time from `--remediate` start to all green with the report's underlay faults injected.

    .venv/bin/python scripts/benchmark.py [--inventory inventories/seed.yml] [--marker underlay]

Prints a table and writes benchmarks/out/<site>-<marker>.json.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackproof.lab import faults  # noqa: E402
from stackproof.lab.lab import Lab  # noqa: E402

FAULTS = {"underlay": ["bgpd-off", "static-route-shadow", "libvirt-fwi-accept-missing",
                       "dhcp-reservation-missing"]}


def suite(lab: Lab, marker: str, *extra: str) -> tuple[float, int, dict[str, int], str]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "features/", "--inventory",
                           str(lab.inventory_path), "-q", "-m", marker, *extra],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    counts, section = {}, False
    for line in proc.stdout.splitlines():
        if "stackproof remote commands per host" in line:
            section = True
            continue
        if section:
            m = re.match(r"^(\S+)\s+(\d+)$", line)
            if m:
                counts[m.group(1)] = int(m.group(2))
            elif line.startswith("total") or line.startswith("="):
                section = line.startswith("total")
    return wall, proc.returncode, counts, proc.stdout


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", default=str(ROOT / "inventories/seed.yml"))
    ap.add_argument("--marker", default="underlay")
    args = ap.parse_args()
    lab = Lab(args.inventory, log=lambda line: None)
    t0 = time.monotonic()
    lab.up()
    try:
        up_s = time.monotonic() - t0
        suite(lab, args.marker)                           # warm-up: imports, ssh keys
        check_s, rc, counts, out = suite(lab, args.marker)
        if rc != 0:
            print(out)
            raise SystemExit(f"the healthy lab is not green for -m {args.marker}")
        injected = []
        for name in FAULTS.get(args.marker, []):
            injected.append((name, faults.inject(lab, name)))
        red_s, red_rc, _, _ = suite(lab, args.marker)
        fix_s, fix_rc, fix_counts, fix_out = suite(lab, args.marker, "--remediate")
        again_s, again_rc, _, again_out = suite(lab, args.marker, "--remediate")
        result = {
            "site": lab.site.site, "marker": args.marker, "lab_up_s": round(up_s, 1),
            "check_s": round(check_s, 2), "commands_per_host": counts,
            "faults": [f"{n}@{h}" for n, h in injected], "red_rc": red_rc,
            "red_s": round(red_s, 2), "remediate_to_green_s": round(fix_s, 2),
            "remediate_rc": fix_rc, "remediate_commands_per_host": fix_counts,
            "second_run_applied_nothing": again_rc == 0
            and "stackproof remediations" not in again_out,
        }
    finally:
        lab.down()
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{result['site']}-{args.marker}.json").write_text(json.dumps(result, indent=1))
    print(f"lab up                      {result['lab_up_s']} s")
    print(f"pytest features/ -m {args.marker:<8} {result['check_s']} s (healthy, all green)")
    print("remote commands per host    " + ", ".join(f"{h}={n}" for h, n in counts.items()))
    print(f"faults injected             {', '.join(result['faults'])}")
    print(f"--remediate start -> green  {result['remediate_to_green_s']} s "
          f"(rc {fix_rc}); second run applied nothing: {result['second_run_applied_nothing']}")
    return 0 if fix_rc == 0 and result["second_run_applied_nothing"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
