"""Shared pieces of the unit tests' fake hosts (which replay captured daemon output)."""
from __future__ import annotations

import threading

from stackproof.remote import Epoch, Remote


class ReplayCache:
    """The real Remote's fact cache, not a copy of it: fakes inherit `fact` and `invalidate`
    from `Remote` and set `self._facts = {}` in their own __init__."""
    _lock = threading.RLock()
    _generation = 0
    fact = Remote.fact
    cached = Remote.cached
    invalidate = Remote.invalidate

    @property
    def _inflight(self) -> dict:
        return self.__dict__.setdefault("_inflight_by_key", {})

    @property
    def epoch(self) -> Epoch:
        return self.__dict__.setdefault("_epoch", Epoch())


def stage_locally(step, backup_root, run_id: str = "t", seq: int = 1):
    """What the engine does before its shell runs: the new content uploaded (here: written
    locally) to the step's temp name. Returns (names, stage, commit) to run with sh."""
    import os
    from pathlib import Path

    from stackproof.remedy import write_file_commands, write_names
    names = write_names(step.path, run_id, seq, str(backup_root))
    Path(names.tmp).write_text(step.content)
    os.chmod(names.tmp, 0o600)
    stage, commit = write_file_commands(step, names)
    return names, stage, commit


class TerminalRecorder:
    """What pytest's TerminalReporter offers the summary hooks: section() and write_line()."""

    def __init__(self):
        self.lines: list[str] = []

    def section(self, title, sep="=", **kw):
        self.lines.append(f"== {title}")

    def write_line(self, line, **kw):
        self.lines.append(line)
