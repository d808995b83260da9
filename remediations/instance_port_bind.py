"""An instance's port is bound to no host (or another one): bind it to the instance's
compute host through the Neutron API (binding:host_id, what nova-compute sets when it
spawns the server), so ML2 binds it to that host's Open vSwitch agent.

Managed scope: binding:host_id of the port the inventory's instance holds (its address on
the tenant network); nothing else of the port changes."""
from __future__ import annotations

from remediations._openstack import call, conn
from stackproof.remedy import Plan

ID = "instance_port_bind"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 15.0


def plan(ctx, finding) -> Plan:
    port, host = finding.params["port_id"], finding.params["host"]

    def bind():
        p = conn(ctx).network.update_port(port, binding_host_id=host)
        return f"port {p.id} bound to {p.binding_host_id} ({p.binding_vif_type})"
    return Plan(ID, f"bind {finding.host}'s port to {host}",
                (call(ctx, f"PUT /v2.0/ports/{port}: binding:host_id={host}", bind),))
