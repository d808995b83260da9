"""Keystone, neutron-api and nova-api on 127.0.0.1: databases, bootstrap, processes.

Each service is the real project's WSGI application served by gunicorn (serve.py) from the
OpenStack venv, root-side, on a free port of 127.0.0.1, recorded with `lab.record_process`
so that `lab down` stops it. Databases are SQLite files in the lab's state dir:

- Keystone: `keystone-manage db_sync`, `fernet_setup`, `credential_setup`, `bootstrap`.
- Neutron: `neutron-db-manage upgrade heads` fails on SQLite (ALTER of constraints), so the
  tables come from the models (`neutron.db.migration.models.head.get_metadata()`) and the
  alembic version is stamped (`neutron-db-manage stamp heads`).
- Nova: `nova-manage api_db sync`, `cell_v2 map_cell0`, `cell_v2 create_cell`, `db sync`
  (cell0 and cell1 are SQLite files too).
The three chains run side by side; then the service users, services and endpoints are
created through Keystone's API.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from stackproof.lab.openstack import config
from stackproof.lab.openstack.layout import (Layout, OpenStackLabError, Secrets, venv,
                                             venv_bin)
from stackproof.site import Site

SERVE = Path(__file__).with_name("serve.py")
READY_TIMEOUT = 90.0
QUIET = {**os.environ, "PYTHONWARNINGS": "ignore"}

_NEUTRON_TABLES = ("import sys, sqlalchemy\n"
                   "from neutron.db.migration.models import head\n"
                   "head.get_metadata().create_all(sqlalchemy.create_engine(sys.argv[1]))\n")


def _run(argv: list[str], log: Path, what: str, timeout: float = 120) -> None:
    with open(log, "ab") as out:
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                              env=QUIET, cwd="/", stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise OpenStackLabError(f"{what} failed (rc {proc.returncode}): see {log}")


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def write_configs(site: Site, lay: Layout, sec: Secrets) -> None:
    etc = str(venv() / "etc")
    _write(lay.dir("keystone") / "keystone.conf", config.keystone_conf(lay))
    _write(lay.dir("neutron") / "neutron.conf", config.neutron_conf(site, lay, sec, etc))
    _write(lay.dir("neutron") / "plugins" / "ml2" / "ml2_conf.ini", config.ml2_conf(site))
    _write(lay.dir("nova") / "nova.conf", config.nova_api_conf(site, lay, sec, etc))
    _write(lay.clouds_yaml, config.clouds_yaml(site, lay, sec))


def keystone_db(site: Site, lay: Layout, sec: Secrets) -> None:
    conf = str(lay.dir("keystone") / "keystone.conf")
    log = lay.log("keystone-manage")
    km = [venv_bin("keystone-manage"), "--config-file", conf]
    _run([*km, "db_sync"], log, "keystone-manage db_sync")
    for step in ("fernet_setup", "credential_setup"):
        _run([*km, step, "--keystone-user", "root", "--keystone-group", "root"], log,
             f"keystone-manage {step}")
    url = lay.url("keystone")
    # the password goes in through the environment, never on a command line (ps shows those)
    with open(log, "ab") as out:
        proc = subprocess.run(
            [*km, "bootstrap", "--bootstrap-admin-url", url, "--bootstrap-public-url", url,
             "--bootstrap-internal-url", url, "--bootstrap-region-id", site.openstack.region],
            stdout=out, stderr=subprocess.STDOUT, env={**QUIET, "OS_BOOTSTRAP_PASSWORD":
                                                       sec.admin}, timeout=120, cwd="/")
    if proc.returncode != 0:
        raise OpenStackLabError(f"keystone-manage bootstrap failed: see {log}")


def neutron_db(lay: Layout) -> None:
    d = lay.dir("neutron")
    log = lay.log("neutron-db-manage")
    _run([venv_bin("python"), "-c", _NEUTRON_TABLES, lay.db_url("neutron")], log,
         "creating Neutron's tables from its models")
    _run([venv_bin("neutron-db-manage"), "--config-file", str(d / "neutron.conf"),
          "--config-file", str(d / "plugins" / "ml2" / "ml2_conf.ini"), "stamp", "heads"],
         log, "neutron-db-manage stamp heads")


def nova_db(lay: Layout) -> None:
    nm = [venv_bin("nova-manage"), "--config-file", str(lay.dir("nova") / "nova.conf")]
    log = lay.log("nova-manage")
    _run([*nm, "api_db", "sync"], log, "nova-manage api_db sync")
    _run([*nm, "cell_v2", "map_cell0", "--database_connection", lay.db_url("nova_cell0")],
         log, "nova-manage cell_v2 map_cell0")
    # cell1's bus: the lab has no RabbitMQ, and nova-api must not wait on one
    _run([*nm, "cell_v2", "create_cell", "--name", "cell1", "--transport-url", "fake:/",
          "--database_connection", lay.db_url("nova")], log, "nova-manage cell_v2 create_cell")
    _run([*nm, "db", "sync"], log, "nova-manage db sync")


def start(lab, lay: Layout, name: str, app: str, port: int, env: dict[str, str]) -> None:
    argv = [venv_bin("python"), str(SERVE), "--app", app, "--port", str(port), "--name", name,
            "--log", str(lay.log(name)), "--pidfile", str(lay.root / f"{name}.pid")]
    for k, v in env.items():
        argv += ["--env", f"{k}={v}"]
    with open(lay.log(f"{name}.out"), "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=QUIET,
                                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
    lab.record_process(proc, f"openstack:{name}")


def wait_http(url: str, lay: Layout, name: str, timeout: float = READY_TIMEOUT) -> None:
    """Until `url` answers with any HTTP status (401 is an answer: the app is loaded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            tail = _tail(lay.log(name)) or _tail(lay.log(f"{name}.out"))
            raise OpenStackLabError(f"{name} did not answer on {url} within {timeout:.0f} s: "
                                    f"{tail}")
        time.sleep(0.2)


def _tail(path: Path, n: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


def _parallel(jobs: dict[str, callable]) -> None:
    errors: dict[str, BaseException] = {}

    def run(name, fn):
        try:
            fn()
        except BaseException as exc:       # reported below, with the others
            errors[name] = exc
    threads = [threading.Thread(target=run, args=item, daemon=True) for item in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise OpenStackLabError("; ".join(f"{n}: {e}" for n, e in errors.items()))


def register_services(site: Site, lay: Layout, sec: Secrets) -> None:
    """Service project, the neutron and nova users (admin in it), the network and compute
    services with their endpoints: what an installation guide has the operator create."""
    import openstack
    conn = openstack.connect(auth_url=lay.url("keystone"), username="admin",
                             password=sec.admin, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default",
                             region_name=site.openstack.region, identity_api_version="3",
                             load_yaml_config=False, load_envvars=False)
    try:
        ident = conn.identity
        project = ident.create_project(name=config.SERVICE_PROJECT, domain_id="default",
                                       description="OpenStack services")
        admin_role = ident.find_role("admin", ignore_missing=False)
        for user, pw in (("neutron", sec.neutron), ("nova", sec.nova)):
            u = ident.create_user(name=user, password=pw, domain_id="default",
                                  default_project_id=project.id)
            ident.assign_project_role_to_user(project, u, admin_role)
        for name, kind in (("neutron", "network"), ("nova", "compute")):
            svc = ident.create_service(name=name, type=kind, enabled=True)
            for interface in ("public", "internal", "admin"):
                ident.create_endpoint(service_id=svc.id, interface=interface,
                                      url=lay.url(name), region_id=site.openstack.region)
    finally:
        conn.close()


def bring_up(lab, site: Site, lay: Layout, sec: Secrets) -> dict[str, float]:
    """Databases, processes, registration. Returns timings (seconds) per phase."""
    t: dict[str, float] = {}
    t0 = time.monotonic()
    write_configs(site, lay, sec)
    ks_env = {"OS_KEYSTONE_CONFIG_FILES": str(lay.dir("keystone") / "keystone.conf")}
    nd = lay.dir("neutron")
    neutron_env = {"OS_NEUTRON_CONFIG_DIR": str(nd),
                   "OS_NEUTRON_CONFIG_FILES": "neutron.conf;plugins/ml2/ml2_conf.ini"}
    nova_env = {"OS_NOVA_CONFIG_DIR": str(lay.dir("nova")), "OS_NOVA_CONFIG_FILES": "nova.conf"}

    def keystone():
        keystone_db(site, lay, sec)
        start(lab, lay, "keystone", "keystone.wsgi.api:application", lay.ports.keystone, ks_env)

    def neutron():
        neutron_db(lay)
        start(lab, lay, "neutron-api", "neutron.wsgi.api:application", lay.ports.neutron,
              neutron_env)

    def nova():
        nova_db(lay)
        start(lab, lay, "nova-api", "nova.wsgi.osapi_compute:application", lay.ports.nova,
              nova_env)
    _parallel({"keystone": keystone, "neutron": neutron, "nova": nova})
    t["databases"] = time.monotonic() - t0
    wait_http(lay.url("keystone"), lay, "keystone")
    register_services(site, lay, sec)
    wait_http(lay.url("neutron") + "/v2.0/networks", lay, "neutron-api")
    wait_http(lay.url("nova"), lay, "nova-api")
    t["services"] = time.monotonic() - t0 - t["databases"]
    return t
