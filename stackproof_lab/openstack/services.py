"""Keystone, neutron-api and nova-api on 127.0.0.1: databases, bootstrap, processes.

Each service is the real project's WSGI application served by gunicorn (serve.py) from the
OpenStack venv, root-side, on a free port of 127.0.0.1, recorded with `lab.record_process`
so that `lab down` stops it. Databases are SQLite files in the lab's state dir:

- the schemas come from templates.py (the projects' own migrations, run once per venv);
- Keystone: Fernet and credential keys, then the real `keystone-manage bootstrap`;
- Nova: cell0 and cell1 mapped in the API database (cell1 = the lab's nova.sqlite).
The services start side by side; then the service users, services and endpoints are
created through Keystone's API.
"""
from __future__ import annotations

import base64
import datetime
import os
import secrets
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from stackproof_lab.openstack import config, hermetic, templates
from stackproof_lab.wait import wait_until
from stackproof_lab.openstack.layout import (Layout, OpenStackLabError, Secrets, venv,
                                             venv_bin)
from stackproof.site import Site

SERVE = Path(__file__).with_name("serve.py")
READY_TIMEOUT = 90.0

CELL0_UUID = "00000000-0000-0000-0000-000000000000"


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def write_configs(site: Site, lay: Layout, sec: Secrets, servers: bool = False,
                  apis: bool = False) -> None:
    etc = str(venv() / "etc")
    _write(lay.dir("keystone") / "keystone.conf", config.keystone_conf(lay))
    _write(lay.dir("neutron") / "neutron.conf", config.neutron_conf(site, lay, sec, etc))
    _write(lay.dir("neutron") / "plugins" / "ml2" / "ml2_conf.ini", config.ml2_conf(site))
    _write(lay.dir("nova") / "nova.conf", config.nova_api_conf(site, lay, sec, etc, servers))
    if apis:
        _write(lay.dir("glance") / "glance-api.conf",
               config.glance_api_conf(site, lay, sec, etc))
        _write(lay.dir("placement") / "placement.conf", config.placement_conf(lay, sec))
    _write(lay.clouds_yaml, config.clouds_yaml(site, lay, sec))


def copy_databases(lay: Layout, apis: bool = False) -> None:
    """Schema-only databases from the venv's templates (built once: templates.py)."""
    names = ["keystone", "neutron", "nova_api", "nova", "nova_cell0"]
    names += ["glance", "placement"] if apis else []
    templates.copy_into(venv(), {f"{n}.sqlite": lay.db(n) for n in names})


def fernet_keys(repo: Path) -> None:
    """What `keystone-manage fernet_setup` / `credential_setup` write: key 0 (staged) and
    key 1 (primary), each a urlsafe-base64 32-byte Fernet key, mode 0600."""
    for n in ("0", "1"):
        _write(repo / n, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    os.chmod(repo, 0o700)


def keystone_bootstrap(site: Site, lay: Layout, sec: Secrets) -> subprocess.Popen:
    """Start the real `keystone-manage bootstrap` (admin user, project, role, region,
    identity endpoints); `wait_bootstrap` collects it."""
    conf = str(lay.dir("keystone") / "keystone.conf")
    fernet_keys(lay.dir("keystone") / "fernet-keys")
    fernet_keys(lay.dir("keystone") / "credential-keys")
    url = lay.url("keystone")
    # the password goes in through the environment, never on a command line (ps shows those)
    with open(lay.log("keystone-manage"), "ab") as out:
        return subprocess.Popen(
            hermetic_argv(lay, "keystone-bootstrap", [
                venv_bin("keystone-manage"), "--config-file", conf, "bootstrap",
                "--bootstrap-admin-url", url, "--bootstrap-public-url", url,
                "--bootstrap-internal-url", url, "--bootstrap-region-id",
                site.openstack.region]),
            stdout=out, stderr=subprocess.STDOUT, cwd="/", stdin=subprocess.DEVNULL,
            env=hermetic_env(lay, {"OS_BOOTSTRAP_PASSWORD": sec.admin}))


def wait_bootstrap(proc: subprocess.Popen, lay: Layout) -> None:
    try:
        rc = proc.wait(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise OpenStackLabError(f"keystone-manage bootstrap hung: see "
                                f"{lay.log('keystone-manage')}") from None
    if rc != 0:
        raise OpenStackLabError(f"keystone-manage bootstrap failed (rc {rc}): see "
                                f"{lay.log('keystone-manage')}")


def map_cells(lay: Layout, transport_url: str = "fake:/") -> None:
    """cell0 and cell1 in the API database, as `nova-manage cell_v2 map_cell0` and
    `create_cell` record them. cell1's bus: RabbitMQ through the bus relay when the lab
    boots servers; else `fake:/` (no RabbitMQ, and nova-api must never wait on one)."""
    now = datetime.datetime.utcnow().isoformat(sep=" ")
    with sqlite3.connect(lay.db("nova_api")) as db:
        db.execute("DELETE FROM cell_mappings")
        db.executemany(
            "INSERT INTO cell_mappings (created_at, uuid, name, transport_url, "
            "database_connection, disabled) VALUES (?, ?, ?, ?, ?, 0)",
            [(now, CELL0_UUID, "cell0", "none:/", lay.db_url("nova_cell0")),
             (now, str(uuid.uuid4()), "cell1", transport_url, lay.db_url("nova"))])


def hermetic_argv(lay: Layout, name: str, argv: list[str]) -> list[str]:
    """The machine's /etc/keystone, /etc/nova, ... hidden from this process (hermetic.py)."""
    return hermetic.command(argv, lay.root / "hermetic" / name)


def hermetic_env(lay: Layout, extra: dict[str, str] | None = None) -> dict[str, str]:
    """No OS_* from the caller; HOME in the lab (no ~/.config/openstack, no ~/.nova)."""
    return hermetic.env(lay.root / "home", extra)


def start(lab, lay: Layout, name: str, app: str, port: int, env: dict[str, str]) -> None:
    # --sqlite-immediate for every one: each has several writers (nodes write neutron's and
    # nova's databases; Keystone's threads write user.last_active_at on every token, and
    # nova-conductor and nova-scheduler asking for tokens at once gave "database is locked",
    # a 500, and a conductor that died at start: no compute ever registered)
    argv = [venv_bin("python"), str(SERVE), "--app", app, "--port", str(port), "--name", name,
            "--log", str(lay.log(name)), "--pidfile", str(lay.root / f"{name}.pid"),
            "--sqlite-immediate"]
    for k, v in env.items():
        argv += ["--env", f"{k}={v}"]
    with open(lay.log(f"{name}.out"), "ab") as out:
        proc = subprocess.Popen(hermetic_argv(lay, name, argv), stdout=out,
                                stderr=subprocess.STDOUT, env=hermetic_env(lay),
                                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
    lab.record_process(proc, f"openstack:{name}")


def wait_http(url: str, lay: Layout, name: str, timeout: float = READY_TIMEOUT) -> None:
    """Until `url` answers with any HTTP status (401 is an answer: the app is loaded)."""
    def answers() -> bool:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False
    wait_until(answers, timeout, f"{name} to answer on {url}", error=OpenStackLabError,
               describe=lambda: _tail(lay.log(name)) or _tail(lay.log(f"{name}.out")))


def _tail(path: Path, n: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


SERVICE_TYPES = {"neutron": "network", "nova": "compute", "glance": "image",
                 "placement": "placement"}


def register_services(site: Site, lay: Layout, sec: Secrets, apis: bool = False) -> None:
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
        names = ["neutron", "nova"] + (["glance", "placement"] if apis else [])
        # the `service` role marks a service user's token as a service token: Nova sends one
        # with the user's on its calls to Neutron, and keystonemiddleware requires the role
        service_role = ident.find_role("service") or ident.create_role(name="service")
        for user in names:
            u = ident.create_user(name=user, password=getattr(sec, user), domain_id="default",
                                  default_project_id=project.id)
            ident.assign_project_role_to_user(project, u, admin_role)
            ident.assign_project_role_to_user(project, u, service_role)
        for name in names:
            kind = SERVICE_TYPES[name]
            svc = ident.create_service(name=name, type=kind, enabled=True)
            for interface in ("public", "internal", "admin"):
                ident.create_endpoint(service_id=svc.id, interface=interface,
                                      url=lay.url(name), region_id=site.openstack.region)
    finally:
        conn.close()


def start_all(lab, site: Site, lay: Layout, sec: Secrets,
              servers: bool = False, apis: bool = False) -> subprocess.Popen:
    """Configs, databases (with `apis` also Glance's and Placement's, which run in the
    controller), the root-side servers and Keystone's bootstrap, all started; nothing
    waited for. `servers`: Nova on the real bus. Returns the bootstrap process (see
    `finish`)."""
    write_configs(site, lay, sec, servers, apis)
    ks_env = {"OS_KEYSTONE_CONFIG_FILES": str(lay.dir("keystone") / "keystone.conf")}
    nd = lay.dir("neutron")
    neutron_env = {"OS_NEUTRON_CONFIG_DIR": str(nd),
                   "OS_NEUTRON_CONFIG_FILES": "neutron.conf;plugins/ml2/ml2_conf.ini"}
    # nova's WSGI loader takes the first file as its paste config
    shutil.copy(venv() / "etc" / "nova" / "api-paste.ini", lay.dir("nova") / "api-paste.ini")
    nova_env = {"OS_NOVA_CONFIG_DIR": str(lay.dir("nova")),
                "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf"}
    copy_databases(lay, apis)
    map_cells(lay, config.root_transport_url(lay, sec) if servers else "fake:/")
    # the servers import for 5-15 s; Keystone's bootstrap fills its database meanwhile (the
    # Keystone app reads it per request)
    start(lab, lay, "keystone", "keystone.wsgi.api:application", lay.ports.keystone, ks_env)
    start(lab, lay, "neutron-api", "neutron.wsgi.api:application", lay.ports.neutron,
          neutron_env)
    start(lab, lay, "nova-api", "nova.wsgi.osapi_compute:application", lay.ports.nova,
          nova_env)
    if apis:        # they run in the controller (nodes.setup_node_apis)
        for d in ("images", "staging", "tasks", "cache"):
            (lay.dir("glance") / d).mkdir(parents=True, exist_ok=True)
    bootstrap = keystone_bootstrap(site, lay, sec)
    lab.record_process(bootstrap, "openstack:keystone-bootstrap")   # ended by `down` if left
    return bootstrap


NOVA_SERVICE = Path(__file__).with_name("nova_service.py")


def start_nova_service(lab, lay: Layout, name: str) -> None:
    """nova-conductor or nova-scheduler, root-side (they reach the databases, placement and
    the bus relay on 127.0.0.1), recorded so `lab down` stops them."""
    argv = [venv_bin("python"), str(NOVA_SERVICE), name, "--config-file",
            str(lay.dir("nova") / "nova.conf"), "--log-file", str(lay.log(f"nova-{name}"))]
    with open(lay.log(f"nova-{name}.out"), "ab") as out:
        proc = subprocess.Popen(hermetic_argv(lay, f"nova-{name}", argv), stdout=out,
                                stderr=subprocess.STDOUT, env=hermetic_env(lay),
                                stdin=subprocess.DEVNULL, cwd="/", start_new_session=True)
    lab.record_process(proc, f"openstack:nova-{name}")


def finish(site: Site, lay: Layout, sec: Secrets, bootstrap: subprocess.Popen,
           apis: bool = False) -> None:
    """Wait for the bootstrap and the servers; register the services in Keystone."""
    wait_bootstrap(bootstrap, lay)
    wait_http(lay.url("keystone"), lay, "keystone")
    register_services(site, lay, sec, apis)
    wait_http(lay.url("neutron") + "/v2.0/networks", lay, "neutron-api")
    wait_http(lay.url("nova"), lay, "nova-api")
    if apis:
        wait_http(lay.url("glance"), lay, "glance-api")
        wait_http(lay.url("placement"), lay, "placement-api")
