"""The site's OpenStack resources, created through the real APIs from the site model.

External network (flat, router:external, physical_network, CIDR/gateway/pool), tenant
network + subnet, the router with its external gateway and an interface on the tenant
subnet, and per inventory `instance` host: a Neutron port on the tenant network with the
instance's address (device_owner compute:nova, device_id a stable UUID per instance) and its
floating IP attached to that port. With the lab's stand-in OVS agent the port is bound to
its compute host here; with the real agents, instances.py binds and plugs it once they
report (a port bound before its host's agent reports fails to bind).

With the real OVS agents (the default) the ports are left free (no device, no host) and
servers.py boots a real Nova server on each: Nova binds the port to the instance's compute
host and sets device_id to the server's id. With the stand-in agent (no RabbitMQ, no
conductor or scheduler) the ports stand where the servers' ports would be.
"""
from __future__ import annotations

import ipaddress

import uuid
from pathlib import Path

from stackproof.site import Site


def connect(clouds_yaml: Path | str, site: Site):
    """Plain openstacksdk from the lab's clouds.yaml, as the suite connects."""
    import openstack
    from openstack import config as occ
    d = Path(clouds_yaml).parent      # the lab's files only, never ~/.config or /etc
    cfg = occ.OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False,
                              secure_files=[str(d / "secure.yaml")],
                              vendor_files=[str(d / "clouds-public.yaml")])
    region = cfg.get_one(cloud=site.openstack.cloud, region_name=site.openstack.region)
    return openstack.connection.Connection(config=region)


def instance_device_id(site: Site, name: str) -> str:
    """A stable UUID per instance: what the server's id would be."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stackproof:{site.site}:instance:{name}"))


def subnet_name(network: str) -> str:
    return f"{network}-subnet"


def create_external(conn, site: Site, cidr=None, gateway=None, pool=None):
    ext = site.openstack.external_network
    cidr, gateway = cidr or ext.cidr, gateway or ext.gateway
    pool = pool or (ext.pool.start, ext.pool.end)
    net = conn.network.create_network(name=ext.name, is_router_external=True,
                                      provider_network_type="flat",
                                      provider_physical_network=ext.physical_network)
    conn.network.create_subnet(network_id=net.id, name=subnet_name(ext.name), ip_version=4,
                               cidr=str(cidr), gateway_ip=str(gateway), is_dhcp_enabled=False,
                               allocation_pools=[{"start": str(pool[0]), "end": str(pool[1])}])
    return net


def router_gateway_address(site: Site) -> str:
    """The first address of the external pool that no inventory floating IP takes."""
    ext = site.openstack.external_network
    taken = {str(i.floating_ip) for i in site.instances().values() if i.floating_ip}
    start, end = int(ext.pool.start), int(ext.pool.end)
    return next(str(ipaddress.IPv4Address(a)) for a in range(start, end + 1)
                if str(ipaddress.IPv4Address(a)) not in taken)


def create_all(conn, site: Site, bind: bool = True, servers: bool = False) -> dict[str, str]:
    """Create every resource; returns name -> id of what was made. `bind`: the instance
    ports get their compute host now. `servers`: the ports are left for Nova (no device,
    no host): the server booted on each binds it (servers.py)."""
    os_ = site.openstack
    made: dict[str, str] = {}
    ext = create_external(conn, site)
    made[os_.external_network.name] = ext.id
    ten = conn.network.create_network(name=os_.tenant_network.name)
    sub = conn.network.create_subnet(network_id=ten.id, name=subnet_name(ten.name),
                                     ip_version=4, cidr=str(os_.tenant_network.cidr))
    made[ten.name] = ten.id
    # the router's gateway port takes a pool address Neutron picks at random unless told:
    # give it one no inventory floating IP uses, or creating those would hit a 409
    ext_subnet = next(iter(conn.network.subnets(network_id=ext.id)))
    router = conn.network.create_router(name=os_.router, external_gateway_info={
        "network_id": ext.id, "external_fixed_ips": [
            {"subnet_id": ext_subnet.id, "ip_address": router_gateway_address(site)}]})
    conn.network.add_interface_to_router(router, subnet_id=sub.id)
    made[router.name] = router.id
    for name, inst in site.instances().items():
        port = create_instance_port(conn, site, name, ten.id, sub.id, bind and not servers,
                                    device=not servers)
        made[f"port {name}"] = port.id
        if inst.floating_ip is not None:
            fip = conn.network.create_ip(floating_network_id=ext.id,
                                         floating_ip_address=str(inst.floating_ip),
                                         port_id=port.id, fixed_ip_address=str(inst.address))
            made[f"floating ip {inst.floating_ip}"] = fip.id
    return made


def create_instance_port(conn, site: Site, name: str, network_id: str, subnet_id: str,
                         bind: bool = True, device: bool = True):
    """`device`: owned as a server's port would be (no Nova in the boot path); without, a
    free port that Nova takes when a server boots on it (Nova refuses a port in use)."""
    inst = site.instances()[name]
    extra = {"binding_host_id": inst.compute} if bind else {}
    if device:
        extra.update(device_owner="compute:nova", device_id=instance_device_id(site, name))
    return conn.network.create_port(
        network_id=network_id, name=name,
        fixed_ips=[{"subnet_id": subnet_id, "ip_address": str(inst.address)}], **extra)


def find_external(conn, site: Site):
    return conn.network.find_network(site.openstack.external_network.name,
                                     ignore_missing=False)


def rebuild_external(conn, site: Site, cidr, gateway, pool) -> list[str]:
    """Delete the external network (after the floating IPs on it and the router's gateway)
    and create it again on `cidr`: what the report did the other way round. Returns the
    steps done."""
    steps = []
    ext = find_external(conn, site)
    router = conn.network.find_router(site.openstack.router, ignore_missing=False)
    # Neutron keeps a router's gateway while floating IPs need it: those go first
    for fip in conn.network.ips(floating_network_id=ext.id):
        conn.network.delete_ip(fip)
        steps.append(f"delete floating IP {fip.floating_ip_address}")
    if router.external_gateway_info:
        conn.network.update_router(router, external_gateway_info={})
        steps.append(f"unset the gateway of router {router.name}")
    for sub in conn.network.subnets(network_id=ext.id):
        conn.network.delete_subnet(sub)
        steps.append(f"delete subnet {sub.name} {sub.cidr}")
    conn.network.delete_network(ext)
    steps.append(f"delete network {ext.name}")
    new = create_external(conn, site, cidr, gateway, pool)
    steps.append(f"create network {new.name} on {cidr}")
    conn.network.update_router(router, external_gateway_info={"network_id": new.id})
    steps.append(f"set the gateway of router {router.name} to {new.name}")
    return steps
