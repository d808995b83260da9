"""The router's external gateway is unset or on another network: set it to the external
network.

Managed scope: the inventory router's external gateway, through the API.
"""
from __future__ import annotations

from remediations._openstack import call, conn
from stackproof.remedy import Plan

ID = "router_gateway"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    os_ = ctx.site.openstack
    summary = f"set router {os_.router}'s gateway to {os_.external_network.name}"
    if not finding.params.get("exists", True):
        return Plan(ID, summary, (), blocked=f"router {os_.router} does not exist: create it "
                    "(and its interfaces) by hand")

    def set_gateway():
        c = conn(ctx)
        net = c.network.find_network(os_.external_network.name, ignore_missing=False)
        router = c.network.find_router(os_.router, ignore_missing=False)
        return c.network.update_router(router, external_gateway_info={
            "network_id": net.id}).external_gateway_info
    what = (f"PUT /v2.0/routers/<{os_.router}> external_gateway_info.network_id="
            f"<{os_.external_network.name}>")
    return Plan(ID, summary, (call(ctx, what, set_gateway),))
