"""chronyd inside lab hosts, never touching the machine's clock.

Two locks, either one enough:
- chronyd always runs with `-x` (no control of the system clock): started here as
  `chronyd -x -F 1 -f <conf>`, and /etc/default/chrony (read by `service chrony restart`,
  the path a remediation takes) says `DAEMON_OPTS="-x -F 1 -f <conf>"` before anything
  starts;
- it is started under `setpriv --bounding-set=-sys_time`, so it cannot gain CAP_SYS_TIME.
A chronyd found running without -x is killed at once and the start fails.
"""
from __future__ import annotations

import shlex

from stackproof.expect import time_intent
from stackproof_lab.daemons.common import (DaemonError, read_file, require_private, wait_until,
                                           write_file)
from stackproof_lab.shell import NsShell
from stackproof.render.chrony import chrony_conf, chrony_conf_path
from stackproof.site import Site

PIDFILE = "/run/chrony/chronyd.pid"
DEFAULTS = "/etc/default/chrony"
CHRONYD_FLAGS = ["-x", "-F", "1"]
SYNC_TIMEOUT = 30.0
CAP_SYS_TIME = 25


def defaults_text(conf_path: str) -> str:
    """/etc/default/chrony for a lab host: what `service chrony start|restart` passes to
    chronyd. `-x` keeps it off the clock; `-f` names the host's configuration (a RHEL-family
    host keeps it at /etc/chrony.conf, the Debian script would read /etc/chrony/...)."""
    opts = shlex.join([*CHRONYD_FLAGS, "-f", conf_path])
    return ("# Written by the stackproof lab: options for /etc/init.d/chrony. `-x`: chronyd\n"
            "# never adjusts the system clock (lab hosts share the machine's clock). Keep it.\n"
            f'DAEMON_OPTS="{opts}"\n')


def chronyd_argv(conf_path: str) -> list[str]:
    return ["setpriv", "--bounding-set=-sys_time", "--", "chronyd", *CHRONYD_FLAGS,
            "-f", conf_path]


def chronyd_pid(shell: NsShell) -> int | None:
    """The running chronyd's PID inside the host (from its pid file), or None."""
    proc = shell.sh(f"p=$(cat {PIDFILE} 2>/dev/null) && kill -0 \"$p\" 2>/dev/null && "
                    "echo \"$p\"", check=False)
    out = proc.stdout.strip()
    return int(out) if out.isdigit() else None


def ensure_running(shell: NsShell, start_command: str, timeout: float = 8.0) -> int:
    """After a lab heal: chronyd runs again, or this names the host and why. A heal's
    restart can still lose to a daemon that is slow to exit, so a missing chronyd is
    started once more before giving up."""
    if chronyd_pid(shell) is None:
        try:
            wait_until(lambda: chronyd_pid(shell), timeout, "chronyd after the heal",
                       error=DaemonError)
        except DaemonError:
            shell.sh(start_command, check=False)
    pid = wait_until(lambda: chronyd_pid(shell), timeout,
                     f"[{shell.name}] chronyd to run after the heal",
                     describe=lambda: shell.sh("ls -la /run/chrony; ps -eo pid,args",
                                               check=False).stdout.strip())
    _enforce_x(shell, pid)
    return pid


def clock_guard(shell: NsShell, pid: int) -> dict[str, bool]:
    """How chronyd `pid` is kept off the clock: `no_clock_control` (runs with -x) and
    `sys_time_dropped` (CAP_SYS_TIME out of its bounding set)."""
    cmdline = shell.run(["cat", f"/proc/{pid}/cmdline"], check=False).stdout.split("\0")
    status = shell.run(["cat", f"/proc/{pid}/status"], check=False).stdout
    bnd = next((int(line.split()[1], 16) for line in status.splitlines()
                if line.startswith("CapBnd:")), None)
    return {"no_clock_control": "-x" in cmdline,
            "sys_time_dropped": bnd is not None and not bnd & (1 << CAP_SYS_TIME)}


def _enforce_x(shell: NsShell, pid: int) -> None:
    """A chronyd without -x is killed at once (chronyd started by `service chrony` has no
    bounding-set drop, so -x is the lock that must always hold)."""
    if not clock_guard(shell, pid)["no_clock_control"]:
        shell.run(["kill", "-9", str(pid)], check=False)
        raise DaemonError(f"[{shell.name}] chronyd {pid} ran without -x: killed")


def daemon_opts(text: str) -> list[str]:
    """The words chronyd gets from an /etc/default/chrony text: the shell value of the last
    DAEMON_OPTS assignment, split on blanks as the init script's unquoted $DAEMON_OPTS is."""
    opts: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("DAEMON_OPTS="):
            opts = " ".join(shlex.split(line.split("=", 1)[1], comments=True)).split()
    return opts


def write_chrony_files(shell: NsShell, site: Site, host: str) -> str | None:
    """/etc/default/chrony (with -x) first, then the intended chrony.conf. Returns the
    configuration path, or None when the site has no time service."""
    text = chrony_conf(site, host)
    if text is None:
        return None
    path = chrony_conf_path(site, host)
    write_file(shell, DEFAULTS, defaults_text(path))
    if "-x" not in daemon_opts(read_file(shell, DEFAULTS) or ""):
        raise DaemonError(f"[{host}] {DEFAULTS} does not keep -x: refusing to start chrony")
    write_file(shell, path, text)
    return path


def _alias_rhel_service(shell: NsShell, site: Site, host: str) -> None:
    """On a RHEL-family lab host the service is called `chronyd`: point that name at the
    machine's Debian script (it reads /etc/default/chrony, which keeps -x), if the host's
    /etc/init.d is private. Without it `service chronyd restart` simply fails."""
    if site.os_family_of(host) != "rhel":
        return
    try:
        require_private(shell, "/etc/init.d")
    except DaemonError:
        return
    shell.run(["ln", "-sfn", "chrony", "/etc/init.d/chronyd"], check=False)


def start_chrony(shell: NsShell, site: Site, host: str) -> int | None:
    """Write the files and (re)start chronyd (no-op without a time service). Returns its
    PID inside the host."""
    path = write_chrony_files(shell, site, host)
    if path is None:
        return None
    _alias_rhel_service(shell, site, host)
    stop_chrony(shell)                   # a running one would keep its old configuration
    shell.run(chronyd_argv(path))
    pid = wait_until(lambda: chronyd_pid(shell), 10, f"[{host}] chronyd to start")
    _enforce_x(shell, pid)
    return pid


def stop_chrony(shell: NsShell) -> None:
    pid = chronyd_pid(shell)
    if pid is not None:
        shell.run(["kill", str(pid)], check=False)
        wait_until(lambda: chronyd_pid(shell) is None, 10, f"[{shell.name}] chronyd to stop")


def sources(shell: NsShell) -> list[list[str]]:
    """`chronyc -n -c sources` rows (mode, state, address, stratum, poll, reach, ...)."""
    proc = shell.run(["chronyc", "-n", "-c", "sources"], check=False)
    return [line.split(",") for line in proc.stdout.splitlines() if line.strip()]


def selected_source(shell: NsShell) -> str | None:
    return next((row[2] for row in sources(shell) if len(row) > 2 and row[1] == "*"), None)


def wait_synced(shell: NsShell, server_address: str, timeout: float = SYNC_TIMEOUT) -> None:
    """Until the host's chronyd has selected `server_address` ('*')."""
    wait_until(lambda: selected_source(shell) == server_address, timeout,
               f"[{shell.name}] chrony to select {server_address}",
               describe=lambda: f"sources {sources(shell)}")


def time_hosts(site: Site) -> list[str]:
    """Hosts with a time intent; the server first, so clients find it answering."""
    hosts = [h for h in site.hosts if time_intent(site, h) is not None]
    return sorted(hosts, key=lambda h: not time_intent(site, h).serves)


# --- lab hook ---------------------------------------------------------------------------------
def chrony_hook(lab, site: Site) -> None:
    """GUEST hook: chronyd -x on every host (after the guests have their addresses, so the
    time server, often a guest, answers). Does not wait for synchronisation: clients reach
    the server only once routes and firewall rules allow it."""
    from stackproof_lab.pool import each
    each(time_hosts(site), lambda host: start_chrony(lab.shell(host), site, host))
