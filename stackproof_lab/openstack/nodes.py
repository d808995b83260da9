"""The OpenStack side of each lab node: what runs and what is configured inside the node.

- compute nodes (role nova_compute): a `nova` account, /etc/nova/nova.conf (the message
  bus URL with its password, instances_path), instances_path owned nova:nova 0755, and the
  real nova-compute (nova_compute.py, FakeDriver) under /etc/init.d/nova-compute;
- the controller (role openstack_controller): /etc/nova/nova.conf with the API and cell
  databases, so `nova-manage cell_v2 discover_hosts` runs there over SSH as on a real one;
- agents: a Neutron agent row per expected agent (Open vSwitch agent per ovs_agent node;
  DHCP, L3 and metadata agents per network_node), a stand-in process per agent under
  /etc/init.d/neutron-<agent> (the Open vSwitch agent's comes from the overlay layer when
  it installed one), and one heartbeat process per node (heartbeat.py) that keeps the rows
  of the agents running on that node fresh.

Commands an operator runs (nova-manage, nova-compute, the agents) are found in
/usr/local/sbin inside the node: the lab bind-mounts a per-node directory of wrappers there,
in the node's own mount namespace only.
"""
from __future__ import annotations

import datetime
import json
import secrets
import shlex
import sqlite3
import uuid
from pathlib import Path

from stackproof_lab.daemons.common import (DaemonError, require_private, wait_until,
                                           write_file)
from stackproof_lab.openstack import config
from stackproof_lab.openstack.layout import Layout, Secrets, venv_bin
from stackproof_lab.shell import NsShell
from stackproof.site import Site

SBIN = "/usr/local/sbin"
NOVA_USER = "nova"
OVS_AGENT = "neutron-openvswitch-agent"
# Match patterns for an agent's process: the overlay layer's stand-in runs as a module.
OVS_MATCH = [OVS_AGENT, "stackproof_lab.daemons.ovs_agent", "ovs_agent.py"]


# --- agent rows ---------------------------------------------------------------------------
def expected_agents(site: Site) -> list[dict]:
    """(agent_type, binary, topic, host, az, configurations) for every agent the site has."""
    out = []
    ext = site.openstack.external_network
    for host in site.with_role("ovs_agent"):
        cfg = {"bridge_mappings": ({ext.physical_network: site.overlay.external_bridge}
                                   if "network_node" in site.hosts[host].roles else {}),
               "tunnel_types": list(site.overlay.tunnel_types),
               "tunneling_ip": str(site.address_of(host)),
               "l2_population": host in site.overlay.l2_population,
               "integration_bridge": site.overlay.integration_bridge,
               "tunnel_bridge": site.overlay.tunnel_bridge,
               "datapath_type": "system", "ovs_hybrid_plug": False, "devices": 0}
        out.append({"agent_type": "Open vSwitch agent", "binary": OVS_AGENT, "topic": "N/A",
                    "host": host, "availability_zone": None, "configurations": cfg})
    for host in site.with_role("network_node"):
        out += [
            {"agent_type": "DHCP agent", "binary": "neutron-dhcp-agent", "topic": "dhcp_agent",
             "host": host, "availability_zone": "nova",
             "configurations": {"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq",
                                "networks": 0, "subnets": 0, "ports": 0}},
            {"agent_type": "L3 agent", "binary": "neutron-l3-agent", "topic": "l3_agent",
             "host": host, "availability_zone": "nova",
             "configurations": {"agent_mode": "legacy", "routers": 0, "ex_gw_ports": 0}},
            {"agent_type": "Metadata agent", "binary": "neutron-metadata-agent",
             "topic": "N/A", "host": host, "availability_zone": None,
             "configurations": {"metadata_proxy_socket":
                                "/var/lib/neutron/metadata_proxy"}},
        ]
    return out


def standin_agents(site: Site, real_ovs: bool) -> list[dict]:
    """The agents the lab stands in for: all but the Open vSwitch agents when the real
    neutron-openvswitch-agent runs (its own reports over RabbitMQ make and keep its row)."""
    return [a for a in expected_agents(site) if not (real_ovs and a["binary"] == OVS_AGENT)]


def insert_agents(lay: Layout, site: Site, real_ovs: bool = False) -> None:
    """Agents have no create API: a real agent appears when its first state report reaches
    neutron-server, which inserts the row. For the agents the lab stands in for, the lab
    inserts that row (heartbeat stamped now; kept fresh by the node's heartbeat process)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) \
        .isoformat(sep=" ", timespec="microseconds")
    rows = [(str(uuid.uuid4()), a["agent_type"], a["binary"], a["topic"], a["host"],
             a["availability_zone"], now, now, now, json.dumps(a["configurations"]))
            for a in standin_agents(site, real_ovs)]
    with sqlite3.connect(lay.db("neutron"), timeout=10) as db:
        db.executemany(
            "INSERT INTO agents (id, agent_type, binary, topic, host, availability_zone, "
            "admin_state_up, created_at, started_at, heartbeat_timestamp, configurations, "
            "load) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 0)", rows)


# --- files inside a node ----------------------------------------------------------------------
INIT_SCRIPT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {name} (stackproof lab)
### END INIT INFO
# Installed by the stackproof lab (the lab hosts have no systemd).
PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
PIDFILE=/run/{name}.pid
LOG=/var/log/{log_dir}/{name}.log
alive() {{ [ -r "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
do_start() {{
    alive && return 0
    mkdir -p /var/log/{log_dir}
    {command} >>"$LOG" 2>&1 </dev/null &
    echo $! > "$PIDFILE"
}}
do_stop() {{
    if alive; then
        pid=$(cat "$PIDFILE"); kill "$pid"; n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$PIDFILE"
}}
case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    restart|force-reload) do_stop; do_start ;;
    status) if alive; then echo "{name} is running"; else echo "{name} is not running"; exit 3; fi ;;
    *) echo "Usage: $0 {{start|stop|restart|force-reload|status}}" >&2; exit 2 ;;
esac
"""

# an agent stand-in: one process named after the agent that does nothing until stopped
AGENT_STANDIN = "#!/bin/bash\n# stackproof lab stand-in for {name}\nexec -a {name} sleep infinity\n"


NOVA_MANAGE = """\
#!/bin/sh
# stackproof lab: nova-manage from the lab's OpenStack venv
exec {python} -c '
import sys
sys.path.insert(0, "{here}")
sys.argv[0] = "nova-manage"
from nova.cmd import manage
import sqlite_immediate
sqlite_immediate.install()
sys.exit(manage.main())
' "$@"
"""


def init_script(name: str, command: str, log_dir: str) -> str:
    return INIT_SCRIPT.format(name=name, command=command, log_dir=log_dir)


def sbin_dir(lay: Layout, host: str) -> Path:
    return lay.node_dir(host) / "sbin"


def _wrapper(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def mount_sbin(shell: NsShell, lay: Layout, host: str) -> None:
    """Bind the node's wrapper directory over /usr/local/sbin in the node's mount namespace
    only (the machine's /usr/local/sbin is untouched)."""
    d = sbin_dir(lay, host)
    d.mkdir(parents=True, exist_ok=True)
    mounted = shell.run(["findmnt", "-n", SBIN], check=False).stdout.strip()
    if not mounted:
        shell.run(["mount", "--bind", str(d), SBIN])


def hide_machine_config(shell: NsShell) -> None:
    """A node's /etc is a copy-on-write view of the machine's: remove, in the node only, any
    OpenStack configuration the machine has (/etc/nova.conf.d, /etc/keystone, ...), which
    nova-compute's and nova-manage's oslo.config would read next to the node's own files.
    The node's private /etc/nova and /etc/neutron (mount points) stay."""
    from stackproof_lab.openstack import hermetic
    require_private(shell, "/etc")
    shell.sh(f"for p in {hermetic.glob_list()}; do "
             "if [ -e \"$p\" ] || [ -L \"$p\" ]; then "
             "mountpoint -q \"$p\" || rm -rf \"$p\"; fi; done")


def ensure_nova_user(shell: NsShell) -> None:
    require_private(shell, "/etc")          # useradd writes /etc/passwd: the node's own only
    shell.sh(f"getent passwd {NOVA_USER} >/dev/null || useradd --system --user-group "
             f"--home-dir /var/lib/nova --no-create-home --shell /usr/sbin/nologin {NOVA_USER}")


def setup_compute(shell: NsShell, site: Site, lay: Layout, sec: Secrets, host: str,
                  servers: bool = False) -> None:
    ensure_nova_user(shell)
    controller = "openstack_controller" in site.hosts[host].roles
    write_file(shell, "/etc/nova/nova.conf",
               config.node_nova_conf(site, sec, controller=controller, lay=lay),
               mode=0o640, owner=f"root:{NOVA_USER}")
    path = site.openstack.instances_path
    q = shlex.quote
    shell.sh(f"mkdir -p {q(path)} /var/lib/nova/tmp && chown {NOVA_USER}:{NOVA_USER} {q(path)} "
             f"&& chmod 755 {q(path)}")
    override = lay.node_dir(host) / "nova-compute-lab.conf"
    override.write_text(config.nova_compute_servers_conf(site, lay, sec) if servers
                        else config.nova_compute_lab_conf(lay))
    override.chmod(0o600)
    _wrapper(sbin_dir(lay, host) / "nova-compute",
             f"#!/bin/sh\n# stackproof lab: Nova's compute service with FakeDriver\n"
             f"exec {q(venv_bin('python'))} {q(str(lay.programs / 'nova_compute.py'))} "
             f"--config-file /etc/nova/nova.conf --config-file {q(str(override))} \"$@\"\n")
    write_file(shell, "/etc/init.d/nova-compute",
               init_script("nova-compute", f"{SBIN}/nova-compute", "nova"), mode=0o755)


# Glance and Placement run in the controller, as on the report's site, each under its init
# script: the product's remediation restarts them there as an operator would.
NODE_APIS = {"glance-api": ("glance.wsgi.api:application", "glance", "OS_GLANCE_CONFIG_DIR"),
             "placement-api": ("placement.wsgi.api:application", "placement",
                               "OS_PLACEMENT_CONFIG_DIR")}


def setup_node_apis(shell: NsShell, lay: Layout, host: str) -> list[str]:
    """Init scripts for Glance and Placement in the controller (serve.py on the node's
    127.0.0.1:<catalog port>; configs and databases in the lab's state dir). Returns the
    service names."""
    q = shlex.quote
    for name, (app, service, env) in NODE_APIS.items():
        port = getattr(lay.ports, service)
        # --sqlite-immediate: placement's threads write allocations and the computes'
        # inventories at once; a deferred BEGIN gave "database is locked" (HTTP 500), and
        # the scheduler then said "No valid host" (two four-host labs side by side)
        argv = [venv_bin("python"), str(lay.programs / "serve.py"), "--app", app, "--port", str(port),
                "--name", name, "--log", str(lay.log(name)), "--sqlite-immediate", "--env",
                f"{env}={lay.dir(service)}"]
        _wrapper(sbin_dir(lay, host) / name,
                 f"#!/bin/sh\n# stackproof lab: {name} (gunicorn, the project's WSGI app)\n"
                 f"cd /\nexec {' '.join(q(a) for a in argv)}\n")
        write_file(shell, f"/etc/init.d/{name}",
                   init_script(name, f"{SBIN}/{name}", service), mode=0o755)
    return list(NODE_APIS)


def restore_after_boot(shell: NsShell, lay: Layout) -> list[str]:
    """At a node's boot: its relays (relay.py) and, in the controller, Glance and Placement
    (enabled services, as on a real controller). Returns what was started."""
    from stackproof_lab.openstack import relay
    started = []
    if relay.restore_node(shell, lay.root, lay.log(f"relay-{shell.name}")):
        started.append("relays")
    for name in NODE_APIS:
        if shell.run(["test", "-x", f"/etc/init.d/{name}"], check=False).returncode == 0:
            service(shell, name, "start", check=False)
            started.append(name)
    return started


def setup_controller(shell: NsShell, site: Site, lay: Layout, sec: Secrets, host: str) -> None:
    if "nova_compute" not in site.hosts[host].roles:
        write_file(shell, "/etc/nova/nova.conf",
                   config.node_nova_conf(site, sec, controller=True, lay=lay), mode=0o640)
    # Nova's own nova-manage, with the lab's SQLite write-lock fix (sqlite_immediate.py)
    _wrapper(sbin_dir(lay, host) / "nova-manage", NOVA_MANAGE.format(
        python=shlex.quote(venv_bin("python")), here=str(lay.programs)))


def setup_agents(shell: NsShell, site: Site, lay: Layout, host: str,
                 real_ovs: bool = False) -> list[str]:
    """Init scripts for the node's stand-in agents (keeping one another layer installed for
    the Open vSwitch agent), and the heartbeat spec. Returns the init script names."""
    mine = [a for a in standin_agents(site, real_ovs) if a["host"] == host]
    if not real_ovs and "ovs_agent" in site.hosts[host].roles:
        _standin_agent_conf(shell, site, host)
    names = []
    for a in mine:
        name = a["binary"]
        names.append(name)
        if name == OVS_AGENT and shell.run(["test", "-x", f"/etc/init.d/{name}"],
                                           check=False).returncode == 0:
            continue                  # the overlay layer's agent: started by that layer
        _wrapper(sbin_dir(lay, host) / name, AGENT_STANDIN.format(name=name))
        write_file(shell, f"/etc/init.d/{name}",
                   init_script(name, f"{SBIN}/{name}", "neutron"), mode=0o755)
    spec = {"db": str(lay.db("neutron")), "host": host, "interval": config.HEARTBEAT_INTERVAL,
            "agents": [{"binary": a["binary"],
                        "match": OVS_MATCH if a["binary"] == OVS_AGENT else [a["binary"]]}
                       for a in mine]}
    (lay.node_dir(host) / "heartbeat.json").write_text(json.dumps(spec, indent=1))
    return names


def _standin_agent_conf(shell: NsShell, site: Site, host: str) -> None:
    """The neutron.conf a real agent node has (transport_url naming the controller's bus),
    also under the stand-in agent, which reads none: a site's agent node always has one,
    and the suite checks it. No bus runs in this mode, so the password is a throwaway."""
    from stackproof_lab.daemons import ovs_real
    bus = ovs_real.bus_host(site)
    address = "127.0.0.1" if host == bus else str(site.address_of(bus))
    url = ovs_real.transport_url(secrets.token_hex(12), address)
    write_file(shell, "/etc/neutron/neutron.conf", ovs_real.agent_conf(host, url), mode=0o640)


def start_heartbeat(shell: NsShell, lay: Layout, host: str) -> None:
    spec = lay.node_dir(host) / "heartbeat.json"
    shell.spawn(["python3", str(lay.programs / "heartbeat.py"), str(spec)],
                lay.log(f"heartbeat-{host}"))


def service(shell: NsShell, name: str, action: str, check: bool = True):
    return shell.run(["service", name, action], check=check, timeout=60)


def discover_hosts(shell: NsShell) -> str:
    """The real `nova-manage cell_v2 discover_hosts`, inside the controller."""
    # a clean environment, as over SSH: no OS_* of the lab's caller reaches oslo.config
    proc = shell.run(["env", "-i", f"PATH={SBIN}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                      "LANG=C.UTF-8", f"{SBIN}/nova-manage", "cell_v2", "discover_hosts",
                      "--verbose"], timeout=180, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                 if ln.strip() and "eventlet" not in ln.lower()]
        raise DaemonError(f"[{shell.name}] nova-manage cell_v2 discover_hosts -> rc "
                          f"{proc.returncode}: {' | '.join(lines[-6:])}")
    return proc.stdout


def registered_computes(lay: Layout) -> set[str]:
    with sqlite3.connect(lay.db("nova"), timeout=10) as db:
        return {r[0] for r in db.execute("SELECT host FROM compute_nodes WHERE deleted = 0")}


def compute_nodes_present(lay: Layout, hosts: list[str]) -> bool:
    return set(hosts) <= registered_computes(lay)


# log lines that say nothing about why a service is stuck (Python's and the projects'
# deprecation banners, optional modules it does without)
STORY_NOISE = ("eprecat", "Eventlet", "eventlet", "framework", "stevedore", "oslo_cache",
               "migrat", "concurrency")


def compute_story(shells: dict[str, NsShell], lay: Layout, hosts: list[str],
                  lines: int = 3) -> str:
    """One line per missing compute: is nova-compute running, and the last lines of its
    log; then the conductor's (a failed make test removes the lab's logs, so the timeout's
    message is all that is left of them)."""
    have = registered_computes(lay)
    said = []
    for host in [h for h in hosts if h not in have]:
        shell = shells[host]
        running = service(shell, "nova-compute", "status", check=False).returncode == 0
        log = shell.run(["tail", "-n", "400", "/var/log/nova/nova-compute.log"],
                        check=False).stdout.splitlines()
        said.append(f"{host}: nova-compute {'running' if running else 'NOT running'}; "
                    f"log: {' | '.join(telling(log)[-lines:]) or '(empty)'}")
    conductor = telling(_log_tail(lay.log("nova-conductor"), 400))
    said.append("nova-conductor: " + (" | ".join(conductor[-lines:]) or "(empty log)"))
    return "; ".join(said)


def telling(log: list[str]) -> list[str]:
    """An oslo.log file's lines without the noise, each without its timestamp, pid and
    request context when it has them."""
    out = []
    for ln in log:
        if not ln.strip() or any(n in ln for n in STORY_NOISE):
            continue
        head = ln.split(maxsplit=4)
        if len(head) == 5 and head[0][:2] == "20" and head[2].isdigit():
            ln = f"{head[3]} {head[4].split('] ', 1)[-1]}"    # LEVEL message
        out.append(ln.strip()[:240])
    return out


def _log_tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def wait_compute_nodes(lay: Layout, hosts: list[str], shells: dict[str, NsShell],
                       timeout: float = 150.0) -> None:
    # a compute may wait for the conductor in rounds of 10 s, then of rpc_response_timeout
    # (30 s); the CI machine runs about half as fast as this one
    wait_until(lambda: compute_nodes_present(lay, hosts), timeout,
               f"nova-compute to register compute nodes {hosts}",
               describe=lambda: compute_story(shells, lay, hosts))
