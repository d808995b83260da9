"""OpenStack faults from the report, injected into a running lab's real services.

Each inject waits (with a deadline) until the cloud itself shows the fault the way an
operator would see it (agent dead, service down, hypervisor gone), so a suite run right
after is red at once; each heal waits for the healthy state again.
"""
from __future__ import annotations

import shlex
import sqlite3

from stackproof_lab.faults import Fault, FaultError, register
from stackproof_lab.wait import wait_until

AGENT = "neutron-openvswitch-agent"
NOVA_MANAGE = "/usr/local/sbin/nova-manage"     # the lab's wrapper inside the controller
WAIT = 60.0


def _lay(lab):
    from stackproof_lab.openstack.layout import Layout
    lay = Layout.load(lab.state_dir)
    if lay is None:
        raise FaultError(f"lab {lab.lab_id} has no OpenStack layer (no {lab.state_dir}/openstack)")
    return lay


def _conn(lab, site):
    from stackproof_lab.openstack import resources
    return resources.connect(_lay(lab).clouds_yaml, site)


def _wait(lab, site, probe, what: str, timeout: float = WAIT) -> None:
    """Poll the cloud until probe(conn) holds."""
    conn = _conn(lab, site)
    try:
        wait_until(lambda: probe(conn), timeout, what, interval=0.5, error=FaultError)
    finally:
        conn.close()


def _agent_alive(conn, host: str, binary: str) -> bool | None:
    for a in conn.network.agents(host=host, binary=binary):
        return a.is_alive
    return None


def _service_state(conn, host: str) -> str | None:
    for s in conn.compute.services(binary="nova-compute", host=host):
        return s.state
    return None


def _hypervisor_listed(conn, host: str) -> bool:
    return any(h.name == host for h in conn.compute.hypervisors())


def _first_compute(site) -> str:
    computes = site.with_role("nova_compute")
    return computes[-1] if computes else None          # the report's compute2: the newcomer


def _first_agent_host(site) -> str:
    hosts = [h for h in site.with_role("ovs_agent") if "nova_compute" in site.hosts[h].roles]
    return (hosts or site.with_role("ovs_agent"))[-1]


# --- the OVS agent stopped ----------------------------------------------------------------------
def agent_stop(lab, site, host):
    lab.shell(host).run(["service", AGENT, "stop"], timeout=60)
    _wait(lab, site, lambda c: _agent_alive(c, host, AGENT) is False,
          f"{AGENT} on {host} to be reported dead")


def agent_start(lab, site, host):
    lab.shell(host).run(["service", AGENT, "start"], timeout=60)
    _wait(lab, site, lambda c: _agent_alive(c, host, AGENT) is True,
          f"{AGENT} on {host} to be alive")


# --- the OVS agent's message bus unreachable ---------------------------------------------------
NEUTRON_CONF = "/etc/neutron/neutron.conf"
SAVED_CONF = "/var/lib/neutron/lab-neutron.conf.orig"


def bus_unreachable(lab, site, host):
    """transport_url names the physical host under the node (no broker there), and the agent
    restarts with it: it never gets an answer, sends no report, and Neutron calls it dead."""
    from stackproof_lab.faults.ovs import wrong_local_ip
    wrong = wrong_local_ip(site, host)
    expr = rf"/^transport_url/ s#@[^:/,@]+(:[0-9]+)?([,/]|$)#@{wrong}\1\2#"
    sh = lab.shell(host)
    sh.sh(f"[ -e {SAVED_CONF} ] || cp -p {NEUTRON_CONF} {SAVED_CONF}; "
          f"sed -i -E {shlex.quote(expr)} {NEUTRON_CONF}")
    # the init script waits for the agent's 'initialized' line, which never comes: leave its
    # wait after a few seconds (the agent runs on in its own session, its pidfile written)
    sh.sh(f"service {AGENT} stop >/dev/null 2>&1; "
          f"timeout 5 service {AGENT} start >/dev/null 2>&1 </dev/null; true", timeout=60)
    _wait(lab, site, lambda c: _agent_alive(c, host, AGENT) is False,
          f"{AGENT} on {host} to be reported dead")


def bus_restore(lab, site, host):
    sh = lab.shell(host)
    sh.sh(f"[ -e {SAVED_CONF} ] && cp -p {SAVED_CONF} {NEUTRON_CONF} && rm -f {SAVED_CONF}; "
          f"service {AGENT} restart >/dev/null 2>&1", check=False, timeout=240)
    _wait(lab, site, lambda c: _agent_alive(c, host, AGENT) is True,
          f"{AGENT} on {host} to be alive", timeout=180)


# --- nova-compute down because of instances_path -----------------------------------------------
def _restart_compute_and_wait(lab, site, host, state: str) -> None:
    lab.shell(host).run(["service", "nova-compute", "restart"], timeout=60)
    _wait(lab, site, lambda c: _service_state(c, host) == state,
          f"nova-compute on {host} to be {state}", timeout=90)


def path_missing(lab, site, host):
    path = shlex.quote(site.openstack.instances_path)
    lab.shell(host).sh(f"service nova-compute stop; rm -rf {path}")
    _restart_compute_and_wait(lab, site, host, "down")


def path_root_owned(lab, site, host):
    path = shlex.quote(site.openstack.instances_path)
    lab.shell(host).sh(f"chown root:root {path}")
    _restart_compute_and_wait(lab, site, host, "down")


def path_restore(lab, site, host):
    path = shlex.quote(site.openstack.instances_path)
    lab.shell(host).sh(f"mkdir -p {path} && chown nova:nova {path} && chmod 755 {path}")
    _restart_compute_and_wait(lab, site, host, "up")


# --- a compute host not mapped to its cell ------------------------------------------------------
def _cell1_uuid(lab) -> str:
    with sqlite3.connect(_lay(lab).db("nova_api"), timeout=10) as db:
        row = db.execute("SELECT uuid FROM cell_mappings WHERE name = 'cell1'").fetchone()
    return row[0]


def _controller(site) -> str:
    return site.with_role("openstack_controller")[0]


def unmap_host(lab, site, host):
    """The real `nova-manage cell_v2 delete_host` on the controller: drops the host mapping
    and marks the compute node unmapped (what a compute added without discover_hosts is)."""
    proc = lab.shell(_controller(site)).run(
        [NOVA_MANAGE, "cell_v2", "delete_host", "--cell_uuid", _cell1_uuid(lab), "--host", host],
        timeout=180, check=False)
    if proc.returncode == 4:
        # the host runs servers (the lab boots real ones), which delete_host refuses: leave
        # the state it would leave, as a host never discovered has it (no host mapping, its
        # compute node unmapped); discover_hosts maps it again with its servers
        lay = _lay(lab)
        with sqlite3.connect(lay.db("nova_api"), timeout=30) as db:
            db.execute("DELETE FROM host_mappings WHERE host = ?", (host,))
        with sqlite3.connect(lay.db("nova"), timeout=30) as db:
            db.execute("UPDATE compute_nodes SET mapped = 0 WHERE host = ?", (host,))
    elif proc.returncode != 0:
        raise FaultError(f"nova-manage cell_v2 delete_host --host {host} -> rc "
                         f"{proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    _wait(lab, site, lambda c: not _hypervisor_listed(c, host),
          f"{host} to drop out of the hypervisor list")


def map_host(lab, site, host):
    lab.shell(_controller(site)).run([NOVA_MANAGE, "cell_v2", "discover_hosts", "--verbose"],
                                     timeout=180)
    _wait(lab, site, lambda c: _hypervisor_listed(c, host), f"{host} to be a hypervisor again")


# --- the external network on a range overlapping a libvirt NAT network ------------------------
def _overlapping_range(site):
    """The NAT network of the host fronting the external network: the report's first
    ext-net sat on its host's own NAT range."""
    front = site.openstack.external_network.gateway_on.host
    nw = site.hosts[front].nat_networks[0]
    return nw.cidr, nw.gateway, (nw.dhcp_range.start, nw.dhcp_range.end)


def ext_overlap(lab, site, host):
    from stackproof_lab.openstack import resources
    conn = _conn(lab, site)
    try:
        resources.rebuild_external(conn, site, *_overlapping_range(site))
    finally:
        conn.close()


def ext_restore(lab, site, host):
    from stackproof_lab.openstack import resources
    ext = site.openstack.external_network
    conn = _conn(lab, site)
    try:
        net = resources.find_external(conn, site)
        subs = [s.cidr for s in conn.network.subnets(network_id=net.id)]
        if subs != [str(ext.cidr)]:
            resources.rebuild_external(conn, site, ext.cidr, ext.gateway,
                                       (ext.pool.start, ext.pool.end))
        _attach_all(conn, site)
    finally:
        conn.close()


def _attach_all(conn, site) -> None:
    from stackproof_lab.openstack import resources
    ext = resources.find_external(conn, site)
    for name, inst in site.instances().items():
        if inst.floating_ip is None:
            continue
        from stackproof_lab.openstack.instances import instance_port
        port = instance_port(conn, site, name)
        fip = next(iter(conn.network.ips(floating_ip_address=str(inst.floating_ip))), None)
        if fip is None:
            conn.network.create_ip(floating_network_id=ext.id,
                                   floating_ip_address=str(inst.floating_ip), port_id=port.id,
                                   fixed_ip_address=str(inst.address))
        elif fip.port_id != port.id:
            conn.network.update_ip(fip, port_id=port.id, fixed_ip_address=str(inst.address))


# --- the gateway address missing from the host bridge ------------------------------------------
def _gw(site):
    ext = site.openstack.external_network
    return ext.gateway_on.host, ext.gateway_on.bridge, f"{ext.gateway}/{ext.cidr.prefixlen}"


def gw_remove(lab, site, host):
    front, bridge, cidr = _gw(site)
    lab.shell(front).run(["ip", "addr", "del", cidr, "dev", bridge], check=False)


def gw_add(lab, site, host):
    front, bridge, cidr = _gw(site)
    lab.shell(front).run(["ip", "addr", "replace", cidr, "dev", bridge])


# --- a floating IP not attached -----------------------------------------------------------------
def _first_instance(site):
    return next((n for n, h in site.instances().items() if h.floating_ip is not None), None)


def fip_detach(lab, site, host):
    inst = site.instances()[host]
    conn = _conn(lab, site)
    try:
        fip = next(iter(conn.network.ips(floating_ip_address=str(inst.floating_ip))))
        conn.network.update_ip(fip, port_id=None)
    finally:
        conn.close()


def fip_attach(lab, site, host):
    conn = _conn(lab, site)
    try:
        _attach_all(conn, site)
    finally:
        conn.close()


# --- an instance's port bound to no host ------------------------------------------------------
def _instance_port(conn, site, name):
    from stackproof_lab.openstack.instances import instance_port
    port = instance_port(conn, site, name)
    if port is None:
        raise FaultError(f"{name} has no port in the lab")
    return port


def port_unbind(lab, site, host):
    """binding:host_id cleared (the port is unbound): no agent wires it any more."""
    conn = _conn(lab, site)
    try:
        conn.network.update_port(_instance_port(conn, site, host), binding_host_id="")
    finally:
        conn.close()


def port_bind(lab, site, host):
    conn = _conn(lab, site)
    try:
        conn.network.update_port(_instance_port(conn, site, host),
                                 binding_host_id=site.instances()[host].compute)
    finally:
        conn.close()


def _only_openstack(fn):
    def run(lab, site, host):
        if site.openstack is None:
            raise FaultError("the inventory has no openstack section")
        return fn(lab, site, host)
    return run


def _default(pick):
    return lambda site: pick(site) if site.openstack else None


for fault in (
    Fault("neutron-ovs-agent-stopped", "openstack", "the Open vSwitch agent is stopped on "
          "a node: Neutron reports it dead after agent_down_time",
          _only_openstack(agent_stop), _only_openstack(agent_start),
          _default(_first_agent_host)),
    Fault("neutron-agent-bus-unreachable", "openstack", "the Open vSwitch agent's "
          "transport_url names a host without the message bus: the restarted agent never "
          "reports and Neutron calls it dead", _only_openstack(bus_unreachable),
          _only_openstack(bus_restore), _default(_first_agent_host)),
    Fault("nova-instances-path-missing", "openstack", "instances_path does not exist: "
          "nova-compute exits at start and its service goes down",
          _only_openstack(path_missing), _only_openstack(path_restore),
          _default(_first_compute)),
    Fault("nova-instances-path-root-owned", "openstack", "instances_path is owned by root: "
          "nova-compute exits at start and its service goes down",
          _only_openstack(path_root_owned), _only_openstack(path_restore),
          _default(_first_compute)),
    Fault("nova-host-unmapped", "openstack", "a compute host is not mapped to the cell "
          "(needs nova-manage cell_v2 discover_hosts)",
          _only_openstack(unmap_host), _only_openstack(map_host), _default(_first_compute)),
    Fault("external-network-overlap", "openstack", "the external network sits on a range "
          "that overlaps a libvirt NAT network (the report's first ext-net)",
          _only_openstack(ext_overlap), _only_openstack(ext_restore),
          # the rebuild re-creates every floating IP: faults on them would be swept away
          destructive_fix=True,
          conflicts=("dvr-compute-route-missing", "dvr-fip-not-on-br-ex",
                     "dvr-front-route-missing", "fip-route-not-persisted")),
    Fault("external-gateway-missing", "openstack", "the external gateway address is not on "
          "the host bridge", _only_openstack(gw_remove), _only_openstack(gw_add)),
    Fault("instance-port-unbound", "openstack", "an instance's port is bound to no host "
          "(binding:host_id cleared): no agent wires it and its tunnels never form",
          _only_openstack(port_unbind), _only_openstack(port_bind),
          _default(_first_instance)),
    Fault("floating-ip-detached", "openstack", "an instance's floating IP is not attached "
          "to its port", _only_openstack(fip_detach), _only_openstack(fip_attach),
          _default(_first_instance)),
):
    register(fault)
