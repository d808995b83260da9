"""Real OpenStack services for the lab: Keystone, neutron-api, nova-api, nova-conductor and
nova-scheduler on 127.0.0.1, Glance and Placement in the controller, nova-compute in the
compute nodes, Neutron agents kept alive per node, the site's networks, router, ports and
floating IPs created through the APIs, and (with the real OVS agents) a real Nova server
per inventory instance on its port. Root side and nodes reach each other only through
unix-socket relays (relay.py): no route crosses the boundary.

    openstack_hook(lab, site)     GUEST hook (stackproof_lab.daemons.GUEST_HOOKS)

Install the services first: scripts/install-openstack.sh (pinned in
requirements-openstack.lock, own venv). The lab writes <state>/openstack/clouds.yaml and
puts its path in the lab inventory (`openstack.clouds_yaml`), so the suite connects with
plain openstacksdk to the cloud named `openstack.cloud`.

Modules: layout (paths, ports, venv), config (rendered configs), templates (schema
databases), services (root-side APIs), nodes (inside the nodes), relay (the boundary),
resources (API objects), servers (Nova servers), serve.py / nova_compute.py /
nova_service.py / heartbeat.py (processes, run with other interpreters).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from stackproof.site import Site

__all__ = ["openstack_hook", "clouds_yaml_of"]


def clouds_yaml_of(state_dir) -> str | None:
    """The lab's clouds.yaml path when its OpenStack layer is up."""
    from stackproof_lab.openstack.layout import Layout
    lay = Layout.load(state_dir)
    return str(lay.clouds_yaml) if lay and lay.clouds_yaml.is_file() else None


def _nova_bus(lab, site: Site, lay, sec) -> None:
    """Once the bus node's RabbitMQ serves (its Neutron user made): Nova's user there and
    the relay to it."""
    from stackproof_lab.daemons import ovs_real
    from stackproof_lab.daemons.common import wait_until
    from stackproof_lab.openstack import servers
    bus = lab.shell(ovs_real.bus_host(site))
    wait_until(lambda: ovs_real.RABBIT_USER in ovs_real.rabbitmqctl(bus, "-q list_users").stdout,
               ovs_real.SERVER_TIMEOUT, f"[{bus.name}] RabbitMQ and its users", interval=1.0)
    servers.rabbit_user(bus, sec)
    servers.start_bus_relay(lab, lay, bus)


def _boot_servers(lab, conn, site: Site, shells, computes, timings, lay) -> list[str]:
    """A server per instance through the Nova API, then its VIF plugged; returns the
    ports."""
    from stackproof_lab.openstack import servers
    t1 = time.monotonic()
    servers.wait_providers(conn, computes)
    flavor, image = servers.flavor_and_image(conn)
    timings["placement providers, flavor, image"] = time.monotonic() - t1
    t1 = time.monotonic()
    ids = servers.boot(conn, site, flavor, image)
    servers.wait_servers(conn, ids, lay=lay)
    timings["servers ACTIVE"] = time.monotonic() - t1
    t1 = time.monotonic()
    ports = servers.plug_all(conn, site, shells)
    timings["VIFs plugged"] = time.monotonic() - t1
    return ports


def openstack_hook(lab, site: Site) -> None:
    if site.openstack is None:
        return
    from stackproof_lab.daemons import ovs_real
    from stackproof_lab.openstack import nodes, programs, resources, services
    from stackproof_lab.openstack.layout import Layout, Secrets, require_venv
    require_venv()
    real_ovs = bool(ovs_real.wanted() and site.with_role("ovs_agent"))
    computes = site.with_role("nova_compute")
    # Glance and Placement run in the controller; real servers need them and the real bus
    # (RabbitMQ comes with the real OVS agents)
    apis = bool(site.with_role("openstack_controller"))
    # Real Nova servers unless STACKPROOF_LAB_SERVERS=0 (then the instances are ports bound
    # and plugged as a spawn would: a lab for a test that does not need Nova's side)
    servers = bool(real_ovs and computes and site.instances() and apis
                   and os.environ.get("STACKPROOF_LAB_SERVERS", "1") != "0")
    t0 = time.monotonic()
    lay = Layout.new(lab.state_dir)
    lay.make_dirs()
    lay.save()
    programs.stage(lay.programs)       # the hosts run them from the state dir (programs.py)
    sec = Secrets()
    timings: dict[str, float] = {}
    bootstrap = services.start_all(lab, site, lay, sec, servers, apis)
    timings["databases + servers started"] = time.monotonic() - t0
    # the real OVS agents meanwhile: RabbitMQ and neutron-rpc-server (on this lab's Neutron
    # database) in the network node, then the agents, whose reports make their rows
    pool = ThreadPoolExecutor(max_workers=2)
    agents = pool.submit(ovs_real.start_real, lab, site, lay.db_url("neutron")) \
        if real_ovs else None
    # Nova's bus pieces as soon as RabbitMQ has started: its user and the relay (the
    # computes start once they are there; the conductor and scheduler after Keystone's)
    nova_bus = pool.submit(_nova_bus, lab, site, lay, sec) if servers else None

    # the nodes meanwhile: they need only the databases (agent rows, nova's cell database)
    t1 = time.monotonic()
    shells = {h: lab.shell(h) for h in set(computes) | set(site.with_role("ovs_agent"))
              | set(site.with_role("network_node")) | set(site.with_role("openstack_controller"))}
    nodes.insert_agents(lay, site, real_ovs)

    def node(host: str) -> None:
        shell = shells[host]
        nodes.hide_machine_config(shell)
        nodes.mount_sbin(shell, lay, host)
        if host in computes:
            nodes.setup_compute(shell, site, lay, sec, host, servers)
        if "openstack_controller" in site.hosts[host].roles:
            nodes.setup_controller(shell, site, lay, sec, host)
            if apis:
                for name in nodes.setup_node_apis(shell, lay, host):
                    nodes.service(shell, name, "start")
        standins = nodes.setup_agents(shell, site, lay, host, real_ovs)
        for name in standins:
            nodes.service(shell, name, "start")
        if standins:
            nodes.start_heartbeat(shell, lay, host)
    from stackproof_lab.pool import each
    each(sorted(shells), node)
    if apis:
        from stackproof_lab.openstack import servers as srv
        ctl = site.with_role("openstack_controller")[0]
        srv.start_controller_relays(lab, lay, shells[ctl])
        # the controller's Glance and Placement check tokens with Keystone; the computes'
        # nova-compute reaches Placement and Neutron
        relayed = {ctl, *computes} if servers else {ctl}
        srv.start_api_relays(lab, lay, [shells[h] for h in sorted(relayed)], ctl)
    # nova-compute takes ~10-20 s to import and report: it boots while the APIs come up.
    # On the real bus, only once Nova's RabbitMQ user and its permissions exist: a login
    # refused at start ends nova-compute for good (AccessRefused, NotAllowed: no retry),
    # and on a slower machine it got there before the user did (CI: no compute registered)
    if nova_bus is not None:
        nova_bus.result()
    each(computes, lambda host: nodes.service(shells[host], "nova-compute", "start"))
    timings["nodes"] = time.monotonic() - t1

    t1 = time.monotonic()
    services.finish(site, lay, sec, bootstrap, apis)
    if servers:
        # their report clients authenticate when they start: after Keystone knows them
        nova_bus.result()
        services.start_nova_service(lab, lay, "conductor")
        services.start_nova_service(lab, lay, "scheduler")
    timings["keystone bootstrap + APIs answering"] = time.monotonic() - t1
    t1 = time.monotonic()
    conn = resources.connect(lay.clouds_yaml, site)
    try:
        made = resources.create_all(conn, site, bind=not real_ovs, servers=servers)
    except BaseException:
        conn.close()
        raise
    timings["resources"] = time.monotonic() - t1
    t1 = time.monotonic()
    if computes:
        nodes.wait_compute_nodes(lay, computes, shells)
        ctl = site.with_role("openstack_controller")
        if ctl:
            nodes.discover_hosts(lab.shell(ctl[0]))
    timings["nova-compute + discover_hosts"] = time.monotonic() - t1
    if agents is not None:
        t1 = time.monotonic()
        try:
            for host, why in agents.result().items():
                lab.say(f"openstack: real neutron-openvswitch-agent on {host} "
                        + ("initialized" if not why else f"not initialized yet: {why}"))
        finally:
            pool.shutdown()
        timings["waiting for the real OVS agents"] = time.monotonic() - t1
        t1 = time.monotonic()
        from stackproof_lab.openstack import instances
        try:
            if servers:
                nova_bus.result()
                ports = _boot_servers(lab, conn, site, shells, computes, timings, lay)
            else:
                ports = list(instances.bind_and_plug(conn, shells, site).values())
            down = instances.wait_active(conn, ports)
        finally:
            conn.close()
        if down:
            lab.say(f"openstack: instance port(s) not ACTIVE yet: {', '.join(down)}")
        timings["instance ports bound, plugged, ACTIVE"] = time.monotonic() - t1
    else:
        conn.close()
    lab.say(f"openstack: {len(made)} resources; "
            + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
            + f"; total {time.monotonic() - t0:.1f} s; clouds.yaml {lay.clouds_yaml}")
