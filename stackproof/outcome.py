"""The run's compliance report: one record per check and host, as JSON.

In the spirit of NAPALM's `compliance_report`: the intent is the feature's scenario (its
stable check id), and every (check, host) pair says how the site compares with it:

    {"check": "bgp.neighbors-established", "host": "hv1", "status": "remediated",
     "message": "...", "remediation": {"id": "bgp_session", "status": "remediated",
     "plan": "..."}, "cause": {"host": "hv2"}, "duration": 0.41, "nodeid": "..."}

status is one of passed, failed, remediated (failed first, passed after its fix), skipped.
The file also holds the totals and the remote commands per host. Written with
`--stackproof-json FILE` (the `stackproof check|fix|plan --json FILE` commands pass it);
`stackproof.cli` reads it to pick its exit code. Every text is redacted.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from stackproof.redact import redact

JSON_KEY = pytest.StashKey[dict]()
SCHEMA = "stackproof.compliance/1"
STATUSES = ("passed", "failed", "remediated", "skipped")


@dataclass
class CheckRecord:
    check: str | None
    host: str | None
    nodeid: str
    status: str = "passed"
    message: str = ""
    remediation: dict | None = None
    cause: dict | None = None
    duration: float = 0.0


@dataclass
class _Collected:
    records: dict[str, CheckRecord] = field(default_factory=dict)


def check_id(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("check")
    return mark.args[0] if mark and mark.args else None


def target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("target") if callspec is not None else None


def _remedy(config):
    from stackproof.plugin import REMEDY_KEY
    return config.stash.get(REMEDY_KEY, None)


def _outcome_of(config, nodeid: str):
    """The last remediation outcome of this test (a test has at most one failing check at a
    time: the first unfixed one ends it)."""
    remedy = _remedy(config)
    found = [o for o in getattr(remedy, "outcomes", []) if o.nodeid == nodeid]
    return found[-1] if found else None


def _finding_of(config, nodeid: str):
    remedy = _remedy(config)
    found = [f for n, f in getattr(remedy, "findings", []) if n == nodeid]
    return found[-1] if found else None


def pytest_configure(config):
    path = config.getoption("--stackproof-json", None)
    if path:
        config.stash[JSON_KEY] = {"path": Path(path), "collected": _Collected(),
                                  "started": time.time()}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "call":
        # JUnit XML copies user_properties when the report is made: add them first
        outcome = _outcome_of(item.config, item.nodeid)
        cid = check_id(item)
        if cid:
            item.user_properties.append(("check", cid))
        item.user_properties.append(
            ("remediated", "true" if outcome and outcome.status == "remediated" else "false"))
        if outcome is not None:
            item.user_properties.append(("remediation", outcome.finding.remediation))
    report = yield
    state = item.config.stash.get(JSON_KEY, None)
    if state is not None:
        _record(item, report, state["collected"])
    return report


def _record(item, report, collected: _Collected) -> None:
    rec = collected.records.get(item.nodeid)
    if rec is None:
        rec = collected.records[item.nodeid] = CheckRecord(check_id(item), target_of(item),
                                                           item.nodeid)
    rec.duration += report.duration
    if report.skipped and rec.status != "failed":
        rec.status = "skipped"
        longrepr = report.longrepr
        rec.message = redact(longrepr[2] if isinstance(longrepr, tuple) else str(longrepr))
    elif report.failed:
        rec.status = "failed"
        rec.message = redact(_first_lines(report.longreprtext))
    if report.when != "teardown":
        return
    config = item.config
    outcome = _outcome_of(config, item.nodeid)
    finding = outcome.finding if outcome is not None else _finding_of(config, item.nodeid)
    if outcome is not None:
        plan = outcome.plan.render() if outcome.plan is not None else ""
        rec.remediation = {"id": outcome.finding.remediation, "status": outcome.status,
                           "detail": redact(outcome.detail), "plan": redact(plan)}
        if rec.status == "passed" and outcome.status == "remediated":
            rec.status = "remediated"
            rec.message = redact(f"{finding.host}: {finding.message}")
    elif finding is not None and rec.status == "failed":
        rec.remediation = {"id": finding.remediation, "status": "not run", "detail": "",
                           "plan": ""}
    if finding is not None:
        on = (finding.params or {}).get("on")
        if on and on != finding.host:
            rec.cause = {"host": on}


def _first_lines(text: str, limit: int = 2000) -> str:
    return text.strip()[:limit]


def compliance_report(collected: _Collected, remedy, elapsed: float) -> dict:
    records = [asdict(r) for r in collected.records.values()]
    totals = {s: sum(1 for r in records if r["status"] == s) for s in STATUSES}
    counts = remedy.fleet.counts() if remedy is not None else {}
    return {
        "schema": SCHEMA,
        "complies": totals["failed"] == 0,
        "totals": {**totals, "checks": len(records)},
        "remediations": {
            status: sum(1 for r in records
                        if r["remediation"] and r["remediation"]["status"] == status)
            for status in ("remediated", "failed", "planned", "refused")},
        "remote_commands": {"per_host": dict(sorted(counts.items())),
                            "total": sum(counts.values())},
        "elapsed_s": round(elapsed, 2),
        "checks": records,
    }


def pytest_sessionfinish(session):
    state = session.config.stash.get(JSON_KEY, None)
    if state is None:
        return
    data = compliance_report(state["collected"], _remedy(session.config),
                             time.time() - state["started"])
    path: Path = state["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
