"""Root causes first: under --remediate a symptom of a cause fixed earlier in the run is
re-verified before its own remediation is planned, and ends `cleared` when it holds. The
engine is driven with fake hosts and fix modules whose plans are API calls (no SSH); the
settle time is injected so no test waits more than a fraction of a second."""
from __future__ import annotations

import json
import time
import types

import pytest

from fakes import TerminalRecorder  # noqa: E402  (tests/unit on the path)
from stackproof import outcome as compliance
from stackproof import plugin, suite
from stackproof.finding import Cause, Finding
from stackproof.remedy import Call, Plan, Remedy

CAUSE_CHECK, SYMPTOM_CHECK = "bgp.frr-running", "bgp.neighbors-established"


class FakeHost:
    """A host whose cached facts the engine drops before each re-check."""
    def __init__(self, name: str):
        self.name, self.dropped = name, 0

    def invalidate(self) -> None:
        self.dropped += 1

    def counts(self):        # the summary's per-host command counts: none here
        return {}


class FakeFleet(dict):
    def counts(self) -> dict:
        return {}


class Lab:
    """A cause on `root` (bgpd off) and a symptom on `leaf` (its session to root down) that
    comes up `settles_after` re-checks after the cause is fixed, or never (None)."""

    def __init__(self, seed_site, settles_after: int | None = 1, **kw):
        self.root, self.leaf = list(seed_site.hosts)[:2]
        self.cause_ok, self.symptom_fixed = False, False
        self.settles_after, self.seen = settles_after, {}     # re-checks per symptom host
        self.planned: list[str] = []
        self.fleet = FakeFleet({h: FakeHost(h) for h in seed_site.hosts})
        registry = {m.ID: m for m in (self._module("frr_enable_bgpd", self._fix_cause),
                                      self._module("bgp_session", self._fix_symptom))}
        self.engine = Remedy(seed_site, self.fleet, registry, remediate=True,
                             plan_only=False, allow_destructive=False, poll_interval=0.01,
                             host_locks=False, run_id="t", **kw)

    def _module(self, id_, effect):
        def plan(ctx, finding):
            self.planned.append(id_)
            return Plan(id_, f"{id_} on {finding.params.get('on', finding.host)}",
                        (Call(finding.host, id_, effect),))
        return types.SimpleNamespace(ID=id_, DESTRUCTIVE=False, VERIFY_TIMEOUT=1.0, plan=plan)

    def _fix_cause(self):
        self.cause_ok = True

    def _fix_symptom(self):
        self.symptom_fixed = True

    # the checks, as pure functions of this fake state
    def cause_check(self) -> Finding | None:
        return None if self.cause_ok else Finding("frr_enable_bgpd", self.root, "bgpd=no")

    @property
    def checks_since_fix(self) -> int:
        return self.seen.get(self.leaf, 0)

    def symptom_check(self, at_root: bool = False, host: str | None = None
                      ) -> Finding | None:
        host = host or self.leaf
        if self.symptom_fixed:
            return None
        if self.cause_ok:
            self.seen[host] = self.seen.get(host, 0) + 1
            if self.settles_after is not None and self.seen[host] > self.settles_after:
                return None
        if at_root and not self.cause_ok:      # the cause's own fix, aimed at the root
            return Finding("frr_enable_bgpd", host, "session down; cause on root",
                           {"on": self.root},
                           caused_by=Cause(CAUSE_CHECK, self.root, "frr_enable_bgpd"))
        return Finding("bgp_session", host, f"neighbor {self.root} is Active",
                       {"mode": "reset"}, caused_by=Cause(CAUSE_CHECK, self.root,
                                                          "frr_enable_bgpd"))

    def run(self, check_id: str, target: str, check) -> None:
        """One scenario, as the plugin sets it up."""
        self.engine.current_nodeid = f"features/x.feature::{check_id}[{target}]"
        self.engine.current_check, self.engine.current_target = check_id, target
        self.engine.ensure(check)


def test_a_symptom_of_a_fixed_cause_clears_without_its_remediation(seed_site):
    lab = Lab(seed_site, settles_after=2, symptom_settle=5.0)
    lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)      # passes: no pytest.fail
    assert lab.planned == ["frr_enable_bgpd"]                 # bgp_session never planned
    cause, symptom = lab.engine.outcomes
    assert (cause.status, symptom.status) == ("remediated", "cleared")
    assert symptom.plan is None and symptom.check == SYMPTOM_CHECK
    assert (symptom.cleared_after.check, symptom.cleared_after.host) == (CAUSE_CHECK, lab.root)
    assert symptom.detail == (f"cleared on its own after {CAUSE_CHECK} on {lab.root} "
                              f"was remediated")
    # each re-check read fresh facts of the symptom's host and of its cause's host
    assert lab.fleet[lab.leaf].dropped == 2 and lab.fleet[lab.root].dropped >= 3


def test_a_symptom_whose_cause_was_not_fixed_runs_its_own_remediation(seed_site):
    lab = Lab(seed_site, settles_after=None)
    lab.cause_ok = True                        # fixed by hand, not by this run
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)
    assert lab.planned == ["bgp_session"]
    assert [o.status for o in lab.engine.outcomes] == ["remediated"]


def test_a_failed_cause_fix_is_no_fixed_cause(seed_site):
    lab = Lab(seed_site)
    lab.engine.registry["frr_enable_bgpd"].plan = lambda ctx, f: Plan(
        "frr_enable_bgpd", "fails", (Call(lab.root, "boom", lambda: 1 / 0),))
    with pytest.raises(pytest.fail.Exception):
        lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    assert len(lab.engine.fixed) == 0
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)     # its own fix, right away
    assert lab.planned == ["bgp_session"]
    assert [o.status for o in lab.engine.outcomes] == ["failed", "remediated"]


def test_a_symptom_that_does_not_clear_in_time_falls_back_to_its_remediation(seed_site):
    lab = Lab(seed_site, settles_after=None, symptom_settle=0.05)
    lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    started = lab.checks_since_fix
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)
    assert lab.checks_since_fix > started + 1           # re-checked before planning its fix
    assert lab.planned == ["frr_enable_bgpd", "bgp_session"]
    assert [o.status for o in lab.engine.outcomes] == ["remediated", "remediated"]


def test_a_symptom_past_its_causes_settle_time_is_re_checked_once(seed_site):
    lab = Lab(seed_site, settles_after=1, symptom_settle=0.0)
    lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)   # first look (cached): red; fresh: held
    assert lab.planned == ["frr_enable_bgpd"]
    assert lab.engine.outcomes[-1].status == "cleared"


def test_a_cause_fixed_at_the_root_by_a_symptom_clears_its_other_symptoms(seed_site):
    lab = Lab(seed_site, settles_after=1, symptom_settle=5.0)
    other = next(h for h in seed_site.hosts if h not in (lab.root, lab.leaf))
    # the cause's scenario did not run (--check): the first symptom carries the root's fix
    lab.run(SYMPTOM_CHECK, lab.leaf, lambda: lab.symptom_check(at_root=True))
    lab.run("bgp.prefixes-learned", other, lambda: lab.symptom_check(host=other))
    assert lab.planned == ["frr_enable_bgpd"]
    assert [o.status for o in lab.engine.outcomes] == ["remediated", "cleared"]


def test_plan_mode_never_settles(seed_site):
    lab = Lab(seed_site)
    lab.engine.plan_only = True
    lab.engine.fixed.record(CAUSE_CHECK, lab.root, Finding("frr_enable_bgpd", lab.root, "x"),
                            5.0)
    with pytest.raises(pytest.fail.Exception):
        lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)
    assert lab.engine.outcomes[-1].status == "planned"


# --- what the operator reads: the summary, the compliance JSON, the verdict ----------------
def _summary(engine) -> list[str]:
    config = types.SimpleNamespace(stash=pytest.Stash())
    config.stash[plugin.REMEDY_KEY] = engine
    config.stash[plugin.STARTED_KEY] = time.monotonic()
    tr = TerminalRecorder()
    plugin.pytest_terminal_summary(tr, config)
    start = tr.lines.index("== stackproof remediations")
    end = next((i for i in range(start + 1, len(tr.lines)) if tr.lines[i].startswith("==")),
               len(tr.lines))
    return tr.lines[start + 1:end]


def test_summary_names_each_cleared_symptom_and_counts_them(seed_site):
    lab = Lab(seed_site, settles_after=1, symptom_settle=5.0)
    lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)
    lines = _summary(lab.engine)
    assert lines[0].split()[:3] == ["REMEDIATED", "frr_enable_bgpd", lab.root]
    assert lines[1].split() == ["CLEARED", SYMPTOM_CHECK, lab.leaf, "after", CAUSE_CHECK,
                                "on", lab.root]
    assert lines[2] == "1 symptom cleared on its own"
    assert len(lines) == 3


def test_summary_without_cleared_symptoms_is_as_before(seed_site):
    lab = Lab(seed_site)
    lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    lines = _summary(lab.engine)
    assert [ln.split()[:3] for ln in lines] == [["REMEDIATED", "frr_enable_bgpd", lab.root]]


def _item(nodeid: str, check_id: str, target: str, config):
    mark = types.SimpleNamespace(args=(check_id,))
    return types.SimpleNamespace(
        nodeid=nodeid, config=config, callspec=types.SimpleNamespace(params={"target": target}),
        get_closest_marker=lambda name: mark if name == "check" else None)


def _passed(when: str):
    return types.SimpleNamespace(when=when, duration=0.1, skipped=False, failed=False,
                                 longrepr=None, longreprtext="")


def test_compliance_json_records_cleared_with_its_cause_and_fix_exits_3(seed_site):
    lab = Lab(seed_site, settles_after=1, symptom_settle=5.0)
    config = types.SimpleNamespace(stash=pytest.Stash())
    config.stash[plugin.REMEDY_KEY] = lab.engine
    collected = compliance._Collected()
    for check_id, target, check in ((CAUSE_CHECK, lab.root, lab.cause_check),
                                    (SYMPTOM_CHECK, lab.leaf, lab.symptom_check)):
        lab.run(check_id, target, check)
        item = _item(lab.engine.current_nodeid, check_id, target, config)
        for when in ("setup", "call", "teardown"):
            compliance._record(item, _passed(when), collected)
    report = json.loads(json.dumps(compliance.compliance_report(collected, lab.engine, 1.0)))
    cause, symptom = report["checks"]
    assert cause["status"] == "remediated" and cause["cause"] is None
    assert symptom["status"] == "cleared"
    assert symptom["cause"] == {"check": CAUSE_CHECK, "host": lab.root}
    assert symptom["remediation"]["id"] == "bgp_session"
    assert symptom["remediation"]["status"] == "cleared" and symptom["remediation"]["plan"] == ""
    assert report["totals"]["cleared"] == 1 and report["totals"]["remediated"] == 1
    assert report["complies"] is True
    assert report["root_causes"][0] == "1 root cause(s), 1 symptom(s)"
    assert report["root_causes"][2].split()[:3] == ["└", "cleared", SYMPTOM_CHECK]
    verdict = suite.verdict(report, 0)
    assert verdict.code == suite.EXIT_REMEDIATED and "1 cleared on their own" in verdict.summary


def test_a_run_where_only_symptoms_cleared_is_still_a_fix():
    record = compliance.CheckRecord(SYMPTOM_CHECK, "h", "n", status="cleared")
    report = compliance.compliance_report(compliance._Collected({"n": record}), None, 1.0)
    assert suite.verdict(report, 0).code == suite.EXIT_REMEDIATED
    old = {"totals": {"passed": 1, "remediated": 0, "failed": 0, "skipped": 0, "checks": 1}}
    assert suite.verdict(old, 0).code == suite.EXIT_HEALTHY    # a report from before `cleared`


def test_a_symptom_of_a_cleared_symptom_clears_after_the_same_root(seed_site):
    """Routes missing because a session was down, the session down because bgpd was off:
    both clear once bgpd is fixed, and both name bgpd as what they cleared after."""
    lab = Lab(seed_site, settles_after=1, symptom_settle=5.0)
    lab.run(CAUSE_CHECK, lab.root, lab.cause_check)
    lab.run(SYMPTOM_CHECK, lab.leaf, lab.symptom_check)

    def routes() -> Finding | None:
        lab.seen["routes"] = lab.seen.get("routes", 0) + 1
        if lab.seen["routes"] > 1:
            return None
        return Finding("bgp_session", lab.leaf, "prefix missing", {"mode": "soft"},
                       caused_by=Cause(SYMPTOM_CHECK, lab.leaf, "bgp_session"))
    lab.run("bgp.prefixes-learned", lab.leaf, routes)
    assert lab.planned == ["frr_enable_bgpd"]
    last = lab.engine.outcomes[-1]
    assert last.status == "cleared"
    assert (last.cleared_after.check, last.cleared_after.host) == (CAUSE_CHECK, lab.root)


def test_each_finding_names_its_root_cause_for_the_allure_category(seed_site):
    """`root_cause` label: a symptom carries its cause's `<check id> @ <host>`, a root cause
    its own scenario's (allurerc.mjs makes one category of each)."""
    lab = Lab(seed_site)
    lab.engine.current_check, lab.engine.current_target = CAUSE_CHECK, lab.root
    assert lab.engine._root_name(lab.cause_check()) == f"{CAUSE_CHECK} @ {lab.root}"
    lab.engine.current_check, lab.engine.current_target = SYMPTOM_CHECK, lab.leaf
    assert lab.engine._root_name(lab.symptom_check()) == f"{CAUSE_CHECK} @ {lab.root}"
    lab.engine.current_check = None
    assert lab.engine._root_name(lab.cause_check()) is None    # no scenario id: no category
