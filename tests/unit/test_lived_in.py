"""The lived-in lab's operator profile and the read-back that proves no remediation touched
it (stackproof_lab.lived_in, stackproof_lab.unmanaged), on outputs captured from a real
lived-in lab (tests/data/unmanaged/capture.py)."""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

from stackproof_lab import lived_in, unmanaged
from stackproof.render.frr import render_frr_conf
from stackproof.site import parse_site

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "unmanaged" / "homelab"
DOC = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


def lab_site(name: str):
    """The site as the lab builds it (every host Debian, as Lab._lab_inventory_data says)."""
    data = yaml.safe_load((ROOT / "inventories" / name).read_text())
    for h in data["hosts"].values():
        h["os_family"] = "debian"
    return parse_site(data, name)


@pytest.fixture(scope="module")
def seed():
    return lab_site("seed.yml")


def captured(site, host: str) -> tuple[lived_in.HostItems, dict[str, str]]:
    it = lived_in.host_items(site)[host]
    return it, unmanaged.split_output(it, (DATA / f"{host}.out").read_text())


@pytest.mark.parametrize("host", ["openstack-host", "controller", "master"])
def test_a_freshly_seeded_host_has_every_item_in_place(seed, host):
    it, out = captured(seed, host)
    items = unmanaged.items_of(it, out)
    assert unmanaged.not_in_place({host: items}) == []
    assert len(items) >= 15


def test_the_protected_session_and_the_foreign_reservation_are_read(seed):
    it, out = captured(seed, "openstack-host")
    items = unmanaged.items_of(it, out)
    peer = it.frr.password_peer
    assert items[f"BGP session to {peer} (MD5 password)"] == "Established"
    lv = it.libvirt
    for kind in ("live", "config"):
        assert lv.reservation_mac in items[f"libvirt {lv.reservation_network} reservation "
                                           f"{lv.reservation_mac} ({kind})"]
    assert items[f"chronyd access for {it.chrony_allowed}"] == "allowed"


def _changed(seed, host, section, edit):
    it, out = captured(seed, host)
    before = {host: unmanaged.items_of(it, out)}
    out = dict(out, **{section: edit(out[section])})
    return unmanaged.diff(before, {host: unmanaged.items_of(it, out)})


def test_a_dropped_password_is_named_and_stays_secret(seed):
    changes = _changed(seed, "openstack-host", "frr_running",
                       lambda t: re.sub(r"(?m)^ neighbor \S+ password .*\n", "", t))
    assert changes == ["openstack-host: FRR running config: neighbor 10.10.10.2 password ***: "
                       "present -> absent"]
    assert lived_in.BGP_PASSWORD not in "\n".join(changes)


def test_a_session_down_and_a_duplicated_line_are_named(seed):
    assert _changed(seed, "openstack-host", "bgp_summary",
                    lambda t: t.replace('"Established"', '"Connect"', 1)) == [
        "openstack-host: BGP session to 10.10.10.2 (MD5 password): Established -> Connect"]
    line = "ip route 203.0.113.0/28 Null0"
    assert _changed(seed, "openstack-host", "frr_conf", lambda t: t + line + "\n") == [
        f"openstack-host: /etc/frr/frr.conf: {line}: present -> present 2 times"]


def test_a_reservation_lost_live_only_is_told_apart_from_the_saved_one(seed):
    it, _ = captured(seed, "openstack-host")
    mac = it.libvirt.reservation_mac
    changes = _changed(seed, "openstack-host", "resv_live",
                       lambda t: re.sub(rf"(?m)^.*{mac}.*\n", "", t))
    assert len(changes) == 1 and changes[0].startswith(
        f"openstack-host: libvirt default reservation {mac} (live): <host ")
    assert changes[0].endswith("-> absent")


def test_ini_nova_kubelet_and_ovs_items(seed):
    assert _changed(seed, "controller", "agent_ini",
                    lambda t: t.replace("[network_log]\n", "")) == [
        "controller: /etc/neutron/plugins/ml2/openvswitch_agent.ini: [network_log]: "
        "present -> absent"]
    assert _changed(seed, "controller", "ovs_bridge", lambda t: "") == [
        "controller: OVS bridge br-ops: present (owner operator) -> absent"]
    assert _changed(seed, "master", "kubelet", lambda t: "") == [
        'master: /etc/default/kubelet: KUBELET_EXTRA_ARGS="--max-pods=150 '
        '--serialize-image-pulls=false": present -> absent']


def test_an_unchanged_snapshot_has_no_diff_and_a_missing_host_is_named(seed):
    it, out = captured(seed, "master")
    snap = {"master": unmanaged.items_of(it, out)}
    assert unmanaged.diff(snap, snap) == []
    assert all(c.endswith("-> not read") for c in unmanaged.diff(snap, {}))


@pytest.mark.parametrize("inventory", ["seed.yml", "four-host-ebgp.yml"])
def test_invented_values_are_documentation_addresses(inventory):
    site = lab_site(inventory)
    for host, it in lived_in.host_items(site).items():
        text = "\n".join([*(it.frr.top_lines() if it.frr else []), *it.iptables_rules,
                          *it.fstab_lines, *it.chrony_lines, it.chrony_allowed or "",
                          it.libvirt.xml if it.libvirt else ""])
        for word in re.findall(r"\d+\.\d+\.\d+\.\d+(?:/\d+)?", text):
            if word.startswith("255."):
                continue                                   # a netmask
            net = ipaddress.ip_network(word, strict=False)
            assert any(net.subnet_of(d) for d in DOC), (host, word)


@pytest.mark.parametrize("inventory", ["seed.yml", "four-host-ebgp.yml"])
def test_one_session_gets_the_password_on_both_ends(inventory):
    site = lab_site(inventory)
    items = lived_in.host_items(site)
    ends = {h: it.frr.password_peer for h, it in items.items() if it.frr and it.frr.password_peer}
    assert len(ends) == 2
    (a, pa), (b, pb) = ends.items()
    assert pa == str(site.hosts[b].underlay.address) and pb == str(site.hosts[a].underlay.address)


def test_frr_conf_edit_keeps_the_file_and_is_idempotent(seed):
    it = lived_in.host_items(seed)["openstack-host"].frr
    base = render_frr_conf(seed, "openstack-host")
    once = lived_in.frr_conf_with(base, it)
    assert lived_in.frr_conf_with(once, it) == once
    assert all(ln in once.splitlines() for ln in base.splitlines())
    lines = once.splitlines()
    at = lines.index(it.password_line)
    assert lines[at - 1].startswith(f" neighbor {it.password_peer} remote-as ")


def test_nova_conf_lines_go_under_default_once():
    text = "# head\n[DEFAULT]\ndebug = false\n\n[api]\nauth_strategy = keystone\n"
    lines = ("# operator", "reserved_host_memory_mb = 1024")
    once = lived_in.with_lines_after_header(text, "[DEFAULT]", lines)
    assert once.splitlines()[2:4] == list(lines)
    assert lived_in.with_lines_after_header(once, "[DEFAULT]", lines) == once
    tail = ("", "[libvirt]", "cpu_mode = host-model")
    assert lived_in.with_tail(lived_in.with_tail(once, tail), tail) == \
        lived_in.with_tail(once, tail)


def test_the_operators_libvirt_network_stays_clear_of_the_sites_networks():
    """A generated site's ext-net is 192.0.2.0/24 with its gateway on a hypervisor: the
    operator's network there would never start (seen on the 10-hypervisor fleet lab)."""
    import importlib.util
    from stackproof.site import site_networks
    spec = importlib.util.spec_from_file_location("generate_site",
                                                  ROOT / "scripts/generate_site.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    site = parse_site(gen.generate(10, 2), "fleet.yml")
    used = [net for _, net in site_networks(site)]
    assert any(u.subnet_of(DOC[0]) for u in used)     # the clash this test is about
    nets = {h: ipaddress.ip_network(it.libvirt.xml.split("address='")[1].split("'")[0] + "/26",
                                    strict=False)
            for h, it in lived_in.host_items(site).items() if it.libvirt}
    assert len(nets) == 10
    assert not [(h, n) for h, n in nets.items() if any(n.overlaps(u) for u in used)]
