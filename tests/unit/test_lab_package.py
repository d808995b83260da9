"""The lab is its own package (stackproof_lab): it imports the product, the product never
imports it, and it plugs in only through entry points; every wait of the lab is the one
`stackproof_lab.wait.wait_until`."""
from __future__ import annotations

import ast
import os
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from stackproof_lab.wait import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["stackproof", "steps", "fixtures", "remediations", "features"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_product_imports_no_lab_module():
    offenders = [f"{p.relative_to(ROOT)}: {m}"
                 for d in PRODUCT for p in sorted((ROOT / d).rglob("*.py"))
                 for m in sorted(_imports(p)) if m.split(".")[0] == "stackproof_lab"]
    assert offenders == []
    assert not list((ROOT / "stackproof" / "lab").rglob("*.py"))     # moved, not copied


def _entry_points() -> dict[str, dict[str, str]]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return meta["project"]["entry-points"]


def test_the_lab_plugs_in_through_its_entry_points():
    eps = _entry_points()
    command = importlib.import_module(eps["stackproof.commands"]["lab"])
    assert callable(command.add_parser) and callable(command.run) and command.errors
    module, _, name = eps["stackproof.rebooters"]["lab"].partition(":")
    assert callable(getattr(importlib.import_module(module), name).reboot)


# A Python in which stackproof_lab cannot be imported: the product as installed without it.
_NO_LAB = """
import sys, importlib.abc
class NoLab(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "stackproof_lab":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoLab())
from stackproof import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def _cli_without_lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _NO_LAB, *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_the_product_cli_runs_without_the_lab():
    helped = _cli_without_lab("--help")
    assert helped.returncode == 0, helped.stderr
    assert "{check,fix,plan,trace,picture}" in helped.stdout
    no_lab = _cli_without_lab("lab", "faults")
    assert no_lab.returncode == 2 and "invalid choice: 'lab'" in no_lab.stderr
    bad = _cli_without_lab("check", "--inventory", str(ROOT / "no-such-inventory.yml"))
    assert bad.returncode == 2, bad.stdout + bad.stderr


def test_the_lab_commands_run_as_a_module_too():
    out = subprocess.run([sys.executable, "-m", "stackproof_lab", "faults"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "bgpd-off" in out.stdout


def test_wait_until_returns_the_first_truthy_value():
    values = iter([None, 0, "", "found"])
    assert wait_until(lambda: next(values), 5, "a value", interval=0) == "found"


def test_wait_until_names_what_and_why_in_the_callers_error():
    class MyError(RuntimeError):
        pass
    with pytest.raises(MyError, match=r"timed out after 0 s waiting for the thing: still 3 left"):
        wait_until(lambda: False, 0.05, "the thing", interval=0.01, error=MyError,
                   describe=lambda: "still 3 left")
    with pytest.raises(WaitTimeout):
        wait_until(lambda: None, 0.01, "nothing", interval=0.005)


def test_a_broken_describe_still_times_out_with_what_was_waited_for():
    def broken() -> str:
        raise OSError("log gone")
    with pytest.raises(WaitTimeout, match=r"waiting for the computes: \(could not say what "
                                          r"is missing: log gone\)"):
        wait_until(lambda: False, 0.01, "the computes", interval=0.005, describe=broken)


def _polling_loops(path: Path) -> list[int]:
    """Lines of `while` loops that sleep: a wait of its own instead of wait_until."""
    tree = ast.parse(path.read_text(), str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.While):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                        sub.func.attr == "sleep":
                    lines.append(node.lineno)
                    break
    return lines


# A process the lab launches: it loops for its life, it does not wait for something.
_DAEMON_LOOPS = {"openstack/heartbeat.py"}


def test_the_lab_has_one_wait():
    lab = ROOT / "stackproof_lab"
    own = [f"{p.relative_to(lab)}:{line}" for p in sorted(lab.rglob("*.py"))
           if str(p.relative_to(lab)) not in _DAEMON_LOOPS | {"wait.py"}
           for line in _polling_loops(p)]
    assert own == []


def test_a_recorded_daemons_forked_workers_are_its_group(tmp_path):
    """oslo.service's workers outlive a killed parent: `down` finds them by the group the
    recorded daemon leads, and kills them with it."""
    import signal

    from stackproof_lab.state import ProcRecord, proc_start_time
    # a leader with two workers, in its own session, like the lab's root-side daemons
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"],
                              start_new_session=True)
    rec = ProcRecord(leader.pid, proc_start_time(leader.pid), "openstack:test")
    try:
        wait_until(lambda: len(rec.members()) == 2, 10, "two workers")
        workers = rec.members()
        os.kill(leader.pid, signal.SIGKILL)             # what `down` did before: leader only
        leader.wait()
        assert sorted(rec.members()) == sorted(workers)  # orphans, still found
        rec.kill_group(signal.SIGKILL)
        wait_until(lambda: not rec.members(), 10, "the workers to go")
    finally:
        for pid in rec.members():
            os.kill(pid, signal.SIGKILL)
