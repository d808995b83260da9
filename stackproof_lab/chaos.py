"""Chaos rounds: random fault combinations across layers, remediated together (issue 16).

Each round, on a running lab:
  1. brings the lab to green (a check run; a remediation run when it is not);
  2. draws 2-6 faults from the catalog: each from another layer and on another host, none
     declared in conflict with another (`Fault.conflicts`), none that breaks the engine
     itself (`Fault.chaos`), none the site has no target for;
  3. injects them;
  4. runs the acceptance: it must be red, and red for each fault: a failed check on the
     fault's host, or a symptom whose cause is on that host (site-wide faults: any red);
  5. runs `--remediate` (`--allow-destructive` when a drawn fault's fix is destructive),
     which must end green;
  6. runs `--remediate` again, which must apply nothing;
and heals every injected fault, whatever happened. A round is reproducible from its seed
alone (`draw` depends on nothing else), so a failing round is replayed with its seed.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from stackproof_lab import faults
from stackproof.suite import suite_command

ROOT = Path(__file__).resolve().parents[1]
MIN_FAULTS, MAX_FAULTS = 2, 6
RUN_TIMEOUT = 1200.0


@dataclass(frozen=True)
class Drawn:
    name: str
    layer: str
    host: str | None


@dataclass
class RunSummary:
    """One acceptance run of a round, from its compliance report."""
    label: str
    rc: int
    complies: bool
    failed: list[str]                 # check@host
    remediated: list[str]             # remediation@host, applied in this run
    causes: dict[str, str | None]     # check@host -> the host of its cause
    seconds: float


@dataclass
class RoundResult:
    number: int
    seed: int
    faults: list[Drawn] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    passed: bool = False
    reason: str = ""
    seconds: float = 0.0
    heal_errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        red = next((r for r in self.runs if r.label == "red"), None)
        fixed = next((r for r in self.runs if r.label == "remediate"), None)
        names = ", ".join(f"{d.name}@{d.host or 'site'}" for d in self.faults)
        return (f"round {self.number} seed {self.seed}: {'PASS' if self.passed else 'FAIL'} "
                f"in {self.seconds:.0f} s; faults: {names}; red: "
                f"{len(red.failed) if red else '-'}; remediations: "
                f"{', '.join(fixed.remediated) if fixed else '-'}"
                + (f"; {self.reason}" if self.reason else ""))


# --- the draw ---------------------------------------------------------------------------------
def candidates(site) -> list[Drawn]:
    """Every chaos fault the site has a target for, with that target."""
    out = []
    for fault in sorted(faults.load_layers().values(), key=lambda f: f.name):
        if not fault.chaos:
            continue
        try:
            host = fault.target(site, None)
        except (faults.FaultError, StopIteration, KeyError, IndexError, ValueError):
            continue                       # the site has nothing this fault could break
        out.append(Drawn(fault.name, fault.layer, host))
    return out


def named(site, names: list[str]) -> list[Drawn]:
    """A round's faults chosen by name rather than drawn (a lab test replays the combination
    that found a bug, whatever a seed draws from a grown catalog)."""
    by_name = {d.name: d for d in candidates(site)}
    if missing := [n for n in names if n not in by_name]:
        raise ValueError(f"no chaos target on this site for: {', '.join(missing)}")
    return [by_name[n] for n in names]


def in_conflict(a: str, b: str) -> bool:
    fa, fb = faults.get(a), faults.get(b)
    return b in fa.conflicts or a in fb.conflicts


def draw(site, seed: int, low: int = MIN_FAULTS, high: int = MAX_FAULTS) -> list[Drawn]:
    """2-6 faults on distinct layers and hosts, none in conflict; the same for a seed."""
    rng = random.Random(seed)
    pool = candidates(site)
    rng.shuffle(pool)
    want = rng.randint(low, high)
    chosen: list[Drawn] = []
    for d in pool:
        if len(chosen) == want:
            break
        if any(c.layer == d.layer or (d.host is not None and c.host == d.host) or
               in_conflict(c.name, d.name) for c in chosen):
            continue
        chosen.append(d)
    return chosen


def round_seeds(seed: int, rounds: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1, 2**31) for _ in range(rounds)]


# --- the acceptance runs ----------------------------------------------------------------------
def acceptance(lab, label: str, workdir: Path, *args: str) -> RunSummary:
    report_file = workdir / f"{label}.json"
    allure = workdir / "allure-results" / label
    cmd = suite_command("features/", lab.inventory_path, "-q", "-p", "no:cacheprovider",
                        "--stackproof-json", str(report_file), f"--alluredir={allure}",
                        "--run-label", label, *args)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    (workdir / f"{label}.out").write_text(proc.stdout + proc.stderr)
    report = json.loads(report_file.read_text()) if report_file.is_file() else None
    if report is None:
        return RunSummary(label, proc.returncode, False, [f"no report (rc {proc.returncode})"],
                          [], {}, time.monotonic() - t0)
    checks = report["checks"]
    key = lambda r: f"{r['check']}@{r['host']}"                            # noqa: E731
    failed = [r for r in checks if r["status"] == "failed"]
    return RunSummary(
        label, proc.returncode, bool(report["complies"]),
        failed=[key(r) for r in failed],
        remediated=[f"{r['remediation']['id']}@{r['host']}" for r in checks
                    if r["remediation"] and r["remediation"]["status"] == "remediated"],
        causes={key(r): (r["cause"] or {}).get("host") for r in failed},
        seconds=time.monotonic() - t0)


def unseen(drawn: list[Drawn], red: RunSummary) -> list[Drawn]:
    """Faults the red run shows nothing of: no failed check on their host, no symptom
    caused there (a site-wide fault needs any red)."""
    hosts = {k.rsplit("@", 1)[1] for k in red.failed} | {h for h in red.causes.values() if h}
    return [d for d in drawn if (d.host is None and not red.failed) or
            (d.host is not None and d.host not in hosts)]


# --- one round --------------------------------------------------------------------------------
def run_round(lab, number: int, seed: int, out_dir: Path,
              say: Callable[[str], None] = print,
              before_heal: Callable[[], None] | None = None,
              chosen: list[Drawn] | None = None) -> RoundResult:
    """One round; `before_heal` runs after the runs and before the heals (a lab test reads
    the operator's items there: what the remediations left, not what the heals put back).
    The faults are drawn from `seed` unless `chosen` names them."""
    result = RoundResult(number, seed)
    workdir = out_dir / f"round-{number:03d}-seed-{seed}"
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    t0 = time.monotonic()
    injected: list[Drawn] = []
    try:
        result.reason = _round(lab, seed, workdir, result, injected, say, chosen)
        result.passed = not result.reason
    except Exception as exc:                      # a lab error fails the round, not the run
        result.reason = f"{type(exc).__name__}: {exc}"
    finally:
        if before_heal is not None:
            before_heal()
        for d in reversed(injected):
            try:
                faults.heal(lab, d.name, d.host)
            except Exception as exc:
                result.heal_errors.append(f"{d.name}@{d.host}: {exc}")
        if injected:
            _settle(lab, result)
        result.seconds = time.monotonic() - t0
    (workdir / "round.json").write_text(json.dumps(asdict(result), indent=1))
    if result.passed:
        shutil.rmtree(workdir)                    # a failing round keeps everything
    return result


def _settle(lab, result: RoundResult) -> None:
    """After the heals, BGP as the lab brings it up: a heal that restarted FRR (or a libvirt
    network) returns before the sessions and routes are back, and the next round then
    started red on them (four-host run, seed 21: 14 of 50 rounds, each after an FRR fault's
    heal on a BGP host)."""
    from stackproof_lab.daemons.frr import frr_converge_hook
    try:
        frr_converge_hook(lab, lab.site)
    except Exception as exc:
        result.heal_errors.append(f"after the heals: {exc}")


def _round(lab, seed, workdir, result, injected, say, chosen) -> str:
    start = acceptance(lab, "start", workdir)
    result.runs.append(start)
    if not start.complies:
        # the last round's heals left these: worth a look even though the round goes on
        say(f"  the lab is red before the round ({len(start.failed)}): remediating; "
            + ", ".join(start.failed[:8]) + (" ..." if len(start.failed) > 8 else ""))
        green = acceptance(lab, "start-fix", workdir, "--remediate", "--allow-destructive")
        result.runs.append(green)
        if not green.complies:
            return "the lab is not green before the round: " + ", ".join(green.failed)
    result.faults = list(chosen) if chosen is not None else draw(lab.site, seed)
    say("  faults: " + ", ".join(f"{d.name}@{d.host or 'site'}" for d in result.faults))
    for d in result.faults:
        faults.inject(lab, d.name, d.host)
        injected.append(d)
    red = acceptance(lab, "red", workdir)
    result.runs.append(red)
    if red.complies:
        return "the acceptance stayed green with the faults in"
    if missing := unseen(result.faults, red):
        return "no red for " + ", ".join(f"{d.name}@{d.host}" for d in missing)
    destructive = any(faults.get(d.name).destructive_fix for d in result.faults)
    fix = acceptance(lab, "remediate", workdir, "--remediate",
                     *(["--allow-destructive"] if destructive else []))
    result.runs.append(fix)
    if not fix.complies:
        return "still red after --remediate: " + ", ".join(fix.failed)
    again = acceptance(lab, "again", workdir, "--remediate")
    result.runs.append(again)
    if not again.complies or again.remediated:
        return ("the second --remediate changed something: "
                + ", ".join(again.remediated or again.failed))
    return ""
