"""Open vSwitch and the Neutron OVS agent inside lab hosts (every host with role ovs_agent).

Per host, with the host's private /etc/openvswitch, /var/lib/openvswitch, /run/openvswitch:

    ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server ... --remote=punix:/run/openvswitch/db.sock --pidfile --detach
    ovs-vsctl --no-wait init
    ovs-vswitchd --enable-dummy=system --pidfile --detach

(`--enable-dummy=system`: no kernel module; the userspace datapath stands in for `system`,
so `ovs-vsctl show` reads as on a Neutron node, errors included). Then, as an operator and
the agent would:
  - the operator's part: br-ex with its physical port (a lab port, `EXTERNAL_PORT`), and a
    kernel tap named like br-ex (OVS internal ports make no kernel device here; on a real
    node `ip addr add ... dev br-ex` works, so the DVR layer can put a floating IP on it);
  - /etc/neutron/plugins/ml2/openvswitch_agent.ini rendered from the site model;
  - the endpoints the Neutron server would tell the agent (tunnel_sync), in
    /var/lib/neutron/lab-tunnel-endpoints.json;
  - /etc/init.d/neutron-openvswitch-agent, started with `service neutron-openvswitch-agent
    start`: it runs the lab's stand-in agent (stackproof_lab.daemons.ovs_agent), which builds br-int,
    br-tun, the patch ports and the VXLAN mesh from the ini. Remediations restart it the
    same way (`service neutron-openvswitch-agent restart`). `status` exits 0 while it runs.
With STACKPROOF_LAB_OVS_AGENT=real the real neutron-openvswitch-agent takes its place, with
RabbitMQ and a neutron-rpc-server in the network node (stackproof_lab.daemons.ovs_real, which also
says why that is not the default).
"""
from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from stackproof_lab.shell import NsShell
from stackproof.render.neutron import AGENT_INI, AGENT_SERVICE, render_agent_ini
from stackproof.render.ovs import endpoints, ensure_bridge, ovs_layout, vsctl
from stackproof.site import Site

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
DB = "/etc/openvswitch/conf.db"
RUN = "/run/openvswitch"
LOGS = "/var/log/openvswitch"
ENDPOINTS = "/var/lib/neutron/lab-tunnel-endpoints.json"
INIT_SCRIPT = f"/etc/init.d/{AGENT_SERVICE}"
AGENT_PIDFILE = f"/run/neutron/{AGENT_SERVICE}.pid"
AGENT_LOG = "/var/log/neutron/openvswitch-agent.log"
EXTERNAL_PORT = "ext0"           # br-ex's physical port in the lab (a dummy netdev)
PRIVATE_DIRS = ("/etc/openvswitch", "/var/lib/openvswitch", RUN, "/etc/neutron")
START_TIMEOUT = 20.0
READY_LINE = "Agent initialized successfully"
# The real agent logs this once its first loop has synced its tunnels with the server (the
# ports of the agent before it stay in OVS, so the layout alone does not tell a restart's
# sync apart); the stand-in builds everything before READY_LINE.
FIRST_SYNC_LINE = "Agent rpc_loop - iteration:0 completed"
# `service ... restart`: the stop's 10 s plus the real agent's start (ovs_real.AGENT_TIMEOUT)
SERVICE_TIMEOUT = 240.0


def _common():
    # imported late: stackproof_lab.daemons imports this module to list ovs_hook
    from stackproof_lab.daemons import common
    return common


def require_private(shell: NsShell, path: str) -> None:
    _common().require_private(shell, path)


def write_file(shell: NsShell, path: str, text: str, **kw) -> None:
    _common().write_file(shell, path, text, **kw)


from stackproof_lab.wait import wait_until  # noqa: E402,F401  (the lab's one wait)


def ovs_hosts(site: Site) -> list[str]:
    return site.with_role("ovs_agent")


# --- Open vSwitch ------------------------------------------------------------------------------
def _pid_alive(shell: NsShell, pidfile: str) -> int | None:
    proc = shell.sh(f"p=$(cat {shlex.quote(pidfile)} 2>/dev/null) && kill -0 \"$p\" "
                    f"2>/dev/null && echo \"$p\"", check=False)
    out = proc.stdout.strip()
    return int(out) if out.isdigit() else None


def start_ovs(shell: NsShell, host: str) -> None:
    """ovsdb-server + ovs-vswitchd (dummy datapath standing in for `system`)."""
    for d in PRIVATE_DIRS:
        shell.run(["mkdir", "-p", d])
        require_private(shell, d)
    q = shlex.quote
    script = [
        f"mkdir -p {LOGS}",
        f"[ -e {DB} ] || ovsdb-tool create {DB} {SCHEMA}",
        f"ovsdb-server {DB} --remote=punix:{RUN}/db.sock "
        f"--remote=db:Open_vSwitch,Open_vSwitch,manager_options "
        f"--pidfile={RUN}/ovsdb-server.pid --detach --log-file={LOGS}/ovsdb-server.log",
        "ovs-vsctl --no-wait init",
        # what a node's openvswitch service records: the agent reads hostname/system-id
        f"ovs-vsctl --no-wait set Open_vSwitch . external_ids:hostname={q(host)} "
        f"external_ids:system-id={q(host)}",
        f"ovs-vswitchd --enable-dummy=system --pidfile={RUN}/ovs-vswitchd.pid --detach "
        f"--log-file={LOGS}/ovs-vswitchd.log",
    ]
    shell.sh(" && ".join(script), timeout=60)
    wait_until(lambda: shell.run(["ovs-vsctl", "--timeout=2", "show"], check=False)
               .returncode == 0, START_TIMEOUT, f"[{host}] ovs-vswitchd to answer")


def ovs_pids(shell: NsShell) -> dict[str, int | None]:
    return {name: _pid_alive(shell, f"{RUN}/{name}.pid")
            for name in ("ovsdb-server", "ovs-vswitchd")}


# --- the operator's part: the external bridge ------------------------------------------------
def make_external_bridges(shell: NsShell, site: Site, host: str) -> None:
    layout = ovs_layout(site, host)
    cmds = []
    for br in layout.physical_bridges:
        cmds += ensure_bridge(br)
        cmds.append(["--may-exist", "add-port", br, EXTERNAL_PORT])
    if cmds:
        shell.sh(vsctl(*cmds))
    for br in layout.physical_bridges:
        shell.sh(f"ip link show {shlex.quote(br)} >/dev/null 2>&1 || "
                 f"ip tuntap add dev {shlex.quote(br)} mode tap")
        shell.run(["ip", "link", "set", br, "up"])


# --- the agent -------------------------------------------------------------------------------
HOST_PYTHON = "/usr/bin/python3"      # the host's own: the suite's venv is under /root
STANDIN = Path(__file__).with_name("ovs_agent.py")
# The stand-in runs under the agent's name (a copy in the host's private /var/lib), so
# `ps` shows neutron-openvswitch-agent and process matchers (the OpenStack layer's
# heartbeat keeper) find it as they would find the real one.
AGENT_BIN = f"/var/lib/neutron/bin/{AGENT_SERVICE}"


def agent_command() -> list[str]:
    """What the init script runs: the lab's stand-in agent (stdlib only)."""
    return [HOST_PYTHON, AGENT_BIN, "--config-file", AGENT_INI, "--endpoints", ENDPOINTS]


def init_script(command: list[str], timeout: float = START_TIMEOUT,
                env: dict[str, str] | None = None) -> str:
    """A sysv init script for the agent: start waits for the agent's own 'initialized' log
    line (or its death), so `service ... start|restart` returns when the bridges are built.
    The agent leads its own session (setsid): stop ends its process group, which holds its
    privsep helpers too (they stay in the agent's group by design)."""
    q = shlex.quote
    exports = "".join(f"export {k}={q(v)}\n" for k, v in (env or {}).items())
    return f"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          {AGENT_SERVICE}
# Required-Start:    $network $remote_fs openvswitch-switch
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Neutron Open vSwitch agent (stackproof lab)
### END INIT INFO
# Written by the stackproof lab. The daemon is the command below; its output goes to LOG.
PIDFILE={q(AGENT_PIDFILE)}
LOG={q(AGENT_LOG)}
TIMEOUT={int(timeout)}
{exports}
running() {{ p=$(cat "$PIDFILE" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }}

# Two callers at once (a remediation's restart while an earlier start still waits) must not
# leave two agents: the check, the kill and the launch happen under one lock, and a waiter
# watches only the agent it launched and removes the pid file only while it is still its own.
lock() {{ mkdir -p "$(dirname "$PIDFILE")"; exec 9>"$PIDFILE.lock"; flock -w 60 9; }}
unlock() {{ flock -u 9; }}

launch() {{
    mkdir -p "$(dirname "$LOG")"
    offset=$(($(stat -c %s "$LOG" 2>/dev/null || echo 0) + 1))
    setsid {shlex.join(command)} >>"$LOG" 2>&1 </dev/null 9>&- &
    me=$!
    echo $me > "$PIDFILE"
}}

wait_ready() {{
    i=0
    while [ $i -lt $((TIMEOUT * 10)) ]; do
        if tail -c +$offset "$LOG" | grep -q {q(READY_LINE)}; then
            echo "{AGENT_SERVICE} started"; return 0
        fi
        if ! kill -0 "$me" 2>/dev/null; then
            echo "{AGENT_SERVICE} exited:" >&2; tail -c +$offset "$LOG" | tail -n 5 >&2
            [ "$(cat "$PIDFILE" 2>/dev/null)" = "$me" ] && rm -f "$PIDFILE"
            return 1
        fi
        sleep 0.1; i=$((i + 1))
    done
    echo "{AGENT_SERVICE} not initialized after $TIMEOUT s" >&2; return 1
}}

halt() {{
    if running; then
        p=$(cat "$PIDFILE"); kill -TERM -"$p" 2>/dev/null || kill "$p"
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL -"$p" 2>/dev/null || true    # dash: no `--` before a group
    fi
    rm -f "$PIDFILE"
}}

start() {{
    lock
    if running; then unlock; echo "{AGENT_SERVICE} already running"; return 0; fi
    launch; unlock
    wait_ready
}}

stop() {{
    lock; halt; unlock
    echo "{AGENT_SERVICE} stopped"
}}

restart() {{
    lock; halt; launch; unlock
    wait_ready
}}

case "$1" in
    start) start ;;
    stop) stop ;;
    restart|force-reload) restart ;;
    status) if running; then echo "{AGENT_SERVICE} is running"; else
                echo "{AGENT_SERVICE} is not running"; exit 3; fi ;;
    *) echo "Usage: $0 {{start|stop|restart|status}}" >&2; exit 2 ;;
esac
"""


def write_agent_files(shell: NsShell, site: Site, host: str) -> None:
    shell.run(["mkdir", "-p", "/etc/neutron/plugins/ml2", "/var/lib/neutron/bin",
               "/var/log/neutron"])
    # a private copy, never a link: nothing a host writes may reach the repository
    write_file(shell, AGENT_BIN, STANDIN.read_text(), mode=0o755)
    write_file(shell, AGENT_INI, render_agent_ini(site, host), mode=0o640)
    write_file(shell, ENDPOINTS, json.dumps(endpoints(site), indent=2) + "\n")
    write_file(shell, INIT_SCRIPT, init_script(agent_command()), mode=0o755)


def agent_service(shell: NsShell, action: str, check: bool = True):
    return shell.run(["service", AGENT_SERVICE, action], check=check, timeout=SERVICE_TIMEOUT)


def _log_size(shell: NsShell) -> int:
    out = shell.run(["stat", "-c", "%s", AGENT_LOG], check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def _log_since(shell: NsShell, offset: int) -> str:
    return shell.run(["tail", "-c", f"+{offset + 1}", AGENT_LOG], check=False).stdout


def restart_reacted(shell: NsShell, timeout: float = 180.0) -> str:
    """Restart the agent on a configuration it may refuse and return its reaction: the
    ready line, its first ERROR/CRITICAL line, or that it exited. The real agent that
    refuses a local_ip logs the error but does not exit (its privsep helper keeps it alive),
    so the init script's wait for 'initialized' would only time out: the start runs in the
    background here and the log decides."""
    agent_service(shell, "stop")
    offset = _log_size(shell)
    shell.sh(f"setsid service {AGENT_SERVICE} start >/dev/null 2>&1 </dev/null &")

    def reaction() -> str | None:
        log = _log_since(shell, offset)
        for line in log.splitlines():
            if READY_LINE in line or " ERROR " in line or " CRITICAL " in line:
                return line
        if log and not agent_running(shell):
            return "the agent exited"
        return None
    return wait_until(reaction, timeout, "the agent's reaction to its new configuration",
                      interval=0.5)


def restart_synced(shell: NsShell, timeout: float = 180.0) -> None:
    """Restart the agent and return once it has finished its first loop (its tunnel sync):
    a fault injected right after cannot be undone by the restarted agent's late sync."""
    offset = _log_size(shell)
    agent_service(shell, "restart")

    def synced() -> bool:
        log = _log_since(shell, offset)
        return FIRST_SYNC_LINE in log or "neutron.plugins.ml2" not in log
    wait_until(synced, timeout, "the agent's first loop after its restart", interval=0.5)


def agent_running(shell: NsShell) -> bool:
    return agent_service(shell, "status", check=False).returncode == 0


def layout_built(shell: NsShell, site: Site, host: str) -> bool:
    """Every bridge and every tunnel port of the agent's layout exists."""
    layout = ovs_layout(site, host)
    proc = shell.run(["ovs-vsctl", "--timeout=5", "--format=json", "--columns=name",
                      "list", "Interface"], check=False)
    if proc.returncode != 0:
        return False
    names = {row[0] for row in json.loads(proc.stdout)["data"]}
    want = set(layout.bridges) | {p.port for p in layout.patches} | \
        {t.name for t in layout.tunnels}
    return want <= names


# --- measurements ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OvsUsage:
    host: str
    rss_kib: dict[str, int]        # process -> resident memory
    cpu_seconds: dict[str, float]  # process -> user+system CPU so far

    @property
    def total_rss_mib(self) -> float:
        return sum(self.rss_kib.values()) / 1024


def usage(shell: NsShell, host: str) -> OvsUsage:
    pids = dict(ovs_pids(shell))
    agent = shell.sh(f"cat {AGENT_PIDFILE} 2>/dev/null", check=False).stdout.strip()
    pids["agent"] = int(agent) if agent.isdigit() else None
    rss, cpu = {}, {}
    tick = 100.0
    for name, pid in pids.items():
        if pid is None:
            continue
        status = shell.run(["cat", f"/proc/{pid}/status", f"/proc/{pid}/stat"],
                           check=False).stdout
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[name] = int(line.split()[1])
        stat = status.strip().splitlines()[-1].rsplit(")", 1)[-1].split()
        cpu[name] = (int(stat[11]) + int(stat[12])) / tick
    return OvsUsage(host, rss, cpu)


# --- start / stop ----------------------------------------------------------------------------
def start_node(shell: NsShell, site: Site, host: str, agent: bool = True) -> None:
    """OVS, the operator's bridges and the agent's files; the stand-in agent too unless
    `agent` is False (the real agent starts once its message bus serves)."""
    start_ovs(shell, host)
    make_external_bridges(shell, site, host)
    write_agent_files(shell, site, host)
    if not agent:
        return
    agent_service(shell, "start")
    wait_until(lambda: layout_built(shell, site, host), START_TIMEOUT,
               f"[{host}] the OVS agent's bridges and tunnels")


def stop_node(shell: NsShell) -> None:
    """Stop the agent and OVS (the lab's down does this by ending the host)."""
    agent_service(shell, "stop", check=False)
    for name, pid in ovs_pids(shell).items():
        if pid is not None:
            shell.run(["kill", str(pid)], check=False)


# --- lab hook ---------------------------------------------------------------------------------
def ovs_hook(lab, site: Site) -> None:
    """GUEST hook: Open vSwitch and the OVS agent on every ovs_agent host (after the guests
    have their addresses: the tunnels' local_ip is the guest's address). The real agent is
    the default: RabbitMQ starts here, and the agents start with the OpenStack layer (their
    RPC server shares its Neutron database); a site without one gets its own RPC server
    here. STACKPROOF_LAB_OVS_AGENT=standin runs the lab's stand-in instead."""
    from stackproof_lab.daemons import ovs_real
    real = ovs_real.wanted() and bool(ovs_hosts(site))
    if real and ovs_real.missing():
        raise _common().DaemonError("the real OVS agent needs: " + "; ".join(
            ovs_real.missing()) + f" (or {ovs_real.ENV}={ovs_real.STANDIN} for the stand-in)")

    def start(host: str) -> None:
        t = time.monotonic()
        shell = lab.shell(host)
        try:
            start_node(shell, site, host, agent=not real)
        except _common().DaemonError:
            raise
        except Exception as exc:       # name the host: a hook error reads as the lab's
            raise _common().DaemonError(f"[{host}] Open vSwitch: {exc}") from exc
        lab.say(f"ovs {host}: " + ("Open vSwitch and br-ex; the real agent builds br-int and "
                                   "br-tun" if real else
                                   f"br-int, br-tun, {len(ovs_layout(site, host).tunnels)} "
                                   f"tunnel(s) (stand-in agent)")
                + f" in {time.monotonic() - t:.1f} s")
    from stackproof_lab.pool import each
    each(ovs_hosts(site), start)
    if not real:
        return
    from stackproof_lab.openstack import openstack_hook
    if site.openstack is not None and openstack_hook in getattr(lab, "guest_hooks", []):
        ovs_real.launch_rabbitmq(lab.shell(ovs_real.bus_host(site)))
        lab.say(f"ovs: RabbitMQ starting on {ovs_real.bus_host(site)}; the real agents "
                f"start with the OpenStack layer")
        return
    t = time.monotonic()
    results = ovs_real.start_real(lab, site)
    for host, why in results.items():
        lab.say(f"ovs {host}: real neutron-openvswitch-agent "
                + ("initialized" if not why else f"not initialized yet: {why}"))
    lab.say(f"ovs: real agents in {time.monotonic() - t:.1f} s "
            f"(bus on {ovs_real.bus_host(site)})")
