#!/usr/bin/env python3
"""Chaos rounds on a lab: random fault combinations across layers, remediated together.

    python scripts/chaos.py --inventory inventories/seed.yml --rounds 50 --seed 1
    python scripts/chaos.py --inventory inventories/seed.yml --replay 1187326411

Brings the lab up (or uses the one already up in --state-dir), runs the rounds
(stackproof_lab.chaos), prints one line per round and the totals, and takes the lab down
unless --keep. A failing round keeps its seed, faults, outcomes, run outputs and Allure
results under --out/round-NNN-seed-S/; `--replay S` runs that round again. Exit 1 when any
round failed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackproof_lab import chaos  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof_lab.state import LabState  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inventory", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=1, help="the run's seed: each round's seed "
                   "is drawn from it")
    p.add_argument("--replay", type=int, metavar="ROUND_SEED",
                   help="run the one round of that seed (printed by a failing round)")
    p.add_argument("--state-dir", default=None, help="the lab's state directory (a lab "
                   "already up there is used as it is)")
    p.add_argument("--out", default="chaos-out", help="where failing rounds are kept")
    p.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    p.add_argument("--minutes", type=float, default=None, help="start no round after this "
                   "many minutes (the rounds done are reported as usual)")
    args = p.parse_args(argv)

    lab = Lab(args.inventory, args.state_dir, log=lambda line: None)
    made_here = not (LabState.exists(lab.state_dir) and lab.state.phase == "up")
    if made_here:
        print(f"chaos: bringing up the lab of {args.inventory}", flush=True)
        lab.up()
    seeds = [args.replay] if args.replay else chaos.round_seeds(args.seed, args.rounds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    t0 = time.monotonic()

    def summary() -> None:
        """Written after every round: a run stopped early keeps what it did."""
        (out / "summary.json").write_text(json.dumps(
            {"inventory": args.inventory, "seed": args.seed,
             "seconds": round(time.monotonic() - t0, 1),
             "rounds": [asdict(r) for r in results]}, indent=1))
    try:
        for i, seed in enumerate(seeds, 1):
            if args.minutes is not None and time.monotonic() - t0 > args.minutes * 60:
                print(f"chaos: {args.minutes:g} minutes are up: no round {i}", flush=True)
                break
            print(f"round {i}/{len(seeds)} seed {seed}", flush=True)
            result = chaos.run_round(lab, i, seed, out, say=lambda s: print(s, flush=True))
            results.append(result)
            summary()
            print(result.line(), flush=True)
            for err in result.heal_errors:
                print(f"  heal failed: {err}", flush=True)
    except KeyboardInterrupt:
        print("chaos: interrupted; the rounds done so far follow", flush=True)
    finally:
        if made_here and not args.keep:
            lab.down()
    failed = [r for r in results if not r.passed]
    total = time.monotonic() - t0
    print(f"\nchaos: {len(results)} rounds, {len(results) - len(failed)} passed, "
          f"{len(failed)} failed, {sum(len(r.faults) for r in results)} faults injected, "
          f"{total:.0f} s ({total / max(len(results), 1):.0f} s per round)")
    for r in failed:
        print(f"  replay: python scripts/chaos.py --inventory {args.inventory} "
              f"--replay {r.seed}   ({r.reason})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
