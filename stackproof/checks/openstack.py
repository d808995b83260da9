"""OpenStack checks: API facts (+ a node's SSH facts) and the site -> Finding | None."""
from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass

from stackproof.facts import openstack as f
from stackproof.facts.openstack import OpenStackFacts
from stackproof.remote import Remote
from stackproof.site import Site


@dataclass(frozen=True)
class ExpectedAgent:
    host: str
    binary: str
    agent_type: str


def expected_agents(site: Site, host: str) -> list[ExpectedAgent]:
    """The report's agents: Open vSwitch agent on every ovs_agent host; DHCP, L3 and
    metadata agents on the network node."""
    roles = site.hosts[host].roles
    out = []
    if "ovs_agent" in roles:
        out.append(ExpectedAgent(host, "neutron-openvswitch-agent", "Open vSwitch agent"))
    if "network_node" in roles:
        out += [ExpectedAgent(host, "neutron-dhcp-agent", "DHCP agent"),
                ExpectedAgent(host, "neutron-l3-agent", "L3 agent"),
                ExpectedAgent(host, "neutron-metadata-agent", "Metadata agent")]
    return out


def controller(site: Site) -> str:
    ctl = site.with_role("openstack_controller")
    if not ctl:
        raise ValueError("no host has the role openstack_controller (nova-manage runs there)")
    return ctl[0]


def _finding(remediation, host, message, params=None, facts=None):
    from stackproof.finding import Finding
    return Finding(remediation, host, message, params or {}, facts or {})


# --- compute ---------------------------------------------------------------------------------
def nova_compute_up(site: Site, cloud: OpenStackFacts, remote: Remote):
    """nova-compute on this host: listed, enabled, up. When down, the node tells why."""
    host = remote.name
    found = [s for s in cloud.compute_services() if s.binary == "nova-compute" and s.host == host]
    listed = {"os-services": [asdict(s) for s in cloud.compute_services()
                              if s.binary == "nova-compute"]}
    if found and found[0].state == "up" and found[0].status == "enabled":
        return None
    if found and found[0].state == "up":
        svc = found[0]
        return _finding("nova_compute_enable", host,
                        f"nova-compute on {host} is disabled"
                        + (f" ({svc.disabled_reason})" if svc.disabled_reason else ""),
                        {"service_id": svc.id}, listed)
    what = "is down" if found else "is not registered"
    path = instances_path_problem(site, remote)
    if path is not None:
        problem, state, configured = path
        return _finding("nova_instances_path", host,
                        f"nova-compute on {host} {what}: instances_path {problem}",
                        {"path": site.openstack.instances_path, "configured": configured},
                        {**listed, "instances_path": asdict(state)})
    return _finding("nova_compute_restart", host, f"nova-compute on {host} {what} "
                    "(instances_path is fine: restart the service)", {}, listed)


def instances_path_problem(site: Site, remote: Remote):
    """(problem, PathState, configured path) when nova.conf's instances_path is not the
    inventory's, or the directory is missing, not nova:nova, or not 755; else None."""
    want = site.openstack.instances_path
    text = f.nova_conf(remote)
    configured = f.parse_nova_conf(text).get("instances_path") if text else None
    state = f.path_state(remote, want)
    if configured != want:
        return (f"in {f.NOVA_CONF} is {configured or 'unset'}, the inventory says {want}",
                state, configured)
    if not state.exists:
        return f"{want} does not exist", state, configured
    if state.kind != "directory":
        return f"{want} is a {state.kind}, not a directory", state, configured
    if (state.owner, state.group) != ("nova", "nova"):
        return f"{want} is owned by {state.owner}:{state.group}, not nova:nova", state, configured
    if state.mode != "755":
        return f"{want} has mode {state.mode}, not 755", state, configured
    return None


def host_mapped(site: Site, cloud: OpenStackFacts, host: str):
    """A compute host shows up as a hypervisor only once it is mapped to a cell
    (nova-api skips unmapped hosts: HostMappingNotFound)."""
    names = [h.hostname for h in cloud.hypervisors()]
    if any(n == host or n.startswith(host + ".") for n in names):
        return None
    return _finding("nova_discover_hosts", host,
                    f"{host} is not listed as a hypervisor: its compute node is not mapped to "
                    f"a cell (run nova-manage cell_v2 discover_hosts)",
                    {"controller": controller(site)}, {"hypervisors": names})


# --- neutron agents -----------------------------------------------------------------------------
def agents_alive(site: Site, cloud: OpenStackFacts, host: str):
    agents = [a for a in cloud.agents() if a.host == host]
    seen = {"agents on host": [asdict(a) for a in agents]}
    for want in expected_agents(site, host):
        got = next((a for a in agents if a.binary == want.binary), None)
        if got is None:
            return _finding("neutron_agent_restart", host,
                            f"no {want.agent_type} ({want.binary}) registered for {host}",
                            {"binary": want.binary}, seen)
        if not got.alive:
            return _finding("neutron_agent_restart", host,
                            f"{want.agent_type} on {host} is dead (last heartbeat "
                            f"{got.heartbeat_timestamp})",
                            {"binary": want.binary}, seen)
        if not got.admin_state_up:
            return _finding("neutron_agent_enable", host,
                            f"{want.agent_type} on {host} is administratively DOWN",
                            {"agent_id": got.id, "binary": want.binary}, seen)
    return None


def agent_transport(site: Site, remote: Remote):
    """The node's Neutron agent names the controller's message bus in transport_url (an agent
    that cannot reach the bus sends no state report: Neutron calls it dead)."""
    from stackproof.expect import message_bus
    want = message_bus(site, remote.name)
    t = f.agent_transport(remote)
    if not want:
        return None
    seen = {"transport_url brokers": [f"{h}:{p}" for h, p in t.hosts], "path": t.path,
            "expected one of": sorted(want)}
    if not t.exists:
        return _finding("neutron_agent_transport", remote.name, f"{t.path} is missing: the "
                        f"agent has no message bus", {"blocked": f"{t.path} is missing"}, seen)
    if t.hosts and all(h in want for h, _ in t.hosts):
        return None
    got = ", ".join(f"{h}:{p}" for h, p in t.hosts) or "unset"
    return _finding("neutron_agent_transport", remote.name,
                    f"the Neutron agent's transport_url in {t.path} names {got}, not the "
                    f"controller's message bus ({sorted(want)[0]})",
                    {"path": t.path, "address": str(site.address_of(
                        site.with_role("openstack_controller")[0]))}, seen)


# --- networks -----------------------------------------------------------------------------------
def external_network(site: Site, cloud: OpenStackFacts):
    ext = site.openstack.external_network
    net = cloud.network(ext.name)
    want = {"external": True, "network_type": "flat", "physical_network": ext.physical_network,
            "cidr": str(ext.cidr), "gateway_ip": str(ext.gateway),
            "allocation_pools": [[str(ext.pool.start), str(ext.pool.end)]]}
    if net is None:
        return _finding("external_network_rebuild", "openstack",
                        f"no network named {ext.name}", {"exists": False}, {"expected": want})
    subs = cloud.subnets_of(net.id)
    got = {"external": net.external, "network_type": net.network_type,
           "physical_network": net.physical_network,
           "subnets": [asdict(s) for s in subs]}
    problems = []
    if not net.external:
        problems.append("not router:external")
    if net.network_type != "flat":
        problems.append(f"type {net.network_type}, not flat")
    if net.physical_network != ext.physical_network:
        problems.append(f"physical network {net.physical_network}, not {ext.physical_network}")
    match = [s for s in subs if s.cidr == str(ext.cidr)]
    if not match:
        problems.append(f"subnets {[s.cidr for s in subs] or 'none'}, not {ext.cidr}")
    else:
        s = match[0]
        if s.gateway_ip != str(ext.gateway):
            problems.append(f"gateway {s.gateway_ip}, not {ext.gateway}")
        pool = (str(ext.pool.start), str(ext.pool.end))
        if list(s.allocation_pools) != [pool]:
            problems.append(f"allocation pools {list(s.allocation_pools)}, not {[pool]}")
    if not problems:
        return None
    return _finding("external_network_rebuild", "openstack",
                    f"external network {ext.name}: " + "; ".join(problems),
                    {"exists": True, "network_id": net.id}, {"expected": want, "found": got})


def nat_ranges(site: Site) -> list[tuple[str, str, str]]:
    """(host, libvirt network name, cidr) of every NAT network in the inventory."""
    return [(h, nw.name, str(nw.cidr)) for h, ph in site.physical_hosts().items()
            for nw in ph.nat_networks]


def no_nat_overlap(site: Site, cloud: OpenStackFacts):
    os_ = site.openstack
    clashes = []
    for label, name in (("external", os_.external_network.name),
                        ("tenant", os_.tenant_network.name)):
        net = cloud.network(name)
        for s in cloud.subnets_of(net.id) if net else []:
            for host, nw, cidr in nat_ranges(site):
                if ipaddress.ip_network(s.cidr).overlaps(ipaddress.ip_network(cidr)):
                    clashes.append((label, name, s.cidr, host, nw, cidr))
    if not clashes:
        return None
    label = clashes[0][0]
    text = "; ".join(f"{lb} network {n} subnet {c} overlaps libvirt network {nw} ({nc}) on {h}"
                     for lb, n, c, h, nw, nc in clashes)
    return _finding("external_network_rebuild", "openstack", text,
                    {"exists": True, "which": label},
                    {"clashes": [dict(zip(("kind", "network", "subnet", "host", "libvirt",
                                           "libvirt_cidr"), c)) for c in clashes]})


def router_gateway(site: Site, cloud: OpenStackFacts):
    os_ = site.openstack
    router = cloud.router(os_.router)
    net = cloud.network(os_.external_network.name)
    if router is None:
        return _finding("router_gateway", "openstack", f"no router named {os_.router}",
                        {"exists": False}, {"routers": [r.name for r in cloud.routers()]})
    if net is not None and router.external_network_id == net.id:
        return None
    now = next((n.name for n in cloud.networks() if n.id == router.external_network_id), None)
    return _finding("router_gateway", "openstack",
                    f"router {router.name}'s external gateway is "
                    f"{now or router.external_network_id or 'unset'}, not "
                    f"{os_.external_network.name}", {"exists": True},
                    {"router": asdict(router)})


def instance_port(site: Site, cloud: OpenStackFacts, instance: str) -> f.Port | None:
    """The instance's port: on the tenant network, holding the instance's address."""
    inst = site.instances()[instance]
    net = cloud.network(site.openstack.tenant_network.name)
    ports = [p for p in cloud.ports() if net is not None and p.network_id == net.id
             and any(ip == str(inst.address) for _, ip in p.fixed_ips)]
    ports.sort(key=lambda p: not p.device_owner.startswith("compute:"))
    return ports[0] if ports else None


def instance_port_bound(site: Site, cloud: OpenStackFacts, instance: str):
    """The instance's port is bound to its compute host (binding:host_id): only then does
    that host's agent wire it, and l2population build the tunnels it needs. A missing port
    is left to the floating-IP check, which names it."""
    inst = site.instances()[instance]
    port = instance_port(site, cloud, instance)
    if port is None or port.binding_host == inst.compute:
        return None
    return _finding("instance_port_bind", instance,
                    f"{instance}'s port {port.id} is bound to "
                    f"{port.binding_host or 'no host'}, not its compute host {inst.compute}: "
                    f"no agent wires it and its tunnels never form",
                    {"port_id": port.id, "host": inst.compute}, {"port": asdict(port)})


def floating_ip_attached(site: Site, cloud: OpenStackFacts, instance: str):
    inst = site.instances()[instance]
    if inst.floating_ip is None:
        return None
    address = str(inst.floating_ip)
    port = instance_port(site, cloud, instance)
    fip = next((x for x in cloud.floating_ips() if x.address == address), None)
    seen = {"floating_ip": asdict(fip) if fip else None, "port": asdict(port) if port else None}
    if port is None:
        return _finding("floating_ip_attach", instance,
                        f"{instance} has no port on {site.openstack.tenant_network.name} with "
                        f"{inst.address}: nothing to attach {address} to",
                        {"blocked": "the instance's port is missing"}, seen)
    if fip is not None and fip.port_id == port.id and fip.fixed_ip_address == str(inst.address):
        return None
    where = ("does not exist" if fip is None else
             f"is attached to port {fip.port_id}" if fip.port_id else "is not attached")
    return _finding("floating_ip_attach", instance,
                    f"floating IP {address} of {instance} {where}; expected on port "
                    f"{port.id} ({inst.address})",
                    {"address": address, "port_id": port.id, "fixed_ip": str(inst.address),
                     "exists": fip is not None}, seen)


# --- the gateway on the host bridge (SSH) ------------------------------------------------------
def gateway_on_bridge(site: Site, remote: Remote):
    from stackproof.facts import routes
    ext = site.openstack.external_network
    cidr = f"{ext.gateway}/{ext.cidr.prefixlen}"
    links = routes.addresses(remote)
    bridge = ext.gateway_on.bridge
    on = links.on(bridge)
    if any(a.cidr == cidr for a in on):
        return None
    if bridge not in links.devices:
        return _finding("external_gateway_address", remote.name,
                        f"{remote.name} has no interface {bridge} for the external gateway",
                        {"blocked": f"{bridge} does not exist", "cidr": cidr, "dev": bridge},
                        {"devices": sorted(links.devices)})
    return _finding("external_gateway_address", remote.name,
                    f"{cidr} (gateway of {ext.name}) is not on {bridge} of {remote.name}",
                    {"cidr": cidr, "dev": bridge},
                    {f"addresses on {bridge}": [a.cidr for a in on]})


# --- the services a server operation needs ------------------------------------------------------
def server_services_answer(site: Site, probes):
    """Glance and Placement answer at their catalog endpoints: nova-api needs the image,
    the scheduler needs Placement, so every server operation fails while one is down. The
    finding names the service that is down; its fix restarts it on the controller."""
    from dataclasses import asdict as _asdict
    down = [p for p in probes if not p.answers]
    if not down:
        return None
    first = down[0]
    names = ", ".join(f"{p.name} ({p.service_type}) at {p.url or 'no endpoint'}: "
                      f"{p.error or f'HTTP {p.status}'}" for p in down)
    return _finding("openstack_api_restart", controller(site),
                    f"{' and '.join(p.name for p in down)} down: server operations fail "
                    f"({names})",
                    {"service_type": first.service_type, "name": first.name},
                    {"probes": [_asdict(p) for p in probes]})

