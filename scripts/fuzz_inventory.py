#!/usr/bin/env python3
"""Fuzz the inventory loader: N mutated seed inventories (default 10,000) through
`load_site_text`, with the strategies of the unit fuzz test (tests/unit/inventory_mutations.py).

Prints the counts: ok (a Site), field errors (InventoryError, every line naming a field),
crashes (anything else, or a problem line that names no field), slow (over --slow seconds
twice in a row, whatever the outcome: one slow run on a shared CPU is noise, and is counted
apart). Exit 1 if there was a crash or a slow case.

    python scripts/fuzz_inventory.py [--cases 10000] [--slow 1.0] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from inventory_mutations import mutated_inventory, outcome  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--slow", type=float, default=1.0, help="seconds (default 1.0)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {"crash": [], "slow": []}
    slowest = [0.0]
    t0 = time.monotonic()

    @seed(args.seed)
    @settings(max_examples=args.cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(mutated_inventory)
    def one(text: str) -> None:
        started = time.perf_counter()
        kind, detail = outcome(text)
        took = time.perf_counter() - started
        slowest[0] = max(slowest[0], took)
        counts[kind] += 1
        done = sum(counts[k] for k in ("ok", "field errors", "crash"))
        if done % 1000 == 0:
            print(f"  ... {done} cases, {time.monotonic() - t0:.0f} s", file=sys.stderr,
                  flush=True)
        if kind == "crash" and len(examples["crash"]) < 5:
            examples["crash"].append(detail)
        if took > args.slow:
            # a shared CPU stalls any process now and then: slow means slow twice
            again = time.perf_counter()
            outcome(text)
            if time.perf_counter() - again <= args.slow:
                counts["slow once"] += 1
                return
            counts["slow"] += 1
            if len(examples["slow"]) < 5:
                examples["slow"].append(f"{took:.2f} s: {kind}: {detail[:120]} "
                                        f"({len(text)} chars)")

    one()
    total = sum(counts[k] for k in ("ok", "field errors", "crash"))
    print(f"{total} cases in {time.monotonic() - t0:.0f} s: ok {counts['ok']}, "
          f"field errors {counts['field errors']}, crashes {counts['crash']}, "
          f"slow (> {args.slow:g} s twice) {counts['slow']}; slow once then fast "
          f"{counts['slow once']}; slowest first run {slowest[0]:.2f} s")
    for kind, lines in examples.items():
        for line in lines:
            print(f"  {kind}: {line}")
    return 1 if counts["crash"] or counts["slow"] else 0


if __name__ == "__main__":
    sys.exit(main())
