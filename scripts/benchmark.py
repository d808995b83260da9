#!/usr/bin/env python3
"""Benchmark (not a test): the seed lab's underlay check, remote commands per host, and the
time from `--remediate` start to all green with the report's underlay faults injected.

    .venv/bin/python scripts/benchmark.py [--inventory inventories/seed.yml] [--marker underlay]

Prints a table and writes benchmarks/out/<site>-<marker>.json.

Fleet mode: a generated site (scripts/generate_site.py) next to the seed site: bring-up
time (each phase), memory (`free -m` before and with the lab up), the healthy acceptance run.

    .venv/bin/python scripts/benchmark.py --fleet 34 --reflectors 2

Writes benchmarks/out/fleet-<N>x<K>.json; a bring-up that fails is recorded with how far it
got (the last phase said) instead of numbers after it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackproof_lab import faults  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.outcome import one_line  # noqa: E402
from stackproof.suite import suite_command  # noqa: E402

FAULTS = {"underlay": ["bgpd-off", "static-route-shadow", "libvirt-fwi-accept-missing",
                       "dhcp-reservation-missing"]}


def suite(lab: Lab, marker: str, *extra: str) -> tuple[float, int, dict[str, int], str]:
    started = time.monotonic()
    proc = subprocess.run(suite_command("features/", lab.inventory_path, "-q", "-m", marker,
                                         *extra),
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


def used_mib() -> int:
    """`free -m`'s used column (Mem:)."""
    out = subprocess.run(["free", "-m"], capture_output=True, text=True).stdout
    return int(next(ln for ln in out.splitlines() if ln.startswith("Mem:")).split()[2])


def neighbour_table_fulls() -> int:
    """How often the kernel's ARP table was full (all CPUs). One table serves every network
    namespace, with `net.ipv4.neigh.default.gc_thresh3` (1024 by default) entries for all:
    a hundred lab hosts sweeping their pings can fill it, and a ping that needs a new entry
    then fails. A real site has a table per host."""
    lines = Path("/proc/net/stat/arp_cache").read_text().split("\n")
    col = lines[0].split().index("table_fulls")
    return sum(int(ln.split()[col], 16) for ln in lines[1:] if ln.strip())


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (every core; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]                 # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU seconds of the finished child processes (the suite's pytest)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def failed_checks(outcome: Path) -> list[str]:
    """Each failed check of a run as `check @ host: first line of its message` (from the
    run's compliance report), so that a red benchmark says what was red."""
    try:
        records = json.loads(outcome.read_text())["checks"]
    except (OSError, ValueError, KeyError):
        return [f"no compliance report at {outcome}"]
    return [f"{r['check']} @ {r['host']}: {one_line(r['message'], 200)}"
            for r in records if r["status"] == "failed"]


def measure_site(inventory: Path, label: str) -> dict:
    """Bring the site up (phase times from the lab's own log lines), memory, the healthy
    whole acceptance run (all features), down."""
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("[lab] phase ") or " up in " in line or "failed" in line:
            print(f"  {label}: {line}", flush=True)
    res: dict = {"site": label, "load_before": load_average(), "mem_before_mib": used_mib()}
    lab = Lab(inventory, state_dir=Path("/var/tmp") / f"sp-fleet-bench-{label}", log=log)
    res["hosts"] = len(lab.site.hosts)
    t0 = time.monotonic()
    try:
        try:
            lab.up()
        except Exception as exc:
            res["up_failed"] = str(exc)[:2000]
            res["up_failed_after_s"] = round(time.monotonic() - t0, 1)
            res["got_to"] = [ln for ln in lines if ln.startswith("[lab] phase ")
                             or " hook " in ln or ln.startswith("[lab] openstack")]
            return res
        res["lab_up_s"] = round(time.monotonic() - t0, 1)
        res["phases"] = [ln.removeprefix("[lab] phase ") for ln in lines
                         if ln.startswith("[lab] phase ")]
        res["mem_up_mib"] = used_mib()
        res["mem_lab_mib"] = res["mem_up_mib"] - res["mem_before_mib"]
        res["load_up"] = load_average()
        # the healthy run with the fact pool (the default), then one host after another
        for key, extra in (("acceptance", ()), ("acceptance_serial", ("--fact-workers=0",))):
            outcome = lab.state_dir / f"{key}.json"
            fulls = neighbour_table_fulls()
            busy, suite_cpu = machine_busy_s(), children_cpu_s()
            started = time.monotonic()
            proc = subprocess.run(suite_command("features/", lab.inventory_path, "-q",
                                                f"--stackproof-json={outcome}", *extra),
                                  cwd=ROOT, capture_output=True, text=True)
            res[f"{key}_s"] = round(time.monotonic() - started, 1)
            # the lab's hosts share this machine's cores: what the run cost the suite itself
            # and the whole machine (suite + every lab host's daemons and commands)
            res[f"{key}_suite_cpu_s"] = round(children_cpu_s() - suite_cpu, 1)
            res[f"{key}_machine_busy_s"] = round(machine_busy_s() - busy, 1)
            res[f"{key}_rc"] = proc.returncode
            tail = [ln for ln in proc.stdout.splitlines() if " passed" in ln or " failed" in ln]
            res[key] = tail[-1] if tail else proc.stdout[-500:]
            res[f"{key}_failed"] = failed_checks(outcome)
            res[f"{key}_arp_table_full"] = neighbour_table_fulls() - fulls
            print(f"  {label}: {key} {res[f'{key}_s']} s, rc {proc.returncode}", flush=True)
    finally:
        lab.down()
    return res


def fleet(n: int, k: int) -> int:
    import importlib.util
    spec = importlib.util.spec_from_file_location("generate_site",
                                                  ROOT / "scripts/generate_site.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    inventory = Path("/var/tmp") / f"sp-fleet-bench-{n}x{k}.yml"
    gen.write(gen.generate(n, k), inventory)
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    # the big site first: on a loaded machine it is the number that matters; each result is
    # written as soon as it is known
    for inv, label in ((inventory, f"fleet-{n}x{k}"), (ROOT / "inventories/seed.yml", "seed")):
        results.append(measure_site(inv, label))
        (out_dir / f"fleet-{n}x{k}.json").write_text(json.dumps(results, indent=1))
    for r in results:
        print(f"{r['site']}: {r['hosts']} hosts, load {r['load_before']}")
        if "up_failed" in r:
            print(f"  lab up FAILED after {r['up_failed_after_s']} s: {r['up_failed'][:300]}")
            print("  got to: " + " | ".join(r["got_to"]))
            continue
        print(f"  lab up {r['lab_up_s']} s: " + "; ".join(r["phases"]))
        print(f"  memory {r['mem_before_mib']} -> {r['mem_up_mib']} MiB used "
              f"(+{r['mem_lab_mib']} MiB)")
        print(f"  acceptance (all features) {r['acceptance_s']} s wall, rc "
              f"{r['acceptance_rc']}: {r['acceptance']}; one host after another "
              f"(--fact-workers=0) {r['acceptance_serial_s']} s")
        print(f"  during it: the suite used {r['acceptance_suite_cpu_s']} CPU s, the machine "
              f"was busy {r['acceptance_machine_busy_s']} CPU s of "
              f"{round(r['acceptance_s'] * (os.cpu_count() or 1), 1)} ({os.cpu_count()} cores)")
        for line in r["acceptance_failed"]:
            print(f"  FAILED {line}")
        if r["acceptance_arp_table_full"]:
            print(f"  the kernel's ARP table (one for every namespace, gc_thresh3) was full "
                  f"{r['acceptance_arp_table_full']} times during that run")
    big, seed = results
    if "acceptance_s" in big and "acceptance_s" in seed:
        ratio = big["acceptance_s"] / seed["acceptance_s"]
        print(f"fleet ratio: {big['hosts']}-host acceptance {big['acceptance_s']} s / "
              f"{seed['hosts']}-host {seed['acceptance_s']} s = {ratio:.2f} (target <= 2.0)")
    return 0 if all(r.get("acceptance_rc") == 0 for r in results) else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", default=str(ROOT / "inventories/seed.yml"))
    ap.add_argument("--marker", default="underlay")
    ap.add_argument("--fleet", type=int, metavar="N",
                    help="fleet mode: a generated site of N hypervisors next to the seed site")
    ap.add_argument("--reflectors", type=int, default=2, metavar="K")
    args = ap.parse_args()
    if args.fleet:
        return fleet(args.fleet, args.reflectors)
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
