"""Schema-only SQLite databases for the lab's services, built once per installed venv.

Running the projects' migrations (keystone-manage db_sync, Neutron's model tables +
`neutron-db-manage stamp heads`, nova-manage api_db sync / db sync) takes a minute or more on
a busy 2-core machine; the result depends only on the installed versions. So they run once,
into <venv>/stackproof-db-templates/<key>/, and every lab copies the files. The key covers
the installed lock file and this module's TEMPLATE_VERSION.

Standard library only: scripts/install-openstack.sh runs it with the OpenStack venv's python
to build the templates at install time:

    /opt/stackproof-openstack/bin/python stackproof_lab/openstack/templates.py
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from stackproof_lab.openstack import hermetic
except ImportError:          # run as a script by the OpenStack venv's python
    import hermetic

TEMPLATE_VERSION = "3"
FILES = ("keystone.sqlite", "neutron.sqlite", "nova_api.sqlite", "nova.sqlite",
         "nova_cell0.sqlite", "glance.sqlite", "placement.sqlite")
_NEUTRON_TABLES = ("import sys, sqlalchemy\n"
                   "from neutron.db.migration.models import head\n"
                   "head.get_metadata().create_all(sqlalchemy.create_engine(sys.argv[1]))\n")
_REPO = Path(__file__).resolve().parents[2]


def default_venv() -> Path:
    return Path(os.environ.get("STACKPROOF_OPENSTACK_VENV") or "/opt/stackproof-openstack")


def key(venv: Path) -> str:
    stamp = venv / ".stackproof-lock.sha256"
    base = stamp.read_text().strip() if stamp.is_file() else \
        hashlib.sha256((_REPO / "requirements-openstack.lock").read_bytes()).hexdigest()
    return hashlib.sha256(f"{base}|{TEMPLATE_VERSION}".encode()).hexdigest()[:16]


def template_dir(venv: Path) -> Path:
    return venv / "stackproof-db-templates" / key(venv)


def _run(argv: list[str], log, what: str, scratch: Path) -> None:
    """One migration, blind to the machine's OpenStack configuration (hermetic.py)."""
    n = len(list(scratch.glob("run-*")))
    proc = subprocess.run(hermetic.command(argv, scratch / f"run-{n}"), stdout=log,
                          stderr=subprocess.STDOUT, cwd="/", env=hermetic.env(scratch / "home"),
                          stdin=subprocess.DEVNULL, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (rc {proc.returncode}); see the log")


def _migrate(b, url, work: Path, log, scratch: Path) -> None:
    _run([b("keystone-manage"), "--config-file", str(work / "keystone.conf"), "db_sync"],
         log, "keystone-manage db_sync", scratch)
    _run([b("python"), "-c", _NEUTRON_TABLES, url("neutron.sqlite")], log,
         "Neutron model tables", scratch)
    _run([b("neutron-db-manage"), "--config-file", str(work / "neutron.conf"), "stamp",
          "heads"], log, "neutron-db-manage stamp heads", scratch)
    nm = [b("nova-manage"), "--config-file", str(work / "nova.conf")]
    _run([*nm, "api_db", "sync"], log, "nova-manage api_db sync", scratch)
    _run([*nm, "cell_v2", "map_cell0", "--database_connection", url("nova_cell0.sqlite")],
         log, "nova-manage cell_v2 map_cell0", scratch)
    _run([*nm, "db", "sync"], log, "nova-manage db sync", scratch)
    _run([b("glance-manage"), "--config-file", str(work / "glance.conf"), "db_sync"], log,
         "glance-manage db_sync", scratch)
    _run([b("placement-manage"), "--config-file", str(work / "placement.conf"), "db", "sync"],
         log, "placement-manage db sync", scratch)


def build(venv: Path) -> Path:
    """Run every migration into a fresh directory, then move it in place atomically."""
    final = template_dir(venv)
    if all((final / f).is_file() for f in FILES):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    b = lambda name: str(venv / "bin" / name)          # noqa: E731
    url = lambda name: f"sqlite:///{work / name}"        # noqa: E731
    (work / "keystone.conf").write_text(f"[database]\nconnection = {url('keystone.sqlite')}\n")
    (work / "neutron.conf").write_text(
        f"[DEFAULT]\ncore_plugin = ml2\nservice_plugins = router\n"
        f"[database]\nconnection = {url('neutron.sqlite')}\n")
    (work / "nova.conf").write_text(
        f"[api_database]\nconnection = {url('nova_api.sqlite')}\n"
        f"[database]\nconnection = {url('nova.sqlite')}\n")
    (work / "glance.conf").write_text(f"[database]\nconnection = {url('glance.sqlite')}\n")
    (work / "placement.conf").write_text(
        f"[placement_database]\nconnection = {url('placement.sqlite')}\n")
    scratch = Path(tempfile.mkdtemp(prefix=".hermetic-", dir=final.parent))
    try:
        with open(work / "build.log", "ab") as log:
            _migrate(b, url, work, log, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # the per-lab cell mappings are made by each lab; the template keeps the schema only
    with sqlite3.connect(work / "nova_api.sqlite") as db:
        db.execute("DELETE FROM cell_mappings")
    # WAL: readers never block the writers of the other lab processes (persists in the file)
    for f in ("neutron.sqlite", "nova.sqlite", "nova_api.sqlite", "placement.sqlite",
              "glance.sqlite"):
        con = sqlite3.connect(work / f)
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
    for f in ("keystone.conf", "neutron.conf", "nova.conf", "glance.conf", "placement.conf"):
        (work / f).unlink()
    try:
        os.rename(work, final)
    except OSError:                  # another build finished first: keep that one
        shutil.rmtree(work, ignore_errors=True)
    return final


def copy_into(venv: Path, dest: dict[str, Path]) -> None:
    """Copy each template file to its lab path (`dest`: file name -> path)."""
    src = build(venv)
    for name, path in dest.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, path)
        os.chmod(path, 0o600)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else default_venv()))
