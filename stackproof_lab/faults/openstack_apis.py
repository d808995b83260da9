"""Glance or Placement down in the controller: every server operation fails (nova-api
cannot look the image up; the scheduler cannot ask Placement for hosts).

Inject stops the service with its init script in the controller, where the lab runs it
(stackproof_lab/openstack/nodes.py NODE_APIS), and waits until its catalog URL no longer
answers from the root side; heal starts it and waits until it answers again.
"""
from __future__ import annotations

import urllib.error
import urllib.request

from stackproof_lab.faults import Fault, FaultError, register
from stackproof_lab.wait import wait_until

WAIT = 120.0            # a WSGI app imports for 10-30 s on this loaded machine


def _controller(site):
    ctl = site.with_role("openstack_controller")
    return ctl[0] if ctl else None


def _url(lab, service: str) -> str:
    from stackproof_lab.openstack.layout import Layout
    lay = Layout.load(lab.state_dir)
    if lay is None or not getattr(lay.ports, service, 0):
        raise FaultError(f"lab {lab.lab_id} runs no {service} (no real servers in this lab)")
    return lay.url(service)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).read()
        return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _wait(url: str, want: bool, what: str) -> None:
    wait_until(lambda: answers(url) == want, WAIT, what, interval=0.5, error=FaultError)


def _service(service: str, unit: str, action: str):
    """inject (stop) or heal (start): the unit on the controller, then until its endpoint
    stops answering or answers again."""
    def act(lab, site, host):
        url = _url(lab, service)
        lab.shell(host).run(["service", unit, action], timeout=60)
        want = action == "start"
        _wait(url, want, f"{unit} on {host} to {'answer' if want else 'stop answering'} "
                         f"at {url}")
    return act


def _only_servers(fn):
    def run(lab, site, host):
        if site.openstack is None or host is None:
            raise FaultError("the inventory has no openstack section or controller")
        return fn(lab, site, host)
    return run


for fault in (
    Fault("glance-down", "openstack", "glance-api is stopped on the controller: the image "
          "service does not answer and every server operation fails",
          _only_servers(_service("glance", "glance-api", "stop")),
          _only_servers(_service("glance", "glance-api", "start")), _controller),
    Fault("placement-down", "openstack", "placement-api is stopped on the controller: "
          "Placement does not answer and no server can be scheduled",
          _only_servers(_service("placement", "placement-api", "stop")),
          _only_servers(_service("placement", "placement-api", "start")), _controller),
):
    register(fault)
