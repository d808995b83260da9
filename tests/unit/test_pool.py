"""The lab's bounded pool: order kept, bound kept, every call finished before an error."""
from __future__ import annotations

import threading
import time

import pytest

from stackproof_lab import pool


def test_results_in_item_order_and_bounded():
    lock, running, peak = threading.Lock(), [0], [0]

    def work(i):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02 * (5 - i % 5))
        with lock:
            running[0] -= 1
        return i * i
    assert pool.each(range(12), work, size=3) == [i * i for i in range(12)]
    assert 1 < peak[0] <= 3


def test_every_call_ends_before_the_first_error_is_raised():
    done = []

    def work(i):
        if i in (1, 3):
            raise ValueError(f"bad {i}")
        time.sleep(0.05)
        done.append(i)
    with pytest.raises(ValueError, match="bad 1") as exc:
        pool.each(range(6), work, size=4)
    assert sorted(done) == [0, 2, 4, 5]
    assert any("bad 3" in n for n in exc.value.__notes__)


def test_workers_env_override(monkeypatch):
    monkeypatch.setenv("STACKPROOF_LAB_WORKERS", "1")
    assert pool.workers(50) == 1
    monkeypatch.delenv("STACKPROOF_LAB_WORKERS")
    assert 1 <= pool.workers(50) <= pool.MAX_WORKERS
    assert pool.workers(2) <= 2
