"""Shared labs for the integration tests: one seed lab and one four-host eBGP lab per
session (bring-up is the slow part), always taken down, plus a runner for the suite.

Tests that inject a fault must heal it (or remediate it) before they end, so the next test
starts from a healthy lab: use the `fault` fixture, which heals in its finalizer.

The shared labs are lived-in (the default of `Lab`): every host also carries an operator's
items the inventory does not describe (stackproof_lab.lived_in). The `fault` fixture reads
them before the first fault and, when the test passed, compares them before healing: every
round trip also proves that no remediation touched them (`unmanaged_snapshot`).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackproof.suite import suite_command

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "inventories" / "seed.yml"
FOUR = ROOT / "inventories" / "four-host-ebgp.yml"


def _lab(inventory: Path, tmp_path_factory, name: str):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    from stackproof_lab.lab import Lab
    lab = Lab(inventory, state_dir=tmp_path_factory.mktemp(name) / "state")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def seed_lab(tmp_path_factory):
    yield from _lab(SEED, tmp_path_factory, "seed-lab")


@pytest.fixture(scope="session")
def four_lab(tmp_path_factory):
    yield from _lab(FOUR, tmp_path_factory, "four-lab")


@pytest.fixture(params=["seed", "four"])
def any_lab(request):
    """Each test using this runs once on the seed lab and once on the four-host lab."""
    return request.getfixturevalue(f"{request.param}_lab")


LABS = ("seed", "four")


def _lab_param(item) -> str | None:
    return getattr(getattr(item, "callspec", None), "params", {}).get("any_lab")


def pytest_collection_modifyitems(config, items):
    """A fault's round trip runs on both labs (`any_lab`). `make test` runs each on one of
    them, alternating along the test's cases (the first case on the seed lab, the next on
    the four-host lab, ...): every fault round-trips once and both sites see half of them.
    The other lab's copy is marked `slow` (`make test-all` runs both). Tests whose only
    parameter is the lab (a healthy lab is green, ...) run on both."""
    cases: dict[tuple[str, str], list[str]] = {}
    for item in items:
        lab = _lab_param(item)
        if lab is None:
            continue
        case = "-".join(str(v) for k, v in item.callspec.params.items() if k != "any_lab")
        if not case:
            continue
        order = cases.setdefault((item.module.__name__, item.originalname), [])
        if case not in order:
            order.append(case)
        if LABS[order.index(case) % len(LABS)] != lab:
            item.add_marker(pytest.mark.slow)


@dataclass
class SuiteRun:
    rc: int
    output: str

    def failed(self) -> set[str]:
        """Test ids of failed scenarios, e.g. 'test_the_hostname_is_the_inventory_name[controller]'."""
        return {line.split("::", 1)[1].split(" ", 1)[0] for line in self.output.splitlines()
                if line.startswith("FAILED ") and "::" in line}

    def remediations(self) -> list[str]:
        """Lines of the 'stackproof remediations' summary section."""
        lines = self.output.splitlines()
        try:
            start = next(i for i, ln in enumerate(lines) if "stackproof remediations" in ln)
        except StopIteration:
            return []
        out = []
        for ln in lines[start + 1:]:
            if ln.startswith("="):
                break
            out.append(ln)
        return out


@pytest.fixture
def run_suite():
    """Run `pytest features/` against a lab inventory in a subprocess, as an operator does."""
    def run(lab, *args: str, timeout: float = 600) -> SuiteRun:
        cmd = suite_command("features/", lab.inventory_path, "-q", "-rf", *args)
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        return SuiteRun(proc.returncode, proc.stdout + proc.stderr)
    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item: fixtures check `rep_call` in their teardown."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


class UnmanagedSnapshot:
    """The operator's items of a lived-in lab (stackproof_lab.unmanaged), read before a
    fault and compared after the test's remediation: nothing outside the inventory's scope
    may change, and the MD5-protected BGP session must be Established again.
    `take(lab)` once per lab (a bare lab gives an empty snapshot), `changes()` after."""

    SETTLE = 45.0      # a session reset by an earlier test's heal comes back in seconds

    def __init__(self):
        self.before: dict = {}

    def take(self, lab) -> None:
        from stackproof_lab import unmanaged
        if lab in self.before:
            return
        import time
        from stackproof_lab.lived_in import reseed_all
        reseeded = False
        deadline = time.monotonic() + self.SETTLE
        while True:
            snap = unmanaged.snapshot(lab)
            missing = unmanaged.not_in_place(snap)
            if not missing:
                break
            if time.monotonic() >= deadline and not reseeded:
                # a lab heal (lab code, not a remediation: e.g. an FRR restore from the
                # rendering) lost them: seed them again so this test starts lived-in
                print("operator items re-seeded before the test:\n" + "\n".join(missing))
                reseed_all(lab)
                reseeded, deadline = True, time.monotonic() + self.SETTLE
            elif time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        assert not missing, ("the lived-in lab lacks operator items before the test, even "
                             "after seeding them again:\n" + "\n".join(missing))
        self.before[lab] = snap

    def changes(self) -> list[str]:
        from stackproof_lab import unmanaged
        return [c for lab, snap in self.before.items()
                for c in unmanaged.wait_unchanged(lab, snap)]

    def assert_unchanged(self) -> None:
        changes = self.changes()
        if changes:
            from stackproof_lab.lived_in import reseed_all
            for lab in self.before:
                reseed_all(lab)     # the next test starts from a lived-in lab again
        assert not changes, ("unmanaged state changed (outside every remediation's scope):\n"
                             + "\n".join(changes))


@pytest.fixture
def unmanaged_snapshot():
    return UnmanagedSnapshot()


@pytest.fixture
def fault(request, unmanaged_snapshot):
    """Inject lab faults; every one injected is healed when the test ends, pass or fail.
    Before the first fault on a lab the operator's items are read (unmanaged_snapshot); when
    the test passed, they are compared before any heal: a remediation that removed or
    rewrote one fails the test at teardown, naming the item."""
    from stackproof_lab import faults
    injected = []

    def inject(lab, name: str, host: str | None = None) -> str | None:
        unmanaged_snapshot.take(lab)
        target = faults.inject(lab, name, host)
        injected.append((lab, name, target))
        return target
    yield inject
    rep = getattr(request.node, "rep_call", None)
    # a test whose remediation is meant to fail (and roll back) leaves the fault's own
    # change in place: there is nothing a remediation did to compare
    compare = rep is not None and rep.passed and \
        request.node.get_closest_marker("remediation_fails") is None
    changes = unmanaged_snapshot.changes() if compare else []
    for lab, name, target in reversed(injected):
        try:
            faults.heal(lab, name, target)
        except Exception as exc:  # a remediated fault may have nothing left to heal
            print(f"heal {name} on {target}: {exc}")
    if changes:
        from stackproof_lab.lived_in import reseed_all
        for lab in unmanaged_snapshot.before:
            reseed_all(lab)         # the next test starts from a lived-in lab again
        pytest.fail("unmanaged state changed (outside every remediation's scope):\n"
                    + "\n".join(changes), pytrace=False)
