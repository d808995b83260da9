"""libvirt inside lab hypervisors: virtlogd + libvirtd, the inventory's NAT networks, and
one small running domain per guest.

libvirtd runs inside the host's namespaces with the host's private /etc/libvirt,
/var/lib/libvirt, /run/libvirt, /var/log/libvirt, /var/cache/libvirt: `virsh net-start`
makes the bridge, dnsmasq and the LIBVIRT_* iptables chains inside the host only.

Guests: each inventory guest is its own lab host (a namespace plugged into the NAT bridge by
the lab core). So that `virsh list` shows it running as on the real hypervisor, the guest
also gets a domain of its name: diskless, TCG (no nested KVM here), 32 MiB, no boot device
and no NIC option ROM (it idles in the BIOS: about 1% of a core), with the guest's MAC on
its NAT network but the link down: the namespace answers for that MAC, the domain never
sends a frame that would move it in the bridge's forwarding table.

Debian 12 has no sysv script for libvirtd; on hosts whose /etc is private (the lab's /etc
overlay) the lab installs a small one at /etc/init.d/libvirtd, so `service libvirtd
restart` works there as on a sysv host (stackproof.services).
"""
from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from stackproof_lab.daemons.common import (LAB_INIT, DaemonError, read_file, require_private,
                                           wait_until, write_file)
from stackproof_lab.topology import PORTS_DIR, record_port
from stackproof_lab.shell import NsShell
from stackproof.render.libvirt import network_xml
from stackproof.services import service_command
from stackproof.site import Site

QEMU_CONF = "/etc/libvirt/qemu.conf"
NETWORK_DIR = "/etc/libvirt/qemu/networks"
INIT_SCRIPT = "/etc/init.d/libvirtd"
VIRSH = ["virsh", "-c", "qemu:///system"]
GUEST_MEMORY_MIB = 32
READY_TIMEOUT = 30.0
PRIVATE_DIRS = ("/etc/libvirt", "/var/lib/libvirt", "/run/libvirt", "/var/log/libvirt",
                "/var/cache/libvirt")

LIBVIRTD_INIT = """\
#!/bin/sh
### BEGIN INIT INFO
# Provides:          libvirtd
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: libvirt management daemon (stackproof lab stand-in)
### END INIT INFO
# Installed by the stackproof lab: Debian 12 ships no sysv script for libvirtd. Starts
# virtlogd and libvirtd with pid files in /run/libvirt. Stopping libvirtd leaves running
# domains and networks alone, as on any host.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
RUN=/run/libvirt
alive() { [ -r "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
start_one() { alive "$1" || "$1" --daemon --pid-file="$RUN/$1.pid"; }
stop_one() {
    if alive "$1"; then
        pid=$(cat "$RUN/$1.pid"); kill "$pid"; n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
        kill -0 "$pid" 2>/dev/null && { echo "$1 ($pid) did not stop" >&2; return 1; }
    fi
    rm -f "$RUN/$1.pid"
}
case "$1" in
    start) mkdir -p "$RUN" && start_one virtlogd && start_one libvirtd ;;
    stop) stop_one libvirtd ;;
    restart|force-reload) stop_one libvirtd && start_one virtlogd && start_one libvirtd ;;
    reload) alive libvirtd && kill -HUP "$(cat "$RUN/libvirtd.pid")" ;;
    status) if alive libvirtd; then echo "libvirtd is running"; else
                echo "libvirtd is not running"; exit 3; fi ;;
    *) echo "Usage: $0 {start|stop|restart|force-reload|reload|status}" >&2; exit 2 ;;
esac
"""


# --- pure renderers ---------------------------------------------------------------------------
def qemu_conf_for_lab(text: str) -> str:
    """qemu.conf with `user = "root"` and `group = "root"` (no libvirt-qemu account games
    inside a lab host): live settings replaced, missing ones appended."""
    for key in ("user", "group"):
        line = f'{key} = "root"'
        live = re.compile(rf"^[ \t]*{key}[ \t]*=.*$", re.MULTILINE)
        if live.search(text):
            text = live.sub(line, text)
        else:
            text += ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    return text


def guest_domain_xml(site: Site, guest: str, memory_mib: int = GUEST_MEMORY_MIB) -> str:
    """The lab's stand-in domain for an inventory guest (see the module docstring)."""
    g = site.guests()[guest]
    dom = ET.Element("domain", type="qemu")
    ET.SubElement(dom, "name").text = guest
    ET.SubElement(dom, "memory", unit="MiB").text = str(memory_mib)
    ET.SubElement(dom, "vcpu").text = "1"
    os_ = ET.SubElement(dom, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(dom, "clock", offset="utc")
    for event, what in (("on_poweroff", "destroy"), ("on_reboot", "restart"),
                        ("on_crash", "destroy")):
        ET.SubElement(dom, event).text = what
    dev = ET.SubElement(dom, "devices")
    ET.SubElement(dev, "emulator").text = "/usr/bin/qemu-system-x86_64"
    ET.SubElement(dev, "controller", type="usb", model="none")
    nic = ET.SubElement(dev, "interface", type="network")
    ET.SubElement(nic, "mac", address=g.mac)
    ET.SubElement(nic, "source", network=g.network)
    ET.SubElement(nic, "model", type="virtio")
    ET.SubElement(nic, "rom", enabled="no")
    ET.SubElement(nic, "link", state="down")
    ET.SubElement(dev, "memballoon", model="none")
    ET.indent(dom, space="  ")
    return ET.tostring(dom, encoding="unicode") + "\n"


def guests_on(site: Site, host: str) -> list[str]:
    return [n for n, g in site.guests().items() if g.hypervisor == host]


# --- inside a host ----------------------------------------------------------------------------
def virsh(shell: NsShell, *args: str, input: str | None = None, check: bool = True):
    return shell.run([*VIRSH, *args], input=input, check=check, timeout=60)


def libvirtd_command(site: Site, host: str, action: str) -> list[str]:
    return service_command("libvirtd", action, site.os_family_of(host), LAB_INIT)


def _has_init_script(shell: NsShell) -> bool:
    return shell.run(["test", "-x", INIT_SCRIPT], check=False).returncode == 0


def install_init_script(shell: NsShell) -> bool:
    """Put the stand-in sysv script in place if the host has none and its /etc/init.d is
    private. Returns whether `service libvirtd ...` works on the host."""
    if _has_init_script(shell):
        return True
    try:
        write_file(shell, INIT_SCRIPT, LIBVIRTD_INIT, mode=0o755)
    except DaemonError:
        return False                 # the machine's /etc/init.d: never write there
    return True


def _drop_stock_networks(shell: NsShell) -> None:
    """Remove the package's network definitions (Debian: `default`, 192.168.122.0/24 on
    virbr0, autostarted) from the host's private /etc/libvirt, so that a lab host has
    exactly the inventory's networks. Only files identical to the machine's own copy go."""
    machine = Path(NETWORK_DIR)
    for stock in sorted(machine.glob("*.xml")) if machine.is_dir() else []:
        mine = read_file(shell, str(stock))
        if mine is not None and mine == stock.read_text():
            shell.run(["rm", "-f", str(stock), f"{NETWORK_DIR}/autostart/{stock.name}"])


# libvirt runs /etc/libvirt/hooks/network on every network event. A real guest's tap is
# libvirt's own; the lab's guests are veths, so when a network (re)starts this hook plugs
# the ports recorded for its bridge back in, as they were before the restart.
NETWORK_HOOK = f"""#!/bin/sh
# stackproof lab: re-plug the guest ports of a network's bridge when it starts
[ "$2" = started ] || exit 0
bridge=$(sed -n "s/.*<bridge name=.\\([^'\\"]*\\).*/\\1/p" | head -n 1)
[ -n "$bridge" ] && [ -f "{PORTS_DIR}/$bridge" ] || exit 0
while read -r port; do
  ip link set "$port" master "$bridge" up 2>/dev/null || true
done < "{PORTS_DIR}/$bridge"
exit 0
"""


def install_network_hook(shell: NsShell) -> None:
    """Before libvirtd starts: it looks for hook scripts only at start-up."""
    shell.run(["mkdir", "-p", PORTS_DIR])
    write_file(shell, "/etc/libvirt/hooks/network", NETWORK_HOOK, mode=0o755)


def start_libvirtd(shell: NsShell, site: Site, host: str) -> None:
    for d in PRIVATE_DIRS:
        require_private(shell, d)
    _drop_stock_networks(shell)
    install_network_hook(shell)
    conf = read_file(shell, QEMU_CONF) or ""
    write_file(shell, QEMU_CONF, qemu_conf_for_lab(conf), mode=0o600)
    if install_init_script(shell):
        shell.run(libvirtd_command(site, host, "start"), timeout=60)
    else:
        shell.run(["virtlogd", "--daemon", "--pid-file=/run/libvirt/virtlogd.pid"])
        shell.run(["libvirtd", "--daemon", "--pid-file=/run/libvirt/libvirtd.pid"])
    wait_until(lambda: virsh(shell, "version", check=False).returncode == 0, READY_TIMEOUT,
               f"[{host}] libvirtd to answer")


def _keep_uuid(shell: NsShell, xml: str, uuid_cmd: str, name: str) -> str:
    """libvirt refuses to redefine an object under a new (generated) uuid: reuse the one it
    has, if the object exists already."""
    known = virsh(shell, uuid_cmd, name, check=False)
    if known.returncode != 0:
        return xml
    root = ET.fromstring(xml)
    uuid = ET.Element("uuid")
    uuid.text = known.stdout.strip()
    root.insert(1, uuid)                 # after <name>
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def define_networks(shell: NsShell, site: Site, host: str) -> None:
    """net-define + net-start + net-autostart each NAT network of the host (idempotent:
    an active network is left as it is)."""
    for nw in site.hosts[host].nat_networks:
        xml = _keep_uuid(shell, network_xml(site, host, nw), "net-uuid", nw.name)
        virsh(shell, "net-define", "/dev/stdin", input=xml)
        info = virsh(shell, "net-info", nw.name).stdout
        if not re.search(r"^Active:\s+yes", info, re.MULTILINE):
            virsh(shell, "net-start", nw.name)
        if nw.autostart:
            virsh(shell, "net-autostart", nw.name)


def ensure_carrier(shell: NsShell, site: Site, host: str) -> list[str]:
    """A NAT network without any guest has a bridge without carrier, whose prefix the
    kernel marks linkdown and FRR does not advertise. Give such a bridge one veth port (as
    LAB-NOTES does for every lab bridge); networks with guests get carrier from the guests'
    taps. Returns the bridges that got a port."""
    done = []
    for nw in site.hosts[host].nat_networks:
        if any(g.network == nw.name for g in site.guests().values() if g.hypervisor == host):
            continue
        ports = shell.run(["ip", "-j", "link", "show", "master", nw.bridge], check=False)
        if ports.returncode == 0 and ports.stdout.strip() not in ("", "[]"):
            continue
        tag = hashlib.sha1(nw.bridge.encode()).hexdigest()[:6]
        nic, peer = f"nc{tag}a", f"nc{tag}b"
        shell.run(["ip", "link", "add", nic, "type", "veth", "peer", "name", peer])
        shell.run(["ip", "link", "set", nic, "master", nw.bridge, "up"])
        shell.run(["ip", "link", "set", peer, "up"])
        record_port(shell, nw.bridge, nic)
        done.append(nw.bridge)
    return done


def start_guest_domains(shell: NsShell, site: Site, host: str) -> None:
    for guest in guests_on(site, host):
        xml = _keep_uuid(shell, guest_domain_xml(site, guest), "domuuid", guest)
        virsh(shell, "define", "/dev/stdin", input=xml)
        state = virsh(shell, "domstate", guest).stdout.strip()
        if state != "running":
            virsh(shell, "start", guest)
        virsh(shell, "autostart", guest)    # back after a reboot (stackproof_lab.reboot)


def start_libvirt(shell: NsShell, site: Site, host: str) -> None:
    start_libvirtd(shell, site, host)
    define_networks(shell, site, host)
    start_guest_domains(shell, site, host)
    ensure_carrier(shell, site, host)


def stop_libvirt(shell: NsShell, site: Site, host: str) -> None:
    """Destroy the guests' domains and networks, then stop libvirtd (the host's end takes
    the rest anyway)."""
    for guest in guests_on(site, host):
        virsh(shell, "destroy", guest, check=False)
    for nw in site.hosts[host].nat_networks:
        virsh(shell, "net-destroy", nw.name, check=False)
    if _has_init_script(shell):
        shell.run(libvirtd_command(site, host, "stop"), check=False)


def hypervisors(site: Site) -> list[str]:
    return [n for n, h in site.physical_hosts().items()
            if h.nat_networks or "hypervisor" in h.roles]


# --- lab hook ---------------------------------------------------------------------------------
def libvirt_hook(lab, site: Site) -> None:
    """DAEMON hook: libvirtd, the NAT networks and the guests' domains on every hypervisor
    (before the lab core plugs the guest namespaces into the bridges libvirt made)."""
    from stackproof_lab.pool import each
    each(hypervisors(site), lambda host: start_libvirt(lab.shell(host), site, host))
