"""End to end: a pytest-bdd run with allure-pytest-bdd and stackproof.report writes no secret
into allure-results, whatever path it takes (attach_text, attach_json, raw allure.attach,
logging, print, a failing assertion, an exception), and the report still says what it read."""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRITEUP = Path("/work/shared/seed/scale-out-writeup.ko.txt")

FEATURE = """\
Feature: redaction in the report
  Scenario: the nova config is read and attached
    Given the nova config of the compute host
    Then the transport url is attached

  Scenario: a fact that does not hold names the url
    Given the nova config of the compute host
    Then the transport url points at the lab broker
"""

STEPS = '''\
import logging
from dataclasses import dataclass
from pathlib import Path

import allure
import pytest
from pytest_bdd import given, scenarios, then

from stackproof import report

scenarios("redaction.feature")
log = logging.getLogger("lab.compute2.nova")


@dataclass
class Broker:
    url: str
    password: str


@pytest.fixture(scope="session", autouse=True)
def lab_notes():
    # session setup: no scenario is open, so this becomes a global attachment
    report.attach_text("lab notes", Path("nova.conf.line").read_text())


@pytest.fixture(autouse=True)
def target(request):
    report.label_target("compute2")                 # setup phase: waits for the scenario
    report.label_target("compute2-node", request.node)
    return "compute2"


@given("the nova config of the compute host", target_fixture="line")
def nova_config():
    return Path("nova.conf.line").read_text().strip()


@then("the transport url is attached")
def attached(line):
    url = line.split("=", 1)[1].strip()
    report.attach_text("nova.conf", f"[DEFAULT]\\n{line}\\nmy_ip = 45.120.120.154\\n")
    broker = Broker(url=url, password=url.split(":")[2].split("@")[0])
    report.attach_json("facts read", {"transport_url": url, "brokers": [broker]})
    allure.attach(f"raw {line}", name="raw attach")       # bypasses the helpers
    log.info("nova.conf on compute2 has %s", line)
    print("stdout:", line)
    with report.step(f"compare {url}"):
        report.attach_text("inside step", url)
    report.mark_remediated("nova-transport-url", f"rewrote {url}")


@then("the transport url points at the lab broker")
def broken(line):
    url = line.split("=", 1)[1].strip()
    log.warning("about to fail on %s", url)
    assert url == "rabbit://lab", f"unexpected broker {url}"
'''

CONFTEST = 'pytest_plugins = ["stackproof.report"]\n'
INI = """\
[pytest]
bdd_features_base_dir = .
addopts = -p no:cacheprovider
log_level = INFO
log_cli = true
log_cli_level = INFO
"""


@pytest.fixture(scope="module")
def transport_url_line() -> str:
    if not WRITEUP.exists():
        pytest.skip(f"{WRITEUP} not present")
    return next(l for l in WRITEUP.read_text(encoding="utf-8").splitlines()
                if l.startswith("transport_url"))


def _project(path: Path, line: str) -> Path:
    path.mkdir()
    (path / "redaction.feature").write_text(FEATURE)
    (path / "test_redaction.py").write_text(STEPS)
    (path / "conftest.py").write_text(CONFTEST)
    (path / "pytest.ini").write_text(INI)
    (path / "nova.conf.line").write_text(line + "\n")
    return path


def _run(project: Path, *extra: str, allure: bool = True
         ) -> tuple[subprocess.CompletedProcess, Path]:
    results = project / "allure-results"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_ADDOPTS": ""}
    env.pop("PYTEST_CURRENT_TEST", None)
    # allure-pytest-bdd is auto-loaded by its pytest11 entry point; `-p allure_pytest_bdd`
    # (the entry-point name) only makes that explicit. It is active with --alluredir only.
    args = ["--alluredir", str(results), "-p", "allure_pytest_bdd"] if allure else []
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, *extra],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    return proc, results


def _files_with(results: Path, needle: str) -> list[str]:
    return sorted(p.name for p in results.iterdir() if needle.encode() in p.read_bytes())


@pytest.fixture(scope="module")
def redacted_run(tmp_path_factory, transport_url_line):
    project = _project(tmp_path_factory.mktemp("bdd") / "proj", transport_url_line)
    proc, results = _run(project)
    assert proc.returncode == 1, proc.stdout + proc.stderr      # one scenario fails on purpose
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout
    assert proc.stderr == ""          # no error from the logger swap or its cleanup
    return proc, results


def _secret(line: str) -> str:
    return urlsplit(line.split("=", 1)[1].strip()).password


def test_no_file_in_allure_results_holds_the_secret(redacted_run, transport_url_line):
    proc, results = redacted_run
    files = list(results.iterdir())
    assert len(files) >= 8, [p.name for p in files]
    assert _files_with(results, _secret(transport_url_line)) == []


def test_terminal_and_live_log_hold_no_secret(redacted_run, transport_url_line):
    proc, _ = redacted_run
    assert _secret(transport_url_line) not in proc.stdout + proc.stderr
    assert "rabbit://openstack:***@controller:5672/" in proc.stdout   # live log + failure


def test_redacted_forms_are_reported(redacted_run, transport_url_line):
    proc, results = redacted_run
    redacted_line = transport_url_line.replace(_secret(transport_url_line), "***")
    kept = _files_with(results, "rabbit://openstack:***@controller:5672/")
    by_kind = {name.rsplit("-", 1)[1] for name in kept}
    # attachments (txt/json/attach) and the failing result's statusDetails
    assert {"attachment.txt", "attachment.json", "attachment.attach", "result.json"} <= by_kind
    texts = [p.read_text() for p in results.iterdir() if p.name.endswith("attachment.txt")]
    assert any(f"[DEFAULT]\n{redacted_line}\n" in t for t in texts)
    facts = [json.loads(p.read_text()) for p in results.glob("*-attachment.json")]
    assert facts == [{"transport_url": "rabbit://openstack:***@controller:5672/",
                      "brokers": [{"url": "rabbit://openstack:***@controller:5672/",
                                   "password": "***"}]}]


def _results(results: Path) -> dict[str, dict]:
    out = {}
    for p in results.glob("*-result.json"):
        data = json.loads(p.read_text())
        out[data["name"]] = data
    return out


def test_results_carry_steps_labels_and_attachments(redacted_run):
    _, results = redacted_run
    by_name = _results(results)
    ok = by_name["the nova config is read and attached"]
    bad = by_name["a fact that does not hold names the url"]
    assert ok["status"] == "passed" and bad["status"] == "failed"
    assert [s["name"] for s in ok["steps"]] == ["Given the nova config of the compute host",
                                                "Then the transport url is attached"]
    labels = {(l["name"], l["value"]) for l in ok["labels"]}
    assert {("target", "compute2"), ("target", "compute2-node"), ("tag", "remediated"),
            ("remediation", "nova-transport-url")} <= labels
    then_step = ok["steps"][1]
    names = [a["name"] for a in then_step.get("attachments", [])]
    assert names == ["nova.conf", "facts read", "raw attach"]
    inner = [s["name"] for s in then_step["steps"]]
    assert inner[0] == "compare rabbit://openstack:***@controller:5672/"
    assert inner[1].startswith("remediated by nova-transport-url: rewrote rabbit://openstack:***@")
    assert then_step["steps"][0]["attachments"][0]["name"] == "inside step"
    test_level = {a["name"] for a in ok.get("attachments", [])}
    assert {"log", "stdout"} <= test_level
    assert "unexpected broker rabbit://openstack:***@controller:5672/" in \
        bad["statusDetails"]["message"]
    globals_ = [json.loads(p.read_text()) for p in results.glob("*-globals.json")]
    assert [a["name"] for g in globals_ for a in g.get("attachments", [])] == ["lab notes"]


def test_helpers_are_noops_without_alluredir(tmp_path, transport_url_line):
    """Same project, no --alluredir: every helper and the plugin run, nothing is written,
    nothing errors, and the terminal is still redacted."""
    project = _project(tmp_path / "proj", transport_url_line)
    proc, results = _run(project, allure=False)
    assert proc.returncode == 1 and "1 failed, 1 passed" in proc.stdout, proc.stdout
    assert proc.stderr == "" and "dropped" not in proc.stdout
    assert not results.exists()
    assert _secret(transport_url_line) not in proc.stdout


def test_helpers_in_process_without_allure():
    from stackproof import report

    if report.allure_active():
        pytest.skip("this run writes Allure results itself")
    report.attach_text("x", "password = y")
    report.attach_json("y", {"password": "z"})
    report.label_target("compute2")
    with report.step("a step"):
        pass
    report.mark_remediated("some-fix", "detail")


def test_without_the_plugin_the_secret_leaks(tmp_path, transport_url_line):
    """Control: the same run with stackproof.report blocked leaks through the paths the
    helpers cannot see (raw allure.attach, assertion messages); so the scan above can fail."""
    project = _project(tmp_path / "proj", transport_url_line)
    proc, results = _run(project, "-p", "no:stackproof.report")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    leaking = _files_with(results, _secret(transport_url_line))
    assert leaking, "expected leaks without the plugin"
    assert {n.rsplit("-", 1)[1] for n in leaking} >= {"attachment.attach", "result.json"}


def _embedded(index_html: str) -> dict[str, bytes]:
    """The data files a single-file Allure 3 report embeds as d("path","base64")."""
    return {p: base64.b64decode(b)
            for p, b in re.findall(r'd\("(data/[^"]+)","([A-Za-z0-9+/=]*)"\)', index_html)}


def test_html_report_from_the_results(redacted_run, transport_url_line, tmp_path):
    """scripts/allure-report.sh with the pinned npm allure: one index.html holding the
    Gherkin steps, the attachments and the target label, and still no secret."""
    if not (ROOT / "node_modules" / ".bin" / "allure").exists():
        pytest.skip("node_modules missing: run `npm ci` in the repo root")
    _, results = redacted_run
    out = tmp_path / "report"
    proc = subprocess.run([str(ROOT / "scripts" / "allure-report.sh"), str(results), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (out / "index.html").read_text()
    assert _secret(transport_url_line) not in html
    data = _embedded(html)
    assert not [p for p, body in data.items() if _secret(transport_url_line).encode() in body]
    tests = {t["name"]: t for p, body in data.items() if p.startswith("data/test-results/")
             for t in [json.loads(body)]}
    ok = tests["the nova config is read and attached"]
    assert [s["name"] for s in ok["steps"] if s.get("type") != "attachment"] == [
        "Given the nova config of the compute host", "Then the transport url is attached"]
    assert ("target", "compute2") in {(l["name"], l.get("value")) for l in ok["labels"]}
    bodies = [body for p, body in data.items() if p.startswith("data/attachments/")]
    assert any(b"[DEFAULT]\ntransport_url = rabbit://openstack:***@controller:5672/" in b
               for b in bodies)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["name"] == "stackproof" and summary["meta"]["singleFile"] is True
    assert summary["stats"] == {"total": 2, "failed": 1, "passed": 1}


def test_report_script_fails_clearly_without_node_modules(tmp_path):
    """The script refuses, with a hint, when the pinned allure is not installed."""
    fake_root = tmp_path / "repo"
    (fake_root / "scripts").mkdir(parents=True)
    script = fake_root / "scripts" / "allure-report.sh"
    script.write_text((ROOT / "scripts" / "allure-report.sh").read_text())
    script.chmod(0o755)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x-result.json").write_text("{}")
    proc = subprocess.run([str(script), str(tmp_path / "results"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "node_modules/.bin/allure is missing; run 'npm ci'" in proc.stderr
    assert not (tmp_path / "out").exists()
