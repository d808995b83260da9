"""The lab's OpenStack configuration files, rendered from the site model (pure functions).

Root-side services (Keystone, neutron-api, nova-api, nova-conductor, nova-scheduler on
127.0.0.1) and the controller's Glance and Placement get their configs under the lab's
state dir; the nodes get what a real node has in /etc/nova/nova.conf, plus a lab override
file (kept in the state dir, never in the node's /etc) that gives nova-compute the real bus,
Placement and Neutron (with real servers), or else the lab's SQLite cell database and an
in-process message bus.
"""
from __future__ import annotations

import configparser
import io

import yaml

from stackproof_lab.daemons import ovs_real
from stackproof_lab.openstack.layout import Layout, Secrets
from stackproof.site import Site

# Short liveness windows keep the lab's fault tests fast: an agent whose heartbeat stops is
# dead after AGENT_DOWN_TIME seconds (the real OVS agent's RPC server uses the same value),
# a nova service after SERVICE_DOWN_TIME.
HEARTBEAT_INTERVAL = 1
AGENT_DOWN_TIME = ovs_real.AGENT_DOWN_TIME
REPORT_INTERVAL = 1
# 15 s, not 5: with real servers a compute's report travels the bus, the conductor and a
# queued SQLite write, and under make test's four labs it came more than 5 s late (a healthy
# run then saw nova-compute "down"). A fault's wait for "down" allows 90 s.
SERVICE_DOWN_TIME = 15
SERVICE_PROJECT = "service"
NOVA_RABBIT_USER = "nova"


def ini(sections: dict[str, dict[str, object]]) -> str:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    for name, values in sections.items():
        if name != "DEFAULT":
            cp.add_section(name)
        for k, v in values.items():
            cp.set(name, k, str(v).lower() if isinstance(v, bool) else str(v))
    buf = io.StringIO()
    cp.write(buf)
    return buf.getvalue()


def _authtoken(lay: Layout, user: str, pw: str) -> dict:
    return {"www_authenticate_uri": lay.url("keystone"), "auth_url": lay.url("keystone"),
            "auth_type": "password", "project_domain_name": "Default",
            "user_domain_name": "Default", "project_name": SERVICE_PROJECT,
            "username": user, "password": pw}


def keystone_conf(lay: Layout) -> str:
    d = lay.dir("keystone")
    return ini({
        "DEFAULT": {"log_file": lay.log("keystone-manage"), "use_stderr": False},
        "database": {"connection": lay.db_url("keystone")},
        "token": {"provider": "fernet", "expiration": 86400},
        "fernet_tokens": {"key_repository": d / "fernet-keys"},
        # bootstrap also reads the receipts repository, whose default is under
        # /etc/keystone: a fresh machine has none (point it at the lab's own keys)
        "fernet_receipts": {"key_repository": d / "fernet-keys"},
        "credential": {"key_repository": d / "credential-keys"},
        # fewer bcrypt rounds: the lab hashes three passwords; production keeps the default
        "identity": {"password_hash_rounds": 4},
    })


def neutron_conf(site: Site, lay: Layout, sec: Secrets, venv_etc: str) -> str:
    return ini({
        "DEFAULT": {"core_plugin": "ml2", "service_plugins": "router",
                    "auth_strategy": "keystone", "transport_url": "fake:/",
                    "state_path": lay.dir("neutron"), "log_file": lay.log("neutron-server"),
                    "use_stderr": False, "allow_overlapping_ips": True,
                    "agent_down_time": AGENT_DOWN_TIME,
                    # the lab's DHCP agent is a stand-in that serves no DHCP: no port may
                    # wait for it (ML2's DHCP provisioning block would keep it DOWN)
                    "enable_traditional_dhcp": False,
                    "notify_nova_on_port_status_changes": False,
                    "notify_nova_on_port_data_changes": False,
                    "api_paste_config": f"{venv_etc}/neutron/api-paste.ini"},
        "database": {"connection": lay.db_url("neutron")},
        "keystone_authtoken": _authtoken(lay, "neutron", sec.neutron),
        "nova": {**_authtoken(lay, "nova", sec.nova), "region_name": site.openstack.region},
        "oslo_concurrency": {"lock_path": lay.root / "locks"},
    })


def ml2_conf(site: Site) -> str:
    ext = site.openstack.external_network
    return ini({
        "ml2": {"type_drivers": "flat,vxlan", "tenant_network_types": "vxlan",
                "mechanism_drivers": "openvswitch,l2population",
                "extension_drivers": "port_security"},
        "ml2_type_flat": {"flat_networks": ext.physical_network},
        "ml2_type_vxlan": {"vni_ranges": "1:1000"},
    })


def root_transport_url(lay: Layout, sec: Secrets) -> str:
    """RabbitMQ in the bus node, as the root side reaches it: the bus relay (relay.py)."""
    return f"rabbit://{NOVA_RABBIT_USER}:{sec.rabbit}@127.0.0.1:{lay.ports.bus}/"


def node_transport_url(site: Site, sec: Secrets) -> str:
    """RabbitMQ as the nodes reach it: the bus node's address on the lab network."""
    return (f"rabbit://{NOVA_RABBIT_USER}:{sec.rabbit}@{site.address_of(ovs_real.bus_host(site))}"
            ":5672/")


def _service_auth(lay: Layout, user: str, pw: str, region: str) -> dict:
    """A [placement] / [neutron] / [glance] section: a service user and the catalog."""
    return {**_authtoken(lay, user, pw), "region_name": region, "valid_interfaces": "public"}


def nova_api_conf(site: Site, lay: Layout, sec: Secrets, venv_etc: str,
                  servers: bool = False) -> str:
    """nova-api's config; with `servers` also nova-conductor's and nova-scheduler's (the
    real bus through the relay, placement, glance; one worker each)."""
    region = site.openstack.region
    extra: dict[str, dict] = {}
    if servers:
        extra = {
            "placement": _service_auth(lay, "placement", sec.placement, region),
            "glance": {"region_name": region, "valid_interfaces": "public"},
            "conductor": {"workers": 1},
            "scheduler": {"workers": 1, "discover_hosts_in_cells_interval": -1},
            # availability zones are a placement prefilter in this Nova (no filter)
            "filter_scheduler": {"enabled_filters": "ComputeFilter,ImagePropertiesFilter"},
            "oslo_messaging_rabbit": {"rabbit_interval_max": 2},
        }
    return ini({
        "DEFAULT": {"transport_url": root_transport_url(lay, sec) if servers else "fake:/",
                    "state_path": lay.dir("nova"),
                    "log_file": lay.log("nova-api"), "use_stderr": False,
                    # with servers the conductor waits on the scheduler over the bus: two
                    # labs side by side made 5 s too short (MessagingTimeout at boot)
                    "service_down_time": SERVICE_DOWN_TIME,
                    "rpc_response_timeout": 60 if servers else 5,
                    "my_ip": "127.0.0.1"},
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": lay.db_url("nova_api")},
        "database": {"connection": lay.db_url("nova")},
        "keystone_authtoken": _authtoken(lay, "nova", sec.nova),
        "neutron": {**_authtoken(lay, "neutron", sec.neutron),
                    "region_name": site.openstack.region},
        "wsgi": {"api_paste_config": f"{venv_etc}/nova/api-paste.ini"},
        "oslo_concurrency": {"lock_path": lay.root / "locks"},
        **extra,
    })


def glance_api_conf(site: Site, lay: Layout, sec: Secrets, venv_etc: str) -> str:
    """Glance on SQLite with one file store in the lab's state dir (multi-store syntax: the
    staging and tasks stores are files there too)."""
    d = lay.dir("glance")
    return ini({
        "DEFAULT": {"log_file": lay.log("glance-api"), "use_stderr": False,
                    "enabled_backends": "fs:file", "show_image_direct_url": False,
                    "worker_self_reference_url": lay.url("glance"),
                    "image_cache_dir": d / "cache"},
        "database": {"connection": lay.db_url("glance")},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": d / "images"},
        "os_glance_staging_store": {"filesystem_store_datadir": d / "staging"},
        "os_glance_tasks_store": {"filesystem_store_datadir": d / "tasks"},
        "keystone_authtoken": _authtoken(lay, "glance", sec.glance),
        "paste_deploy": {"flavor": "keystone",
                         "config_file": f"{venv_etc}/glance/glance-api-paste.ini"},
        "oslo_concurrency": {"lock_path": lay.root / "locks"},
    })


def placement_conf(lay: Layout, sec: Secrets) -> str:
    return ini({
        "DEFAULT": {"log_file": lay.log("placement-api"), "use_stderr": False},
        "api": {"auth_strategy": "keystone"},
        "placement_database": {"connection": lay.db_url("placement")},
        "keystone_authtoken": _authtoken(lay, "placement", sec.placement),
    })


def node_nova_conf(site: Site, sec: Secrets, *, controller: bool, lay: Layout) -> str:
    """A node's /etc/nova/nova.conf, as an operator's node has it: the message bus with its
    password, instances_path, and on the controller the API and cell databases (what
    `nova-manage` reads). The driver is the fake one: no guests run in the lab."""
    sections: dict[str, dict] = {
        "DEFAULT": {"transport_url": f"rabbit://nova:{sec.rabbit}@{_controller(site)}:5672/",
                    "compute_driver": "fake.FakeDriverWithoutFakeNodes",
                    "instances_path": site.openstack.instances_path,
                    "state_path": "/var/lib/nova"},
    }
    if controller:
        sections["api_database"] = {"connection": lay.db_url("nova_api")}
        sections["database"] = {"connection": lay.db_url("nova")}
    return ini(sections)


def nova_compute_servers_conf(site: Site, lay: Layout, sec: Secrets) -> str:
    """Read after the node's nova.conf by the lab's nova-compute when the lab boots real
    servers: the real bus (RabbitMQ in the bus node), no database (objects go through
    nova-conductor, as on a real compute node), placement and Neutron through the
    catalog's 127.0.0.1 URLs, which the node's API relays carry to the root side."""
    region = site.openstack.region
    return ini({
        "DEFAULT": {"transport_url": node_transport_url(site, sec),
                    "report_interval": REPORT_INTERVAL,
                    "service_down_time": SERVICE_DOWN_TIME, "use_stderr": True,
                    "heal_instance_info_cache_interval": -1, "rpc_response_timeout": 30,
                    # placement may answer after the first report: retry soon, not in 60 s
                    "update_resources_interval": 10},
        # RabbitMQ (or Nova's user on it) may come after the service: retry every 2 s
        "oslo_messaging_rabbit": {"rabbit_interval_max": 2},
        "placement": _service_auth(lay, "placement", sec.placement, region),
        "neutron": _service_auth(lay, "neutron", sec.neutron, region),
        "glance": {"region_name": region, "valid_interfaces": "public"},
        "oslo_concurrency": {"lock_path": "/var/lib/nova/tmp"},
    })


def nova_compute_lab_conf(lay: Layout) -> str:
    """Read after the node's nova.conf by the lab's nova-compute: no RabbitMQ in the lab,
    so the bus is oslo.messaging's in-process one and service records go straight to the
    cell database (as in Nova's own functional tests); short report interval."""
    return ini({
        "DEFAULT": {"transport_url": "fake:/", "report_interval": REPORT_INTERVAL,
                    "service_down_time": SERVICE_DOWN_TIME, "use_stderr": True,
                    "heal_instance_info_cache_interval": -1},
        "database": {"connection": lay.db_url("nova")},
        "api_database": {"connection": lay.db_url("nova_api")},
        "oslo_concurrency": {"lock_path": "/var/lib/nova/tmp"},
    })


def _controller(site: Site) -> str:
    ctl = site.with_role("openstack_controller")
    return ctl[0] if ctl else "controller"


def clouds_yaml(site: Site, lay: Layout, sec: Secrets) -> str:
    os_ = site.openstack
    entry = {"auth": {"auth_url": lay.url("keystone"), "username": "admin",
                      "password": sec.admin, "project_name": "admin",
                      "user_domain_name": "Default", "project_domain_name": "Default"},
             "region_name": os_.region, "interface": "public",
             "identity_api_version": 3}
    header = (f"# Written by `stackproof lab up`: the lab's cloud {os_.cloud!r} on 127.0.0.1.\n"
              f"# Use with OS_CLIENT_CONFIG_FILE={lay.clouds_yaml} OS_CLOUD={os_.cloud}\n")
    return header + yaml.safe_dump({"clouds": {os_.cloud: entry}}, sort_keys=False)
