"""The lab's stand-in for a host's boot: bring a lab host up from its persisted files only.

`stackproof lab reboot HOST` (stackproof_lab/reboot.py) ends every process of a host and
flushes its runtime state; this module then boots it the way the host's own files say, in
the order a Debian or RHEL host with systemd boots:

    1. hostname       the first word of /etc/hostname (`hostname` set from nothing else)
    2. sysctl         /etc/sysctl.conf and /etc/sysctl.d/*.conf, in name order; only keys
                      under net.ipv4 / net.ipv6 are applied (they belong to the host's
                      network namespace); any other key is recorded, never written (it would
                      be the machine's kernel)
    3. network        Debian: /etc/network/interfaces and what it `source`s: every stanza of
                      an existing device is brought up (`address`, `gateway`, `up`/`post-up`
                      lines); RHEL: ifcfg-<dev> IPADDR/PREFIX/GATEWAY and route-<dev> files
                      (`ip route` syntax or ADDRESSn/NETMASKn/GATEWAYn)
    4. fstab          /etc/fstab parsed and recorded in /run/stackproof-boot/fstab.json
                      (swap entries as `swap_on_boot`): never mounted, never swapon
    5. Open vSwitch   ovsdb-server + ovs-vswitchd from the persisted /etc/openvswitch/conf.db
                      (bridges and ports come back from the database, flows do not)
    6. libvirt        libvirtd started; it autostarts the networks and domains marked
                      autostart itself, as at a real boot
    7. firewall       `iptables-restore` of /etc/iptables/rules.v4 (netfilter-persistent) or
                      /etc/sysconfig/iptables (iptables-services), after libvirt: the saved
                      set replaces the rules libvirt just inserted. Debian's own order is the
                      other way round (netfilter-persistent before libvirtd), which puts
                      libvirt's REJECTs back ahead of the saved accepts; the lab boots as an
                      operator who ordered the restore after libvirtd does
    8. FRR            `service frr start` when /etc/frr/daemons enables a daemon: watchfrr
                      loads /etc/frr/frr.conf
    9. chronyd        always with -x (never steers the machine's clock) and without
                      CAP_SYS_TIME, from the host's chrony configuration
   10. sysv services  the init scripts the lab installs for OpenStack's node services
                      (LAB_SYSV_SERVICES), where the host has them
   11. systemd units  the boot runner below

The boot runner (the lab hosts have no systemd): it reads the units enabled for
multi-user.target, i.e. the symlinks in /etc/systemd/system/multi-user.target.wants, whose
unit file is an operator's (it lives in /etc/systemd/system); vendor units from
/lib/systemd/system (the machine's packages: ssh, frr, libvirtd, ...) are listed as skipped,
because steps 6-10 start the lab's daemons themselves. It honours: `After=`/`Before=`
between the units it runs (a stable topological order), `Wants=`/`Requires=` naming other
operator units (pulled in), `Type=oneshot` (ExecStartPre/ExecStart run in order and waited
for; a failing command fails the unit, `-` prefixes ignored), `RemainAfterExit=` (recorded
as active), `Type=simple`/`exec`/`forking` (started in the background), and
`ConditionPathExists=`. Targets (network-online.target, ...) count as reached: units run
after the network step. It does not honour: drop-ins, templates, `Environment*=`,
`User=`/`Group=`, `Restart=`, sockets, timers, paths, `ExecStartPost=`, and any target other
than multi-user.target. What it did is in /run/stackproof-boot/units.json.

Nothing here reads the inventory or the suite's expectations: a host boots from what its
files say, so a persistence check after a reboot proves what the files hold.
"""
from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import asdict, dataclass, field

from stackproof_lab.shell import NsShell

BOOT_DIR = "/run/stackproof-boot"
WANTS_DIR = "/etc/systemd/system/multi-user.target.wants"
UNIT_DIR = "/etc/systemd/system"
CHRONY_CONFS = ("/etc/chrony/chrony.conf", "/etc/chrony.conf")
FIREWALL_FILES = ("/etc/iptables/rules.v4", "/etc/sysconfig/iptables")
RHEL_NET = "/etc/sysconfig/network-scripts"
# init scripts of the lab's OpenStack node services (stackproof_lab.openstack, lab.ovs)
LAB_SYSV_SERVICES = ("neutron-openvswitch-agent", "neutron-dhcp-agent", "neutron-l3-agent",
                     "neutron-metadata-agent", "nova-compute")
NETNS_SYSCTL = ("net.ipv4.", "net.ipv6.")


@dataclass
class BootLog:
    """What one boot did, step by step (written to /run/stackproof-boot/boot.json)."""
    host: str
    steps: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, step: str, **what) -> None:
        self.steps.append({"step": step, **what,
                           "at": round(time.monotonic() - self.started, 2)})


# --- pure parsers ----------------------------------------------------------------------------
def first_word(text: str | None) -> str | None:
    for line in (text or "").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            return line.split()[0]
    return None


def parse_sysctl(text: str) -> list[tuple[str, str]]:
    """(key, value) of a sysctl.conf text; `-key = v` (ignore errors) keeps its key."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = (p.strip() for p in line.split("=", 1))
        out.append((key.lstrip("-").replace("/", "."), value))
    return out


@dataclass(frozen=True)
class FstabEntry:
    spec: str
    mountpoint: str
    fstype: str
    options: str


def parse_fstab(text: str) -> list[FstabEntry]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        words = line.split()
        if len(words) >= 3:
            out.append(FstabEntry(words[0], words[1], words[2],
                                  words[3] if len(words) > 3 else "defaults"))
    return out


def swap_on_boot(entries: list[FstabEntry]) -> list[str]:
    """The swap devices `swapon -a` would turn on at boot (noauto ones excluded)."""
    return [e.spec for e in entries
            if e.fstype == "swap" and "noauto" not in e.options.split(",")]


@dataclass
class Stanza:
    iface: str
    method: str = "manual"
    address: str | None = None
    netmask: str | None = None
    gateway: str | None = None
    up: list[str] = field(default_factory=list)


def parse_interfaces(text: str) -> tuple[list[Stanza], list[str]]:
    """ifupdown's interfaces(5): the `iface` stanzas and the `source` patterns, in order."""
    stanzas: list[Stanza] = []
    sources: list[str] = []
    current: Stanza | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith(("up ", "post-up ")) \
            else raw.strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "iface" and len(words) >= 2:
            current = Stanza(words[1], words[3] if len(words) > 3 else "manual")
            stanzas.append(current)
        elif words[0] in ("source", "source-directory") and len(words) > 1:
            pattern = words[1] if words[0] == "source" else words[1].rstrip("/") + "/*"
            sources.append(pattern)
            current = None
        elif words[0] in ("auto", "allow-hotplug", "mapping") or words[0].startswith("allow-"):
            current = None
        elif current is not None:
            key, rest = words[0], line[len(words[0]):].strip()
            if key in ("up", "post-up"):
                current.up.append(rest)
            elif key == "address":
                current.address = rest
            elif key == "netmask":
                current.netmask = rest
            elif key == "gateway":
                current.gateway = rest
    return stanzas, sources


def _prefixlen(mask: str | None) -> str | None:
    if mask is None:
        return None
    if mask.isdigit():
        return mask
    return str(sum(bin(int(o)).count("1") for o in mask.split(".")))


def stanza_commands(s: Stanza) -> list[str]:
    q = shlex.quote
    cmds = [f"ip link set dev {q(s.iface)} up"]
    if s.method == "static" and s.address:
        addr = s.address if "/" in s.address or not s.netmask else \
            f"{s.address}/{_prefixlen(s.netmask)}"
        cmds.append(f"ip addr replace {q(addr)} dev {q(s.iface)}")
        if s.gateway:
            cmds.append(f"ip route replace default via {q(s.gateway)} dev {q(s.iface)}")
    cmds += s.up          # ifupdown runs them with /bin/sh: so do we
    return cmds


def _kv(text: str) -> dict[str, str]:
    out = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip("\"'")
    return out


def ifcfg_commands(dev: str, text: str) -> list[str]:
    kv, q = _kv(text), shlex.quote
    cmds = [f"ip link set dev {q(dev)} up"]
    if kv.get("IPADDR"):
        plen = kv.get("PREFIX") or _prefixlen(kv.get("NETMASK")) or "32"
        cmds.append(f"ip addr replace {q(kv['IPADDR'])}/{plen} dev {q(dev)}")
    if kv.get("GATEWAY"):
        cmds.append(f"ip route replace default via {q(kv['GATEWAY'])} dev {q(dev)}")
    return cmds


def rhel_route_commands(dev: str, text: str) -> list[str]:
    """route-<dev>: `ip route` lines, or ADDRESSn/NETMASKn/GATEWAYn keys (network-scripts)."""
    q = shlex.quote
    keyed: dict[str, dict[str, str]] = {}
    cmds = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(ADDRESS|NETMASK|GATEWAY)(\d+)=(.*)$", line)
        if m:
            keyed.setdefault(m.group(2), {})[m.group(1)] = m.group(3).strip("\"'")
            continue
        words = line.split()
        if "dev" not in words:
            words += ["dev", dev]
        cmds.append("ip route replace " + " ".join(q(w) for w in words))
    for _, k in sorted(keyed.items()):
        if {"ADDRESS", "GATEWAY"} <= set(k):
            plen = _prefixlen(k.get("NETMASK", "255.255.255.255"))
            cmds.append(f"ip route replace {q(k['ADDRESS'])}/{plen} via {q(k['GATEWAY'])} "
                        f"dev {q(dev)}")
    return cmds


# --- systemd units ---------------------------------------------------------------------------
@dataclass
class Unit:
    name: str
    path: str
    type: str = "simple"
    after: list[str] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    wants: list[str] = field(default_factory=list)
    exec_start_pre: list[str] = field(default_factory=list)
    exec_start: list[str] = field(default_factory=list)
    remain_after_exit: bool = False
    condition_path_exists: list[str] = field(default_factory=list)


def parse_unit(name: str, path: str, text: str) -> Unit:
    u = Unit(name, path)
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if "=" not in line:
            continue
        key, value = (p.strip() for p in line.split("=", 1))
        if section == "Unit":
            if key == "After":
                u.after += value.split()
            elif key == "Before":
                u.before += value.split()
            elif key in ("Wants", "Requires"):
                u.wants += value.split()
            elif key == "ConditionPathExists":
                u.condition_path_exists.append(value)
        elif section == "Service":
            if key == "Type":
                u.type = value
            elif key == "ExecStart":
                u.exec_start = [] if not value else [*u.exec_start, value]
            elif key == "ExecStartPre":
                u.exec_start_pre = [] if not value else [*u.exec_start_pre, value]
            elif key == "RemainAfterExit":
                u.remain_after_exit = value.lower() in ("yes", "true", "1", "on")
    return u


def order_units(units: list[Unit]) -> list[Unit]:
    """A stable topological order by After=/Before= among `units` (name order otherwise);
    an ordering cycle is broken at the first unit left, as systemd breaks one."""
    by_name = {u.name: u for u in units}
    deps: dict[str, set[str]] = {u.name: set() for u in units}
    for u in units:
        deps[u.name] |= {a for a in u.after if a in by_name}
        for b in u.before:
            if b in by_name:
                deps[b].add(u.name)
    out: list[Unit] = []
    left = sorted(by_name)
    while left:
        ready = [n for n in left if not deps[n] & set(left)] or left[:1]
        n = ready[0]
        out.append(by_name[n])
        left.remove(n)
    return out


def exec_argv(line: str) -> tuple[list[str], bool]:
    """An ExecStart= value as argv, and whether a failure is ignored (`-` prefix)."""
    ignore = False
    while line and line[0] in "-@+!:":
        ignore = ignore or line[0] == "-"
        line = line[1:]
    return shlex.split(line), ignore


# --- inside the host -------------------------------------------------------------------------
def _read(shell: NsShell, path: str) -> str | None:
    proc = shell.run(["cat", path], check=False)
    return proc.stdout if proc.returncode == 0 else None


def _glob(shell: NsShell, pattern: str) -> list[str]:
    proc = shell.sh(f"for f in {pattern}; do [ -f \"$f\" ] && echo \"$f\"; done; true",
                    check=False)
    return sorted(proc.stdout.split())


def _sh(shell: NsShell, cmd: str, timeout: float = 60) -> dict:
    import subprocess
    try:
        proc = shell.sh(cmd, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        # a service whose start waits on another host (an agent on its message bus): the
        # boot goes on, as init does after a unit's start timeout
        return {"cmd": cmd, "rc": "timeout", "err": f"still starting after {timeout:.0f} s"}
    return {"cmd": cmd, "rc": proc.returncode,
            **({"err": (proc.stderr or proc.stdout).strip()[:200]} if proc.returncode else {})}


def boot_hostname(shell: NsShell, log: BootLog) -> None:
    name = first_word(_read(shell, "/etc/hostname"))
    if name:
        log.add("hostname", **_sh(shell, f"hostname {shlex.quote(name)}"))
    else:
        log.add("hostname", skipped="/etc/hostname empty or missing: hostname left as is")


def boot_sysctl(shell: NsShell, log: BootLog) -> None:
    files = [f for f in ["/etc/sysctl.conf", *_glob(shell, "/etc/sysctl.d/*.conf")]]
    for f in files:
        text = _read(shell, f)
        if text is None:
            continue
        for key, value in parse_sysctl(text):
            if not key.startswith(NETNS_SYSCTL):
                log.add("sysctl", file=f, key=key, skipped="not a network-namespace key")
                continue
            log.add("sysctl", file=f, **_sh(shell, f"sysctl -qw {shlex.quote(f'{key}={value}')}"))


def _links(shell: NsShell) -> set[str]:
    proc = shell.run(["ip", "-j", "link", "show"], check=False)
    return {link["ifname"] for link in json.loads(proc.stdout or "[]")}


def boot_network(shell: NsShell, log: BootLog) -> None:
    shell.run(["ip", "link", "set", "lo", "up"], check=False)
    links = _links(shell)
    # Debian: interfaces(5), with what it sources
    text = _read(shell, "/etc/network/interfaces")
    if text is not None:
        stanzas, sources = parse_interfaces(text)
        for pattern in sources:
            for f in _glob(shell, pattern):
                more, _ = parse_interfaces(_read(shell, f) or "")
                stanzas += more
        for s in stanzas:
            if s.iface not in links:
                log.add("network", iface=s.iface, skipped="no such device at boot")
                continue
            for cmd in stanza_commands(s):
                log.add("network", iface=s.iface, **_sh(shell, cmd))
    # RHEL: network-scripts
    for f in _glob(shell, f"{RHEL_NET}/ifcfg-*"):
        dev = f.rsplit("ifcfg-", 1)[1]
        if dev in links and dev != "lo":
            for cmd in ifcfg_commands(dev, _read(shell, f) or ""):
                log.add("network", file=f, **_sh(shell, cmd))
    for f in _glob(shell, f"{RHEL_NET}/route-*"):
        dev = f.rsplit("route-", 1)[1]
        if dev not in links:
            log.add("network", file=f, skipped="no such device at boot")
            continue
        for cmd in rhel_route_commands(dev, _read(shell, f) or ""):
            log.add("network", file=f, **_sh(shell, cmd))


def boot_firewall(shell: NsShell, log: BootLog) -> None:
    for f in FIREWALL_FILES:
        if shell.run(["test", "-s", f], check=False).returncode == 0:
            log.add("firewall", file=f, **_sh(shell, f"iptables-restore -w < {shlex.quote(f)}"))
            return
    log.add("firewall", skipped="no saved rules: the firewall starts empty")


def boot_fstab(shell: NsShell, log: BootLog) -> None:
    entries = parse_fstab(_read(shell, "/etc/fstab") or "")
    record = {"entries": [asdict(e) for e in entries], "swap_on_boot": swap_on_boot(entries)}
    shell.run(["/bin/sh", "-c", f"cat > {BOOT_DIR}/fstab.json"], input=json.dumps(record))
    log.add("fstab", recorded=len(entries), swap_on_boot=record["swap_on_boot"])


def boot_ovs(shell: NsShell, log: BootLog) -> None:
    from stackproof_lab.daemons import ovs
    if shell.run(["test", "-s", ovs.DB], check=False).returncode != 0:
        return
    run, logs = ovs.RUN, ovs.LOGS
    log.add("openvswitch", **_sh(shell, " && ".join([
        f"mkdir -p {run} {logs}",
        f"ovsdb-server {ovs.DB} --remote=punix:{run}/db.sock "
        f"--remote=db:Open_vSwitch,Open_vSwitch,manager_options "
        f"--pidfile={run}/ovsdb-server.pid --detach --log-file={logs}/ovsdb-server.log",
        f"ovs-vswitchd --enable-dummy=system --pidfile={run}/ovs-vswitchd.pid --detach "
        f"--log-file={logs}/ovs-vswitchd.log"])))
    # the kernel device the lab stands in for an OVS internal port of a physical bridge
    # (no kernel datapath here): the bridges with the lab's physical port, from the db
    proc = shell.run(["ovs-vsctl", "--timeout=10", "port-to-br", ovs.EXTERNAL_PORT],
                     check=False)
    br = proc.stdout.strip()
    if proc.returncode == 0 and br:
        q = shlex.quote(br)
        log.add("openvswitch", **_sh(shell, f"ip link show {q} >/dev/null 2>&1 || "
                                            f"ip tuntap add dev {q} mode tap; "
                                            f"ip link set {q} up"))


def boot_libvirt(shell: NsShell, log: BootLog) -> None:
    if shell.run(["test", "-x", "/etc/init.d/libvirtd"], check=False).returncode != 0:
        return
    log.add("libvirt", **_sh(shell, "service libvirtd start"))
    # libvirtd autostarts in the background: wait until it answers and has done so
    log.add("libvirt", **_sh(shell, "n=0; until virsh -q -c qemu:///system list >/dev/null "
                                    "2>&1; do n=$((n+1)); [ $n -gt 150 ] && exit 1; "
                                    "sleep 0.1; done", timeout=30))


def boot_frr(shell: NsShell, log: BootLog) -> None:
    daemons = _read(shell, "/etc/frr/daemons") or ""
    if not re.search(r"^\s*\w+d\s*=\s*yes", daemons, re.MULTILINE):
        log.add("frr", skipped="no daemon enabled in /etc/frr/daemons")
        return
    log.add("frr", **_sh(shell, "service frr start", timeout=60))


def boot_chrony(shell: NsShell, log: BootLog) -> None:
    from stackproof_lab.daemons.chrony import chronyd_argv
    conf = next((c for c in CHRONY_CONFS
                 if shell.run(["test", "-s", c], check=False).returncode == 0), None)
    if conf is None:
        return
    proc = shell.run(chronyd_argv(conf), check=False)       # -x, CAP_SYS_TIME dropped
    log.add("chrony", conf=conf, rc=proc.returncode)


def boot_sysv(shell: NsShell, log: BootLog) -> None:
    for name in LAB_SYSV_SERVICES:
        if shell.run(["test", "-x", f"/etc/init.d/{name}"], check=False).returncode == 0:
            # in the background, as init does: an agent whose message bus boots on another
            # node (or later on this one) keeps retrying instead of holding the boot up
            log.add("sysv", service=name, **_sh(
                shell, f"setsid service {name} start >/dev/null 2>&1 </dev/null &"))


def enabled_units(shell: NsShell) -> tuple[list[Unit], list[str]]:
    """Operator units enabled for multi-user.target (pulling in what they Want), and the
    vendor units skipped."""
    proc = shell.sh(f"cd {WANTS_DIR} 2>/dev/null && for f in *; do [ -e \"$f\" ] && "
                    f"echo \"$f $(readlink -f \"$f\")\"; done; true", check=False)
    units: dict[str, Unit] = {}
    skipped = []
    todo = [line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line]
    while todo:
        name, path = todo.pop(0)
        if name in units or not name.endswith(".service"):
            continue
        if not path.startswith(UNIT_DIR + "/"):
            skipped.append(name)
            continue
        text = _read(shell, path)
        if text is None:
            continue
        u = parse_unit(name, path, text)
        units[name] = u
        todo += [[w, f"{UNIT_DIR}/{w}"] for w in u.wants if w.endswith(".service")]
    return order_units(list(units.values())), sorted(skipped)


def run_units(shell: NsShell, log: BootLog) -> list[dict]:
    units, skipped = enabled_units(shell)
    results = []
    for u in units:
        res: dict = {"unit": u.name, "type": u.type, "commands": []}
        missing = [p for p in u.condition_path_exists
                   if (shell.run(["test", "-e", p.lstrip("!")], check=False).returncode == 0)
                   == p.startswith("!")]
        if missing:
            res["state"] = "condition failed"
            results.append(res)
            continue
        state = "active" if u.remain_after_exit or u.type != "oneshot" else "inactive"
        for line in [*u.exec_start_pre, *(u.exec_start if u.type == "oneshot" else [])]:
            argv, ignore = exec_argv(line)
            proc = shell.run(argv, check=False)
            res["commands"].append({"argv": argv, "rc": proc.returncode,
                                    "err": proc.stderr.strip()[:200]})
            if proc.returncode != 0 and not ignore:
                state = "failed"
                break
        if u.type != "oneshot" and state != "failed":
            for line in u.exec_start[:1]:
                argv, _ = exec_argv(line)
                shell.run(["/bin/sh", "-c", f"setsid {shlex.join(argv)} "
                           f">>/var/log/{u.name}.log 2>&1 </dev/null &"], check=False)
                res["commands"].append({"argv": argv, "background": True})
        res["state"] = state
        results.append(res)
    record = {"units": results, "vendor_units_skipped": skipped}
    shell.run(["/bin/sh", "-c", f"cat > {BOOT_DIR}/units.json"], input=json.dumps(record))
    log.add("units", ran=[r["unit"] for r in results],
            failed=[r["unit"] for r in results if r["state"] == "failed"],
            vendor_units_skipped=len(skipped))
    return results


def boot_system(shell: NsShell, log: BootLog) -> None:
    """Steps 1-9: from the hostname to chronyd."""
    shell.run(["mkdir", "-p", BOOT_DIR])
    boot_hostname(shell, log)
    boot_sysctl(shell, log)
    boot_network(shell, log)
    boot_fstab(shell, log)
    boot_ovs(shell, log)
    boot_libvirt(shell, log)
    boot_firewall(shell, log)
    boot_frr(shell, log)
    boot_chrony(shell, log)


def boot_services(shell: NsShell, log: BootLog) -> None:
    """Steps 10-11: the node services' init scripts, then the enabled units."""
    boot_sysv(shell, log)
    run_units(shell, log)
    shell.run(["/bin/sh", "-c", f"cat > {BOOT_DIR}/boot.json"],
              input=json.dumps(asdict(log), indent=1))


def fstab_record(shell: NsShell) -> dict | None:
    text = _read(shell, f"{BOOT_DIR}/fstab.json")
    return json.loads(text) if text else None
