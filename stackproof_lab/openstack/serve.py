"""Serve one OpenStack WSGI application on 127.0.0.1 with gunicorn (run with the OpenStack
venv's python, standard library + gunicorn only):

    python serve.py --app neutron.wsgi.api:application --port 35001 --name neutron-api \
        --env OS_NEUTRON_CONFIG_DIR=/path --log /path/neutron-api.log

Why a launcher and not the `gunicorn` command: Neutron's and Nova's WSGI entry points parse
sys.argv with oslo.config when imported, and gunicorn's own arguments would be rejected
there. Here sys.argv is reset to the program name before the application is imported.
One worker with threads: SQLite and these APIs do not need more, and it keeps memory low.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from gunicorn.app.base import BaseApplication


class _App(BaseApplication):
    def __init__(self, target: str, options: dict):
        self.target, self.options = target, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--app", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--log", required=True)
    p.add_argument("--pidfile")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--sqlite-immediate", action="store_true",
                   help="oslo.db SQLite transactions take the write lock at BEGIN")
    args = p.parse_args()
    for item in args.env:
        key, _, value = item.partition("=")
        os.environ[key] = value
    sys.argv = [args.name]
    if args.sqlite_immediate:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import sqlite_immediate
        sqlite_immediate.install()
    options = {"bind": f"127.0.0.1:{args.port}", "workers": 1, "threads": args.threads,
               "worker_class": "gthread", "timeout": 120, "graceful_timeout": 3,
               "errorlog": args.log, "accesslog": args.log, "proc_name": args.name,
               "loglevel": "info", "control_socket_disable": True}
    if args.pidfile:
        options["pidfile"] = args.pidfile
    _App(args.app, options).run()


if __name__ == "__main__":
    main()
