"""`stackproof lab reboot HOST`: what a reboot does to a lab host.

    Lab.reboot(host)  ->  RebootReport

1. stop: the host's init (PID 1 of its PID namespace) is killed, which ends every process
   of the host; a hypervisor's guests (inventory hosts with `hypervisor: HOST`) go down
   with it. Recorded processes are checked by start time, as `lab down` does.
2. flush the runtime state, which a real reboot loses and a network namespace would keep:
   every link that is not the lab's cabling (veth pairs: underlay NIC, guest and instance
   NICs, a bridge's carrier port) is deleted (libvirt's bridges, taps, VXLAN devices),
   every address and route, policy rules and proxy-ARP entries go, iptables is emptied
   (ACCEPT policies), and the network namespace's sysctls go back to a fresh namespace's
   values. The OVS database and every file stay: they are the disk. /run is a new tmpfs.
3. the lab's own wiring comes back from the lab's record (never from the suite's
   expectations): the underlay NIC's address and default route, guest and instance NICs,
   a compute node's end of its instances' NICs (stackproof_lab.topology / daemons.fip).
4. boot from the host's files only (stackproof_lab.boot: hostname, sysctl.d, network and
   route files, the saved firewall, fstab recorded, OVS, libvirt autostart, FRR, chronyd
   -x, the lab's node services, the enabled systemd units).
5. guests whose domain libvirt autostarts (its link in the hypervisor's
   /etc/libvirt/qemu/autostart) come back, booted the same way and alongside the
   hypervisor; the others stay down, as they would.
6. the lab follows: new init PIDs in its state, ssh_config rewritten, the OpenStack node
   stand-ins (agent heartbeats, the DVR NAT a compute's L3 agent rebuilds at start)
   restarted where the OpenStack layer is up. None of them touches what the persistence
   scenarios check (addresses on lo, /32 routes, the filter rules, hostname, fstab).

The OpenStack instances of a rebooted compute node keep running (the lab has no nested
guests); reboot an instance host by its own name.
"""
from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stackproof_lab import boot as bootmod
from stackproof_lab import hosts as hostmod
from stackproof_lab import ssh as sshmod
from stackproof_lab import topology
from stackproof_lab.shell import NsShell
from stackproof_lab.state import LabState, proc_start_time
from stackproof_lab.wait import WaitTimeout, wait_until
from stackproof.site import Site

STOP_TIMEOUT = 10.0
READY_TIMEOUT = 30.0
VIRSH = ["virsh", "-q", "-c", "qemu:///system"]


class RebootError(RuntimeError):
    pass


@dataclass
class Wiring:
    """The lab's cabling of one host: what a fresh netns gets back after a flush."""
    addresses: list[tuple[str, str]] = field(default_factory=list)        # (dev, cidr)
    routes: list[list[str]] = field(default_factory=list)                 # `ip route` args


@dataclass
class RebootReport:
    host: str
    seconds: float
    rebooted: list[str]                      # the host and the guests that came back
    down: list[str]                          # guests that stay down (no autostart)
    boot: dict[str, list[dict]]              # host -> boot steps that failed


# --- the lab's record of its wiring ----------------------------------------------------------
def wiring(lab, site: Site) -> dict[str, Wiring]:
    """From the lab's own topology code and the site model: the cabling `lab up` made."""
    out: dict[str, Wiring] = {n: Wiring() for n in site.hosts}
    plan = topology.plan_underlay(site, lab.prefix,
                                  {n: lab.netns_of(n) for n in site.physical_hosts()})
    for p in plan.ports:
        out[p.host].addresses.append((p.ifname, p.address))
        out[p.host].routes.append(["default", "via", plan.gateway, "dev", p.ifname])
    for name, g in site.guests().items():
        nw = site.nat_network(g.hypervisor, g.network)
        out[name].addresses.append((g.interface, f"{g.address}/{nw.cidr.prefixlen}"))
        out[name].routes.append(["default", "via", str(nw.gateway), "dev", g.interface])
    if site.openstack is not None:
        from stackproof_lab.daemons.fip import instance_ports
        for port in instance_ports(site):
            out[port.instance].addresses.append((port.ifname,
                                                 f"{port.address}/{port.prefixlen}"))
            out[port.instance].routes.append(["default", "via", port.gateway, "dev",
                                              port.ifname])
            out[port.compute].addresses.append((port.tap, f"{port.gateway}/32"))
            out[port.compute].routes.append([f"{port.address}/32", "dev", port.tap])
    return out


# --- stop ------------------------------------------------------------------------------------
def stop(lab, names: list[str]) -> None:
    st = lab.state
    for name in names:
        rec = st.hosts[name]
        for p in st.processes:
            if p.role in (f"init:{name}",) and p.pid == rec.init_pid:
                p.kill(signal.SIGKILL)          # PID 1 of the namespace: all of the host
    def stopped() -> bool:
        for h in lab._holders.values():
            h.poll()
        return not any(_alive(st, n) for n in names)
    wait_until(stopped, STOP_TIMEOUT, "the hosts to stop after the kill", interval=0.02,
               error=RebootError,
               describe=lambda: f"still running: {[n for n in names if _alive(st, n)]}")


def _alive(st: LabState, name: str) -> bool:
    rec = st.hosts[name]
    for role, pid in ((f"init:{name}", rec.init_pid), (f"holder:{name}", rec.holder_pid)):
        if pid and any(p.pid == pid and p.role == role and p.alive() for p in st.processes):
            return True
    return False


# --- flush -----------------------------------------------------------------------------------
def _nsexec(netns: str, argv: list[str], *, input: str | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(["ip", "netns", "exec", netns, *argv], input=input,
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RebootError(f"[{netns}] {' '.join(argv)}: {proc.stderr.strip()}")
    return proc


def _sysctl_values(netns: str | None) -> dict[str, str]:
    argv = ["sysctl", "-a", "-r", r"^net\.ipv[46]\."]
    proc = subprocess.run(["ip", "netns", "exec", netns, *argv] if netns else
                          ["unshare", "--net", "--", *argv], capture_output=True, text=True)
    out = {}
    for line in proc.stdout.splitlines():
        k, _, v = line.partition(" = ")
        out[k.strip()] = v.strip()
    return out


def flush(netns: str, fresh_sysctl: dict[str, str]) -> None:
    links = json.loads(_nsexec(netns, ["ip", "-j", "-d", "link", "show"]).stdout or "[]")
    cmds = []
    for link in links:
        name = link["ifname"]
        kind = (link.get("linkinfo") or {}).get("info_kind")
        if name == "lo" or kind == "veth":
            cmds.append(f"addr flush dev {name}")
        else:
            cmds.append(f"link del dev {name}")
    cmds += ["route flush table main", "-6 route flush table main",
             "rule flush", "rule add pref 32766 lookup main",
             "rule add pref 32767 lookup default"]
    tables = {r.get("table") for r in json.loads(
        _nsexec(netns, ["ip", "-j", "route", "show", "table", "all"]).stdout or "[]")}
    cmds += [f"route flush table {t}" for t in sorted(t for t in tables if t and t not in
                                                      ("main", "local", "default"))]
    # one `ip -batch -force`: a link that went with its peer must not stop the rest
    subprocess.run(["ip", "-n", netns, "-force", "-batch", "-"], input="\n".join(cmds) + "\n",
                   capture_output=True, text=True)
    _nsexec(netns, ["ip", "neigh", "flush", "proxy"])
    _nsexec(netns, ["ip", "link", "set", "lo", "down"])
    _nsexec(netns, ["ip", "link", "set", "lo", "up"])     # 127.0.0.1 and ::1 come back
    for cmd in ("iptables", "ip6tables"):
        _nsexec(netns, [f"{cmd}-restore", "-w"], input=_empty_ruleset(netns, cmd))
    now = _sysctl_values(netns)
    changed = [f"{k}={v}" for k, v in fresh_sysctl.items()
               if _resettable(k) and k in now and now[k] != v]
    if changed:
        _nsexec(netns, ["sysctl", "-q", "-e", "-w", *changed])


def _resettable(key: str) -> bool:
    """Global keys and the all/default/lo ones: per-device keys of the lab's veths keep the
    values their device was made with."""
    parts = key.split(".")
    if len(parts) > 4 and parts[2] in ("conf", "neigh"):
        return parts[3] in ("all", "default", "lo")
    return True


def _empty_ruleset(netns: str, cmd: str) -> str:
    """Every table the namespace uses, emptied, policies ACCEPT (a fresh boot's firewall)."""
    saved = _nsexec(netns, [f"{cmd}-save"]).stdout
    out = []
    for line in saved.splitlines():
        if line.startswith("*"):
            out.append(line)
        elif line.startswith(":"):
            chain = line[1:].split()[0]
            if line.split()[1] != "-":                    # a built-in chain
                out.append(f":{chain} ACCEPT [0:0]")
        elif line == "COMMIT":
            out.append(line)
    return "\n".join(out) + "\n"


def rewire(netns: str, w: Wiring) -> None:
    cmds = []
    for dev, cidr in w.addresses:
        cmds += [f"link set dev {dev} up", f"addr replace {cidr} dev {dev}"]
    cmds += ["route replace " + " ".join(r) for r in w.routes]
    subprocess.run(["ip", "-n", netns, "-force", "-batch", "-"], input="\n".join(cmds) + "\n",
                   capture_output=True, text=True)


# --- start -----------------------------------------------------------------------------------
def launch(lab, name: str) -> subprocess.Popen:
    """A new init for the host: the same mounts as at `lab up` (its disk, a fresh /run),
    /etc and the hostname as the host left them."""
    st = lab.state
    rec = st.hosts[name]
    root = Path(rec.root)
    trees = hostmod.overlay_trees(lab.state_dir)
    script, _ = hostmod.init_script(name, root, trees, seed_etc=False)
    boot_sh = root / ".lab" / "boot.sh"
    boot_sh.write_text(script)
    (root / ".lab" / "ready").unlink(missing_ok=True)
    # /run is a tmpfs at every boot: the directories bind-mounted into it start empty too
    for b in hostmod.BINDS:
        if b.under_run:
            d = root / b.target.lstrip("/")
            if d.is_dir():
                subprocess.run(["find", str(d), "-mindepth", "1", "-delete"], check=False)
    log = open(root / ".lab" / "holder.log", "ab")
    try:
        holder = subprocess.Popen(
            ["ip", "netns", "exec", rec.netns, "unshare", "--mount", "--uts", "--pid",
             "--fork", "--mount-proc", "--propagation", "private", "--", "/bin/sh",
             str(boot_sh)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
            start_new_session=True)
    finally:
        log.close()
    _forget(st, name)
    st.add_process(holder.pid, f"holder:{name}")
    st.update_host(name, holder_pid=holder.pid, init_pid=None, init_start=None)
    lab._holders[name] = holder
    return holder


def _forget(st: LabState, name: str) -> None:
    """Drop the dead init and holder of the host from the record."""
    with st._lock:
        st.processes = [p for p in st.processes
                        if not (p.role in (f"init:{name}", f"holder:{name}") and not p.alive())]
        st.save()


# --- the lab's own services, after a node's boot --------------------------------------------
def openstack_node(lab, site: Site, host: str, shell: NsShell, log: bootmod.BootLog) -> None:
    """The OpenStack layer's per-node pieces that a node's packages and agents restore at
    start: /usr/local/sbin wrappers (the installed commands), the DVR NAT of a compute's
    L3 agent, and the agents' heartbeat keeper."""
    if site.openstack is None:
        return
    from stackproof_lab.openstack.layout import Layout
    lay = Layout.load(lab.state_dir)
    if lay is None or not lay.node_dir(host).is_dir():
        return
    from stackproof_lab.openstack import nodes
    nodes.mount_sbin(shell, lay, host)
    from stackproof_lab.daemons import fip
    for nat in fip.fip_nats(site):
        if nat.port.compute == host:
            log.add("dvr", **bootmod._sh(shell, " && ".join(
                ["set -e", "sysctl -qw net.ipv4.ip_forward=1", *fip.nat_commands(nat)])))
    if (lay.node_dir(host) / "heartbeat.json").is_file():
        nodes.start_heartbeat(shell, lay, host)
    for what in nodes.restore_after_boot(shell, lay):    # relays, Glance, Placement
        log.add("openstack", started=what)
    message_bus(site, host, shell, log)


def message_bus(site: Site, host: str, shell: NsShell, log: bootmod.BootLog) -> None:
    """On the network node that carries the real agents' bus: RabbitMQ (its users and queues
    persist in /var/lib/rabbitmq) and then neutron-rpc-server from their files, as the node's
    enabled services would start them. The agents (started in the background at boot)
    reconnect by themselves once the bus answers."""
    from stackproof_lab.daemons import ovs_real
    from stackproof_lab.daemons.ovs import wait_until
    conf = f"{ovs_real.SERVER_DIR}/neutron.conf"
    if host != ovs_real.bus_host(site) or \
            shell.run(["test", "-e", conf], check=False).returncode != 0:
        return
    ovs_real.launch_rabbitmq(shell)
    wait_until(lambda: shell.sh(ovs_real.as_rabbit(
        f"timeout 30 {ovs_real.RABBITMQCTL} await_startup") + " >/dev/null 2>&1",
        check=False).returncode == 0, ovs_real.SERVER_TIMEOUT,
        f"[{host}] RabbitMQ to start after the boot", interval=1.0)
    log.add("rabbitmq", started=True)
    py = str(ovs_real.venv() / "bin" / "python")
    server = shlex.join([py, f"{ovs_real.SERVER_DIR}/rpc_server.py", "--config-file", conf,
                         "--config-file", f"{ovs_real.SERVER_DIR}/ml2_conf.ini"])
    log.add("neutron-rpc-server", **bootmod._sh(
        shell, f"cd / && setsid {server} >>/var/log/neutron/rpc-server.log 2>&1 </dev/null &"))


def boot(lab, site: Site, name: str, wires: dict[str, Wiring], holder: subprocess.Popen,
         ) -> bootmod.BootLog:
    st = lab.state
    shell = hostmod.wait_ready(st, name, holder, time.monotonic() + READY_TIMEOUT)
    log = bootmod.BootLog(name)
    bootmod.boot_system(shell, log)
    openstack_node(lab, site, name, shell, log)
    bootmod.boot_services(shell, log)
    return log


def guests_of(site: Site, host: str) -> list[str]:
    return [n for n, g in site.guests().items() if g.hypervisor == host]


def autostarted(hypervisor_root: str, guest: str) -> bool:
    """libvirt's autostart link for the guest's domain, in the hypervisor's own
    /etc/libvirt (the file libvirtd reads when it starts)."""
    link = Path(hypervisor_root) / "etc/libvirt/qemu/autostart" / f"{guest}.xml"
    return link.is_symlink() or link.exists()      # the link points inside the host


def reboot(lab, host: str) -> RebootReport:
    t0 = time.monotonic()
    site = lab.site
    st = lab.state
    if st is None or st.phase != "up":
        raise RebootError(f"lab {lab.lab_id} is not up")
    if host not in st.hosts:
        raise RebootError(f"{host}: not a host of lab {lab.lab_id} "
                          f"(hosts: {', '.join(st.hosts)})")
    guests = [g for g in guests_of(site, host) if g in st.hosts]
    stop(lab, [host, *guests])
    fresh = _sysctl_values(None)
    wires = wiring(lab, site)
    for name in (host, *guests):
        netns = st.hosts[name].netns
        flush(netns, fresh)
        rewire(netns, wires[name])
    # libvirt starts the domains its autostart links name: the guests behind them boot
    # alongside their hypervisor (each waits only for its own init)
    back = [g for g in guests if autostarted(st.hosts[host].root, g)]
    holders = {n: launch(lab, n) for n in (host, *back)}
    with ThreadPoolExecutor(max_workers=len(holders)) as pool:
        futures = {n: pool.submit(boot, lab, site, n, wires, h) for n, h in holders.items()}
        logs = {n: f.result() for n, f in futures.items()}
    for g in guests:
        if g not in back:
            _forget(st, g)          # stays down: `lab status` shows it DEAD
    _follow(lab)
    failed = {n: [s for s in log.steps if s.get("rc") not in (None, 0)]
              for n, log in logs.items()}
    return RebootReport(host, time.monotonic() - t0, [host, *back],
                        [g for g in guests if g not in back],
                        {n: f for n, f in failed.items() if f})


def _follow(lab) -> None:
    """The lab's clients of the hosts' PIDs: ssh_config (ProxyCommand nsenter -t PID)."""
    st = lab.state
    shells = {n: hostmod.shell_for(r) for n, r in st.hosts.items()
              if r.init_pid and proc_start_time(r.init_pid) == r.init_start}
    cfg = lab.ssh_config
    identity, known = lab.identity_file, lab.known_hosts
    tmp = cfg.with_name(f".{cfg.name}.tmp")
    tmp.write_text(sshmod.ssh_config_text({n: s.pid for n, s in shells.items()},
                                          identity, known))
    tmp.chmod(0o600)
    tmp.replace(cfg)


def _starting(shell: NsShell) -> list[str]:
    """The boot's background service starts still running in a host (an init script's start
    returns once its daemon is initialized: an agent has connected to its bus and reported)."""
    proc = shell.run(["ps", "-eo", "args"], check=False)
    return sorted({m.group(1) for m in map(START_RE.search, proc.stdout.splitlines()) if m})


START_RE = re.compile(r"/etc/init\.d/(\S+) start$")


def _bgp_pending(shell: NsShell) -> list[str]:
    if shell.run(["test", "-S", "/run/frr/bgpd.vty"], check=False).returncode != 0:
        return []
    proc = shell.run(["vtysh", "-c", "show bgp summary json"], check=False)
    try:
        peers = json.loads(proc.stdout or "{}").get("ipv4Unicast", {}).get("peers", {})
    except json.JSONDecodeError:
        peers = {"?": {"state": "no answer"}}
    return [f"BGP {a} {p.get('state')}" for a, p in peers.items()
            if p.get("state") != "Established"]


def wait_settled(lab, timeout: float = 120.0) -> list[str]:
    """After reboots: until every host's boot has finished its service starts (in the
    background, as init runs them) and every BGP session FRR has configured is Established
    (read from FRR itself). Returns what is still not settled at the deadline (never
    raises): a service that does not come back is for the acceptance run to report."""
    pending: list[str] = []

    def settled() -> bool:
        pending.clear()
        for name, rec in lab.state.hosts.items():
            if not rec.init_pid or proc_start_time(rec.init_pid) != rec.init_start:
                continue
            shell = hostmod.shell_for(rec)
            pending.extend(f"{name}: {item}" for item in
                           [f"{svc} still starting" for svc in _starting(shell)]
                           + _bgp_pending(shell))
        return not pending
    try:
        wait_until(settled, timeout, "the rebooted hosts to settle", interval=0.25)
    except WaitTimeout:
        pass
    return pending


def quote(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)
