"""Findings and the remediation engine.

A check is a pure function of facts that returns a `Finding` (or None when the fact holds).
`Remedy.ensure()` runs the check; on a Finding it fails the scenario, or with --remediate it
asks the remediation module for a Plan, attaches it, applies it (backing up and writing
files atomically, validating first), drops the touched hosts' cached facts and polls the
same check until it holds or the deadline passes.

Root causes first: a finding whose `caused_by` names a cause this run already fixed is a
symptom that may clear on its own; it is re-verified (fresh facts, polled until its cause's
settle time is up) before its own remediation is planned, and ends `cleared` if it holds.
"""
from __future__ import annotations

import logging
import os
import secrets
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from stackproof import report
from stackproof.finding import Finding  # noqa: F401  (re-exported: checks used to import it here)
from stackproof.fixed_causes import SYMPTOM_SETTLE, FixedCause, FixedCauses
from stackproof.redact import redact
from stackproof import hostlock
from stackproof.facts import FactError, ReadFailed, read_file  # noqa: F401  (for remediations)
from stackproof.remote import CommandTimeout, Fleet, HostUnreachable
from stackproof.site import Site

log = logging.getLogger("stackproof.remedy")


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
    # run after a failed plan's files are restored (e.g. restart the service on the old file)
    rollback: tuple[Run, ...] = ()

    def render(self) -> str:
        head = f"remediation {self.remediation}: {self.summary}"
        if self.destructive:
            head += "  [DESTRUCTIVE]"
        if self.blocked:
            head += f"\n  not applied automatically: {self.blocked}"
        lines = [head, *(s.describe() for s in self.steps)]
        if self.rollback:
            lines.append("  if a step fails: restore every file written, then")
            lines += [f"  {s.describe()}" for s in self.rollback]
        return "\n".join(lines)

    @property
    def hosts(self) -> set[str]:
        return {s.host for s in self.steps}


class RemediationModule(Protocol):
    ID: str
    DESTRUCTIVE: bool
    VERIFY_TIMEOUT: float

    def plan(self, ctx: "Context", finding: Finding) -> Plan: ...


class FactSource(Protocol):
    """An API fact cache (OpenStack, Kubernetes) the engine drops after a remediation."""
    def invalidate(self) -> None: ...


@dataclass
class Context:
    """What a remediation may use: the site, the hosts, and OS/init knowledge."""
    site: Site
    fleet: Fleet
    extras: dict = field(default_factory=dict)   # API clients (openstack, kube) by name
    run_id: str = "manual"
    backup_root: str = "/var/backups/stackproof"

    def scratch_path(self, name: str) -> str:
        """A file a plan feeds to a tool (e.g. `virsh net-define`): unique to this run."""
        return f"/root/stackproof-{self.run_id}-{name}"

    @property
    def backup_dir(self) -> str:
        """This run's backups on every host: <root>/<run id>/<original path>."""
        return f"{self.backup_root.rstrip('/')}/{self.run_id}"


class RemediationFailed(Exception):
    pass


BACKUP_ROOT = "/var/backups/stackproof"


@dataclass(frozen=True)
class WriteNames:
    """Where one file write stages its content and keeps the old file."""
    tmp: str        # next to the target, so the final `mv` is a rename on one filesystem
    backup: str     # BACKUP_ROOT/<run id>/<original path>: never where a service reads


def write_names(path: str, run_id: str, seq: int, backup_root: str = BACKUP_ROOT,
                nth: int = 1) -> WriteNames:
    """Unique per run and write: two runs (or two writes of one run) never share a name."""
    backup = f"{backup_root.rstrip('/')}/{run_id}/{path.lstrip('/')}"
    if nth > 1:
        backup += f".{nth}"
    return WriteNames(f"{path}.stackproof-{run_id}-{seq}.new", backup)


BACKED_UP = "stackproof-backed-up"


def write_file_commands(step: WriteFile, names: WriteNames) -> tuple[str, str]:
    """The shell that prepares, validates, backs up and atomically replaces a file whose new
    content was already uploaded (over SFTP) to `names.tmp`.

    Returns (stage_and_validate, commit). The backup keeps the old mode and owner and is
    never overwritten; commit prints BACKED_UP when it made one.
    """
    path, tmp, bak = (shlex.quote(x) for x in (step.path, names.tmp, names.backup))
    stage = [f"if [ -e {path} ]; then chmod --reference={path} {tmp} && "
             f"chown --reference={path} {tmp}; fi"]
    if step.mode:
        stage.append(f"chmod {shlex.quote(step.mode)} {tmp}")
    if step.owner:
        stage.append(f"chown {shlex.quote(step.owner)} {tmp}")
    if step.validate:
        stage.append(step.validate.replace("{path}", tmp) + f" || {{ rm -f {tmp}; exit 3; }}")
    bak_dir = shlex.quote(os.path.dirname(names.backup))
    commit = (f"if [ -e {path} ]; then ( umask 077 && mkdir -p {bak_dir} ) && "
              f"if [ -e {bak} ]; then echo 'backup exists, not overwritten: '{bak} >&2; "
              f"exit 4; fi && cp -a {path} {bak} && echo {BACKED_UP}; fi && mv -f {tmp} {path}")
    return " && ".join(stage), commit


def restore_command(path: str, backup: str | None, tmp: str) -> str:
    """Undo one write: the backup back in place (atomically), or remove a file that did not
    exist before."""
    if backup is None:
        return f"rm -f -- {shlex.quote(path)}"
    return f"cp -a {shlex.quote(backup)} {shlex.quote(tmp)} && mv -f {shlex.quote(tmp)} " \
        f"{shlex.quote(path)}"


@dataclass(frozen=True)
class Written:
    host: str
    path: str
    backup: str | None      # None: the file did not exist before


@dataclass
class Outcome:
    finding: Finding
    plan: Plan | None
    status: str            # remediated | cleared | failed | planned | refused
    detail: str = ""
    nodeid: str = ""
    backups: list[str] = field(default_factory=list)       # "host:path" of every backup
    rolled_back: list[str] = field(default_factory=list)   # what a failed plan undid
    check: str | None = None       # the scenario's stable check id (None outside scenarios)
    # cleared: the fixed cause it cleared after (its own remediation never ran)
    cleared_after: FixedCause | None = None


def new_run_id() -> str:
    """Sortable, unique across runs started in the same second on any machine."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(2)}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (RemediationFailed, HostUnreachable, CommandTimeout, FactError,
                        hostlock.LockError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Failed(Exception):
    """Apply stopped midway; carries the writes done so far for the rollback."""
    def __init__(self, reason: str, lines: list[str]):
        super().__init__(reason)
        self.lines = lines


class Remedy:
    """The engine behind every Then step (fixture `remedy`)."""

    def __init__(self, site: Site, fleet: Fleet, registry: dict[str, RemediationModule], *,
                 remediate: bool, plan_only: bool, allow_destructive: bool,
                 extras: dict | None = None, poll_interval: float = 0.5,
                 run_id: str | None = None, lock_wait: float = 120.0,
                 lock_path: str = hostlock.LOCK_PATH, backup_root: str = BACKUP_ROOT,
                 host_locks: bool = True, symptom_settle: float = SYMPTOM_SETTLE):
        self.site, self.fleet, self.registry = site, fleet, registry
        self.remediate, self.plan_only = remediate, plan_only
        self.allow_destructive = allow_destructive
        self.ctx = Context(site, fleet, extras or {})
        self.poll_interval = poll_interval
        self.outcomes: list[Outcome] = []
        self.findings: list[tuple[str, Finding]] = []     # (node id, finding), for reports
        self.current_nodeid = ""
        # the scenario running now (the plugin sets all three per item): a fixed cause is
        # recorded under the check id and host its symptoms' `caused_by` names
        self.current_check: str | None = None
        self.current_target: str | None = None
        self.fixed = FixedCauses()
        self.symptom_settle = symptom_settle     # the cap on a cause's settle time
        self.run_id = run_id or new_run_id()
        self.ctx.run_id, self.ctx.backup_root = self.run_id, backup_root
        self.lock_wait, self.lock_path, self.backup_root = lock_wait, lock_path, backup_root
        self.host_locks = host_locks     # off only where hosts are not SSH hosts (unit tests)
        self.sources: list[FactSource] = []
        self._seq = 0
        self._backups: dict[tuple[str, str], int] = {}
        self._written: list[Written] = []
        self._applied = 0

    def register_source(self, source: FactSource) -> None:
        """An API fact cache: dropped with the hosts' facts before every re-verification."""
        if all(s is not source for s in self.sources):
            self.sources.append(source)

    # The only call a step makes.
    def ensure(self, check: Callable[[], Finding | None], *, what: str = "") -> None:
        import pytest
        try:
            finding = check()
        except (HostUnreachable, CommandTimeout, FactError) as exc:
            pytest.fail(str(exc), pytrace=False)
        except Exception as exc:     # an API or parse error: its reason, not a traceback
            pytest.fail(f"{what + ': ' if what else ''}{_reason(exc)}", pytrace=False)
        if finding is None:
            return
        self.findings.append((self.current_nodeid, finding))
        report.label_cause(finding.caused_by is not None, self._root_name(finding))
        report.attach_json(f"facts read: {finding.host}", finding.facts)
        report.attach_text("finding", f"{finding.host}: {finding.message}")
        if not (self.remediate or self.plan_only):
            pytest.fail(f"{finding.host}: {finding.message}", pytrace=False)
        outcome = None
        if self.remediate and not self.plan_only:
            outcome, finding = self._settle(finding, check)
        if outcome is None:
            outcome = self._remediate(finding, check)
        outcome.check = self.current_check
        self.outcomes.append(outcome)
        report.attach_text(f"outcome: {finding.remediation}", redact(self.describe(outcome)))
        if outcome.status == "cleared":
            self.fixed.cleared(self.current_check, self.current_target or finding.host,
                               outcome.cleared_after)
            report.mark_cleared(outcome.cleared_after.describe(), outcome.detail)
            return
        if outcome.status != "remediated":
            pytest.fail(redact(f"{finding.host}: {finding.message}\n  remediation "
                               f"{finding.remediation} {outcome.status}: {outcome.detail}"),
                        pytrace=False)
        self._record_fixed(finding)
        report.mark_remediated(finding.remediation, outcome.detail)

    def _record_fixed(self, finding: Finding) -> None:
        module = self.registry.get(finding.remediation)
        settle = min(getattr(module, "VERIFY_TIMEOUT", SYMPTOM_SETTLE), self.symptom_settle)
        self.fixed.record(self.current_check, self.current_target or finding.host, finding,
                          settle)

    def _settle(self, finding: Finding, check) -> tuple[Outcome | None, Finding]:
        """A symptom of a cause fixed in this run: poll its check on fresh facts until it
        holds (`cleared`, no remediation planned) or the cause's settle time is up (None:
        its own remediation runs, planned on the last finding)."""
        cause = self.fixed.cause_of(finding, self.current_check,
                                    self.current_target or finding.host)
        if cause is None:
            return None, finding
        hosts = {finding.host, cause.host, (finding.params or {}).get("on")}
        while True:
            self._refresh(hosts)     # at least one look at fresh facts, even past the deadline
            try:
                remaining = check()
            except Exception as exc:     # the remediation path reports a broken read itself
                log.info("re-check of %s after %s: %s", finding.host, cause.describe(),
                         _reason(exc))
                return None, finding
            if remaining is None:
                return Outcome(finding, None, "cleared", f"cleared on its own after "
                               f"{cause.describe()} was remediated", self.current_nodeid,
                               cleared_after=cause), finding
            finding = remaining
            if time.monotonic() >= cause.deadline:
                report.attach_text("finding after its cause's fix", f"{finding.host}: "
                                   f"{finding.message}")
                return None, finding
            time.sleep(self.poll_interval)

    def _refresh(self, hosts) -> None:
        """Drop these hosts' cached facts and the API fact sources before a re-check."""
        for host in hosts:
            if host in self.site.hosts:
                self.fleet[host].invalidate()
        for source in self.sources:
            source.invalidate()

    def _root_name(self, finding: Finding) -> str | None:
        """`<check id> @ <host>` of the finding's cause, or of this scenario for a root."""
        c = finding.caused_by
        if c is not None:
            return f"{c.check} @ {c.host}"
        if self.current_check:
            return f"{self.current_check} @ {self.current_target or finding.host}"
        return None

    @staticmethod
    def describe(o: Outcome) -> str:
        lines = [f"{o.status}: {o.detail}"]
        lines += [f"backup: {b}" for b in o.backups]
        lines += [f"rolled back: {r}" for r in o.rolled_back]
        return "\n".join(lines)

    def _remediate(self, finding: Finding, check: Callable[[], Finding | None]) -> Outcome:
        module = self.registry.get(finding.remediation)
        if module is None:
            return Outcome(finding, None, "failed", f"no remediation registered under "
                           f"{finding.remediation!r}", self.current_nodeid)
        locks: dict[str, hostlock.HostLock] = {}
        try:
            if not self.plan_only:
                try:
                    self._lock([finding.host], locks)
                except HostUnreachable:
                    pass     # nothing over SSH can change it then; the plan decides
                if any(lock.waited for lock in locks.values()):
                    # another run held the host: look again before planning on old facts
                    self._refresh({finding.host})
                    if check() is None:
                        return Outcome(finding, None, "remediated", "fixed meanwhile by the "
                                       "run that held the host's lock", self.current_nodeid)
            return self._plan_apply_verify(module, finding, check, locks)
        except hostlock.LockError as exc:
            return Outcome(finding, None, "failed", str(exc), self.current_nodeid)
        except Exception as exc:       # anything unforeseen: a FAILED outcome, not a traceback
            log.exception("remediation %s on %s", finding.remediation, finding.host)
            return Outcome(finding, None, "failed", f"{finding.remediation}: {_reason(exc)}",
                           self.current_nodeid)
        finally:
            for lock in locks.values():
                lock.release()

    def _lock(self, hosts, locks: dict) -> None:
        for host in sorted(set(hosts)):
            if not self.host_locks or host in locks or host not in self.site.hosts:
                continue
            locks[host] = hostlock.acquire(self.fleet[host], self.run_id, self.lock_wait,
                                           self.lock_path)

    def _plan_apply_verify(self, module, finding, check, locks) -> Outcome:
        nodeid = self.current_nodeid
        try:
            plan = module.plan(self.ctx, finding)
        except FactError as exc:
            # a read that failed (not "does not exist"): no plan is built from nothing
            return Outcome(finding, None, "refused", f"plan blocked: {exc}", nodeid)
        except Exception as exc:
            return Outcome(finding, None, "failed", f"no plan: {_reason(exc)}", nodeid)
        report.attach_text(f"plan: {plan.remediation}", plan.render())
        log.info("plan for %s on %s:\n%s", finding.remediation, finding.host, plan.render())
        if self.plan_only:
            return Outcome(finding, plan, "planned", "shown with --plan, nothing applied",
                           nodeid)
        if plan.blocked:
            return Outcome(finding, plan, "refused", plan.blocked, nodeid)
        if plan.destructive and not self.allow_destructive:
            return Outcome(finding, plan, "refused", "destructive: rerun with "
                           "--allow-destructive to apply (see the plan)", nodeid)
        ssh_hosts = {s.host for s in plan.steps if not isinstance(s, Call)}
        self._lock(ssh_hosts, locks)
        self._written, self._applied = [], 0
        try:
            transcript = self._apply(plan)
        except _Failed as exc:
            rolled = self._rollback(plan)
            report.attach_text(f"applied: {plan.remediation}", redact("\n".join(exc.lines)))
            self._invalidate(plan, finding)
            detail = str(exc)
            if rolled:
                detail += f"; rolled back: {', '.join(rolled)}"
            return Outcome(finding, plan, "failed", detail, nodeid,
                           backups=self._backup_list(), rolled_back=rolled)
        report.attach_text(f"applied: {plan.remediation}", transcript)
        backups = self._backup_list()
        try:
            remaining = self._verify(plan, finding, check,
                                     getattr(module, "VERIFY_TIMEOUT", 15.0))
        except Exception as exc:
            return Outcome(finding, plan, "failed", f"applied, but the re-check failed: "
                           f"{_reason(exc)}", nodeid, backups=backups)
        if remaining is None:
            return Outcome(finding, plan, "remediated", plan.summary, nodeid, backups=backups)
        return Outcome(finding, plan, "failed",
                       f"applied, but the fact still does not hold: {remaining.message}",
                       nodeid, backups=backups)

    def _backup_list(self) -> list[str]:
        return [f"{w.host}:{w.backup}" for w in self._written if w.backup]

    def _apply(self, plan: Plan) -> str:
        lines: list[str] = []
        for step in plan.steps:
            try:
                self._apply_step(step, lines)
                self._applied += 1
            except _Failed:
                raise
            except Exception as exc:
                raise _Failed(redact(f"{step.host}: {_reason(exc)}"), lines) from None
        return redact("\n".join(lines))

    def _apply_step(self, step: Step, lines: list[str]) -> None:
        if isinstance(step, Call):
            result = step.fn()
            lines.append(f"{step.describe()}\n  -> {result!r}")
            return
        remote = self.fleet[step.host]
        if isinstance(step, Run):
            res = remote.run(step.command)
            lines.append(f"{step.describe()}\n  rc={res.rc} {res.stdout}{res.stderr}".rstrip())
            if res.rc not in step.ok_rc:
                raise _Failed(redact(f"`{step.command}` on {step.host} -> rc {res.rc}: "
                                     f"{(res.stderr or res.stdout).strip()[:400]}"), lines)
            return
        self._seq += 1
        key = (step.host, step.path)
        self._backups[key] = self._backups.get(key, 0) + 1
        names = write_names(step.path, self.run_id, self._seq, self.backup_root,
                            self._backups[key])
        try:
            remote.put_file(names.tmp, step.content, 0o600)
        except Exception as exc:
            remote.run(f"rm -f -- {shlex.quote(names.tmp)}")
            raise _Failed(f"{step.path} on {step.host}: upload over SFTP failed, file left "
                          f"unchanged: {_reason(exc)}", lines) from None
        stage, commit = write_file_commands(step, names)
        res = remote.run(stage)
        if res.rc != 0:
            remote.run(f"rm -f -- {shlex.quote(names.tmp)}")
            why = "validation failed" if res.rc == 3 else "staging failed"
            raise _Failed(redact(f"{step.path} on {step.host}: {why}, file left unchanged: "
                                 f"{(res.stderr or res.stdout).strip()[:400]}"), lines)
        res = remote.run(commit)
        if res.rc != 0:
            remote.run(f"rm -f -- {shlex.quote(names.tmp)}")
            raise _Failed(f"{step.path} on {step.host}: replace failed: "
                          f"{res.stderr.strip()[:400]}", lines)
        backup = names.backup if BACKED_UP in res.stdout else None
        self._written.append(Written(step.host, step.path, backup))
        lines.append(f"[{step.host}] wrote {step.path} over SFTP"
                     + (f" (old file kept in {backup})" if backup else " (new file)"))

    def _rollback(self, plan: Plan) -> list[str]:
        """Undo a failed plan's writes, newest first, then run its rollback commands."""
        done: list[str] = []
        for w in reversed(self._written):
            self._seq += 1
            tmp = f"{w.path}.stackproof-{self.run_id}-{self._seq}.restore"
            try:
                res = self.fleet[w.host].run(restore_command(w.path, w.backup, tmp))
                ok, why = res.ok, (res.stderr or res.stdout).strip()[:200]
            except Exception as exc:
                ok, why = False, _reason(exc)
            what = f"restored {w.path} on {w.host}" if w.backup else \
                f"removed new file {w.path} on {w.host}"
            done.append(what if ok else f"FAILED to restore {w.path} on {w.host}: {why}")
        if self._written or self._applied:
            for step in plan.rollback:
                try:
                    res = self.fleet[step.host].run(step.command)
                    ok, why = res.rc in step.ok_rc, (res.stderr or res.stdout).strip()[:200]
                except Exception as exc:
                    ok, why = False, _reason(exc)
                done.append(f"ran `{step.command}` on {step.host}" if ok else
                            f"`{step.command}` on {step.host} failed: {why}")
        for line in done:
            log.warning("rollback of %s: %s", plan.remediation, line)
        return done

    def _invalidate(self, plan: Plan, finding: Finding) -> None:
        self._refresh(plan.hosts | {finding.host})

    def _verify(self, plan: Plan, finding: Finding, check, timeout: float) -> Finding | None:
        deadline = time.monotonic() + timeout
        while True:
            self._invalidate(plan, finding)
            remaining = check()
            if remaining is None or time.monotonic() >= deadline:
                return remaining
            time.sleep(self.poll_interval)
