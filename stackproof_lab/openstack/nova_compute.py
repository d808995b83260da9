"""The lab's nova-compute: Nova's own compute service with its fake driver
(`fake.FakeDriverWithoutFakeNodes`: one node with a persistent identity, as a real
single-node driver), run inside a
compute node's namespaces by its init script (/etc/init.d/nova-compute), with the OpenStack
venv's python:

    python nova_compute.py --config-file /etc/nova/nova.conf --config-file LAB_OVERRIDE

What is real: nova.service.Service + ComputeManager + the resource tracker + the DB
servicegroup driver. The service record and its heartbeat (`services.updated_at`,
`report_count`, every report_interval) and the compute node record are written by Nova's
code; nova-api decides up/down from them with service_down_time.

With real servers (the lab's default with the real OVS agents) the lab override gives it
the real bus (RabbitMQ in the bus node) and it runs as nova/cmd/compute.py does: objects
through nova-conductor, the real placement report client (placement and Keystone through
the node's API relays, relay.py). Without them (the stand-in agent): (1) no RabbitMQ: the
lab override sets `transport_url = fake:/`, and the service writes its records straight
to the cell database (a SQLite file in the lab state dir) instead of through
nova-conductor, as Nova's functional tests run it; (2) the scheduler report client is a
no-op stand-in. Always: (3) FakeDriver never touches instances_path,
so before starting, this launcher checks it the way the libvirt driver needs it: a
directory the `nova` user owns and can write. A missing or root-owned instances_path makes
nova-compute exit, and its service goes down after service_down_time, as in the report.
"""
from __future__ import annotations

import os
import pwd
import stat
import sys


def instances_path_problem(path: str, user: str = "nova") -> str | None:
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        return f"user {user} does not exist"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{path} does not exist"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid != account.pw_uid:
        owner = _name(st.st_uid)
        return f"{path} is owned by {owner}, not {user}"
    if not st.st_mode & stat.S_IWUSR or not st.st_mode & stat.S_IXUSR:
        return f"{path} is not writable by its owner {user} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def main(argv: list[str]) -> int:
    from nova import monkey_patch
    monkey_patch.patch()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import sqlite_immediate          # several processes write the lab's SQLite cell database
    sqlite_immediate.install()
    from unittest import mock

    import nova.conf
    from nova import config, objects, service
    from nova.scheduler.client import report
    from oslo_log import log as logging
    from oslo_service import service as os_service

    conf = nova.conf.CONF
    config.parse_args(["nova-compute", *argv])
    log = logging.getLogger("nova.compute")
    problem = instances_path_problem(conf.instances_path)
    if problem:
        log.error("Cannot use instances_path %s: %s. nova-compute needs a directory owned "
                  "and writable by the nova user to create instance directories; exiting.",
                  conf.instances_path, problem)
        return 1
    objects.register_all()
    # FakeDriver names its node 'fake-mini' when the host is called 'compute' (a quirk for
    # Nova's sample tests); a real driver reports the host's own name
    from nova.virt import fake

    def init_host(self, host):
        self._host = host
        self._set_nodes([host])
    fake.FakeDriver.init_host = init_host
    if conf.transport_url.startswith("fake:"):
        # no bus and no placement (the lab without servers): every report client call is
        # accepted and ignored, records go straight to the cell database
        report.SchedulerReportClient = lambda *a, **k: mock.MagicMock()
        server = service.Service.create(binary="nova-compute", topic="compute")
    else:
        server = _conductor_compute()
    launcher = os_service.ServiceLauncher(conf, restart_method="mutate")
    launcher.launch_service(server)
    launcher.wait()
    return 0


def _conductor_compute():
    """As nova/cmd/compute.py builds it: no database access, every object through
    nova-conductor on the real bus, the real placement report client."""
    import nova.db.main.api
    from nova.compute import rpcapi as compute_rpcapi
    from nova.conductor import rpcapi as conductor_rpcapi
    from nova import objects, service
    from nova.objects import base as objects_base
    nova.db.main.api.DISABLE_DB_ACCESS = True
    objects_base.NovaObject.indirection_api = conductor_rpcapi.ConductorAPI()
    objects.Service.enable_min_version_cache()
    return service.Service.create(binary="nova-compute", topic=compute_rpcapi.RPC_TOPIC,
                                  topic_alt=compute_rpcapi.RPC_TOPIC_ALT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
