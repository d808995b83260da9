"""The pytest plugin: options, the site, `@role:` tags as per-host parametrization, summary."""
from __future__ import annotations

import fnmatch
import os
import time

import pytest

from stackproof.absent import no_target_reason, section_missing
from stackproof.site import InventoryError, Site, load_site
from stackproof.targets import select_hosts

SITE_KEY = pytest.StashKey[Site]()
REMEDY_KEY = pytest.StashKey[object]()
STARTED_KEY = pytest.StashKey[float]()
PREFETCH_KEY = pytest.StashKey[object]()
HOSTS_OF_KEY = pytest.StashKey[dict]()
REBOOT_CHECK_OPTION = "--reboot-check"


def pytest_addoption(parser):
    group = parser.getgroup("stackproof")
    group.addoption("--inventory", default=os.environ.get("STACKPROOF_INVENTORY"),
                    help="site inventory (YAML); default: $STACKPROOF_INVENTORY")
    group.addoption("--remediate", action="store_true",
                    help="apply the known fix for every broken fact, then re-verify it")
    group.addoption("--plan", action="store_true",
                    help="with or without --remediate: show the fixes, touch nothing")
    group.addoption("--allow-destructive", action="store_true",
                    help="let --remediate run fixes that delete and recreate resources")
    group.addoption(REBOOT_CHECK_OPTION, action="store_true",
                    help="lab only: each persistence scenario reboots its host (`stackproof "
                         "lab reboot`) and checks the live state after the boot")
    group.addoption("--check", action="append", default=[], metavar="ID",
                    help="run only these checks (stable ids such as "
                         "bgp.neighbors-established; shell-style patterns like 'bgp.*'; "
                         "repeat or separate with commas)")
    group.addoption("--stackproof-json", default=None, metavar="FILE",
                    help="write the run's compliance report (one record per check and "
                         "host) as JSON")
    group.addoption("--lock-wait", type=float, default=120.0, metavar="SECONDS",
                    help="how long a remediation waits for another run's lock on its host "
                         "(default 120)")
    group.addoption("--run-label", default=None, metavar="NAME",
                    help="label every result `run=NAME` in Allure (e.g. acceptance, "
                         "remediation): a report of several runs shows each as its own "
                         "environment instead of retries")
    group.addoption("--fact-workers", type=int, default=None, metavar="N",
                    help="read a scenario's facts on its other hosts in a pool of N threads "
                         "while the scenarios go on (default 16; 0: one host after another)")
    group.addoption("--node", default=None, metavar="NAME",
                    help="the Kubernetes node the maintenance scenarios act on "
                         "(with -m maintenance)")


def pytest_configure(config):
    config.addinivalue_line("markers", "role(selector): run once per inventory host selected")
    config.addinivalue_line("markers", "maintenance: operator-driven maintenance scenarios "
                                       "(deselected unless -m selects them)")
    config.addinivalue_line("markers", "check(id): the scenario's stable check id")
    config.addinivalue_line("markers", "needs(section): skip unless the inventory has that "
                                       "section (openstack, kubernetes, time)")
    from stackproof.redact import install_log_redaction
    install_log_redaction()
    config.stash[STARTED_KEY] = time.monotonic()
    path = config.getoption("--inventory")
    if path:
        try:
            config.stash[SITE_KEY] = load_site(path)
        except InventoryError as exc:
            raise pytest.UsageError(str(exc)) from None
    if config.getoption(REBOOT_CHECK_OPTION):
        from pathlib import Path
        if not path or not (Path(path).resolve().parent / "state.json").is_file():
            raise pytest.UsageError(f"{REBOOT_CHECK_OPTION} reboots lab hosts: pass a lab "
                                    "inventory (the inventory.yml that `stackproof lab up` "
                                    "writes next to its state.json)")


def _feature_file(item) -> str:
    from pytest_bdd.scenario import scenario_wrapper_template_registry as registry
    template = registry.get(getattr(item, "obj", None))
    return template.feature.filename if template is not None else ""


def pytest_collection_modifyitems(config, items):
    _skip_absent_layers(config, items)
    # features run in the runbook's layer order (their file names start with it): a fix in a
    # lower layer lands before the layers above it are checked
    items.sort(key=_feature_file)
    wanted = [p.strip() for arg in config.getoption("--check") for p in arg.split(",")
              if p.strip()]
    selects_maintenance = _selects_maintenance(config.getoption("-m") or "")
    keep, drop = [], []
    for item in items:
        # maintenance scenarios change the site on purpose: only when -m selects them
        skip = item.get_closest_marker("maintenance") is not None and not selects_maintenance
        if wanted and not skip:
            cid = (item.get_closest_marker("check") or pytest.mark.check("").mark).args[0]
            skip = not any(fnmatch.fnmatchcase(cid, pattern) for pattern in wanted)
        (drop if skip else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _selects_maintenance(markexpr: str) -> bool:
    """True when the -m expression selects the maintenance scenarios on purpose: it holds
    for a scenario marked `maintenance` and not for one without it (pytest's expression
    language, so `-m maintenance` and `-m "maintenance and not kubernetes"` do, and a
    mere `-m "not kubernetes"` does not)."""
    if not markexpr.strip():
        return False
    from _pytest.mark.expression import Expression
    try:
        expr = Expression.compile(markexpr)
    except Exception:       # pytest reports a bad -m itself
        return False
    return (expr.evaluate(lambda name, **kw: name == "maintenance")
            and not expr.evaluate(lambda name, **kw: False))


def _skip_absent_layers(config, items) -> None:
    """A scenario of a layer the inventory does not have skips, saying which section is
    missing (ahead of any other skip mark, so that reason is the one shown)."""
    site = config.stash.get(SITE_KEY, None)
    if site is None:
        return
    for item in items:
        for marker in item.iter_markers("needs"):
            try:
                reason = section_missing(site, marker.args[0])
            except ValueError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason), append=False)
                break


def pytest_bdd_apply_tag(tag, function):
    if tag.startswith("check:"):
        pytest.mark.check(tag.split(":", 1)[1])(function)
        return True
    if tag.startswith("needs:"):
        pytest.mark.needs(tag.split(":", 1)[1])(function)
        return True
    if tag.startswith("role:"):
        selector = tag.split(":", 1)[1]
        function = pytest.mark.role(selector)(function)
        pytest.mark.usefixtures("target")(function)
        return True
    return None


def pytest_generate_tests(metafunc):
    if "target" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("role")
    if marker is None:
        return
    site = metafunc.config.stash.get(SITE_KEY, None)
    if site is None:
        raise pytest.UsageError("the features need a site: pass --inventory FILE "
                                "(or set STACKPROOF_INVENTORY)")
    try:
        hosts = select_hosts(site, marker.args[0])
    except ValueError as exc:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: {exc}") from None
    if not hosts:
        # one skipped case that says why, instead of pytest's "got empty parameter set"
        reason = no_target_reason(site, marker.args[0])
        metafunc.parametrize("target", [pytest.param(None, marks=pytest.mark.skip(
            reason=reason), id="no-host")], scope="function")
        return
    metafunc.parametrize("target", hosts, ids=hosts, scope="function")


def scenario_of(item) -> str:
    """A scenario's key: its node id without the host parameter."""
    return item.nodeid.split("[", 1)[0]


def pytest_collection_finish(session):
    # each scenario's hosts in run order: the fact prefetch reads ahead along them
    hosts_of: dict[str, list[str]] = {}
    for item in session.items:
        target = getattr(item, "callspec", None) and item.callspec.params.get("target")
        if target:
            hosts_of.setdefault(scenario_of(item), []).append(target)
    session.config.stash[HOSTS_OF_KEY] = hosts_of


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    prefetcher = item.config.stash.get(PREFETCH_KEY, None)
    target = getattr(item, "callspec", None) and item.callspec.params.get("target")
    token = prefetcher.start(scenario_of(item), target) if prefetcher and target else None
    try:
        yield
    finally:
        if token is not None:
            prefetcher.finish(scenario_of(item), token)


def pytest_runtest_setup(item):
    remedy = item.config.stash.get(REMEDY_KEY, None)
    if remedy is not None:
        from stackproof.outcome import check_id, target_of
        remedy.current_nodeid = item.nodeid
        # what a fixed cause is recorded under, and what a symptom's `caused_by` names
        remedy.current_check, remedy.current_target = check_id(item), target_of(item)


def pytest_terminal_summary(terminalreporter, config):
    remedy = config.stash.get(REMEDY_KEY, None)
    if remedy is None:
        return
    from stackproof.redact import redact
    # every line of this summary goes through redact: a remediation's detail may quote a
    # command or a file line that holds a secret
    tr = terminalreporter

    def section(title: str) -> None:
        tr.section(redact(title))

    def line(text: str) -> None:
        for part in redact(text).splitlines() or [""]:
            tr.write_line(part)

    if remedy.outcomes:
        section("stackproof remediations")
        cleared = [o for o in remedy.outcomes if o.status == "cleared"]
        for o in remedy.outcomes:
            if o.status == "cleared":      # no remediation ran: the check id, and its cause
                c = o.cleared_after
                line(f"{'CLEARED':<10} {o.check or '?':<24} {o.finding.host:<18} "
                     f"after {c.check} on {c.host}")
                continue
            line(f"{o.status.upper():<10} {o.finding.remediation:<24} "
                 f"{o.finding.host:<18} {o.detail}")
            if o.plan is not None and o.status in ("planned", "refused"):
                # the operator decides from the plan itself: show it (redacted whole first,
                # so a secret spanning lines, a PEM block, is seen as one)
                for plan_line in redact(o.plan.render()).splitlines():
                    line(f"    {plan_line}")
        if cleared:
            line(f"{len(cleared)} symptom{'s' if len(cleared) != 1 else ''} cleared on "
                 f"{'their' if len(cleared) != 1 else 'its'} own")
    backups = [(o, b) for o in remedy.outcomes for b in getattr(o, "backups", ())]
    if backups:
        # one line per remediation above; the files it replaced, kept per run, here
        section("stackproof backups")
        for o, b in backups:
            line(f"{o.finding.remediation:<24} {b}")
    counts = remedy.fleet.counts()
    if counts:
        section("stackproof remote commands per host")
        for host, n in sorted(counts.items()):
            line(f"{host:<24} {n}")
        elapsed = time.monotonic() - config.stash[STARTED_KEY]
        line(f"total {sum(counts.values())} commands, {elapsed:.1f} s")
        prefetcher = config.stash.get(PREFETCH_KEY, None)
        if prefetcher is not None and prefetcher.workers:
            line(f"{prefetcher.prefetched} fact reads ahead of their scenarios, in a pool "
                 f"of {prefetcher.workers} (--fact-workers)")
