"""allurerc.mjs: a red run and a --remediate run (`--run-label`) stay apart as Allure
environments instead of retries, and the categories tell remediated from root causes and
symptoms. Runs the pinned Allure 3 on synthetic results in the shape allure-pytest-bdd
writes."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (ROOT / "node_modules" / "allure").exists(),
                                reason="node_modules missing: run `npm ci` in the repo root")


def _result(d: Path, name: str, status: str, run: str, *labels: tuple[str, str]) -> None:
    u = str(uuid.uuid4())
    body = {"uuid": u, "historyId": name, "name": name, "fullName": name, "status": status,
            "start": 1, "stop": 2,
            "labels": [{"name": "run", "value": run}, *({"name": n, "value": v}
                                                         for n, v in labels)]}
    if status != "passed":
        body["statusDetails"] = {"message": f"{name}: broken"}
    (d / f"{u}-result.json").write_text(json.dumps(body))


def test_runs_are_environments_not_retries(tmp_path):
    res = tmp_path / "allure-results"
    res.mkdir()
    _result(res, "bgpd", "failed", "acceptance", ("finding", "root-cause"))
    _result(res, "session", "failed", "acceptance", ("finding", "symptom"))
    _result(res, "bgpd", "passed", "remediation", ("remediation", "frr_enable_bgpd"))
    _result(res, "session", "passed", "remediation")
    shutil.copy(ROOT / "allurerc.mjs", tmp_path / "allurerc.mjs")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    proc = subprocess.run(["npx", "--no-install", "allure", "generate", str(res), "-o",
                           str(tmp_path / "out")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stats"] == {"total": 4, "failed": 2, "passed": 2}
    assert summary["retryTests"] == []
    by_id = json.loads((tmp_path / "out" / "test-results.json").read_text())["byId"]
    envs = {(t["name"], t["status"]): t["environment"] for t in by_id.values()}
    assert envs == {("bgpd", "failed"): "1 acceptance (before)",
                    ("session", "failed"): "1 acceptance (before)",
                    ("bgpd", "passed"): "2 --remediate (after)",
                    ("session", "passed"): "2 --remediate (after)"}
