"""Rebuild the external network as the inventory describes it (the report's move from an
external network that collided with a libvirt NAT range to a new one): delete the floating IPs on
the old network (Neutron keeps a router's gateway while floating IPs need it), unset the
router's gateway, delete the subnets and the network, create the network (flat,
router:external, the physical network) and its subnet (CIDR, gateway, pool, no DHCP), and
set the router's gateway again, on the first pool address no inventory floating IP uses
(left to itself Neutron picks one at random, and when it is an inventory floating IP's that
floating IP can no longer be created: a chaos round found it as a 409 "already allocated").

DESTRUCTIVE: instances lose their floating IPs until the floating-IP scenario attaches them
again (its remediation creates them with their inventory addresses). Runs only with
--allow-destructive; the plan lists every step.

Managed scope: the inventory's external network, its subnets, the inventory instances'
floating IPs on it and the inventory router's gateway (rebuilt: destructive); a floating IP
on it that is not an inventory instance's blocks the plan (it is never deleted); other
networks, routers and ports are kept. The new network is created before the old one is
deleted, except on the same flat physical network (which carries only one).
"""
from __future__ import annotations

from remediations._openstack import call, conn
from stackproof.expect import router_gateway_port_address
from stackproof.remedy import Plan

ID = "external_network_rebuild"
DESTRUCTIVE = True
VERIFY_TIMEOUT = 30.0


def plan(ctx, finding) -> Plan:
    os_ = ctx.site.openstack
    ext = os_.external_network
    summary = (f"rebuild external network {ext.name} on {ext.cidr} (gateway {ext.gateway}, "
               f"pool {ext.pool.start}-{ext.pool.end})")
    if finding.params.get("which") == "tenant":
        return Plan(ID, summary, (), destructive=True, blocked=(
            f"the tenant network {os_.tenant_network.name} overlaps a libvirt NAT range: "
            "rebuilding it deletes the instances' ports; move it by hand"))
    facts = ctx.extras.get("openstack_facts")
    net = facts.network(ext.name) if facts else None
    router = facts.router(os_.router) if facts else None
    fips = [x for x in facts.floating_ips() if x.network_id == net.id] if net else []
    foreign = sorted(f.address for f in fips if f.address not in inventory_fips(ctx.site))
    if foreign:
        # never drop an address the inventory does not own: someone else relies on it
        return Plan(ID, summary, (), destructive=True, blocked=(
            f"floating IP(s) {', '.join(foreign)} on {ext.name} are not in the inventory: "
            "release or move them yourself (or add their instances to the inventory), then "
            "rerun"))
    made: dict[str, str] = {}

    def create_network():
        n = conn(ctx).network.create_network(
            name=ext.name, is_router_external=True, provider_network_type="flat",
            provider_physical_network=ext.physical_network)
        made["id"] = n.id
        return n.id

    def create_subnet():
        s = made["subnet"] = conn(ctx).network.create_subnet(
            network_id=made["id"], name=f"{ext.name}-subnet", ip_version=4, cidr=str(ext.cidr),
            gateway_ip=str(ext.gateway), is_dhcp_enabled=False,
            allocation_pools=[{"start": str(ext.pool.start), "end": str(ext.pool.end)}])
        return s.cidr

    def set_gateway():
        c = conn(ctx)
        r = c.network.find_router(os_.router, ignore_missing=False)
        return c.network.update_router(r, external_gateway_info={
            "network_id": made["id"], "external_fixed_ips": [
                {"subnet_id": made["subnet"].id, "ip_address": gateway_port}]}).name
    create = [
        call(ctx, f"create network {ext.name}: flat, router:external, physical network "
                  f"{ext.physical_network}", create_network),
        call(ctx, f"create subnet {ext.name}-subnet: {ext.cidr}, gateway {ext.gateway}, pool "
                  f"{ext.pool.start}-{ext.pool.end}, no DHCP", create_subnet)]
    delete = []
    if net is not None:
        # Neutron refuses to drop a router's gateway that floating IPs still need; every one
        # of them is an inventory instance's, which the floating-IP scenario attaches again
        for fip in fips:
            delete.append(call(ctx, f"delete floating IP {fip.address} (inventory)",
                               lambda fid=fip.id: conn(ctx).network.delete_ip(fid)))
        if router is not None and router.external_network_id == net.id:
            delete.append(call(ctx, f"unset the external gateway of router {router.name}",
                               lambda: conn(ctx).network.update_router(
                                   router.id, external_gateway_info={}).name))
        for sub in facts.subnets_of(net.id):
            delete.append(call(ctx, f"delete subnet {sub.name} ({sub.cidr})",
                               lambda sid=sub.id: conn(ctx).network.delete_subnet(sid)))
        delete.append(call(ctx, f"delete network {net.name} ({net.id})",
                           lambda: conn(ctx).network.delete_network(net.id)))
    gateway_port = router_gateway_port_address(ctx.site)
    gateway = [call(ctx, f"set the external gateway of router {os_.router} to {ext.name} "
                         f"({gateway_port})", set_gateway)]
    if net is not None and net.physical_network == ext.physical_network:
        # a flat physical network carries one network only: the old one must go first
        steps = delete + create + gateway
    else:
        steps = create + delete + gateway       # create first: a refused create deletes nothing
    return Plan(ID, summary, tuple(steps), destructive=True)


def inventory_fips(site) -> set[str]:
    """The floating IPs the inventory owns (its instances')."""
    return {str(h.floating_ip) for h in site.instances().values() if h.floating_ip is not None}
