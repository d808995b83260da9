"""The lab's boot (stackproof_lab.boot): parsers of the files a host boots from, the boot
runner's unit parsing and ordering, and the after-boot fact. Inputs are the files as the
suite and the lab write them (render.routes, render.kubelet), not hand-typed variants."""
from __future__ import annotations

from stackproof.facts.boot import parse_fstab_record
from stackproof_lab import boot
from stackproof.render import kubelet as rk
from stackproof.render.routes import StaticRoute, render_persisted


def test_the_debian_route_block_stackproof_writes_comes_back_as_route_commands():
    text = render_persisted("debian", "auto lo\niface lo inet loopback\n",
                            [StaticRoute("198.51.100.7/32", "203.0.113.3", "eth9")])
    stanzas, sources = boot.parse_interfaces(text)
    eth9 = next(s for s in stanzas if s.iface == "eth9")
    cmds = boot.stanza_commands(eth9)
    assert cmds[0] == "ip link set dev eth9 up"
    assert "ip route replace 198.51.100.7/32 via 203.0.113.3 dev eth9" in cmds
    assert sources == []


def test_a_static_stanza_sets_its_address_and_gateway_and_sources_are_followed():
    stanzas, sources = boot.parse_interfaces(
        "source /etc/network/interfaces.d/*\n\nauto eth0\niface eth0 inet static\n"
        "    address 203.0.113.5\n    netmask 255.255.255.0\n    gateway 203.0.113.1\n"
        "    post-up ip route add 198.51.100.0/24 via 203.0.113.9\n")
    assert sources == ["/etc/network/interfaces.d/*"]
    assert boot.stanza_commands(stanzas[0]) == [
        "ip link set dev eth0 up", "ip addr replace 203.0.113.5/24 dev eth0",
        "ip route replace default via 203.0.113.1 dev eth0",
        "ip route add 198.51.100.0/24 via 203.0.113.9"]


def test_rhel_route_files_in_both_syntaxes():
    assert boot.rhel_route_commands("eth1", "198.51.100.7/32 via 203.0.113.3 dev eth1\n") == \
        ["ip route replace 198.51.100.7/32 via 203.0.113.3 dev eth1"]
    assert boot.rhel_route_commands(
        "eth1", "ADDRESS0=198.51.100.0\nNETMASK0=255.255.255.0\nGATEWAY0=203.0.113.3\n") == \
        ["ip route replace 198.51.100.0/24 via 203.0.113.3 dev eth1"]


def test_sysctl_files_and_fstab_swap():
    assert boot.parse_sysctl("# c\nnet.ipv4.ip_forward = 1\n-net/ipv4/conf/all/rp_filter=2\n"
                             "kernel.panic=3\n") == \
        [("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.rp_filter", "2"),
         ("kernel.panic", "3")]
    entries = boot.parse_fstab("UUID=x / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n"
                               "#/old none swap sw 0 0\n/s2 none swap noauto 0 0\n")
    assert boot.swap_on_boot(entries) == ["/swapfile"]


def test_the_kubelet_ip_unit_is_run_as_a_oneshot_after_the_network():
    u = boot.parse_unit(rk.UNIT_NAME, rk.UNIT_PATH, rk.unit_text("198.51.100.7"))
    assert u.type == "oneshot" and u.remain_after_exit
    assert u.exec_start == [f"{rk.IP_BIN} addr add 198.51.100.7/32 dev lo"]
    assert "network-online.target" in u.after and "kubelet.service" in u.before
    argv, ignore = boot.exec_argv("-" + u.exec_start[0])
    assert argv[:3] == [rk.IP_BIN, "addr", "add"] and ignore


def test_units_are_ordered_by_after_and_before():
    a = boot.parse_unit("a.service", "/a", "[Unit]\nAfter=c.service\n[Service]\nExecStart=/a\n")
    b = boot.parse_unit("b.service", "/b", "[Unit]\nBefore=a.service\n[Service]\nExecStart=/b\n")
    c = boot.parse_unit("c.service", "/c", "[Service]\nExecStart=/c\n")
    assert [u.name for u in boot.order_units([a, b, c])] == ["b.service", "c.service",
                                                             "a.service"]
    # a cycle is broken, not an endless loop
    x = boot.parse_unit("x.service", "/x", "[Unit]\nAfter=y.service\n")
    y = boot.parse_unit("y.service", "/y", "[Unit]\nAfter=x.service\n")
    assert len(boot.order_units([x, y])) == 2


def test_the_boot_record_fact():
    assert not parse_fstab_record(None).recorded
    rec = parse_fstab_record('{"entries": [], "swap_on_boot": ["/swapfile"]}')
    assert rec.recorded and rec.swap_on_boot == ("/swapfile",)
