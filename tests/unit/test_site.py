"""The site model: both inventories load, and every bad inventory is refused with one
readable line per problem (field path, value, reason), never a traceback."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from stackproof.site import InventoryError, Site, load_site, parse_site

ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = ROOT / "inventories"
BAD_INVENTORIES = ROOT / "tests" / "data" / "inventories"
INVENTORY_FILES = ("seed.yml", "four-host-ebgp.yml")

# --- both inventories load ---------------------------------------------------------------


@pytest.mark.parametrize("name", INVENTORY_FILES)
def test_inventory_loads(name):
    site = load_site(INVENTORIES / name)
    assert isinstance(site, Site)
    assert site.physical_hosts() and site.guests() and site.instances()


def test_seed_model_lookups(seed_site):
    s = seed_site
    assert s.site == "homelab"
    assert set(s.physical_hosts()) == {"openstack-host", "kubernetes-host", "compute-2-host"}
    assert set(s.guests()) == {"controller", "compute", "master", "compute2"}
    assert set(s.instances()) == {"k8s-worker-1", "k8s-worker-2"}
    assert str(s.underlay_cidr) == "10.10.10.0/24"
    assert str(s.address_of("compute-2-host")) == "10.10.10.3"
    assert str(s.address_of("compute2")) == "45.120.120.154"
    assert s.hypervisor_of("compute2") == "compute-2-host"
    assert s.hypervisor_of("k8s-worker-2") == "compute-2-host"
    assert s.hypervisor_of("k8s-worker-1") == "openstack-host"
    assert s.hypervisor_of("openstack-host") is None
    assert {s.asn_of(h) for h in s.physical_hosts()} == {65000}
    assert str(s.nat_network("compute-2-host", "k3snat").cidr) == "45.120.120.0/24"
    assert sorted(s.with_role("nova_compute")) == ["compute", "compute2"]
    assert s.os_family_of("compute2") == "rhel" and s.init_of("compute2") == "systemd"


def test_four_host_model_lookups(four_site):
    s = four_site
    assert s.bgp.mode == "ebgp" and s.bgp.asn is None
    asns = [s.asn_of(h) for h in s.physical_hosts()]
    assert len(asns) == 4 and len(set(asns)) == 4
    assert s.os_family_of("rack-a") == "debian"


def test_ssh_defaults_to_the_reachable_address(seed_site):
    assert seed_site.ssh_of("compute-2-host").address == "10.10.10.3"
    assert seed_site.ssh_of("compute2").address == "45.120.120.154"
    assert seed_site.ssh_of("compute2").user == "root"
    # an instance's tenant address (10.0.0.12) is unreachable from outside: use its floating IP
    assert seed_site.ssh_of("k8s-worker-2").address == "192.168.200.129"


def test_ssh_host_settings_overlay_site_defaults(seed_raw):
    seed_raw["ssh"] = {"user": "ops", "port": 2222}
    seed_raw["hosts"]["compute2"]["ssh"] = {"port": 22, "address": "jump-target"}
    s = parse_site(seed_raw)
    assert (s.ssh_of("compute2").user, s.ssh_of("compute2").port) == ("ops", 22)
    assert s.ssh_of("compute2").address == "jump-target"
    assert (s.ssh_of("master").user, s.ssh_of("master").port) == ("ops", 2222)


# --- bad inventories: one clear line per problem -----------------------------------------

def _walk(data, path):
    for key in path[:-1]:
        data = data[key]
    return data, path[-1]


def put(path, value):
    def mutate(data):
        parent, key = _walk(data, path)
        parent[key] = value
    return mutate


def drop(path):
    def mutate(data):
        parent, key = _walk(data, path)
        del parent[key]
    return mutate


def rename_host(old, new):
    def mutate(data):
        data["hosts"][new] = data["hosts"].pop(old)
    return mutate


def nat(name, bridge, cidr, prefix):
    """A NAT network whose gateway and DHCP range sit in `prefix`.x (so only `cidr` matters)."""
    return {"name": name, "bridge": bridge, "cidr": cidr, "gateway": f"{prefix}.1",
            "dhcp_range": {"start": f"{prefix}.100", "end": f"{prefix}.200"}}


def both(*mutations):
    def mutate(data):
        for m in mutations:
            m(data)
    return mutate


SEED, FOUR = "seed.yml", "four-host-ebgp.yml"
C2H_NAT = ("hosts", "compute-2-host", "nat_networks", 0)
EXT = ("openstack", "external_network")

# (id, inventory, mutation, the exact line expected among the problems)
BAD = [
    ("invalid-nat-cidr", SEED, put(C2H_NAT + ("cidr",), "45.120.120.0/33"),
     "hosts.compute-2-host.nat_networks[0].cidr: 45.120.120.0/33: "
     "Input is not a valid IPv4 network"),
    ("invalid-underlay-cidr", SEED, put(("underlay", "cidr"), "10.10.10.1/24"),
     "underlay.cidr: 10.10.10.1/24: Input is not a valid IPv4 network"),
    ("invalid-address", SEED, put(("hosts", "openstack-host", "underlay", "address"),
                                  "10.10.10.300"),
     "hosts.openstack-host.underlay.address: 10.10.10.300: Input is not a valid IPv4 address"),
    ("duplicate-guest-address", SEED, put(("hosts", "compute", "address"), "192.168.100.101"),
     "hosts.compute.address: 192.168.100.101: already used by hosts.controller.address"),
    ("guest-on-gateway", SEED, put(("hosts", "compute2", "address"), "45.120.120.1"),
     "hosts.compute2.address: 45.120.120.1: already used by "
     "hosts.compute-2-host.nat_networks[0].gateway"),
    ("duplicate-floating-ip", SEED, put(("hosts", "k8s-worker-2", "floating_ip"),
                                        "192.168.200.106"),
     "hosts.k8s-worker-2.floating_ip: 192.168.200.106: already used by "
     "hosts.k8s-worker-1.floating_ip"),
    ("duplicate-mac", SEED, put(("hosts", "compute2", "mac"), "52:54:00:1c:10:65"),
     "hosts.compute2.mac: 52:54:00:1c:10:65: already used by hosts.controller.mac"),
    ("guest-hypervisor-unknown", SEED, put(("hosts", "compute2", "hypervisor"), "compute-3-host"),
     "hosts.compute2.hypervisor: compute-3-host: not a physical host of this inventory"),
    ("guest-hypervisor-is-guest", SEED, put(("hosts", "compute2", "hypervisor"), "controller"),
     "hosts.compute2.hypervisor: controller: not a physical host of this inventory"),
    ("gateway-host-unknown", SEED, put(EXT + ("gateway_on", "host"), "nowhere"),
     "openstack.external_network.gateway_on.host: nowhere: not a physical host of this "
     "inventory"),
    ("instance-compute-unknown", SEED, put(("hosts", "k8s-worker-2", "compute"), "compute9"),
     "hosts.k8s-worker-2.compute: compute9: not a host with role nova_compute"),
    ("guest-network-missing-on-hypervisor", SEED, put(("hosts", "compute2", "network"), "default"),
     "hosts.compute2.network: default: compute-2-host has no such NAT network "
     "(has ['k3snat'])"),
    ("address-outside-network", SEED, put(("hosts", "compute2", "address"), "45.120.121.9"),
     "hosts.compute2.address: 45.120.121.9: outside its network k3snat (45.120.120.0/24)"),
    ("underlay-address-outside", SEED, put(("hosts", "compute-2-host", "underlay", "address"),
                                           "10.10.11.3"),
     "hosts.compute-2-host.underlay.address: 10.10.11.3: outside the underlay 10.10.10.0/24"),
    ("instance-outside-tenant", SEED, put(("hosts", "k8s-worker-1", "address"), "10.0.1.11"),
     "hosts.k8s-worker-1.address: 10.0.1.11: outside the tenant network 10.0.0.0/24"),
    ("dhcp-range-outside", SEED, put(C2H_NAT + ("dhcp_range", "end"), "45.120.121.9"),
     "hosts.compute-2-host.nat_networks[0].dhcp_range.end: 45.120.121.9: "
     "outside the network 45.120.120.0/24"),
    ("dhcp-range-reversed", SEED, put(C2H_NAT + ("dhcp_range", "start"), "45.120.120.250"),
     "hosts.compute-2-host.nat_networks[0].dhcp_range.start: 45.120.120.250: "
     "after end 45.120.120.200"),
    ("nat-gateway-outside", SEED, put(C2H_NAT + ("gateway",), "45.120.121.1"),
     "hosts.compute-2-host.nat_networks[0].gateway: 45.120.121.1: "
     "outside the network 45.120.120.0/24"),
    ("ext-gateway-outside", SEED, put(EXT + ("gateway",), "192.168.201.1"),
     "openstack.external_network.gateway: 192.168.201.1: outside the network 192.168.200.0/24"),
    ("ext-pool-outside", SEED, put(EXT + ("pool", "end"), "192.168.201.200"),
     "openstack.external_network.pool.end: 192.168.201.200: "
     "outside the network 192.168.200.0/24"),
    ("floating-ip-outside-pool", SEED, put(("hosts", "k8s-worker-2", "floating_ip"),
                                           "192.168.200.250"),
     "hosts.k8s-worker-2.floating_ip: 192.168.200.250: outside the external pool "
     "192.168.200.10-192.168.200.200"),
    ("unknown-role", SEED, put(("hosts", "compute2", "roles"), ["nova_compute", "ovs_agnet"]),
     "hosts.compute2.roles[1]: ovs_agnet: unknown role (known: bgp, hypervisor, "
     "kube_control_plane, kube_worker, network_node, nova_compute, openstack_controller, "
     "ovs_agent)"),
    ("unknown-role-physical", SEED, put(("hosts", "openstack-host", "roles"), ["bgpd"]),
     "hosts.openstack-host.roles[0]: bgpd: unknown role (known: bgp, hypervisor, "
     "kube_control_plane, kube_worker, network_node, nova_compute, openstack_controller, "
     "ovs_agent)"),
    ("typo-guest-field", SEED, both(drop(("hosts", "compute2", "address")),
                                    put(("hosts", "compute2", "adress"), "45.120.120.154")),
     "hosts.compute2.adress: 45.120.120.154: unknown field"),
    ("typo-physical-field", SEED, put(("hosts", "compute-2-host", "underlay", "iface"), "enp2s0"),
     "hosts.compute-2-host.underlay.iface: enp2s0: unknown field"),
    ("typo-instance-field", SEED, put(("hosts", "k8s-worker-2", "floatingip"), "192.168.200.9"),
     "hosts.k8s-worker-2.floatingip: 192.168.200.9: unknown field"),
    ("typo-top-level", SEED, put(("overlayy",), {"udp_port": 4789}),
     "overlayy: (a mapping): unknown field"),
    ("missing-required-field", SEED, drop(("hosts", "compute2", "mac")),
     "hosts.compute2.mac: missing: this field is required"),
    ("ibgp-without-asn", SEED, drop(("bgp", "asn")),
     "bgp.asn: missing: ibgp needs one AS for all hosts"),
    ("ibgp-host-asn-differs", SEED, put(("hosts", "compute-2-host", "asn"), 65003),
     "hosts.compute-2-host.asn: 65003: differs from the iBGP AS 65000"),
    ("ebgp-with-site-asn", FOUR, put(("bgp", "asn"), 64600),
     "bgp.asn: 64600: ebgp takes an `asn` per host, not one for the site"),
    ("ebgp-host-without-asn", FOUR, drop(("hosts", "rack-c", "asn")),
     "hosts.rack-c.asn: missing: ebgp needs an ASN per bgp host"),
    ("ebgp-duplicate-asn", FOUR, put(("hosts", "rack-c", "asn"), 64611),
     "hosts.rack-c.asn: 64611: already the ASN of rack-a (ebgp: one per host)"),
    ("asn-out-of-range", FOUR, put(("hosts", "rack-c", "asn"), 0),
     "hosts.rack-c.asn: 0: Input should be greater than or equal to 1"),
    # the report's very fault: ext-net put on the libvirt NAT range of its own host
    ("ext-net-overlaps-nat", SEED, put(EXT, {
        "name": "ext-net", "cidr": "192.168.100.0/24", "gateway": "192.168.100.254",
        "pool": {"start": "192.168.100.210", "end": "192.168.100.250"},
        "gateway_on": {"host": "openstack-host", "bridge": "virbr10"}}),
     "openstack.external_network.cidr: 192.168.100.0/24: overlaps "
     "hosts.openstack-host.nat_networks[0].cidr (192.168.100.0/24)"),
    ("nat-overlaps-other-host", FOUR, put(("hosts", "rack-b", "nat_networks", 0),
                                          nat("kubenat", "virbr2", "10.61.0.0/16", "10.61.200")),
     "hosts.rack-b.nat_networks[0].cidr: 10.61.0.0/16: overlaps "
     "hosts.rack-a.nat_networks[0].cidr (10.61.0.0/24)"),
    ("nat-overlaps-underlay", SEED, put(C2H_NAT, nat("k3snat", "virbr10", "10.10.0.0/16",
                                                     "10.10.20")),
     "hosts.compute-2-host.nat_networks[0].cidr: 10.10.0.0/16: overlaps underlay.cidr "
     "(10.10.10.0/24)"),
    ("time-server-unknown", SEED, put(("time", "server"), "ntp.example"),
     "time.server: ntp.example: not a host of this inventory"),
    ("l2pop-not-an-agent", SEED, put(("overlay", "l2_population"), ["master"]),
     "overlay.l2_population: master: not a host with role ovs_agent"),
    ("gateway-bridge-unknown", SEED, put(EXT + ("gateway_on", "bridge"), "virbr99"),
     "openstack.external_network.gateway_on.bridge: virbr99: not a NAT bridge of "
     "openstack-host"),
    ("kube-node-host-unknown", SEED, put(("kubernetes", "nodes", 1, "host"), "worker-one"),
     "kubernetes.nodes[1].host: worker-one: not a host of this inventory"),
    ("bgp-on-a-guest", SEED, put(("hosts", "compute2", "roles"), ["bgp", "nova_compute"]),
     "hosts.compute2.roles: bgp: only physical hosts speak BGP"),
    ("instance-on-an-instance", SEED, both(
        put(("hosts", "k8s-worker-1", "roles"), ["kube_worker", "nova_compute"]),
        put(("hosts", "k8s-worker-2", "compute"), "k8s-worker-1")),
     "hosts.k8s-worker-2.compute: k8s-worker-1: an instance; a compute node is a guest or "
     "physical host"),
    ("kind-missing", SEED, drop(("hosts", "compute2", "kind")),
     "hosts.compute2.kind: missing: say which kind of host this is "
     "(physical, guest, instance)"),
    ("kind-unknown", SEED, put(("hosts", "compute2", "kind"), "vm"),
     "hosts.compute2.kind: vm: unknown kind of host (expected one of physical, guest, instance)"),
    ("bad-host-name", SEED, rename_host("master", "k8s master"),
     "hosts.k8s master (name): k8s master: String should match pattern "
     "'^[A-Za-z0-9][A-Za-z0-9._-]*$'"),
    ("bad-site-name", SEED, put(("site",), "home lab"),
     "site: home lab: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]*$'"),
    ("interface-name-too-long", SEED, put(C2H_NAT + ("bridge",), "virbr-much-too-long"),
     "hosts.compute-2-host.nat_networks[0].bridge: virbr-much-too-long: "
     "String should have at most 15 characters"),
    ("bgp-mode-unknown", SEED, put(("bgp", "mode"), "ospf"),
     "bgp.mode: ospf: Input should be 'ibgp' or 'ebgp'"),
    ("underlay-missing", SEED, drop(("underlay",)),
     "underlay: missing: this field is required"),
    ("no-tunnel-type", SEED, put(("overlay", "tunnel_types"), []),
     "overlay.tunnel_types: []: List should have at least 1 item after validation, not 0"),
    # hosts named like the union's tags must not lose their name from the path
    ("host-named-like-a-tag", SEED, both(rename_host("compute2", "physical"),
                                         put(("hosts", "physical", "adress"), "1.2.3.4"),
                                         put(("kubernetes", "nodes"), [])),
     "hosts.physical.adress: 1.2.3.4: unknown field"),
]


def _check_line(line: str):
    """Every problem line: one line, starts with a field path, no pydantic internals."""
    assert isinstance(line, str) and line
    assert "\n" not in line, line
    assert "Traceback" not in line and "function-" not in line, line
    assert "[key]" not in line and "{'" not in line, line
    for tag in ("physical", "guest", "instance"):
        assert not re.search(rf"^hosts\.[^.: ]+\.{tag}\.", line), line
    # path, then ': value: reason' (the file/line-level ones start with '(' or 'line N')
    start = r"^(\(file\)|\(top level\)|line \d+, column \d+|[A-Za-z_][^:]*): \S"
    assert re.match(start, line), line


def _problems(name, mutation):
    data = yaml.safe_load((INVENTORIES / name).read_text())
    mutation(data)
    with pytest.raises(InventoryError) as info:
        parse_site(data, name)
    return info.value.problems


@pytest.mark.parametrize("name, mutation, expected", [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_bad_inventory_gives_one_clear_line(name, mutation, expected):
    problems = _problems(name, mutation)
    for line in problems:
        _check_line(line)
    assert expected in problems, "\n".join(problems)
    # one problem, one line: the mistake is not reported twice in other words
    value = expected.split(": ")[1]
    assert [p for p in problems if f": {value}:" in p] == [expected], "\n".join(problems)


def test_several_problems_give_several_lines():
    problems = _problems(SEED, both(
        put(("hosts", "compute2", "address"), "45.120.121.9"),
        put(("hosts", "compute", "address"), "192.168.100.101"),
        put(("time", "server"), "ntp.example"),
        put(("hosts", "k8s-worker-2", "floating_ip"), "192.168.200.250")))
    assert sorted(problems) == sorted([
        "hosts.compute2.address: 45.120.121.9: outside its network k3snat (45.120.120.0/24)",
        "hosts.compute.address: 192.168.100.101: already used by hosts.controller.address",
        "time.server: ntp.example: not a host of this inventory",
        "hosts.k8s-worker-2.floating_ip: 192.168.200.250: outside the external pool "
        "192.168.200.10-192.168.200.200",
    ])


def test_several_field_errors_give_several_lines():
    problems = _problems(SEED, both(
        put(("bgp", "mode"), "ospf"),
        put(("hosts", "openstack-host", "underlay", "address"), "10.10.10.300"),
        put(("hosts", "compute2", "adress"), "x"),
        put(("hosts", "controller", "roles"), ["openstack_controler"])))
    assert len(problems) == 4, problems
    assert {p.split(":")[0] for p in problems} == {
        "bgp.mode", "hosts.openstack-host.underlay.address", "hosts.compute2.adress",
        "hosts.controller.roles[0]"}


def test_both_ends_of_a_range_outside_give_two_lines():
    problems = _problems(SEED, put(C2H_NAT + ("dhcp_range",),
                                   {"start": "45.120.121.100", "end": "45.120.121.200"}))
    assert problems == [
        "hosts.compute-2-host.nat_networks[0].dhcp_range.start: 45.120.121.100: "
        "outside the network 45.120.120.0/24",
        "hosts.compute-2-host.nat_networks[0].dhcp_range.end: 45.120.121.200: "
        "outside the network 45.120.120.0/24",
    ]


def test_missing_underlay_does_not_hide_other_field_problems():
    problems = _problems(SEED, both(drop(("underlay",)), put(("bgp", "mode"), "ospf")))
    assert "underlay: missing: this field is required" in problems
    assert "bgp.mode: ospf: Input should be 'ibgp' or 'ebgp'" in problems
    assert len(problems) == 2


def test_underlay_gateway_must_be_inside_the_underlay():
    problems = _problems(SEED, put(("underlay", "gateway"), "10.99.0.1"))
    assert problems == ["underlay.gateway: 10.99.0.1: outside the underlay 10.10.10.0/24"]


def test_top_level_not_a_mapping():
    with pytest.raises(InventoryError) as info:
        parse_site(["a", "list"], "x.yml")
    assert info.value.problems == ["(top level): expected a mapping"]


# --- files -------------------------------------------------------------------------------

def test_yaml_syntax_error_names_the_line():
    path = BAD_INVENTORIES / "syntax-error.yml"
    with pytest.raises(InventoryError) as info:
        load_site(path)
    # libyaml says "...not allowed in this context", PyYAML's parser "...not allowed here"
    (line,) = info.value.problems
    assert line.startswith("line 7, column 7: not valid YAML: mapping values are not allowed")
    assert info.value.source == str(path)


def test_duplicate_key_is_refused_not_silently_dropped():
    with pytest.raises(InventoryError) as info:
        load_site(BAD_INVENTORIES / "duplicate-host.yml")
    assert info.value.problems == [
        "line 10, column 3: not valid YAML: duplicate key 'node-a' (first given on line 6)"]


def test_unquoted_mac_gets_a_hint():
    with pytest.raises(InventoryError) as info:
        load_site(BAD_INVENTORIES / "unquoted-mac.yml")
    [line] = info.value.problems
    assert line.startswith("hosts.vm-a.mac: ")
    assert line.endswith(": YAML read an unquoted MAC address as a number: put it in quotes")


def test_report_overlap_file_gives_every_problem():
    with pytest.raises(InventoryError) as info:
        load_site(BAD_INVENTORIES / "report-overlap.yml")
    assert info.value.problems == [
        "openstack.external_network.cidr: 192.168.100.0/24: overlaps "
        "hosts.openstack-host.nat_networks[0].cidr (192.168.100.0/24)",
        "hosts.compute.address: 192.168.100.101: already used by hosts.controller.address",
        "time.server: ntp-box: not a host of this inventory",
    ]


@pytest.mark.parametrize("name", ["empty.yml", "top-level-list.yml"])
def test_file_without_a_mapping(name):
    with pytest.raises(InventoryError) as info:
        load_site(BAD_INVENTORIES / name)
    assert info.value.problems == ["(top level): expected a mapping"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yml"
    with pytest.raises(InventoryError) as info:
        load_site(path)
    assert info.value.problems == ["(file): cannot read: No such file or directory"]
    assert str(path) in str(info.value)


def test_binary_file(tmp_path):
    path = tmp_path / "binary.yml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InventoryError) as info:
        load_site(path)
    assert info.value.problems == ["(file): cannot read: not UTF-8 text"]


def test_error_text_lists_every_problem():
    """What an operator sees: the file, the count, then one indented line per problem."""
    with pytest.raises(InventoryError) as info:
        load_site(BAD_INVENTORIES / "report-overlap.yml")
    err = info.value
    assert isinstance(err.problems, list) and all(isinstance(p, str) for p in err.problems)
    lines = str(err).splitlines()
    assert lines[0] == f"{BAD_INVENTORIES / 'report-overlap.yml'}: 3 problem(s) in the inventory:"
    assert lines[1:] == [f"  - {p}" for p in err.problems]
    assert err.__cause__ is None and err.__suppress_context__   # no chained pydantic traceback


# --- robustness: any single wrong leaf gives problem lines, never another exception -------

def _leaves(data, path=()):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaves(v, path + (i,))
    yield path


WRONG_VALUES = [None, "", "x y", -1, 3.5, True, [], {}, {"kind": "guest"}]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")   # ipaddress on bools
@pytest.mark.parametrize("name", INVENTORY_FILES)
def test_every_wrong_leaf_gives_clean_problems(name):
    original = yaml.safe_load((INVENTORIES / name).read_text())
    tried = 0
    for path in _leaves(original):
        if not path:
            continue
        for wrong in WRONG_VALUES:
            data = copy.deepcopy(original)
            parent, key = _walk(data, path)
            parent[key] = copy.deepcopy(wrong)
            try:
                parse_site(data, name)
            except InventoryError as err:
                assert err.problems, (path, wrong)
                for line in err.problems:
                    _check_line(line)
            tried += 1
    assert tried > 500
