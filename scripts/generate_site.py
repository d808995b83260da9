#!/usr/bin/env python3
"""Generate a fleet-size inventory: N hypervisors (physical BGP hosts), a guest on each, an
OpenStack worker instance on each compute guest, optional iBGP route reflectors.

    python scripts/generate_site.py --hypervisors 34 --reflectors 2 -o /tmp/fleet.yml

Layout (N >= 3): hv-00 runs the OpenStack controller guest and fronts the external network,
hv-01 runs the Kubernetes control plane guest, every other hypervisor runs a compute guest
with one Kubernetes worker instance. Hosts: N + N + (N - 2). Reflectors are the first K
hypervisors. Addresses are computed here from private and documentation ranges:
underlay 198.18.0.0/24 (RFC 2544 benchmarking), NAT networks 10.<64+i//250>.<i%250>.0/24,
external 192.0.2.0/24 (TEST-NET-1), tenant 10.200.0.0/16. The result is checked with
stackproof.site.load_site before it is written.
"""
from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stackproof.site import load_site  # noqa: E402

UNDERLAY = ipaddress.ip_network("198.18.0.0/24")
EXTERNAL = ipaddress.ip_network("192.0.2.0/24")
TENANT = ipaddress.ip_network("10.200.0.0/16")
ASN = 64512                     # first private 16-bit ASN (RFC 6996)
MAX_HYPERVISORS = 200           # underlay /24 (.1 .. .200, gateway .254); pool .10 .. .250


def nat_network(i: int) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(f"10.{64 + i // 250}.{i % 250}.0/24")


def _ip(net: ipaddress.IPv4Network, n: int) -> str:
    return str(net.network_address + n)


def generate(hypervisors: int, reflectors: int = 0, name: str = "fleet") -> dict:
    if not 3 <= hypervisors <= MAX_HYPERVISORS:
        raise ValueError(f"--hypervisors: {hypervisors}: between 3 and {MAX_HYPERVISORS}")
    if not 0 <= reflectors <= hypervisors:
        raise ValueError(f"--reflectors: {reflectors}: between 0 and {hypervisors}")
    hosts: dict[str, dict] = {}
    hv_names = [f"hv-{i:02d}" for i in range(hypervisors)]
    for i, hv in enumerate(hv_names):
        nat = nat_network(i)
        hosts[hv] = {
            "kind": "physical", "roles": ["bgp", "hypervisor"],
            "underlay": {"interface": "eth0", "address": _ip(UNDERLAY, i + 1)},
            "nat_networks": [{"name": "default", "bridge": "virbr0", "cidr": str(nat),
                              "gateway": _ip(nat, 1),
                              "dhcp_range": {"start": _ip(nat, 100), "end": _ip(nat, 200)}}],
        }
    workers = []
    for i, hv in enumerate(hv_names):
        nat = nat_network(i)
        if i == 0:
            guest, roles = "controller", ["openstack_controller", "network_node", "ovs_agent"]
        elif i == 1:
            guest, roles = "master", ["kube_control_plane"]
        else:
            guest, roles = f"compute-{i:02d}", ["nova_compute", "ovs_agent"]
        hosts[guest] = {"kind": "guest", "hypervisor": hv, "network": "default",
                        "interface": "eth0",
                        "mac": "52:54:00:%02x:%02x:%02x" % (0xf1, i >> 8, i & 0xff),
                        "address": _ip(nat, 101), "roles": roles}
        if i >= 2:
            w = f"worker-{i:02d}"
            hosts[w] = {"kind": "instance", "compute": guest,
                        "address": _ip(TENANT, 10 + i), "floating_ip": _ip(EXTERNAL, 10 + i),
                        "roles": ["kube_worker"]}
            workers.append(w)
    master_ip = hosts["master"]["address"]
    bgp = {"mode": "ibgp", "asn": ASN, "timers": {"keepalive": 3, "hold": 9}}
    if reflectors:
        bgp["route_reflectors"] = hv_names[:reflectors]
    return {
        "site": name,
        "os_family": "rhel",
        "underlay": {"cidr": str(UNDERLAY), "gateway": _ip(UNDERLAY, 254)},
        "bgp": bgp,
        "time": {"server": "controller"},
        "hosts": hosts,
        "overlay": {"tunnel_types": ["vxlan"], "tunnel_bridge": "br-tun", "udp_port": 4789,
                    "l2_population": ["controller"]},
        "openstack": {
            "cloud": name, "region": "RegionOne",
            "instances_path": "/var/lib/nova/instances",
            "external_network": {
                "name": "ext-net", "cidr": str(EXTERNAL), "gateway": _ip(EXTERNAL, 1),
                "pool": {"start": _ip(EXTERNAL, 10), "end": _ip(EXTERNAL, 250)},
                "physical_network": "physnet1",
                "gateway_on": {"host": hv_names[0], "bridge": "virbr0"}},
            "tenant_network": {"name": "private-net", "cidr": str(TENANT)},
            "router": "router1"},
        "kubernetes": {
            "context": name, "api_endpoint": f"{master_ip}:6443",
            "nodes": [{"name": "master", "host": "master", "internal_ip": master_ip}] + [
                {"name": w, "host": w, "internal_ip": hosts[w]["floating_ip"]}
                for w in workers]},
    }


def write(data: dict, path: Path) -> None:
    """Write the inventory after load_site accepted it (an invalid one is never written)."""
    text = (f"# Generated by scripts/generate_site.py: "
            f"{sum(h['kind'] == 'physical' for h in data['hosts'].values())} hypervisors, "
            f"{len(data['bgp'].get('route_reflectors', []))} route reflectors\n"
            + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100))
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
        tmp.write(text)
    try:
        load_site(tmp.name)
    finally:
        Path(tmp.name).unlink()
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hypervisors", "-n", type=int, required=True)
    ap.add_argument("--reflectors", "-k", type=int, default=0)
    ap.add_argument("--name", default="fleet")
    ap.add_argument("--output", "-o", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        data = generate(args.hypervisors, args.reflectors, args.name)
    except ValueError as exc:
        ap.error(str(exc))
    write(data, args.output)
    print(f"{args.output}: {len(data['hosts'])} hosts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
