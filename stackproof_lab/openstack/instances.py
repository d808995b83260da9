"""The hypervisor's part for each inventory instance, once the real OVS agents run.

With real servers (servers.py) Nova binds the port and the lab only plugs the VIF, which
the fake driver does not (`plug`). Without them (bind_and_plug) the lab does the two
things a compute node does when it spawns a server on an existing port:
  - binds the port to the instance's compute host through the Neutron API
    (binding:host_id, as nova-compute's network allocation sets it): ML2 binds it to that
    host's Open vSwitch agent;
  - plugs the VIF into the node's integration bridge with the external_ids os-vif writes
    (iface-id = the port, attached-mac, iface-status, vm-uuid) as tap<port id[:11]>.
The node's real agent then sees the port, fetches its details and reports it up over RPC;
Neutron marks it ACTIVE and the l2population driver tells the other agents (fdb_add), which
is how an l2_population agent gets its tunnels.
"""
from __future__ import annotations



from stackproof_lab.openstack.resources import instance_device_id
from stackproof_lab.shell import NsShell
from stackproof_lab.wait import WaitTimeout, wait_until
from stackproof.site import Site

ACTIVE_TIMEOUT = 180.0


def tap_name(port_id: str) -> str:
    """Nova's VIF device name: 'tap' + the port id's first 11 characters."""
    return f"tap{port_id[:11]}"


def plug_command(site: Site, port) -> list[str]:
    tap = tap_name(port.id)
    return ["ovs-vsctl", "--timeout=10", "--", "--may-exist", "add-port",
            site.overlay.integration_bridge, tap, "--", "set", "Interface", tap,
            "type=internal", f"external_ids:iface-id={port.id}",
            "external_ids:iface-status=active", f"external_ids:attached-mac={port.mac_address}",
            f"external_ids:vm-uuid={port.device_id}"]


def instance_port(conn, site: Site, name: str):
    """The instance's port: named after the instance (with real servers its device_id is
    the server's id, which Nova sets; without, the lab's stable id)."""
    for port in conn.network.ports(name=name):
        return port
    return next(iter(conn.network.ports(device_id=instance_device_id(site, name))), None)


def bind(conn, port, host: str):
    return conn.network.update_port(port, binding_host_id=host)


def plug(shell: NsShell, site: Site, port) -> None:
    """What os-vif does for a server's VIF (the fake driver plugs none)."""
    shell.run(plug_command(site, port))


def bind_and_plug(conn, shells: dict[str, NsShell], site: Site) -> dict[str, str]:
    """Bind and plug every instance's port on its compute host; returns instance -> port
    id."""
    out = {}
    for name, inst in site.instances().items():
        port = instance_port(conn, site, name)
        if port is None or inst.compute not in shells:
            continue
        bind(conn, port, inst.compute)
        shells[inst.compute].run(plug_command(site, port))
        out[name] = port.id
    return out


def wait_active(conn, port_ids: list[str], timeout: float = ACTIVE_TIMEOUT) -> list[str]:
    """Until every port is ACTIVE (its agent reported it up); returns those that are not."""
    down: list[str] = []

    def active() -> bool:
        down[:] = [p for p in port_ids if conn.network.get_port(p).status != "ACTIVE"]
        return not down
    try:
        wait_until(active, timeout, "the instance ports to be ACTIVE", interval=1.0)
    except WaitTimeout:
        pass
    return down
