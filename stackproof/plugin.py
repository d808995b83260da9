"""The pytest plugin: options, the site, `@role:` tags as per-host parametrization, summary."""
from __future__ import annotations

import os
import time

import pytest

from stackproof.site import InventoryError, Site, load_site
from stackproof.targets import select_hosts

SITE_KEY = pytest.StashKey[Site]()
REMEDY_KEY = pytest.StashKey[object]()
STARTED_KEY = pytest.StashKey[float]()
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
    group.addoption("--node", default=None, metavar="NAME",
                    help="the Kubernetes node the maintenance scenarios act on "
                         "(with -m maintenance)")


def pytest_configure(config):
    config.addinivalue_line("markers", "role(selector): run once per inventory host selected")
    config.addinivalue_line("markers", "maintenance: operator-driven maintenance scenarios "
                                       "(deselected unless -m maintenance)")
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
    # features run in the runbook's layer order (their file names start with it): a fix in a
    # lower layer lands before the layers above it are checked
    items.sort(key=_feature_file)
    # maintenance scenarios change the site on purpose: only when explicitly selected
    if "maintenance" in (config.getoption("-m") or ""):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("maintenance") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_bdd_apply_tag(tag, function):
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
    metafunc.parametrize("target", hosts, ids=hosts, scope="function")


def pytest_runtest_setup(item):
    remedy = item.config.stash.get(REMEDY_KEY, None)
    if remedy is not None:
        remedy.current_nodeid = item.nodeid


def pytest_terminal_summary(terminalreporter, config):
    remedy = config.stash.get(REMEDY_KEY, None)
    if remedy is None:
        return
    tr = terminalreporter
    if remedy.outcomes:
        tr.section("stackproof remediations")
        for o in remedy.outcomes:
            tr.write_line(f"{o.status.upper():<10} {o.finding.remediation:<24} "
                          f"{o.finding.host:<18} {o.detail}")
            if o.plan is not None and o.status in ("planned", "refused"):
                # the operator decides from the plan itself: show it, redacted
                from stackproof.redact import redact
                for line in redact(o.plan.render()).splitlines():
                    tr.write_line(f"    {line}")
    counts = remedy.fleet.counts()
    if counts:
        tr.section("stackproof remote commands per host")
        for host, n in sorted(counts.items()):
            tr.write_line(f"{host:<24} {n}")
        elapsed = time.monotonic() - config.stash[STARTED_KEY]
        tr.write_line(f"total {sum(counts.values())} commands, {elapsed:.1f} s")
