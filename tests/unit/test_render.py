"""Renderers on both inventories: frr.conf, the daemons file, libvirt network XML, chrony.conf
and the service commands. The frr.conf spelling itself is checked against the real daemon in
tests/lab/test_daemons.py (round trip through `show running-config`)."""
from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stackproof.expect import bgp_hosts, bgp_intent
from stackproof.facts.frr import bgpd_enabled
from stackproof_lab.daemons.chrony import daemon_opts, defaults_text
from stackproof_lab.daemons.libvirt import guest_domain_xml, qemu_conf_for_lab
from stackproof.render.chrony import chrony_conf, chrony_conf_path, site_networks
from stackproof.render.frr import (frr_service_command, normalize_running_config,
                                   render_frr_conf, set_bgpd)
from stackproof.render.libvirt import dhcp_host_xml, dhcp_hosts, network_xml
from stackproof.services import service_command, service_command_for

DATA = Path(__file__).resolve().parents[1] / "data"
STOCK_DAEMONS = DATA / "frr" / "daemons.stock"


def _block(conf: str, start: str, end: str) -> list[str]:
    lines = conf.splitlines()
    i = lines.index(start)
    return lines[i + 1:lines.index(end, i)]


# --- frr.conf -------------------------------------------------------------------------------
def test_seed_ibgp_frr_conf_is_the_reports_final_config(seed_site):
    conf = render_frr_conf(seed_site, "compute-2-host")
    lines = conf.splitlines()
    assert lines[:5] == ["frr defaults traditional", "hostname compute-2-host",
                         "log syslog informational", "no ipv6 forwarding",
                         "service integrated-vtysh-config"]
    router = _block(conf, "router bgp 65000", "exit")
    assert " bgp router-id 10.10.10.3" in router
    assert " timers bgp 3 9" in router
    for peer in ("10.10.10.1", "10.10.10.2"):
        assert f" neighbor {peer} remote-as 65000" in router
        assert f" neighbor {peer} update-source enp2s0" in router
    af = _block(conf, " address-family ipv4 unicast", " exit-address-family")
    assert af == ["  redistribute connected", "  neighbor 10.10.10.1 next-hop-self",
                  "  neighbor 10.10.10.2 next-hop-self"]
    # iBGP needs no policy: no route-map, no prefix-list
    assert "route-map" not in conf and "prefix-list" not in conf
    # never the host itself as a neighbor
    assert "neighbor 10.10.10.3 " not in conf


def test_four_host_ebgp_frr_conf_has_policy_in_and_out(four_site):
    conf = render_frr_conf(four_site, "rack-c")
    assert "router bgp 64613" in conf.splitlines()
    router = _block(conf, "router bgp 64613", "exit")
    assert " bgp router-id 172.31.40.13" in router
    peers = {"172.31.40.11": 64611, "172.31.40.12": 64612, "172.31.40.14": 64614}
    for peer, asn in peers.items():
        assert f" neighbor {peer} remote-as {asn}" in router
        assert f" neighbor {peer} update-source enx0a1b" in router
    af = _block(conf, " address-family ipv4 unicast", " exit-address-family")
    for peer in peers:
        assert f"  neighbor {peer} route-map ALLOW_ALL in" in af
        assert f"  neighbor {peer} route-map ALLOW_ALL out" in af
        assert f"  neighbor {peer} next-hop-self" not in af     # eBGP changes next hop itself
    tail = conf.splitlines()[conf.splitlines().index("exit") + 1:]
    assert tail == ["!", "ip prefix-list ALLOW_ALL_PREFIXES seq 5 permit 0.0.0.0/0 le 32", "!",
                    "route-map ALLOW_ALL permit 10",
                    " match ip address prefix-list ALLOW_ALL_PREFIXES", "exit", "!"]


def test_frr_conf_covers_every_bgp_host_and_only_site_values(inventory):
    _, site = inventory
    for host in bgp_hosts(site):
        conf = render_frr_conf(site, host)
        intent = bgp_intent(site, host)
        assert f"hostname {host}" in conf.splitlines()
        assert conf.count(" remote-as ") == len(intent.neighbors) == len(bgp_hosts(site)) - 1
        # every IPv4 address in the file is an underlay address of the site
        addrs = {w for line in conf.splitlines() for w in line.split()
                 if w.count(".") == 3 and "/" not in w}
        under = {str(site.hosts[h].underlay.address) for h in bgp_hosts(site)}
        assert addrs <= under, addrs - under
        assert "line vty" not in conf            # FRR never prints it back: eternal diff
        assert conf.endswith("!\n")


def test_normalize_running_config_keeps_only_configuration():
    captured = (DATA / "frr" / "seed" / "openstack-host" / "show-running-config.txt").read_text()
    lines = normalize_running_config(captured)
    assert lines[0] == "frr defaults traditional"
    assert not any(line.startswith(("frr version", "Building", "Current")) for line in lines)
    assert "end" not in lines and "!" not in [x.strip() for x in lines]
    assert " bgp router-id 10.10.10.1" in lines            # indentation kept


@pytest.mark.parametrize("case", ["seed", "four-host-ebgp"])
def test_captured_running_config_equals_rendered_config(case):
    """The captured running config of each lab host equals its rendered frr.conf after
    normalisation, and frr-reload.py --test printed no difference (the round trip the lab
    test proves live)."""
    from stackproof.site import load_site
    site = load_site(DATA / "frr" / case / "inventory.yml")
    for host in bgp_hosts(site):
        captured = DATA / "frr" / case / host / "show-running-config.txt"
        assert normalize_running_config(captured.read_text()) == \
            normalize_running_config(render_frr_conf(site, host)), host
        assert (DATA / "frr" / case / host / "frr-reload-test.txt").read_text() == ""


def test_captured_drift_differs_from_rendered_config(seed_site):
    """A wrong remote-as is a difference the normalised comparison sees."""
    captured = (DATA / "frr" / "seed-faults" / "wrong-remote-as" / "compute-2-host" /
                "show-running-config.txt").read_text()
    running = normalize_running_config(captured)
    intended = normalize_running_config(render_frr_conf(seed_site, "compute-2-host"))
    assert sorted(set(intended) - set(running)) == [" neighbor 10.10.10.1 remote-as 65000"]
    assert sorted(set(running) - set(intended)) == [" neighbor 10.10.10.1 remote-as 65001"]


# --- /etc/frr/daemons -------------------------------------------------------------------------
def test_set_bgpd_on_the_stock_daemons_file():
    stock = STOCK_DAEMONS.read_text()
    assert bgpd_enabled(stock) is False
    on = set_bgpd(stock, True)
    assert bgpd_enabled(on) is True
    changed = [(a, b) for a, b in zip(stock.splitlines(), on.splitlines()) if a != b]
    assert changed == [("bgpd=no", "bgpd=yes")]
    assert set_bgpd(on, False) == stock
    assert set_bgpd(on, True) == on                       # idempotent


@pytest.mark.parametrize("text, expected", [
    ("", None), ("#bgpd=yes\n", None), ("bgpd=no\n", False), ("bgpd=0\n", False),
    ("bgpd=yes\n", True), ('bgpd="yes"\n', True), ("bgpd=no\nbgpd=yes\n", True),
    ("bgpd=yes\nbgpd=no\n", False)])
def test_bgpd_enabled_reads_like_frrcommon(text, expected):
    assert bgpd_enabled(text) is expected


def test_set_bgpd_appends_when_missing_and_rewrites_every_line():
    assert set_bgpd("zebra=yes", True) == "zebra=yes\nbgpd=yes\n"
    assert set_bgpd("bgpd=yes\nx=1\nbgpd=yes\n", False) == "bgpd=no\nx=1\nbgpd=no\n"


# --- libvirt ------------------------------------------------------------------------------------
def test_seed_k3snat_network_xml(seed_site):
    root = ET.fromstring(network_xml(seed_site, "compute-2-host", "k3snat"))
    assert root.findtext("name") == "k3snat"
    assert root.find("forward").attrib == {"mode": "nat"}
    assert root.find("bridge").attrib == {"name": "virbr10", "stp": "off", "delay": "0"}
    ip = root.find("ip")
    assert ip.attrib == {"address": "45.120.120.1", "netmask": "255.255.255.0"}
    assert ip.find("dhcp/range").attrib == {"start": "45.120.120.100", "end": "45.120.120.200"}
    assert [h.attrib for h in ip.findall("dhcp/host")] == [
        {"mac": "52:54:00:74:a9:78", "name": "compute2", "ip": "45.120.120.154"}]
    assert root.find("uuid") is None and root.find("mac") is None


def test_network_xml_reservations_follow_the_inventory(inventory):
    _, site = inventory
    for host, h in site.physical_hosts().items():
        for nw in h.nat_networks:
            root = ET.fromstring(network_xml(site, host, nw))
            got = {(x.get("mac"), x.get("name"), x.get("ip")) for x in root.iter("host")}
            want = {(g.mac, n, str(g.address)) for n, g in site.guests().items()
                    if g.hypervisor == host and g.network == nw.name}
            assert got == want and len(got) == len(dhcp_hosts(site, host, nw.name))
            net = ipaddress.ip_network(f"{root.find('ip').get('address')}/"
                                       f"{root.find('ip').get('netmask')}", strict=False)
            assert net == nw.cidr


def test_seed_openstack_host_default_network_holds_both_guests(seed_site):
    root = ET.fromstring(network_xml(seed_site, "openstack-host", "default"))
    assert [h.get("name") for h in root.iter("host")] == ["controller", "compute"]


def test_dhcp_host_xml_is_the_net_update_argument():
    assert dhcp_host_xml("52:54:00:74:a9:78", "compute2", "45.120.120.154") == \
        '<host mac="52:54:00:74:a9:78" name="compute2" ip="45.120.120.154" />'


def test_guest_domain_xml(seed_site):
    root = ET.fromstring(guest_domain_xml(seed_site, "compute2"))
    assert root.get("type") == "qemu" and root.findtext("name") == "compute2"
    assert int(root.findtext("memory")) <= 64 and root.find("memory").get("unit") == "MiB"
    nic = root.find("devices/interface")
    assert nic.find("mac").get("address") == "52:54:00:74:a9:78"
    assert nic.find("source").get("network") == "k3snat"
    assert nic.find("link").get("state") == "down"      # never steals the guest's MAC
    assert root.find("devices/disk") is None and root.find("os/boot") is None


def test_qemu_conf_for_lab_sets_root_once():
    stock = '#user = "libvirt-qemu"\n#group = "libvirt-qemu"\n'
    out = qemu_conf_for_lab(stock)
    assert out.splitlines()[-2:] == ['user = "root"', 'group = "root"']
    assert qemu_conf_for_lab(out) == out
    assert qemu_conf_for_lab('user = "qemu"\nswtpm_user = "tss"\n') == \
        'user = "root"\nswtpm_user = "tss"\ngroup = "root"\n'


# --- chrony -------------------------------------------------------------------------------------
def test_seed_chrony_client_and_server(seed_site):
    client = chrony_conf(seed_site, "compute2").splitlines()
    assert "server controller iburst" in client
    assert not any(line.startswith(("allow", "local")) for line in client)
    assert "driftfile /var/lib/chrony/drift" in client       # rhel
    server = chrony_conf(seed_site, "controller").splitlines()
    assert "local stratum 10" in server
    assert not any(line.startswith("server ") for line in server)
    assert [line for line in server if line.startswith("allow ")] == [
        "allow 10.10.10.0/24", "allow 192.168.100.0/24", "allow 172.20.112.0/24",
        "allow 45.120.120.0/24", "allow 192.168.200.0/24", "allow 10.0.0.0/24"]
    assert chrony_conf_path(seed_site, "controller") == "/etc/chrony.conf"


def test_four_host_chrony(four_site):
    assert "server ctl iburst" in chrony_conf(four_site, "rack-d").splitlines()
    assert "driftfile /var/lib/chrony/chrony.drift" in chrony_conf(four_site, "rack-d")
    assert chrony_conf_path(four_site, "rack-d") == "/etc/chrony/chrony.conf"
    assert site_networks(four_site)[0] == "172.31.40.0/24"
    assert len(site_networks(four_site)) == 1 + 4 + 2


def test_chrony_conf_none_without_time_service(seed_raw):
    from stackproof.site import parse_site
    del seed_raw["time"]
    assert chrony_conf(parse_site(seed_raw), "compute2") is None


def test_lab_chrony_defaults_always_keep_x():
    text = defaults_text("/etc/chrony.conf")
    assert daemon_opts(text)[:1] == ["-x"] and daemon_opts(text)[-2:] == ["-f",
                                                                        "/etc/chrony.conf"]
    assert daemon_opts((DATA / "chrony" / "default-chrony.stock").read_text()) == ["-F", "1"]
    assert daemon_opts('DAEMON_OPTS="-x"\nDAEMON_OPTS="-F 1"\n') == ["-F", "1"]


# --- service commands ----------------------------------------------------------------------------
@pytest.mark.parametrize("service, action, family, init, argv", [
    ("frr", "restart", "rhel", "systemd", ["systemctl", "restart", "frr"]),
    ("frr", "reload", "debian", "sysv", ["service", "frr", "reload"]),
    ("chrony", "restart", "rhel", "systemd", ["systemctl", "restart", "chronyd"]),
    ("chrony", "restart", "debian", "systemd", ["systemctl", "restart", "chrony"]),
    ("chrony", "start", "debian", "sysv", ["service", "chrony", "start"]),
    ("chrony", "status", "rhel", "sysv", ["service", "chronyd", "status"]),
    ("libvirtd", "restart", "debian", "sysv", ["service", "libvirtd", "restart"]),
])
def test_service_command(service, action, family, init, argv):
    assert service_command(service, action, family, init) == argv


def test_service_command_rejects_unknowns():
    with pytest.raises(ValueError):
        service_command("frr", "bounce", "debian", "sysv")
    with pytest.raises(ValueError):
        service_command("frr", "start", "debian", "upstart")
    with pytest.raises(ValueError):
        service_command("ntpd", "start", "debian", "sysv")


def test_service_command_for_uses_site_defaults(seed_site, four_site):
    assert service_command_for(seed_site, "compute2", "chrony", "restart") == \
        ["systemctl", "restart", "chronyd"]
    assert service_command_for(four_site, "ctl", "chrony", "restart") == \
        ["systemctl", "restart", "chrony"]
    assert frr_service_command("restart") == ["service", "frr", "restart"]
