"""The engine under faults, over real SSH (this machine's sshd, see localssh.py): command
timeouts, one reconnect, SFTP uploads, the per-host lock, rollback, read failures, per-run
backups, and failures that end as outcomes instead of tracebacks."""
from __future__ import annotations

import os
import sys
import threading
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import localssh  # noqa: E402

from stackproof import hostlock  # noqa: E402
from stackproof.finding import Finding  # noqa: E402
from stackproof.remedy import Finding as ReExported  # noqa: E402
from stackproof.remedy import Plan, Remedy, Run, WriteFile, read_file  # noqa: E402
from stackproof.facts import ReadFailed  # noqa: E402
from stackproof.remote import CommandTimeout, HostUnreachable, Remote  # noqa: E402

pytestmark = pytest.mark.skipif(localssh.available() is not None,
                                reason=str(localssh.available()))


@pytest.fixture(scope="module")
def host_name(request):
    from stackproof.site import load_site
    site = load_site(Path(__file__).resolve().parents[2] / "inventories" / "seed.yml")
    return site, next(iter(site.physical_hosts()))


@pytest.fixture
def remote(tmp_path, host_name):
    _, name = host_name
    r = Remote(name, localssh.make_host(tmp_path / "ssh", name, command_timeout=5))
    yield r
    r.close()


def engine(site, remote, tmp_path, modules, **kw) -> Remedy:
    registry = {m.ID: m for m in modules}
    return Remedy(site, {remote.name: remote}, registry, remediate=True, plan_only=False,
                  allow_destructive=False, poll_interval=0.05,
                  lock_path=str(tmp_path / "lock"), backup_root=str(tmp_path / "backups"),
                  **kw)


def module(id_, plan, verify_timeout=1.0):
    return types.SimpleNamespace(ID=id_, DESTRUCTIVE=False, VERIFY_TIMEOUT=verify_timeout,
                                 plan=plan)


def ensure_outcome(eng, check):
    """One ensure(): the outcome, whether it passed or failed the step."""
    try:
        eng.ensure(check)
    except pytest.fail.Exception as exc:
        return eng.outcomes[-1] if eng.outcomes else str(exc)
    return eng.outcomes[-1]


def test_finding_lives_in_its_own_module_and_is_re_exported():
    assert ReExported is Finding
    import stackproof.checks.baseline as checks
    assert "stackproof.remedy" not in {getattr(v, "__module__", "") for v in vars(checks).values()
                                       if isinstance(v, type)}


# --- SSH: timeouts, reconnect, SFTP -------------------------------------------------------
def test_a_hung_command_times_out_and_the_connection_goes_on(remote):
    assert remote.run("echo up").stdout == "up\n"
    with pytest.raises(CommandTimeout, match=r"timed out after 1 s: sleep 30"):
        remote.run("sleep 30", timeout=1)
    assert remote.run("echo still").stdout == "still\n"      # same host, next command fine
    with pytest.raises(CommandTimeout, match="timed out after 5 s"):
        remote.run("exec sleep 60")                          # the host's command_timeout
    assert remote._unreachable is None


def test_output_and_exit_codes_through_the_own_reader(remote):
    res = remote.run("printf 'a\\nb'; printf err >&2; exit 3")
    assert (res.rc, res.stdout, res.stderr) == (3, "a\nb", "err")
    big = remote.run("head -c 300000 /dev/zero | tr '\\0' x")
    assert big.rc == 0 and len(big.stdout) == 300000


def test_one_reconnect_after_a_dropped_connection(remote):
    remote.run("true")
    remote.testinfra.backend.client.get_transport().close()    # the connection dies
    assert remote.run("echo back").stdout == "back\n"           # reconnected once
    assert remote._unreachable is None


def test_an_unreachable_host_is_declared_after_the_retry(tmp_path, host_name):
    _, name = host_name
    spec = localssh.make_host(tmp_path / "dead", name, proxy="false")
    dead = Remote(name, spec)
    with pytest.raises(HostUnreachable):
        dead.run("true")
    with pytest.raises(HostUnreachable):                       # fails fast afterwards
        dead.run("true")


def test_files_go_over_sftp_not_the_command_line(remote, tmp_path):
    target = tmp_path / "big.rules"
    payload = "-A X -j ACCEPT\n" * 20000                  # ~300 KiB: E2BIG as an argument
    remote.put_file(str(target), payload, 0o640)
    assert target.read_text() == payload
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert remote.get_file(str(target)) == payload
    assert remote.get_file(str(tmp_path / "nope")) is None


def test_reads_only_treat_a_missing_file_as_empty(remote, tmp_path):
    assert read_file(remote, str(tmp_path / "missing.conf")) is None
    (tmp_path / "ok.conf").write_text("x = 1\n")
    assert read_file(remote, str(tmp_path / "ok.conf")) == "x = 1\n"
    (tmp_path / "dir.conf").mkdir()
    with pytest.raises(ReadFailed, match="Is a directory"):
        read_file(remote, str(tmp_path / "dir.conf"))


# --- the host lock --------------------------------------------------------------------------
def test_a_second_run_waits_then_names_the_holder(remote, tmp_path, host_name):
    _, name = host_name
    other = Remote(name, remote.spec)
    path = str(tmp_path / "lock")
    held = hostlock.acquire(remote, "run-one", 5, path)
    try:
        with pytest.raises(hostlock.LockError) as err:
            hostlock.acquire(other, "run-two", 1, path)
        msg = str(err.value)
        assert "run=run-one" in msg and f"pid={os.getpid()}" in msg and "since=" in msg
        assert held.waited is False
        # a waiter gets the lock as soon as the holder lets go
        got = {}
        t = threading.Thread(target=lambda: got.setdefault(
            "lock", hostlock.acquire(other, "run-two", 30, path)))
        t.start()
        held.release()
        held = None
        t.join(40)
        assert "lock" in got and got["lock"].waited is True
        got["lock"].release()
    finally:
        if held is not None:
            held.release()
        other.close()


def test_the_engine_fails_a_locked_host_with_the_holder(remote, tmp_path, host_name):
    site, name = host_name
    target = tmp_path / "f.conf"
    mod = module("write_it", lambda ctx, f: Plan("write_it", "write",
                                                 (WriteFile(name, str(target), "new\n", "w"),)))
    eng = engine(site, remote, tmp_path, [mod], lock_wait=1, run_id="second")
    holder = Remote(name, remote.spec)
    lock = hostlock.acquire(holder, "first", 5, str(tmp_path / "lock"))
    try:
        out = ensure_outcome(eng, lambda: None if target.exists() else
                             Finding("write_it", name, "missing"))
    finally:
        lock.release()
        holder.close()
    assert out.status == "failed" and "run=first" in out.detail and not target.exists()
    out = ensure_outcome(eng, lambda: None if target.exists() else
                         Finding("write_it", name, "missing"))
    assert out.status == "remediated" and target.read_text() == "new\n"


def test_after_waiting_for_the_lock_the_fact_is_checked_again(remote, tmp_path, host_name):
    site, name = host_name
    target = tmp_path / "g.conf"
    planned = []
    mod = module("write_it", lambda ctx, f: planned.append(1) or Plan(
        "write_it", "write", (WriteFile(name, str(target), "mine\n", "w"),)))
    eng = engine(site, remote, tmp_path, [mod], lock_wait=30, run_id="waiter")
    holder = Remote(name, remote.spec)
    lock = hostlock.acquire(holder, "fixer", 5, str(tmp_path / "lock"))

    def the_other_run_fixes_it():
        target.write_text("theirs\n")
        lock.release()
    timer = threading.Timer(1.0, the_other_run_fixes_it)
    timer.start()
    try:
        out = ensure_outcome(eng, lambda: None if target.exists() else
                             Finding("write_it", name, "missing"))
    finally:
        timer.join()
        holder.close()
    assert out.status == "remediated" and "meanwhile" in out.detail
    assert planned == [] and target.read_text() == "theirs\n"


# --- rollback, backups, no tracebacks ---------------------------------------------------------
def test_a_plan_failing_after_its_writes_restores_every_file(remote, tmp_path, host_name):
    site, name = host_name
    conf, fresh = tmp_path / "svc.conf", tmp_path / "extra.conf"
    conf.write_text("good = 1\n")
    mark = tmp_path / "restarted"

    def plan(ctx, f):
        return Plan("svc", "configure and restart", (
            WriteFile(name, str(conf), "broken = 1\n", "new config"),
            WriteFile(name, str(fresh), "added\n", "a new file"),
            Run(name, f"grep -q good {conf}", "the service refuses the new file")),
            rollback=(Run(name, f"touch {mark}", "restart on the old file"),))
    eng = engine(site, remote, tmp_path, [module("svc", plan)], run_id="r1")
    out = ensure_outcome(eng, lambda: Finding("svc", name, "drifted"))
    assert out.status == "failed"
    assert conf.read_text() == "good = 1\n" and not fresh.exists() and mark.exists()
    assert out.rolled_back[:2] == [f"removed new file {fresh} on {name}",
                                   f"restored {conf} on {name}"]
    assert "rolled back" in out.detail
    backup = tmp_path / "backups" / "r1" / str(conf).lstrip("/")
    assert out.backups == [f"{name}:{backup}"] and backup.read_text() == "good = 1\n"
    assert not [p for p in tmp_path.iterdir() if ".stackproof-" in p.name]   # no temp left


def test_backups_are_per_run_and_never_overwritten(remote, tmp_path, host_name):
    site, name = host_name
    conf = tmp_path / "a.conf"
    conf.write_text("v0\n")
    n = {"i": 0}

    def plan(ctx, f):
        n["i"] += 1
        return Plan("w", "write", (WriteFile(name, str(conf), f"v{n['i']}\n", "w"),))
    eng = engine(site, remote, tmp_path, [module("w", plan)], run_id="r2")
    for want in ("v1\n", "v2\n"):
        out = ensure_outcome(eng, lambda want=want: None if conf.read_text() == want else
                             Finding("w", name, "old"))
        assert out.status == "remediated", out.detail
    base = tmp_path / "backups" / "r2" / str(conf).lstrip("/")
    assert base.read_text() == "v0\n"
    assert base.with_name(base.name + ".2").read_text() == "v1\n"


def test_every_failure_is_an_outcome_not_a_traceback(remote, tmp_path, host_name):
    site, name = host_name

    def boom(ctx, f):
        raise KeyError("params['networks']")
    hung = module("hung", lambda ctx, f: Plan("hung", "hang", (Run(name, "sleep 30", "x"),)))
    eng = engine(site, remote, tmp_path, [module("boom", boom), hung],
                 run_id="r3")
    out = ensure_outcome(eng, lambda: Finding("boom", name, "x"))
    assert out.status == "failed" and "KeyError" in out.detail
    remote.spec = remote.spec.model_copy(update={"command_timeout": 1})
    out = ensure_outcome(eng, lambda: Finding("hung", name, "x"))
    assert out.status == "failed" and "timed out after 1 s: sleep 30" in out.detail
    # a check that raises (an API error, a parse error) fails the step with its reason
    with pytest.raises(pytest.fail.Exception, match="ValueError: bad JSON"):
        eng.ensure(lambda: (_ for _ in ()).throw(ValueError("bad JSON")))


def test_a_read_failure_blocks_the_plan(remote, tmp_path, host_name):
    site, name = host_name
    (tmp_path / "conf.d").mkdir()

    def plan(ctx, f):
        text = read_file(ctx.fleet[name], str(tmp_path / "conf.d"))
        return Plan("r", "edit", (WriteFile(name, str(tmp_path / "x"), text or "", "w"),))
    eng = engine(site, remote, tmp_path, [module("r", plan)])
    out = ensure_outcome(eng, lambda: Finding("r", name, "x"))
    assert out.status == "refused" and out.detail.startswith("plan blocked:")
    assert "Is a directory" in out.detail and not (tmp_path / "x").exists()


def test_api_fact_sources_are_dropped_before_each_re_check(remote, tmp_path, host_name):
    site, name = host_name

    class Source:
        dropped = 0

        def invalidate(self):
            self.dropped += 1
    src = Source()
    eng = engine(site, remote, tmp_path,
                 [module("api", lambda ctx, f: Plan("api", "call", ()))])
    eng.register_source(src)
    eng.register_source(src)                                   # once only
    out = ensure_outcome(eng, lambda: None if src.dropped else Finding("api", name, "x"))
    assert out.status == "remediated" and src.dropped == 1
