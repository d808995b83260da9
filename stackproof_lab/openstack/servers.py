"""Real Nova servers for the inventory's instances (the lab's default with the real OVS
agents).

The pieces, in order:
  - Nova's own RabbitMQ user on the bus node's RabbitMQ (the one the Neutron agents use);
  - the relays (relay.py): root-side 127.0.0.1:<bus port> -> RabbitMQ in the bus node, and
    in every compute node 127.0.0.1:<each API port> -> the root-side APIs, so the catalog's
    URLs work there;
  - nova-conductor and nova-scheduler root-side (services.start_nova_service), next to the
    APIs, the databases and placement;
  - a flavor and a tiny raw image uploaded through Glance's API;
  - per instance, a server booted through the Nova API on its compute host (availability
    zone `nova:<host>`) on its Neutron port: Nova binds the port there (binding:host_id) and
    owns it (device_id = the server's id); the floating IP stays on that port;
  - once ACTIVE, the VIF plugged as os-vif would (the fake driver plugs none), so the real
    agent wires it and Neutron marks the port ACTIVE.
"""
from __future__ import annotations

import shlex

from stackproof_lab.daemons.common import DaemonError, wait_until
from stackproof_lab.openstack import config, relay
from stackproof_lab.openstack.layout import Layout, Secrets
from stackproof_lab.shell import NsShell
from stackproof.site import Site

FLAVOR = "lab.tiny"
IMAGE = "lab-tiny-raw"
IMAGE_BYTES = 1 << 20          # 1 MiB of zeros: a raw disk nothing ever boots
RABBIT_PORT = 5672
ACTIVE_TIMEOUT = 180.0


def rabbit_user(shell: NsShell, sec: Secrets) -> None:
    """Nova's user on the bus node's RabbitMQ (its password only in the node's argv)."""
    from stackproof_lab.daemons import ovs_real
    q = shlex.quote
    user = config.NOVA_RABBIT_USER
    shell.sh(ovs_real.as_rabbit(f"{ovs_real.RABBITMQCTL} add_user {user} {q(sec.rabbit)}")
             + " >/dev/null")
    shell.sh(ovs_real.as_rabbit(f"{ovs_real.RABBITMQCTL} set_permissions {user} "
                                "'.*' '.*' '.*'") + " >/dev/null")


def start_bus_relay(lab, lay: Layout, bus: NsShell) -> None:
    relay.serve_out(lab, lay.root, bus, RABBIT_PORT, lay.ports.bus, lay.log("relay-bus"))


def node_served(lay: Layout) -> list[int]:
    """The API ports served inside the controller (Glance, Placement: nodes.py)."""
    return [lay.ports.glance, lay.ports.placement]


def start_controller_relays(lab, lay: Layout, controller: NsShell) -> None:
    """Root-side 127.0.0.1:<glance|placement port> -> the controller's."""
    for port in node_served(lay):
        relay.serve_out(lab, lay.root, controller, port, port, lay.log("relay-controller"))


def start_api_relays(lab, lay: Layout, shells: list[NsShell], controller: str) -> None:
    """Root side once per root-side API, then the listeners in each node (the controller
    serves Glance and Placement itself: no relay there for those)."""
    relays = [relay.serve_api(lab, lay.root, port, lay.log("relay-api"))
              for port in lay.api_ports()]
    served = node_served(lay)
    for shell in shells:
        for r in relays:
            if not (shell.name == controller and r.port in served):
                relay.node_api(shell, lay.root, r, lay.log(f"relay-{shell.name}"))
    for shell in shells:
        relay.wait_node_api(shell, [p for p in lay.api_ports()
                                    if not (shell.name == controller and p in served)])


def flavor_and_image(conn) -> tuple[str, str]:
    flavor = conn.compute.find_flavor(FLAVOR) or conn.compute.create_flavor(
        name=FLAVOR, ram=64, vcpus=1, disk=1)
    image = conn.image.find_image(IMAGE)
    if image is None:
        image = conn.image.create_image(name=IMAGE, disk_format="raw",
                                        container_format="bare", data=bytes(IMAGE_BYTES),
                                        visibility="public")
    wait_until(lambda: conn.image.get_image(image.id).status == "active", 60,
               f"image {IMAGE} to be active")
    return flavor.id, image.id


def resource_providers(conn) -> set[str]:
    """Compute hosts placement can place the lab's flavor on: the report client of each
    nova-compute made the provider AND reported its inventory (a provider without one
    yet, as under load, gives "No valid host")."""
    resp = conn.session.get("/resource_providers", endpoint_filter={
        "service_type": "placement"}, headers={"OpenStack-API-Version": "placement 1.14"},
        params={"resources": "VCPU:1,MEMORY_MB:64,DISK_GB:1"})
    return {rp["name"] for rp in resp.json().get("resource_providers", [])}


def wait_providers(conn, hosts: list[str], timeout: float = 120.0) -> None:
    wait_until(lambda: set(hosts) <= resource_providers(conn), timeout,
               f"placement resource providers with inventory for {hosts}")


def boot(conn, site: Site, flavor: str, image: str) -> dict[str, str]:
    """A server per instance on its port and compute host; returns instance -> server id."""
    from stackproof_lab.openstack.instances import instance_port
    out = {}
    for name, inst in site.instances().items():
        port = instance_port(conn, site, name)
        if port is None:
            continue
        server = conn.compute.find_server(name)
        if server is None:
            server = conn.compute.create_server(
                name=name, flavor_id=flavor, image_id=image, networks=[{"port": port.id}],
                availability_zone=f"nova:{inst.compute}")
        out[name] = server.id
    return out


STORY_WORDS = ("WARNING", "ERROR", "No valid host", "allocation candidates", "forcing",
               "Filter", "returned 0 hosts", "NoValidHost", "MessagingTimeout")


def scheduling_story(lay: Layout, lines: int = 8) -> str:
    """The scheduler's and conductor's own words on a failed boot (the lab keeps its logs
    only until `lab down`; make test's temp dirs rotate away)."""
    said = []
    for name in ("nova-scheduler", "nova-conductor"):
        try:
            text = lay.log(name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        said += [f"{name}: {ln[24:].split('] ', 1)[-1][:300]}" for ln in text
                 if any(w in ln for w in STORY_WORDS) and "deprecated" not in ln][-lines:]
    return "\n  ".join(said) or "(nothing in nova-scheduler.log or nova-conductor.log)"


def wait_servers(conn, ids: dict[str, str], timeout: float = ACTIVE_TIMEOUT,
                 lay: Layout | None = None) -> None:
    pending = dict(ids)

    def active() -> bool:
        for name, sid in list(pending.items()):
            s = conn.compute.get_server(sid)
            if s.status == "ACTIVE":
                del pending[name]
            elif s.status == "ERROR":
                fault = (s.fault or {}).get("message", "") if isinstance(s.fault, dict) else ""
                story = f"\n  {scheduling_story(lay)}" if lay is not None else ""
                raise DaemonError(f"server {name} went to ERROR: {fault}{story}")
        return not pending
    wait_until(active, timeout, "the servers to be ACTIVE", interval=1.0, error=DaemonError,
               describe=lambda: f"not ACTIVE: {sorted(pending)}")


def plug_all(conn, site: Site, shells: dict[str, NsShell]) -> list[str]:
    """Plug each server's VIF on its host; returns the port ids."""
    from stackproof_lab.openstack.instances import instance_port, plug
    ports = []
    for name, inst in site.instances().items():
        port = instance_port(conn, site, name)
        if port is None or inst.compute not in shells:
            continue
        plug(shells[inst.compute], site, port)
        ports.append(port.id)
    return ports
