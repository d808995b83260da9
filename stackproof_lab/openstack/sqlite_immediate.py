"""Make oslo.db's SQLite transactions take the write lock when they begin.

Imported (with the OpenStack venv's python) by serve.py for Keystone, neutron-api, nova-api,
Glance and Placement, and by nova_compute.py, before the service loads. Several processes (or
threads) write one SQLite file in the lab (neutron-api and the nodes' agent heartbeats;
nova-api and the nodes' nova-compute; placement's allocations and the computes' inventories;
Keystone's user.last_active_at on tokens asked for at once).
oslo.db emits a plain deferred `BEGIN`: a transaction that has read and then writes cannot
upgrade its lock once another process committed, and fails at once with "database is
locked" (an HTTP 500 from the API). `BEGIN IMMEDIATE` takes the write lock up front, so
writers queue behind SQLite's busy timeout instead. Production runs MySQL/PostgreSQL, where
none of this applies.
"""
from __future__ import annotations

import sqlite3
import types

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_MS = 30000


def install() -> None:
    from oslo_db.sqlalchemy import engines
    if getattr(engines.sqlalchemy, "_stackproof_immediate", False):
        return
    proxy = types.ModuleType("sqlalchemy")
    proxy.__dict__.update(sqlalchemy.__dict__)
    proxy.text = lambda s, *a, **k: sqlalchemy.text(
        "BEGIN IMMEDIATE" if s == "BEGIN" else s, *a, **k)
    proxy._stackproof_immediate = True
    engines.sqlalchemy = proxy

    @event.listens_for(Engine, "connect")
    def _busy_timeout(dbapi_con, _record):
        if isinstance(dbapi_con, sqlite3.Connection):
            dbapi_con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
