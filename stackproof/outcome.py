"""The run's compliance report: one record per check and host, as JSON.

In the spirit of NAPALM's `compliance_report`: the intent is the feature's scenario (its
stable check id), and every (check, host) pair says how the site compares with it:

    {"check": "bgp.neighbors-established", "host": "hv1", "status": "remediated",
     "message": "...", "remediation": {"id": "bgp_session", "status": "remediated",
     "plan": "..."}, "cause": {"host": "hv2"}, "duration": 0.41, "nodeid": "..."}

status is one of passed, failed, remediated (failed first, passed after its fix), cleared
(a symptom, failed first, that held once its root cause was fixed: its own remediation did
not run; "cause" names that root), skipped.
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
STATUSES = ("passed", "failed", "remediated", "cleared", "skipped")
# red first, green at the end of the run: what the cause tree lists and `fix` counts as fixed
FIXED = ("remediated", "cleared")


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
    # records are always kept (cheap): the JSON file and the site picture both read them
    path = config.getoption("--stackproof-json", None)
    config.stash[JSON_KEY] = {"path": Path(path) if path else None, "collected": _Collected(),
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
        if outcome is not None and outcome.status == "cleared":
            item.user_properties.append(("cleared_after", outcome.cleared_after.describe()))
    report = yield
    state = item.config.stash.get(JSON_KEY, None)
    if state is not None:
        _record(item, report, state["collected"])
    return report


def _record(item, report, collected: _Collected) -> None:
    if check_id(item) is None:
        return          # not a scenario (the project's own tests run under this plugin too)
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
        if rec.status == "passed" and outcome.status in FIXED:
            rec.status = outcome.status
            rec.message = redact(f"{finding.host}: {finding.message}")
    elif finding is not None and rec.status == "failed":
        rec.remediation = {"id": finding.remediation, "status": "not run", "detail": "",
                           "plan": ""}
    if finding is not None:
        rec.host = rec.host or finding.host      # a site-wide scenario: where it was found
        caused_by = getattr(finding, "caused_by", None)
        on = (finding.params or {}).get("on")
        if caused_by is not None and (caused_by.check, caused_by.host) != (rec.check, rec.host):
            rec.cause = {"check": caused_by.check, "host": caused_by.host}
        elif on and on != finding.host:
            rec.cause = {"check": None, "host": on}
    if outcome is not None and outcome.status == "cleared":
        c = outcome.cleared_after           # the fixed root it cleared after
        rec.cause = {"check": c.check, "host": c.host}


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
            for status in ("remediated", "cleared", "failed", "planned", "refused")},
        "remote_commands": {"per_host": dict(sorted(counts.items())),
                            "total": sum(counts.values())},
        "elapsed_s": round(elapsed, 2),
        "root_causes": cause_tree(records),
        "checks": records,
    }


def cause_tree(records: list[dict]) -> list[str]:
    """Root causes first, each with its symptoms beneath (as Alertmanager's inhibition
    shows them): a symptom is a red or remediated check whose finding names another as its
    cause; a cause this run did not check still heads its symptoms."""
    red = [r for r in records if r["status"] in ("failed", *FIXED)]
    if not red:
        return []
    key = lambda r: (r["check"], r["host"])           # noqa: E731
    by_key = {key(r): r for r in red}

    def root_of(r, seen=()):
        c = r.get("cause")
        if not c:
            return key(r)
        k = (c.get("check"), c["host"])
        if k in seen:
            return k
        if k in by_key:
            return root_of(by_key[k], (*seen, k))
        # a cause named by host only (older checks) or not checked in this run
        match = [x for x in red if x["host"] == c["host"] and not x.get("cause")
                 and (c.get("check") in (None, x["check"]))]
        return key(match[0]) if match else k
    groups: dict[tuple, list[dict]] = {}
    for r in red:
        groups.setdefault(root_of(r), []).append(r)
    symptoms = sum(len([r for r in g if key(r) != k]) for k, g in groups.items())
    lines = [f"{len(groups)} root cause(s), {symptoms} symptom(s)"]
    for k, group in groups.items():
        root = by_key.get(k)
        if root is not None:
            lines.append(f"{root['status'].upper():<10} {k[0] or '?'} @ {k[1] or 'site'}: "
                         f"{one_line(root['message'])}")
        else:
            lines.append(f"{'CAUSE':<10} {k[0] or '?'} @ {k[1]} (not checked in this run)")
        for r in group:
            if key(r) != k:
                lines.append(f"  └ {r['status']:<10} {r['check'] or '?'} @ {r['host'] or 'site'}"
                             f": {one_line(r['message'])}")
    return lines


def one_line(text: str | None, limit: int = 160) -> str:
    """The first line of a message, cut to `limit` characters."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= limit else first[:limit - 1] + "…"


def pytest_terminal_summary(terminalreporter, config):
    state = config.stash.get(JSON_KEY, None)
    if state is None:
        return
    lines = cause_tree([asdict(r) for r in state["collected"].records.values()])
    if lines:
        terminalreporter.section("stackproof root causes")
        for line in lines:
            terminalreporter.write_line(redact(line))


def pytest_sessionfinish(session):
    state = session.config.stash.get(JSON_KEY, None)
    if state is None:
        return
    data = compliance_report(state["collected"], _remedy(session.config),
                             time.time() - state["started"])
    _attach_site_picture(session.config, data)
    path: Path | None = state["path"]
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _attach_site_picture(config, data: dict) -> None:
    """The site picture, coloured by this run, on the Allure overview (global attachment)."""
    from stackproof import report
    from stackproof.plugin import SITE_KEY
    site = config.stash.get(SITE_KEY, None)
    if site is None or not data["checks"] or not report.allure_active():
        return
    try:
        from stackproof.picture import render_svg
        svg = render_svg(site, data)
    except Exception as exc:         # no Graphviz: the report stays whole without the picture
        import logging
        logging.getLogger(__name__).warning("site picture not drawn: %s", exc)
        return
    report.attach_svg(f"site {site.site} (coloured by this run)", svg)
