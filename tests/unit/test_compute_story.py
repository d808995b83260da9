"""When nova-compute does not register, the lab's timeout quotes the compute's and the
conductor's own last words (stackproof_lab.openstack.nodes.telling): a failed CI run keeps
nothing else. The logs are the lab's real ones (tests/data/openstack/capture_logs.py)."""
from __future__ import annotations

from pathlib import Path

from stackproof_lab.openstack.nodes import telling

LOGS = Path(__file__).resolve().parents[1] / "data" / "openstack" / "logs"


def _lines(name: str) -> list[str]:
    return (LOGS / name).read_text().splitlines()


def test_a_refused_login_is_the_last_thing_said():
    said = telling(_lines("nova-compute-login-refused.log"))
    assert "NOT_ALLOWED - access to vhost '/' refused for user 'nova'" in said[-1]


def test_the_banners_are_not_words():
    raw = _lines("nova-compute-healthy.log")
    said = telling(raw)
    assert any("Eventlet" in ln for ln in raw) and not any("Eventlet" in ln for ln in said)
    assert any("deprecated" in ln for ln in raw) and not any("deprecated" in ln for ln in said)
    assert not any(not ln.strip() for ln in said)
    assert any("nova-conductor" in ln for ln in said)     # "Timed out waiting for ..."


def test_oslo_log_lines_keep_their_level_and_message_only():
    raw = _lines("nova-conductor.log")
    said = telling(raw)
    assert "INFO Starting conductor node (version 34.0.0)" in said
    assert not any(ln.startswith("20") or "req-" in ln for ln in said)
    assert not any("stevedore" in ln for ln in said)       # an optional module it lacks
    assert all(len(ln) <= 240 for ln in said)
