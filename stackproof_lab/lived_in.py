"""A lived-in lab: every host also carries what a real site has and the inventory does not
describe, so the suite is proven against sites it did not build itself.

The operator's content is a fixed profile written here, an independent source: it is never
produced by the suite's render/expect code. Host names and BGP session addresses come from
the site model; every invented value sits in a documentation range (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24). Per host, where the host has the layer:

- FRR (BGP hosts): two prefix-lists, a route-map, a static route to Null0, `log file`, in
  frr.conf and in the running config; an MD5 `neighbor <addr> password <pw>` on both ends
  of one inventory session (the first two BGP hosts), so that session depends on it.
- iptables (every host): an operator chain with rules, jumps and rules in INPUT and
  FORWARD, saved to the rules file the lab loads.
- libvirt (hypervisors): another NAT network with its own bridge and a foreign DHCP
  reservation on the host's first inventory NAT network.
- chrony: an `allow` and a `makestep` directive (file and, for `allow`, the running daemon).
- nova.conf: options and comments; openvswitch_agent.ini: extra sections.
- Open vSwitch: another bridge; /etc/fstab: other entries; kubelet: extra arguments in
  KUBELET_EXTRA_ARGS.

`stackproof lab up --bare` (Lab(..., bare=True)) skips all of it. Seeding is idempotent:
`reseed(lab, host)` puts a host's items back after a fault's heal rewrote its files.
`stackproof_lab.unmanaged` reads these items back to prove no remediation touched them.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
from dataclasses import asdict, dataclass
from pathlib import Path

from stackproof_lab.shell import NsShell
from stackproof.osfamily import profile as os_profile
from stackproof.site import Site, site_networks

MARKER = "lived-in.json"          # in the lab's state dir: this lab was seeded
FRR_CONF = "/etc/frr/frr.conf"
NOVA_CONF = "/etc/nova/nova.conf"
AGENT_INI = "/etc/neutron/plugins/ml2/openvswitch_agent.ini"
VIRSH = "virsh -q -c qemu:///system"
# an operator's shared secret: invented here, masked by stackproof.redact in every output
BGP_PASSWORD = "ops-md5-7Hq2vX9c"


@dataclass(frozen=True)
class FrrItems:
    asn: int
    blocks: tuple[tuple[str, ...], ...]     # top-level lines, each with its sub-lines
    log_line: str
    password_peer: str | None = None        # the neighbor address that gets the password
    password_line: str | None = None        # ` neighbor <addr> password <pw>`

    def top_lines(self) -> list[str]:
        return [self.log_line] + [ln for b in self.blocks for ln in b]


@dataclass(frozen=True)
class LibvirtItems:
    network: str
    bridge: str
    xml: str
    reservation_network: str
    reservation_mac: str
    reservation_name: str
    reservation_ip: str

    @property
    def reservation_xml(self) -> str:
        return (f"<host mac='{self.reservation_mac}' name='{self.reservation_name}' "
                f"ip='{self.reservation_ip}'/>")


@dataclass(frozen=True)
class HostItems:
    """The operator's items on one host (None / empty where the host lacks the layer)."""
    host: str
    frr: FrrItems | None = None
    iptables_chain: str = "OPS-MGMT"
    iptables_rules: tuple[str, ...] = ()    # iptables-save lines of the filter table
    libvirt: LibvirtItems | None = None
    chrony_conf: str | None = None
    chrony_lines: tuple[str, ...] = ()
    chrony_allowed: str | None = None       # an address the operator's `allow` lets in
    nova_conf: str | None = None
    nova_default_lines: tuple[str, ...] = ()
    nova_tail: tuple[str, ...] = ()
    agent_ini: str | None = None
    ini_tail: tuple[str, ...] = ()
    ovs_bridge: str | None = None
    fstab_lines: tuple[str, ...] = ()
    kubelet_file: str | None = None
    kubelet_line: str | None = None


# --- the profile ------------------------------------------------------------------------------
def _bgp_hosts(site: Site) -> list[str]:
    return [n for n, h in site.physical_hosts().items() if "bgp" in h.roles]


def password_session(site: Site) -> tuple[str, str] | None:
    """The inventory BGP session the operator protected with MD5: the first two BGP hosts."""
    hosts = _bgp_hosts(site)
    return (hosts[0], hosts[1]) if len(hosts) >= 2 else None


def _frr(site: Site, host: str, index: int) -> FrrItems:
    blocks = (
        ("ip prefix-list OPS-CUSTOMER-IN seq 5 permit 198.51.100.0/24 le 28",),
        ("ip prefix-list OPS-CUSTOMER-IN seq 10 deny any",),
        ("ip prefix-list OPS-BOGONS seq 5 permit 192.0.2.0/24 le 32",),
        ("route-map OPS-CUSTOMER-IN permit 10",
         " match ip address prefix-list OPS-CUSTOMER-IN",
         " set local-preference 200"),
        ("route-map OPS-CUSTOMER-IN deny 20",),
        (f"ip route 203.0.113.{16 * (index % 16)}/28 Null0",),
    )
    items = dict(asn=site.asn_of(host), blocks=blocks,
                 log_line="log file /var/log/frr/ops-frr.log informational")
    pair = password_session(site)
    if pair and host in pair:
        peer = pair[1] if host == pair[0] else pair[0]
        addr = str(site.hosts[peer].underlay.address)
        items.update(password_peer=addr, password_line=f" neighbor {addr} password {BGP_PASSWORD}")
    return FrrItems(**items)


def _iptables_rules(index: int) -> tuple[str, ...]:
    return (
        "-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 9100 -j ACCEPT",
        "-A INPUT -j OPS-MGMT",
        "-A FORWARD -d 203.0.113.0/24 -j DROP",
        "-A OPS-MGMT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j DROP",
        "-A OPS-MGMT -s 198.51.100.0/24 -p udp -m udp --dport 161 -j ACCEPT",
        "-A OPS-MGMT -j RETURN",
    )


def _free_address(nw, taken: set[str]) -> str:
    """A host address of an inventory NAT network that nothing in the inventory uses."""
    for addr in reversed(list(nw.cidr.hosts())):
        s = str(addr)
        if s in taken or s == str(nw.gateway):
            continue
        if nw.dhcp_range and nw.dhcp_range.start <= addr <= nw.dhcp_range.end:
            continue
        return s
    raise ValueError(f"{nw.name}: no free address for the operator's reservation")


def _operator_subnets(site: Site) -> list[ipaddress.IPv4Network]:
    """The /26s of the documentation ranges that no network of the inventory overlaps: an
    operator's own libvirt network must not take an address the site uses (a generated
    site's ext-net is 192.0.2.0/24, and its gateway sits on a hypervisor)."""
    used = [net for _, net in site_networks(site)]
    free = [sub for base in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
            for sub in ipaddress.ip_network(base).subnets(new_prefix=26)
            if not any(sub.overlaps(u) for u in used)]
    if not free:
        raise ValueError("no documentation range is free of the inventory's networks for "
                         "the operator's libvirt network")
    return free


def _libvirt(site: Site, host: str, index: int) -> LibvirtItems | None:
    h = site.hosts[host]
    if not h.nat_networks:
        return None
    subnets = _operator_subnets(site)
    net = subnets[index % len(subnets)]
    gw = next(net.hosts())
    name, bridge = "ops-backup", "virbr-ops"
    xml = (f"<network>\n  <name>{name}</name>\n  <forward mode='nat'/>\n"
           f"  <bridge name='{bridge}' stp='on' delay='0'/>\n"
           f"  <ip address='{gw}' netmask='{net.netmask}'/>\n</network>\n")
    nw = h.nat_networks[0]
    taken = {str(g.address) for g in site.guests().values()}
    return LibvirtItems(network=name, bridge=bridge, xml=xml, reservation_network=nw.name,
                        reservation_mac=f"52:54:00:0d:0c:{index:02x}",
                        reservation_name=f"ops-ipmi-{index}",
                        reservation_ip=_free_address(nw, taken))


def _has_time(site: Site, host: str) -> bool:
    from stackproof_lab.daemons.chrony import time_hosts    # which hosts run chronyd
    return host in time_hosts(site)


def host_items(site: Site) -> dict[str, HostItems]:
    """The fixed operator profile, per inventory host."""
    from stackproof_lab.templates import kubelet as kt   # which hosts run a kubelet
    from stackproof_lab.daemons.ovs import ovs_hosts
    bgp = _bgp_hosts(site)
    hypervisors = [n for n, h in site.physical_hosts().items() if h.nat_networks]
    ovs = set(ovs_hosts(site))
    nova = {n for n in site.hosts if site.openstack is not None
            and {"nova_compute", "openstack_controller"} & set(site.hosts[n].roles)}
    kube = set(kt.node_hosts(site))
    out = {}
    for i, host in enumerate(site.hosts):
        items: dict = dict(host=host, iptables_rules=_iptables_rules(i),
                           fstab_lines=("# operator: ISO share and scratch space",
                                        "198.51.100.20:/srv/iso /mnt/iso nfs "
                                        "ro,noauto,_netdev 0 0",
                                        "tmpfs /var/tmp/ops tmpfs noauto,size=64m 0 0"))
        if host in bgp:
            items["frr"] = _frr(site, host, bgp.index(host))
        if host in hypervisors:
            items["libvirt"] = _libvirt(site, host, hypervisors.index(host))
        if _has_time(site, host):
            items.update(chrony_conf=os_profile(site, host).chrony_conf,
                         chrony_lines=("# operator: monitoring polls chronyd",
                                       "allow 198.51.100.0/24", "makestep 0.5 5"),
                         chrony_allowed="198.51.100.7")
        if host in nova:
            items.update(nova_conf=NOVA_CONF,
                         nova_default_lines=("# operator: headroom for the host's own services",
                                             "reserved_host_memory_mb = 1024",
                                             "cpu_allocation_ratio = 4.0"),
                         nova_tail=("", "# operator: CPU model for live migration",
                                    "[libvirt]", "cpu_mode = host-model"))
        if host in ovs:
            items.update(agent_ini=AGENT_INI, ovs_bridge="br-ops",
                         ini_tail=("", "# operator: security group logging",
                                   "[network_log]", "rate_limit = 100", "burst_limit = 25",
                                   "", "[oslo_concurrency]",
                                   "lock_path = /var/lib/neutron/lock"))
        if host in kube:
            path = {"rhel": "/etc/sysconfig/kubelet"}.get(site.os_family_of(host),
                                                         "/etc/default/kubelet")
            items.update(kubelet_file=path, kubelet_line='KUBELET_EXTRA_ARGS="--max-pods=150 '
                         '--serialize-image-pulls=false"')
        out[host] = HostItems(**items)
    return out


# --- text edits (pure) ------------------------------------------------------------------------
def frr_conf_with(text: str, f: FrrItems) -> str:
    """frr.conf with the operator's lines: `log file` after the other log lines, the
    password right after its neighbor's remote-as, the rest at the end. Lines already there
    are not added again."""
    lines = text.rstrip("\n").split("\n")
    have = {ln.rstrip() for ln in lines}
    if f.log_line not in have:
        at = max((i for i, ln in enumerate(lines) if ln.startswith(("log ", "hostname "))),
                 default=0)
        lines.insert(at + 1, f.log_line)
    if f.password_line and f.password_line not in have:
        anchor = f" neighbor {f.password_peer} remote-as "
        at = next((i for i, ln in enumerate(lines) if ln.startswith(anchor)), None)
        if at is None:
            at = next(i for i, ln in enumerate(lines) if ln.startswith(f"router bgp {f.asn}"))
        lines.insert(at + 1, f.password_line)
    for block in f.blocks:
        if block[0] not in have:
            lines += ["!", *block] + (["exit"] if len(block) > 1 else [])
    return "\n".join(lines) + "\n"


def with_lines_after_header(text: str, header: str, new: tuple[str, ...]) -> str:
    """`new` lines right after the first `header` line (missing ones only); the header is
    made at the top when the file has none."""
    lines = text.rstrip("\n").split("\n") if text else []
    todo = [ln for ln in new if ln not in lines]
    if not todo:
        return text
    at = next((i for i, ln in enumerate(lines) if ln.strip() == header), None)
    if at is None:
        lines = [header] + lines
        at = 0
    lines[at + 1:at + 1] = todo
    return "\n".join(lines) + "\n"


def with_tail(text: str, tail: tuple[str, ...]) -> str:
    """`tail` appended once (recognized by its first non-blank line)."""
    first = next(ln for ln in tail if ln.strip())
    if first in text.splitlines():
        return text
    return text.rstrip("\n") + "\n" + "\n".join(tail) + "\n"


# --- seeding inside a host --------------------------------------------------------------------
# stackproof_lab.daemons imports this module to register its hooks: its helpers are imported
# at call time (as stackproof_lab.daemons.ovs does)
def read_file(shell: NsShell, path: str) -> str | None:
    from stackproof_lab.daemons.common import read_file as read
    return read(shell, path)


def write_file(shell: NsShell, path: str, text: str, **kw) -> None:
    from stackproof_lab.daemons.common import write_file as write
    write(shell, path, text, **kw)


def save_command() -> str:
    from stackproof_lab.daemons.firewall import save_command as save
    return save()


def _vtysh(shell: NsShell, commands: list[str]) -> None:
    shell.run(["vtysh", *[w for c in commands for w in ("-c", c)]], timeout=30)


def seed_frr(shell: NsShell, f: FrrItems) -> None:
    text = read_file(shell, FRR_CONF) or ""
    new = frr_conf_with(text, f)
    if new != text:
        write_file(shell, FRR_CONF, new, mode=0o640, owner="frr:frr")
    cmds = ["configure terminal", f.log_line]
    for block in f.blocks:
        cmds += [*[ln.strip() for ln in block], "exit"] if len(block) > 1 else [block[0]]
    if f.password_line:
        cmds += [f"router bgp {f.asn}", f.password_line.strip(), "exit"]
    _vtysh(shell, cmds)


def clear_session(shell: NsShell, f: FrrItems) -> None:
    """Restart the protected session now (FRR's connect retry would wait up to 120 s)."""
    if f.password_peer:
        shell.run(["vtysh", "-c", f"clear bgp {f.password_peer}"], check=False)


def seed_iptables(shell: NsShell, it: HostItems) -> None:
    q = shlex.quote
    cmds = ["set -e", f"iptables -w -t filter -N {q(it.iptables_chain)} 2>/dev/null || true"]
    # the chain's own rules first, so the jump from INPUT finds them in place
    ordered = sorted(it.iptables_rules, key=lambda r: not r.startswith(f"-A {it.iptables_chain} "))
    for rule in ordered:
        words = shlex.split(rule)[1:]
        spec = " ".join(q(w) for w in words)
        cmds.append(f"iptables -w -t filter -C {spec} 2>/dev/null || "
                    f"iptables -w -t filter -A {spec}")
    cmds.append(save_command())
    shell.sh("\n".join(cmds))


def seed_libvirt_network(shell: NsShell, lv: LibvirtItems) -> None:
    q = shlex.quote
    path = f"/root/{lv.network}.xml"
    write_file(shell, path, lv.xml, mode=0o600)
    shell.sh(f"{VIRSH} net-info {q(lv.network)} >/dev/null 2>&1 || {VIRSH} net-define {q(path)}; "
             f"{VIRSH} net-info {q(lv.network)} | grep -q '^Active: *yes' || "
             f"{VIRSH} net-start {q(lv.network)}; {VIRSH} net-autostart {q(lv.network)}; "
             f"rm -f {q(path)}")


def seed_libvirt_reservation(shell: NsShell, lv: LibvirtItems) -> None:
    q = shlex.quote
    nw = q(lv.reservation_network)
    shell.sh(f"{VIRSH} net-dumpxml --inactive {nw} | grep -qi {q(lv.reservation_mac)} || "
             f"{VIRSH} net-update {nw} add-last ip-dhcp-host {q(lv.reservation_xml)} "
             f"--live --config")


def seed_files(shell: NsShell, it: HostItems) -> None:
    """chrony, nova.conf, the agent's ini, fstab, kubelet arguments, the extra OVS bridge."""
    q = shlex.quote
    if it.chrony_conf and (text := read_file(shell, it.chrony_conf)) is not None:
        new = with_tail(text, it.chrony_lines)
        if new != text:
            write_file(shell, it.chrony_conf, new)
        allow = next(ln for ln in it.chrony_lines if ln.startswith("allow "))
        shell.run(["chronyc", *allow.split()], check=False)    # the running daemon too
    if it.nova_conf and (text := read_file(shell, it.nova_conf)) is not None:
        new = with_tail(with_lines_after_header(text, "[DEFAULT]", it.nova_default_lines),
                        it.nova_tail)
        if new != text:
            write_file(shell, it.nova_conf, new, mode=0o640, owner=_owner(shell, it.nova_conf))
    if it.agent_ini and (text := read_file(shell, it.agent_ini)) is not None:
        new = with_tail(text, it.ini_tail)
        if new != text:
            write_file(shell, it.agent_ini, new, mode=0o640, owner=_owner(shell, it.agent_ini))
    if it.ovs_bridge:
        shell.run(["ovs-vsctl", "--timeout=10", "--may-exist", "add-br", it.ovs_bridge, "--",
                   "set", "bridge", it.ovs_bridge, "external_ids:owner=operator"])
    # /etc/fstab may be a file bind mount (no rename over it): append in place
    for line in it.fstab_lines:
        shell.sh(f"grep -qxF {q(line)} /etc/fstab || echo {q(line)} >> /etc/fstab")
    if it.kubelet_file and it.kubelet_line:
        text = read_file(shell, it.kubelet_file) or ""
        if it.kubelet_line not in text.splitlines():
            shell.run(["mkdir", "-p", str(Path(it.kubelet_file).parent)])
            write_file(shell, it.kubelet_file, text + it.kubelet_line + "\n")


def _owner(shell: NsShell, path: str) -> str:
    return shell.run(["stat", "-c", "%U:%G", path]).stdout.strip()


# --- lab hooks --------------------------------------------------------------------------------
def is_lived_in(state_dir: Path | str) -> bool:
    return (Path(state_dir) / MARKER).is_file()


def _wanted(lab) -> bool:
    return not getattr(lab, "bare", False)


def lived_in_daemon_hook(lab, site: Site) -> None:
    """DAEMON hook, after libvirt and FRR: the operator's libvirt network and reservation
    (before the firewall hook puts the site's rules ahead of libvirt's), FRR's items and the
    MD5 password on both ends of its session (the converge hook then waits for it)."""
    if not _wanted(lab):
        return
    items = host_items(site)
    # what was seeded where (never the password: the profile is in this module)
    (Path(lab.state_dir) / MARKER).write_text(json.dumps(
        {"password_session": password_session(site),
         "hosts": {h: sorted(k for k, v in asdict(it).items() if v and k != "host")
                   for h, it in items.items()}}, indent=1) + "\n")
    for host, it in items.items():
        if it.libvirt:
            seed_libvirt_network(lab.shell(host), it.libvirt)
            seed_libvirt_reservation(lab.shell(host), it.libvirt)
    for host, it in items.items():
        if it.frr:
            seed_frr(lab.shell(host), it.frr)
    for host, it in items.items():
        if it.frr:
            clear_session(lab.shell(host), it.frr)


def lived_in_guest_hook(lab, site: Site) -> None:
    """GUEST hook, last: iptables, chrony, nova.conf, the agent's ini, OVS, fstab, kubelet."""
    if not _wanted(lab):
        return
    for host, it in host_items(site).items():
        shell = lab.shell(host)
        seed_iptables(shell, it)
        seed_files(shell, it)
    lab.say(f"lived-in: operator items seeded on {len(site.hosts)} hosts "
            f"(`lab up --bare` for a clean lab)")


def _seed_host(shell, it) -> None:
    """One host's operator items, seeded again (idempotent): libvirt, FRR, firewall, files."""
    if it.libvirt:
        seed_libvirt_network(shell, it.libvirt)
        seed_libvirt_reservation(shell, it.libvirt)
    if it.frr:
        seed_frr(shell, it.frr)
    seed_iptables(shell, it)
    seed_files(shell, it)


def reseed(lab, host: str | None) -> None:
    """Put a host's operator items back (after a fault's heal rewrote its files); no-op on
    a bare lab."""
    if host is None or not is_lived_in(lab.state_dir):
        return
    it = host_items(lab.site).get(host)
    if it is None:
        return
    shell = lab.shell(host)
    _seed_host(shell, it)
    if it.frr:
        clear_session(shell, it.frr)


def reseed_all(lab) -> None:
    """Every host's operator items back (after a remediation removed some: a failed test must
    not leave the next one a lab that is no longer lived in); no-op on a bare lab. Sessions
    are cleared once every host has its password again."""
    if not is_lived_in(lab.state_dir):
        return
    items = host_items(lab.site)
    for host, it in items.items():
        _seed_host(lab.shell(host), it)
    for host, it in items.items():
        if it.frr:
            clear_session(lab.shell(host), it.frr)
