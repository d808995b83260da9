"""Findings and the remediation engine.

A check is a pure function of facts that returns a `Finding` (or None when the fact holds).
`Remedy.ensure()` runs the check; on a Finding it fails the scenario, or with --remediate it
asks the remediation module for a Plan, attaches it, applies it (backing up and writing
files atomically, validating first), drops the touched hosts' cached facts and polls the
same check until it holds or the deadline passes.
"""
from __future__ import annotations

import base64
import logging
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from stackproof import report
from stackproof.redact import redact
from stackproof.remote import Fleet, HostUnreachable
from stackproof.site import Site

log = logging.getLogger("stackproof.remedy")


@dataclass(frozen=True)
class Finding:
    """A broken fact: which remediation fixes it, where, with what, and why it is broken."""
    remediation: str
    host: str
    message: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    facts: dict = field(default_factory=dict, hash=False, compare=False)


# --- plan steps --------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    host: str
    command: str
    why: str
    ok_rc: tuple[int, ...] = (0,)

    def describe(self) -> str:
        return f"[{self.host}] $ {self.command}    # {self.why}"


@dataclass(frozen=True)
class WriteFile:
    """Replace a file: validate the new content, back up the old one, rename atomically."""
    host: str
    path: str
    content: str
    why: str
    mode: str | None = None         # e.g. "0644"; default: keep the old file's mode
    owner: str | None = None        # e.g. "frr:frr"; default: keep the old file's owner
    validate: str | None = None     # command run on the new file first; `{path}` is replaced

    def describe(self) -> str:
        check = f" (validated with `{self.validate}`)" if self.validate else ""
        return f"[{self.host}] write {self.path}{check}    # {self.why}\n" + \
            "\n".join(f"    | {line}" for line in self.content.splitlines())


@dataclass(frozen=True)
class Call:
    """An API call (OpenStack, Kubernetes) instead of a shell command."""
    target: str
    description: str
    fn: Callable[[], Any] = field(compare=False)

    @property
    def host(self) -> str:
        return self.target

    def describe(self) -> str:
        return f"[{self.target}] {self.description}"


Step = Run | WriteFile | Call


@dataclass(frozen=True)
class Plan:
    remediation: str
    summary: str
    steps: tuple[Step, ...]
    destructive: bool = False
    blocked: str | None = None      # the plan cannot run here, and why (shown to operators)

    def render(self) -> str:
        head = f"remediation {self.remediation}: {self.summary}"
        if self.destructive:
            head += "  [DESTRUCTIVE]"
        if self.blocked:
            head += f"\n  not applied automatically: {self.blocked}"
        return "\n".join([head, *(s.describe() for s in self.steps)])

    @property
    def hosts(self) -> set[str]:
        return {s.host for s in self.steps}


class RemediationModule(Protocol):
    ID: str
    DESTRUCTIVE: bool
    VERIFY_TIMEOUT: float

    def plan(self, ctx: "Context", finding: Finding) -> Plan: ...


@dataclass
class Context:
    """What a remediation may use: the site, the hosts, and OS/init knowledge."""
    site: Site
    fleet: Fleet
    extras: dict = field(default_factory=dict)   # API clients (openstack, kube) by name


class RemediationFailed(Exception):
    pass


def write_file_commands(step: WriteFile, stamp: str) -> tuple[str, str]:
    """The shell that stages, validates, backs up and atomically replaces a file.

    Returns (stage_and_validate, commit). The temp file sits next to the target so the final
    `mv` is a rename on one filesystem; the backup keeps the old mode and owner.
    """
    path = shlex.quote(step.path)
    tmp = shlex.quote(f"{step.path}.stackproof-new")
    bak = shlex.quote(f"{step.path}.stackproof-{stamp}.bak")
    payload = base64.b64encode(step.content.encode()).decode()
    stage = [f"umask 077", f"printf %s {payload} | base64 -d > {tmp}",
             f"if [ -e {path} ]; then chmod --reference={path} {tmp} && "
             f"chown --reference={path} {tmp}; fi"]
    if step.mode:
        stage.append(f"chmod {shlex.quote(step.mode)} {tmp}")
    if step.owner:
        stage.append(f"chown {shlex.quote(step.owner)} {tmp}")
    if step.validate:
        stage.append(step.validate.replace("{path}", tmp) + f" || {{ rm -f {tmp}; exit 3; }}")
    commit = f"if [ -e {path} ]; then cp -p {path} {bak}; fi && mv -f {tmp} {path}"
    return " && ".join(stage), commit


@dataclass
class Outcome:
    finding: Finding
    plan: Plan | None
    status: str            # remediated | failed | planned | refused
    detail: str = ""
    nodeid: str = ""


class Remedy:
    """The engine behind every Then step (fixture `remedy`)."""

    def __init__(self, site: Site, fleet: Fleet, registry: dict[str, RemediationModule], *,
                 remediate: bool, plan_only: bool, allow_destructive: bool,
                 extras: dict | None = None, poll_interval: float = 0.5):
        self.site, self.fleet, self.registry = site, fleet, registry
        self.remediate, self.plan_only = remediate, plan_only
        self.allow_destructive = allow_destructive
        self.ctx = Context(site, fleet, extras or {})
        self.poll_interval = poll_interval
        self.outcomes: list[Outcome] = []
        self.findings: list[tuple[str, Finding]] = []     # (node id, finding), for reports
        self.current_nodeid = ""

    # The only call a step makes.
    def ensure(self, check: Callable[[], Finding | None], *, what: str = "") -> None:
        import pytest
        try:
            finding = check()
        except HostUnreachable as exc:
            pytest.fail(str(exc), pytrace=False)
        if finding is None:
            return
        self.findings.append((self.current_nodeid, finding))
        report.attach_json(f"facts read: {finding.host}", finding.facts)
        report.attach_text("finding", f"{finding.host}: {finding.message}")
        if not (self.remediate or self.plan_only):
            pytest.fail(f"{finding.host}: {finding.message}", pytrace=False)
        outcome = self._remediate(finding, check)
        self.outcomes.append(outcome)
        if outcome.status != "remediated":
            pytest.fail(f"{finding.host}: {finding.message}\n  remediation "
                        f"{finding.remediation} {outcome.status}: {outcome.detail}",
                        pytrace=False)
        report.mark_remediated(finding.remediation, outcome.detail)

    def _remediate(self, finding: Finding, check: Callable[[], Finding | None]) -> Outcome:
        module = self.registry.get(finding.remediation)
        if module is None:
            return Outcome(finding, None, "failed", f"no remediation registered under "
                           f"{finding.remediation!r}", self.current_nodeid)
        plan = module.plan(self.ctx, finding)
        report.attach_text(f"plan: {plan.remediation}", plan.render())
        log.info("plan for %s on %s:\n%s", finding.remediation, finding.host, plan.render())
        if self.plan_only:
            return Outcome(finding, plan, "planned", "shown with --plan, nothing applied",
                           self.current_nodeid)
        if plan.blocked:
            return Outcome(finding, plan, "refused", plan.blocked, self.current_nodeid)
        if plan.destructive and not self.allow_destructive:
            return Outcome(finding, plan, "refused", "destructive: rerun with "
                           "--allow-destructive to apply (see the plan)", self.current_nodeid)
        try:
            transcript = self._apply(plan)
        except (RemediationFailed, HostUnreachable) as exc:
            self._invalidate(plan, finding)
            return Outcome(finding, plan, "failed", str(exc), self.current_nodeid)
        report.attach_text(f"applied: {plan.remediation}", transcript)
        remaining = self._verify(plan, finding, check, getattr(module, "VERIFY_TIMEOUT", 15.0))
        if remaining is None:
            return Outcome(finding, plan, "remediated", plan.summary, self.current_nodeid)
        return Outcome(finding, plan, "failed",
                       f"applied, but the fact still does not hold: {remaining.message}",
                       self.current_nodeid)

    def _apply(self, plan: Plan) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        lines = []
        for step in plan.steps:
            if isinstance(step, Call):
                result = step.fn()
                lines.append(f"{step.describe()}\n  -> {result!r}")
                continue
            remote = self.fleet[step.host]
            if isinstance(step, Run):
                res = remote.run(step.command)
                lines.append(f"{step.describe()}\n  rc={res.rc} {res.stdout}{res.stderr}".rstrip())
                if res.rc not in step.ok_rc:
                    raise RemediationFailed(redact(
                        f"`{step.command}` on {step.host} -> rc {res.rc}: "
                        f"{(res.stderr or res.stdout).strip()[:400]}"))
            else:
                stage, commit = write_file_commands(step, stamp)
                res = remote.run(stage)
                if res.rc != 0:
                    why = "validation failed" if res.rc == 3 else "staging failed"
                    raise RemediationFailed(redact(
                        f"{step.path} on {step.host}: {why}, file left unchanged: "
                        f"{(res.stderr or res.stdout).strip()[:400]}"))
                res = remote.run(commit)
                if res.rc != 0:
                    raise RemediationFailed(f"{step.path} on {step.host}: replace failed: "
                                            f"{res.stderr.strip()[:400]}")
                lines.append(f"[{step.host}] wrote {step.path} (backup kept next to it)")
        return redact("\n".join(lines))

    def _invalidate(self, plan: Plan, finding: Finding) -> None:
        for host in plan.hosts | {finding.host}:
            if host in self.site.hosts:
                self.fleet[host].invalidate()

    def _verify(self, plan: Plan, finding: Finding, check, timeout: float) -> Finding | None:
        deadline = time.monotonic() + timeout
        while True:
            self._invalidate(plan, finding)
            remaining = check()
            if remaining is None or time.monotonic() >= deadline:
                return remaining
            time.sleep(self.poll_interval)
