"""Run one of Nova's root-side services (nova-conductor, nova-scheduler) with the lab's
SQLite write-lock fix: they write the API and cell databases that nova-api and the other
lab processes share. Run with the OpenStack venv's python:

    python nova_service.py conductor --config-file /path/nova.conf
"""
from __future__ import annotations

import importlib
import os
import sys


def main() -> int:
    name = sys.argv[1]                      # conductor | scheduler
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    mod = importlib.import_module(f"nova.cmd.{name}")   # applies Nova's own monkey patching
    import sqlite_immediate
    sqlite_immediate.install()
    sys.argv = [f"nova-{name}", *sys.argv[2:]]
    return mod.main() or 0


if __name__ == "__main__":
    sys.exit(main())
