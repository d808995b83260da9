"""The real neutron-openvswitch-agent in the lab's nodes: the default (the lab's stand-in
only with STACKPROOF_LAB_OVS_AGENT=standin).

What runs (all inside the lab's namespaces, nothing on the machine's network):
  - RabbitMQ 3.10 (Debian's rabbitmq-server) in the bus node (the OpenStack controller, as
    on the report's), listening on that node's addresses, with a user and a random password
    for this lab; `rabbitmqctl` there needs HOME=/var/lib/rabbitmq (the node's cookie);
  - neutron-rpc-server (ML2: flat, vxlan; openvswitch + l2population; one RPC worker and one
    state-report worker) in that node. With the OpenStack layer it uses the lab's Neutron
    database (the SQLite file neutron-api serves, with the lab's BEGIN IMMEDIATE fix), so
    the agents' reports are what the API shows; without it, its own SQLite file;
  - on every ovs_agent node: /etc/neutron/neutron.conf (transport_url, report_interval) and
    the real agent from the OpenStack venv, started by the node's init script. `sudo` is a
    shim that just runs its command (the node runs as root): privsep starts through it.

Why the agents were dead before (issue 15): the RPC server kept its own database, the API's
agent rows were the lab's stand-in rows, stamped by heartbeat.py, which matched processes by
argv and missed the real agent (its process title replaces argv), so only the first row
ever arrived. The server's `Possible hang: wait is waiting for stop to complete` warning is
oslo.messaging's note about a server waited on before stop; it serves regardless.

Seen with neutron 29.0.0 here: an agent with l2_population=True creates tunnel ports only
from fdb entries (networks with ACTIVE ports on both ends), never from tunnel_sync; a
local_ip the node lacks makes the agent exit ("Tunneling can't be enabled with invalid
local_ip"); an RPC call sent before the server consumes q-plugin is lost (the agent waits
out rpc_response_timeout), hence the wait for the q-plugin and q-reports-plugin consumers
before any agent starts; a deleted tunnel port stays deleted until the agent restarts.
Cost (this 2-core machine): ~160 MB RSS per agent plus ~165 MB for its privsep helpers,
RabbitMQ ~130 MB, the RPC server ~460 MB (master + 2 workers).
"""
from __future__ import annotations

import os
import secrets
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stackproof_lab.shell import NsShell
from stackproof_lab.templates.neutron import AGENT_INI, AGENT_SERVICE
from stackproof.site import Site

ENV = "STACKPROOF_LAB_OVS_AGENT"
RABBIT_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
NEUTRON_CONF = "/etc/neutron/neutron.conf"
SERVER_DIR = "/var/lib/neutron/server"
SHIM_DIR = "/var/lib/neutron/shim"     # `sudo` for the agent; not the stand-in's bin dir
RABBIT_USER = "neutron"
AGENT_TIMEOUT = 180.0           # the agent's start waits for the RPC server's answer
SERVER_TIMEOUT = 120.0


STANDIN = "standin"


def wanted() -> bool:
    """The real agent unless the stand-in is asked for explicitly (STACKPROOF_LAB_OVS_AGENT=
    standin: tests that need speed)."""
    return os.environ.get(ENV, "").strip().lower() != STANDIN


def venv() -> Path:
    try:
        from stackproof_lab.openstack.layout import venv as openstack_venv
        return openstack_venv()
    except ImportError:
        return Path("/opt/stackproof-openstack")


def missing() -> list[str]:
    """What the real agent needs that this machine lacks (empty: it can run)."""
    out = []
    for b in ("neutron-openvswitch-agent", "neutron-rpc-server", "privsep-helper"):
        if not (venv() / "bin" / b).exists():
            out.append(f"{venv()}/bin/{b} (scripts/install-openstack.sh)")
    if not Path(RABBIT_SERVER).exists():
        out.append("rabbitmq-server (apt-get install rabbitmq-server)")
    return out


def bus_host(site: Site) -> str:
    """Where RabbitMQ and the RPC server run: the OpenStack controller, as on the report's
    (else the network node, else the first overlay node)."""
    ovs = site.with_role("ovs_agent")
    for role in ("openstack_controller", "network_node"):
        for h in site.with_role(role):
            return h
    return ovs[0]


# --- the message bus and the RPC server ----------------------------------------------------
RABBIT_ENV = "HOME=/var/lib/rabbitmq RABBITMQ_NODENAME=rabbit@localhost ERL_EPMD_ADDRESS=127.0.0.1"


def as_rabbit(cmd: str) -> str:
    """`cmd` as the rabbitmq user with the node's HOME (its Erlang cookie) and node name."""
    return f"su rabbitmq -s /bin/sh -c {shlex.quote(RABBIT_ENV + ' ' + cmd)}"


def rabbitmqctl(shell: NsShell, args: str, check: bool = False):
    return shell.sh(as_rabbit(f"timeout 60 {RABBITMQCTL} {args}"), check=check, timeout=90)


def launch_rabbitmq(shell: NsShell) -> None:
    """Start RabbitMQ as its own user in the node and return at once (Erlang boots in
    15-40 s here: the lab starts it early and `start_rabbitmq` waits)."""
    from stackproof_lab.daemons.ovs import require_private
    if shell.run(["pgrep", "-x", "beam.smp"], check=False).returncode == 0:
        return
    for d in ("/var/lib/rabbitmq", "/var/log/rabbitmq"):
        shell.run(["mkdir", "-p", d])
        require_private(shell, d)
    shell.sh("chown rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq && cd /var/lib/rabbitmq"
             f" && setsid {as_rabbit(RABBIT_SERVER)} >/var/log/rabbitmq/lab-startup.log 2>&1 "
             "</dev/null &")


def start_rabbitmq(shell: NsShell, password: str) -> None:
    """RabbitMQ serving, with the lab's user; `await_startup` returns once it serves."""
    from stackproof_lab.daemons.ovs import wait_until
    launch_rabbitmq(shell)
    # await_startup answers "not running at all" until the node has registered: poll it
    wait_until(lambda: shell.sh(as_rabbit(f"timeout 30 {RABBITMQCTL} await_startup")
                                + " >/dev/null 2>&1", check=False).returncode == 0,
               SERVER_TIMEOUT, f"[{shell.name}] RabbitMQ to start", interval=1.0,
               describe=lambda: shell.sh("tail -n 5 /var/log/rabbitmq/lab-startup.log",
                                         check=False).stdout)
    # the password stays inside the node's argv, never in a log
    q = shlex.quote
    shell.sh(as_rabbit(f"{RABBITMQCTL} add_user {RABBIT_USER} {q(password)}") + " >/dev/null")
    shell.sh(as_rabbit(f"{RABBITMQCTL} set_permissions {RABBIT_USER} '.*' '.*' '.*'")
             + " >/dev/null")


def consumers(shell: NsShell) -> dict[str, int]:
    """queue -> consumer count, as RabbitMQ lists them."""
    out = {}
    for line in rabbitmqctl(shell, "-q list_queues name consumers").stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


# Agents report every REPORT_INTERVAL s; Neutron calls an agent dead after AGENT_DOWN_TIME
# without one (the lab's OpenStack layer uses the same value in neutron-api). Shorter than
# production (30/75) so fault tests see a dead agent quickly; 2x margin per Neutron's advice.
REPORT_INTERVAL = 2
AGENT_DOWN_TIME = 10


def server_conf(transport_url: str, db_url: str = f"sqlite:///{SERVER_DIR}/neutron.sqlite",
                ) -> str:
    """The RPC server's settings: the bus, one RPC worker and one state-report worker (the
    reports never queue behind port RPCs)."""
    return f"""[DEFAULT]
core_plugin = ml2
service_plugins = router
transport_url = {transport_url}
auth_strategy = noauth
state_path = {SERVER_DIR}
rpc_workers = 1
rpc_state_report_workers = 1
agent_down_time = {AGENT_DOWN_TIME}
enable_traditional_dhcp = false
[database]
connection = {db_url}
[oslo_concurrency]
lock_path = /var/lib/neutron/lock
"""


def ml2_conf(site: Site) -> str:
    types = ",".join(dict.fromkeys(["flat", *site.overlay.tunnel_types]))
    return f"""[ml2]
type_drivers = {types}
tenant_network_types = {site.overlay.tunnel_types[0]}
mechanism_drivers = openvswitch,l2population
extension_drivers = port_security
[ml2_type_{site.overlay.tunnel_types[0]}]
vni_ranges = 1:1000
[ml2_type_flat]
flat_networks = *
"""


# neutron-rpc-server with the lab's SQLite write-lock fix (openstack/sqlite_immediate.py):
# the RPC server shares the lab's Neutron database with neutron-api
RPC_LAUNCHER = """import sys
sys.path.insert(0, {here!r})
import sqlite_immediate
sqlite_immediate.install()
sys.argv[0] = "neutron-rpc-server"
from neutron.cmd.server import main_rpc
sys.exit(main_rpc())
"""


def start_rpc_server(shell: NsShell, site: Site, transport_url: str,
                     db_url: str | None = None) -> None:
    """neutron-rpc-server in the bus node. With `db_url` (the lab's Neutron database, which
    neutron-api serves) the agents' reports reach the API: one Neutron, as in production.
    Without it (a site with no OpenStack layer) the server keeps its own SQLite file."""
    from stackproof_lab.daemons.ovs import wait_until, write_file
    py = str(venv() / "bin" / "python")
    shell.run(["mkdir", "-p", SERVER_DIR, "/var/lib/neutron/lock", "/var/log/neutron"])
    own_db = db_url is None
    db_url = db_url or f"sqlite:///{SERVER_DIR}/neutron.sqlite"
    write_file(shell, f"{SERVER_DIR}/neutron.conf", server_conf(transport_url, db_url),
               mode=0o600)
    write_file(shell, f"{SERVER_DIR}/ml2_conf.ini", ml2_conf(site), mode=0o600)
    # the launcher and its module in the node's own files (a checkout under /root is
    # hidden in the hosts: see stackproof_lab/openstack/programs.py)
    from stackproof_lab.openstack import programs
    write_file(shell, f"{SERVER_DIR}/sqlite_immediate.py",
               programs.source("sqlite_immediate.py"))
    write_file(shell, f"{SERVER_DIR}/rpc_server.py", RPC_LAUNCHER.format(here=SERVER_DIR))
    if own_db:
        db = db_url.removeprefix("sqlite:///")
        # SQLite: create the tables from the models (the migrations ALTER constraints)
        shell.sh(f"[ -e {db} ] || {shlex.quote(py)} -c 'import sqlalchemy; from "
                 f"neutron.db.migration.models import head; head.get_metadata().create_all("
                 f"sqlalchemy.create_engine(\"sqlite:///{db}\"))' 2>/dev/null", timeout=120)
    server = shlex.join([py, f"{SERVER_DIR}/rpc_server.py", "--config-file",
                         f"{SERVER_DIR}/neutron.conf", "--config-file",
                         f"{SERVER_DIR}/ml2_conf.ini"])
    shell.sh(f"cd / && setsid {server} >>/var/log/neutron/rpc-server.log 2>&1 </dev/null &")
    # serving once the plugin and report topics have consumers (a call sent before is lost)
    wait_until(lambda: {"q-plugin", "q-reports-plugin"} <= set(consumers(shell)),
               SERVER_TIMEOUT, f"[{shell.name}] neutron-rpc-server to consume q-plugin and "
               f"q-reports-plugin", interval=2.0,
               describe=lambda: shell.sh("tail -n 5 /var/log/neutron/rpc-server.log",
                                         check=False).stdout)


# --- the agents ----------------------------------------------------------------------------
# An agent whose first call goes out while the bus node's RPC server is still starting (a
# reboot of the hypervisor under both) asks again after this long; oslo's default is 60 s
# (neutron-lib doubles it for a method that timed out).
AGENT_RPC_TIMEOUT = 15


def agent_conf(host: str, transport_url: str) -> str:
    return f"""[DEFAULT]
transport_url = {transport_url}
host = {host}
rpc_response_timeout = {AGENT_RPC_TIMEOUT}
state_path = /var/lib/neutron
[agent]
report_interval = {REPORT_INTERVAL}
[oslo_concurrency]
lock_path = /var/lib/neutron/lock
"""


SUDO_SHIM = "#!/bin/sh\n# stackproof lab: the node runs as root; sudo just runs the command\nexec \"$@\"\n"


def use_real_agent(shell: NsShell, site: Site, host: str, transport_url: str) -> str:
    """Switch the node's init script to the real agent and start it on a fresh tunnel bridge
    (the agent builds br-tun and its tunnels itself). Returns "" or why it did not start."""
    from stackproof_lab.daemons import ovs as labovs
    labovs.agent_service(shell, "stop", check=False)
    shell.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br",
               site.overlay.tunnel_bridge])
    labovs.write_file(shell, NEUTRON_CONF, agent_conf(host, transport_url), mode=0o600)
    shell.run(["mkdir", "-p", SHIM_DIR, "/var/lib/neutron/lock"])
    labovs.write_file(shell, f"{SHIM_DIR}/sudo", SUDO_SHIM, mode=0o755)
    command = [str(venv() / "bin" / AGENT_SERVICE), "--config-file", NEUTRON_CONF,
               "--config-file", AGENT_INI]
    path = f"{SHIM_DIR}:{venv() / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"
    labovs.write_file(shell, labovs.INIT_SCRIPT,
                      labovs.init_script(command, AGENT_TIMEOUT, {"PATH": path}), mode=0o755)
    res = labovs.agent_service(shell, "start", check=False)
    return "" if res.returncode == 0 else (res.stderr or res.stdout).strip()[-500:]


def start_real(lab, site: Site, db_url: str | None = None) -> dict[str, str]:
    """RabbitMQ + neutron-rpc-server in the bus node, the real agent on every ovs_agent
    node (in parallel). Returns host -> "" (initialized) or why not (the agent keeps
    retrying, as a real one does). Raises if the machine lacks a piece (see missing())."""
    gaps = missing()
    if gaps:
        raise RuntimeError("the real OVS agent needs: " + "; ".join(gaps))
    from stackproof_lab.openstack.nodes import hide_machine_config
    for h in {bus_host(site), *site.with_role("ovs_agent")}:
        hide_machine_config(lab.shell(h))   # oslo.config would read the machine's leftovers
    bus = bus_host(site)
    password = secrets.token_hex(12)
    shell = lab.shell(bus)
    start_rabbitmq(shell, password)
    local = transport_url(password, "127.0.0.1")
    start_rpc_server(shell, site, local, db_url)
    remote = transport_url(password, str(site.address_of(bus)))
    hosts = site.with_role("ovs_agent")
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        futures = {h: pool.submit(use_real_agent, lab.shell(h), site, h,
                                  local if h == bus else remote) for h in hosts}
    return {h: f.result() for h, f in futures.items()}


def transport_url(password: str, address: str) -> str:
    return f"rabbit://{RABBIT_USER}:{password}@{address}:5672/"
