"""`stackproof check | fix | plan`: the acceptance suite as an operator's command.

Runs `pytest features/` (fix adds --remediate, plan --remediate --plan) with a compliance
report (stackproof.outcome), prints the findings and the remediation summary from it, and
turns the run into an exit code an operator or a CI job can act on:

    0  healthy, nothing applied
    1  findings left (including a plan that shows fixes it did not apply)
    2  usage or inventory error
    3  was red, remediated, green now (symptoms that cleared once their root cause was
       fixed count as remediated)

Plain `pytest features/` keeps working unchanged; this only wraps it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stackproof.site import InventoryError, load_site

EXIT_HEALTHY, EXIT_FINDINGS, EXIT_USAGE, EXIT_REMEDIATED = 0, 1, 2, 3
MODES = {"check": [], "fix": ["--remediate"], "plan": ["--remediate", "--plan"]}
# pytest's own exit codes that mean "the command line or the inventory is wrong"
PYTEST_USAGE = {3, 4}     # internal error, usage error
PYTEST_NO_TESTS = 5


def features_dir() -> Path:
    """The features/ next to the installed package (editable or source checkout)."""
    return Path(__file__).resolve().parents[1] / "features"


@dataclass(frozen=True)
class Verdict:
    code: int
    summary: str


def verdict(report: dict | None, pytest_rc: int) -> Verdict:
    """The exit code from the compliance report (pytest's rc only for usage errors)."""
    if pytest_rc in PYTEST_USAGE or report is None:
        return Verdict(EXIT_USAGE, f"pytest stopped before checking (rc {pytest_rc})")
    if pytest_rc == PYTEST_NO_TESTS or report["totals"]["checks"] == 0:
        return Verdict(EXIT_USAGE, "no check was selected")
    t = report["totals"]
    cleared = t.get("cleared", 0)         # absent from reports written before it existed
    counts = (f"{t['passed']} passed, {t['remediated']} remediated, "
              + (f"{cleared} cleared on their own, " if cleared else "")
              + f"{t['failed']} failed, {t['skipped']} skipped")
    if t["failed"]:
        return Verdict(EXIT_FINDINGS, f"findings left: {counts}")
    if t["remediated"] or cleared:
        return Verdict(EXIT_REMEDIATED, f"was red, remediated, green now: {counts}")
    return Verdict(EXIT_HEALTHY, f"healthy: {counts}")


# Plugins a suite run never needs: hypothesis's (a test-only dependency whose plugin costs
# 0.8 s of every start) and randomly's (the features' order puts causes before symptoms).
QUIET_START = ("-p", "no:hypothesispytest", "-p", "no:randomly")


def suite_command(features: str | Path, inventory: str | Path, *args: str,
                   python: str = sys.executable) -> list[str]:
    """`pytest FEATURES --inventory FILE ARGS` as every wrapper and lab test runs it."""
    return [python, "-m", "pytest", str(features), "--inventory", str(inventory),
            *QUIET_START, *args]


def run(mode: str, inventory: str | None, json_path: str | None, pytest_args: list[str],
        *, python: str = sys.executable) -> int:
    if not inventory:
        print("stackproof: no inventory: pass --inventory FILE or set STACKPROOF_INVENTORY",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        load_site(inventory)           # the inventory's field errors, before pytest starts
    except InventoryError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    features = features_dir()
    if not features.is_dir():
        print(f"stackproof: no features directory at {features}", file=sys.stderr)
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="stackproof-") as tmp:
        out = Path(json_path) if json_path else Path(tmp) / "compliance.json"
        cmd = suite_command(features, Path(inventory), "--stackproof-json", str(out),
                             *MODES[mode], *pytest_args, python=python)
        rc = subprocess.run(cmd, cwd=features.parent, env=os.environ.copy()).returncode
        report = json.loads(out.read_text()) if out.is_file() else None
    result = verdict(report, rc)
    if report is not None and report.get("root_causes"):
        print("\nstackproof: root causes, with their symptoms beneath")
        for line in report["root_causes"]:
            print(f"  {line}")
    print(f"\nstackproof {mode}: {result.summary} (exit {result.code})")
    return result.code
