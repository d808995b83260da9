"""An instance's floating IP is missing or not attached to its port: attach it (creating
it with its inventory address on the external network when it does not exist).

Managed scope: the inventory's floating IPs (created with their inventory address, attached
to their instance's port); other floating IPs and ports are kept.
"""
from __future__ import annotations

from remediations._openstack import call, conn
from stackproof.remedy import Plan

ID = "floating_ip_attach"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    p = finding.params
    summary = f"attach floating IP {p.get('address')} to {finding.host}"
    if p.get("blocked"):
        return Plan(ID, summary, (), blocked=p["blocked"])
    ext = ctx.site.openstack.external_network.name
    address, port, fixed = p["address"], p["port_id"], p["fixed_ip"]

    def attach():
        c = conn(ctx)
        fip = next(iter(c.network.ips(floating_ip_address=address)), None)
        if fip is None:
            net = c.network.find_network(ext, ignore_missing=False)
            fip = c.network.create_ip(floating_network_id=net.id, floating_ip_address=address,
                                      port_id=port, fixed_ip_address=fixed)
        else:
            fip = c.network.update_ip(fip, port_id=port, fixed_ip_address=fixed)
        return f"{fip.floating_ip_address} -> port {fip.port_id} ({fip.fixed_ip_address})"
    verb = "PUT /v2.0/floatingips/<id>" if p.get("exists") else \
        f"POST /v2.0/floatingips on {ext}"
    return Plan(ID, summary, (call(ctx, f"{verb}: {address} -> port {port} ({fixed})",
                                   attach),))
