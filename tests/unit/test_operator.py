"""The operator's product: stable check ids, the remediation registry's reach, the exit-code
verdict and the compliance report's shape."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from remediations import load_registry
from stackproof import suite
from stackproof.outcome import CheckRecord, _Collected, compliance_report

ROOT = Path(__file__).resolve().parents[2]
ID_RE = re.compile(r"^[a-z_]+\.[a-z0-9-]+$")


def _scenarios():
    """(feature file, scenario title, tags on the lines above it)."""
    out = []
    for f in sorted((ROOT / "features").glob("*.feature")):
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("Scenario"):
                tags = []
                j = i - 1
                while j >= 0 and lines[j].strip().startswith("@"):
                    tags += lines[j].split()
                    j -= 1
                out.append((f.name, line.split(":", 1)[1].strip(), tags))
    return out


def test_every_scenario_has_one_stable_check_id():
    scenarios = _scenarios()
    assert len(scenarios) >= 40
    ids = []
    for feature, title, tags in scenarios:
        checks = [t.split(":", 1)[1] for t in tags if t.startswith("@check:")]
        assert len(checks) == 1, f"{feature}: {title!r} needs exactly one @check:<id> tag"
        assert ID_RE.match(checks[0]), f"{feature}: {checks[0]!r} is not layer.name"
        layer = feature.split("_", 1)[1].removesuffix(".feature")
        assert checks[0].split(".")[0] in layer or layer.startswith(checks[0].split(".")[0]), \
            f"{feature}: {checks[0]!r} does not start with its layer"
        ids.append(checks[0])
    assert len(ids) == len(set(ids)), "check ids must be unique"


def _remediation_ids_in_checks() -> set[str]:
    """Every remediation id a check can return: string constants passed first to a call of
    Finding(...) or a helper whose name ends in `finding` in stackproof/checks/."""
    found = set()
    for path in (ROOT / "stackproof" / "checks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else getattr(fn, "attr", "")
            if not (name == "Finding" or name.lower().endswith("finding")):
                continue
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
            for kw in node.keywords:
                if kw.arg == "remediation" and isinstance(kw.value, ast.Constant):
                    found.add(kw.value.value)
    return found


def test_every_remediation_a_check_returns_is_registered():
    registry = load_registry()
    returned = _remediation_ids_in_checks()
    assert returned, "the scan found no Finding(...) in stackproof/checks"
    assert returned - set(registry) == set()


def test_every_registered_remediation_is_reachable_from_a_check():
    registry = load_registry()
    returned = _remediation_ids_in_checks()
    assert set(registry) - returned == set()


def _report(*records: CheckRecord) -> dict:
    collected = _Collected({r.nodeid: r for r in records})
    return compliance_report(collected, None, 1.0)


@pytest.mark.parametrize("statuses, rc, code", [
    (["passed", "skipped"], 0, suite.EXIT_HEALTHY),
    (["passed", "failed"], 1, suite.EXIT_FINDINGS),
    (["remediated", "passed"], 0, suite.EXIT_REMEDIATED),
    (["remediated", "failed"], 1, suite.EXIT_FINDINGS),
    ([], 5, suite.EXIT_USAGE),
])
def test_verdict(statuses, rc, code):
    report = _report(*(CheckRecord("x.y", "h", f"n{i}", status=s)
                       for i, s in enumerate(statuses)))
    assert suite.verdict(report, rc).code == code


def test_usage_error_from_pytest_is_exit_2():
    assert suite.verdict(None, 4).code == suite.EXIT_USAGE
    assert suite.verdict(_report(CheckRecord("x.y", "h", "n", status="passed")), 4).code == 2


def test_compliance_report_totals_and_summary():
    report = _report(
        CheckRecord("bgp.neighbors-established", "a", "n1", status="remediated",
                    message="a: neighbor down",
                    remediation={"id": "bgp_session", "status": "remediated", "detail": "",
                                 "plan": "p"}, cause={"host": "b"}),
        CheckRecord("bgp.frr-running", "b", "n2", status="failed", message="b: bgpd off",
                    remediation={"id": "frr_enable_bgpd", "status": "not run", "detail": "",
                                 "plan": ""}),
        CheckRecord("time.chrony-source", "c", "n3", status="skipped", message="no server"))
    assert report["totals"] == {"passed": 0, "failed": 1, "remediated": 1, "cleared": 0,
                                "skipped": 1, "checks": 3}
    assert report["complies"] is False
    assert report["remediations"]["remediated"] == 1
    # a cause named by host only is matched to that host's own red check
    assert report["root_causes"] == [
        "1 root cause(s), 1 symptom(s)",
        "FAILED     bgp.frr-running @ b: b: bgpd off",
        "  └ remediated bgp.neighbors-established @ a: a: neighbor down"]


def test_cause_tree_puts_symptoms_under_their_root():
    from stackproof.outcome import cause_tree
    records = [
        {"check": "bgp.frr-running", "host": "b", "status": "failed", "message": "bgpd off",
         "cause": None},
        {"check": "bgp.neighbors-established", "host": "a", "status": "failed",
         "message": "down", "cause": {"check": "bgp.frr-running", "host": "b"}},
        {"check": "bgp.prefixes-learned", "host": "a", "status": "failed", "message": "gone",
         "cause": {"check": "bgp.neighbors-established", "host": "a"}},
        {"check": "connectivity.nat-networks", "host": "c", "status": "failed",
         "message": "dies", "cause": {"check": "firewall.libvirt-accept", "host": "d"}},
        {"check": "baseline.hostname", "host": "e", "status": "passed", "message": "",
         "cause": None}]
    assert cause_tree(records) == [
        "2 root cause(s), 3 symptom(s)",
        "FAILED     bgp.frr-running @ b: bgpd off",
        "  └ failed     bgp.neighbors-established @ a: down",
        "  └ failed     bgp.prefixes-learned @ a: gone",
        "CAUSE      firewall.libvirt-accept @ d (not checked in this run)",
        "  └ failed     connectivity.nat-networks @ c: dies"]


def test_cli_refuses_a_bad_inventory_with_exit_2(capsys):
    code = suite.run("check", str(ROOT / "tests/data/inventories/duplicate-host.yml"), None, [])
    assert code == suite.EXIT_USAGE
    assert "duplicate key" in capsys.readouterr().err


def test_cli_without_inventory_is_exit_2(capsys):
    assert suite.run("check", None, None, []) == suite.EXIT_USAGE
