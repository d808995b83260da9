"""Allure helpers for steps and the remediation engine, and the pytest plugin that makes the
whole Allure output go through `stackproof.redact`.

Helpers (no-ops when Allure is not active, i.e. no `--alluredir`; never an error):

    attach_text(name, text)          text/plain attachment, redacted
    attach_json(name, obj)           application/json attachment, redact_obj + redact
    label_target(host_name, node=None)   custom label `target` (Allure fills `host` itself)
    step(title)                      context manager: a nested Allure step
    mark_remediated(remediation_id, detail="")   tag `remediated` + label `remediation`
                                     + a step "remediated by <id>: <detail>"
    mark_cleared(cause, detail="")   tag `cleared` + label `cleared_after=<cause>` + a step
                                     (a symptom that held once its root cause was fixed)

An attachment lands under the Allure item open at that moment: inside a pytest-bdd step
function that is the Gherkin step; in a `step()` block, that step; in `pytest_bdd_step_error`
(tryfirst) still the failing Gherkin step; in `pytest_runtest_makereport` the test result.
Outside any test (session fixtures, sessionstart) it becomes a *global* attachment.

The plugin part (register with `pytest_plugins = ["stackproof.report"]` or
`-p stackproof.report`):
- pytest_configure: `install_log_redaction()`, and swap allure's `AllureFileLogger` for
  `RedactingFileLogger`: every result/container/globals JSON and every attachment file is
  redacted as it is written. That is the one chokepoint covering what the helpers cannot:
  exception messages and tracebacks in statusDetails, the captured log/stdout/stderr
  attachments allure-pytest-bdd adds itself, raw `allure.attach` calls, step parameters.
- pytest_runtest_makereport (inner wrapper): redacts the pytest report (longrepr, captured
  sections) so the terminal, junitxml and allure's "log/stdout/stderr" see redacted text.
- pytest_bdd_before_scenario: applies `label_target` calls made during fixture setup,
  before allure-pytest-bdd had opened the scenario's test result.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import allure
import allure_commons
import pytest
from allure_commons import hookimpl
from allure_commons.logger import AllureFileLogger
from allure_pytest_bdd.pytest_bdd_listener import PytestBDDListener
from attr import asdict

from stackproof.redact import MASK, install_log_redaction, is_secret_key, redact, redact_obj

__all__ = ["TARGET_LABEL", "REMEDIATION_LABEL", "REMEDIATED_TAG", "allure_active",
           "attach_text", "attach_json", "attach_svg", "label_target", "label_check", "label_cause", "label_run", "step", "mark_remediated",
           "mark_cleared", "CLEARED_TAG", "CLEARED_LABEL",
           "RedactingFileLogger"]

TARGET_LABEL = "target"          # not `host`: allure-pytest-bdd sets host = runner's name
REMEDIATION_LABEL = "remediation"
CHECK_LABEL = "check"
FINDING_LABEL = "finding"        # root-cause | symptom
ROOT_CAUSE_LABEL = "root_cause"   # "<check id> @ <host>": one Allure category per root cause
RUN_LABEL = "run"                # --run-label: acceptance, remediation, ...            # the scenario's stable check id (features: @check:<id>)
REMEDIATED_TAG = "remediated"
CLEARED_TAG = "cleared"              # passed once its root cause was fixed, no fix of its own
CLEARED_LABEL = "cleared_after"      # the cause: "<check id> on <host>"

log = logging.getLogger(__name__)

# label_target() calls made before the scenario's test result exists, by pytest node id.
_pending_labels: dict[str, list[tuple[str, str]]] = {}
_plugin_configured = False


# --- where are we? ---------------------------------------------------------------------------

def _lifecycle():
    """allure-pytest-bdd's lifecycle when `--alluredir` is active, else None."""
    for plugin in allure_commons.plugin_manager.get_plugins():
        if isinstance(plugin, PytestBDDListener):
            return plugin.lifecycle
    return None


def allure_active() -> bool:
    """True when this pytest run writes Allure results (`--alluredir` given)."""
    return _lifecycle() is not None


def _current_test_result():
    lifecycle = _lifecycle()
    if lifecycle is None:
        return None
    with lifecycle.update_test_case() as result:
        return result


def _current_nodeid() -> str | None:
    current = os.environ.get("PYTEST_CURRENT_TEST")  # "path::name (setup)"
    return current.rsplit(" (", 1)[0] if current else None


# --- helpers -----------------------------------------------------------------------------

def _attach(body: str, name: str, kind: str) -> None:
    if _lifecycle() is None:
        return
    attachment_type = getattr(allure.attachment_type, kind)
    body, name = redact(body), redact(name)
    if _current_test_result() is None:
        allure.global_attach(body, name=name, attachment_type=attachment_type)
    else:
        allure.attach(body, name=name, attachment_type=attachment_type)


def attach_text(name: str, text: str) -> None:
    """Attach `text` (redacted) as text/plain to the current Allure step or test."""
    _attach(text if isinstance(text, str) else str(text), name, "TEXT")


def attach_svg(name: str, svg: str) -> None:
    """Attach an SVG picture (redacted like any text); outside a test it is a global
    attachment, shown on the report's overview."""
    _attach(svg, name, "SVG")


def _plain(obj: Any) -> Any:
    """Dataclasses and pydantic models, at any depth, as plain data: so that their
    secret-named fields get masked by key like any dict's."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _plain(dataclasses.asdict(obj))
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and not isinstance(obj, type):
        return _plain(dump(mode="json"))
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    return obj


def attach_json(name: str, obj: Any) -> None:
    """Attach `obj` as pretty JSON: secret-named keys masked (`redact_obj`), then the text
    redacted once more (covers values rendered through `str()` for unknown types)."""
    if _lifecycle() is None:
        return
    text = json.dumps(redact_obj(_plain(obj)), indent=2, ensure_ascii=False, default=str)
    _attach(text, name, "JSON")


def label_target(host_name: str, node: pytest.Item | None = None) -> None:
    """Label the current test with `target=<host_name>` (the inventory host it checks).

    Works from inside a scenario, and from a fixture's setup too: pass `node`
    (`request.node`) to set it as an `allure_label` mark that allure-pytest-bdd reads when
    the scenario starts; without `node`, the label waits for this module's
    `pytest_bdd_before_scenario` hook (the plugin must be registered)."""
    _add_label(TARGET_LABEL, str(host_name), node)


def label_run(run: str, node: pytest.Item | None = None) -> None:
    """Label the test with the run it belongs to (`--run-label`): allurerc.mjs turns the
    label into an Allure environment, so a red run and a --remediate run stay apart."""
    _add_label(RUN_LABEL, run, node)


def label_check(check_id: str, node: pytest.Item | None = None) -> None:
    """Label the current test with its stable check id (`check=bgp.neighbors-established`)."""
    _add_label(CHECK_LABEL, check_id, node)


def label_cause(is_symptom: bool, root: str | None = None) -> None:
    """Label a failing test `finding=root-cause` or `finding=symptom` (its Finding names the
    finding that explains it), so Allure can filter the causes from their symptoms; and
    `root_cause=<check id> @ <host>` (its own for a root cause, its cause's for a symptom):
    allurerc.mjs makes a category of each."""
    if _current_test_result() is not None:
        allure.dynamic.label(FINDING_LABEL, "symptom" if is_symptom else "root-cause")
        if root:
            allure.dynamic.label(ROOT_CAUSE_LABEL, root)


def _add_label(name: str, value: str, node: pytest.Item | None = None) -> None:
    if _lifecycle() is None:
        return
    if _current_test_result() is not None:
        allure.dynamic.label(name, value)
        return
    if node is not None:
        mark = allure.label(name, value)          # pytest.mark.allure_label(...) when active
        if isinstance(mark, pytest.MarkDecorator):
            node.add_marker(mark)
        return
    nodeid = _current_nodeid()
    if nodeid is None or not _plugin_configured:
        log.warning("allure label %s=%s dropped: no scenario is running and stackproof.report "
                    "is not a registered pytest plugin", name, value)
        return
    _pending_labels.setdefault(nodeid, []).append((name, value))


@contextmanager
def step(title: str) -> Iterator[None]:
    """A nested Allure step (title redacted); a plain block when Allure is off or no
    test is running."""
    if _current_test_result() is None:
        yield
        return
    with allure.step(redact(title)):
        yield


def mark_remediated(remediation_id: str, detail: str = "") -> None:
    """Make a test that passed only after a remediation stand out in Allure: tag
    `remediated` (filterable in the report), label `remediation=<id>`, and a passed step
    "remediated by <id>: <detail>" at the point in the scenario where the fix ran."""
    if _current_test_result() is None:
        return
    allure.dynamic.tag(REMEDIATED_TAG)
    allure.dynamic.label(REMEDIATION_LABEL, remediation_id)
    title = f"remediated by {remediation_id}" + (f": {detail}" if detail else "")
    with allure.step(redact(title)):
        pass


def mark_cleared(cause: str, detail: str = "") -> None:
    """Make a symptom that passed because its root cause was fixed (its own remediation
    never ran) stand out in Allure: tag `cleared`, label `cleared_after=<cause>`, and a
    passed step saying so."""
    if _current_test_result() is None:
        return
    allure.dynamic.tag(CLEARED_TAG)
    allure.dynamic.label(CLEARED_LABEL, cause)
    with allure.step(redact(detail or f"cleared on its own after {cause} was remediated")):
        pass


# --- the redacting results writer ----------------------------------------------------------

def _redact_allure_data(data: Any) -> Any:
    """redact_obj, plus parameters shaped {"name": "password", "value": ...}."""
    if isinstance(data, dict):
        if (isinstance(data.get("name"), str) and "value" in data
                and is_secret_key(data["name"]) and data["value"] not in (None, "")):
            data = {**data, "value": MASK}
        return {k: _redact_allure_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_redact_allure_data(v) for v in data]
    return redact_obj(data)


def _redact_bytes(body: bytes) -> bytes:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body          # binary (screenshots, pcaps): nothing textual to mask
    return redact(text).encode("utf-8")


class RedactingFileLogger(AllureFileLogger):
    """allure-commons' results writer with redaction on every byte it writes: result,
    container and globals JSON, and every attachment that decodes as UTF-8 text."""

    def _write(self, file_name: str, payload: bytes) -> None:
        tmp = self._report_dir / f"{file_name}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, self._report_dir / file_name)

    def _write_item(self, item: Any) -> None:
        data = _redact_allure_data(asdict(item, filter=lambda _, v: v or v is False))
        buf = io.StringIO()
        json.dump(data, buf, ensure_ascii=False,
                  indent=4 if os.environ.get("ALLURE_INDENT_OUTPUT") else None)
        self._write(item.file_pattern.format(prefix=uuid.uuid4()),
                    buf.getvalue().encode("utf-8"))

    @hookimpl
    def report_result(self, result):
        self._write_item(result)

    @hookimpl
    def report_container(self, container):
        self._write_item(container)

    @hookimpl
    def report_globals(self, globals_item):
        self._write_item(globals_item)

    @hookimpl
    def report_attached_data(self, body, file_name):
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        self._write(file_name, _redact_bytes(payload))

    @hookimpl
    def report_attached_file(self, source, file_name):
        self._write(file_name, _redact_bytes(Path(source).read_bytes()))


def _swap_file_logger(config: pytest.Config) -> None:
    """Replace the AllureFileLogger that allure-pytest-bdd registered in its own
    pytest_configure by a RedactingFileLogger writing to the same directory."""
    pm = allure_commons.plugin_manager
    for name, plugin in list(pm.list_name_plugin()):
        if type(plugin) is not AllureFileLogger:
            continue
        mine = RedactingFileLogger(plugin._report_dir, clean=False)  # already cleaned
        pm.unregister(plugin=plugin)
        pm.register(mine)

        def restore(original=plugin, original_name=name, mine=mine):
            # allure's own cleanup (it runs after this one) unregisters the original by
            # its name: put it back so that cleanup finds it.
            if pm.is_registered(mine):
                pm.unregister(plugin=mine)
            if not pm.is_registered(original):
                pm.register(original, name=original_name)

        config.add_cleanup(restore)


# --- the pytest plugin -----------------------------------------------------------------------

@pytest.hookimpl(trylast=True)   # after allure-pytest-bdd's own pytest_configure
def pytest_configure(config: pytest.Config) -> None:
    global _plugin_configured
    install_log_redaction()
    _swap_file_logger(config)
    _plugin_configured = True
    config.add_cleanup(_pending_labels.clear)


@pytest.hookimpl(trylast=True, optionalhook=True)   # after allure opened the result
def pytest_bdd_before_scenario(request, feature, scenario) -> None:
    for name, value in _pending_labels.pop(request.node.nodeid, []):
        allure.dynamic.label(name, value)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _pending_labels.pop(item.nodeid, None)   # nothing left over from a rerun


@pytest.hookimpl(wrapper=True, trylast=True)   # inner: runs before allure reads the report
def pytest_runtest_makereport(item, call):
    report = yield
    _redact_report(report)
    return report


def _redact_report(report: pytest.TestReport) -> None:
    report.sections = [(title, redact(text)) for title, text in report.sections]
    longrepr = report.longrepr
    if longrepr is None:
        pass
    elif isinstance(longrepr, str):
        report.longrepr = redact(longrepr)
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:   # skip: (path, lineno, reason)
        report.longrepr = (longrepr[0], longrepr[1], redact(str(longrepr[2])))
    else:
        text = str(longrepr)
        masked = redact(text)
        if masked != text:        # keep pytest's rich repr unless it holds a secret
            report.longrepr = masked
    if isinstance(getattr(report, "wasxfail", None), str):
        report.wasxfail = redact(report.wasxfail)
