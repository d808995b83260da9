"""The catalog's image and placement endpoints: the check and its fix, on probes captured
from the lab's real Glance and Placement (tests/data/openstack/capture_endpoints.py), and
the probe itself against a real HTTP server and a closed port on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from stackproof.checks import openstack as checks
from stackproof.facts.openstack_endpoints import EndpointProbe, probe
from stackproof.osfamily import profile
from stackproof.remedy import Context, Run
from stackproof.site import load_site

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "openstack" / "endpoints"
SITE = load_site(ROOT / "inventories" / "seed.yml")


def captured(case: str) -> list[EndpointProbe]:
    return [EndpointProbe(**d) for d in json.loads((DATA / f"{case}.json").read_text())]


def test_healthy_catalog_passes():
    probes = captured("healthy")
    assert {p.service_type for p in probes} == {"image", "placement"}
    assert all(p.answers for p in probes)
    assert checks.server_services_answer(SITE, probes) is None


@pytest.mark.parametrize("case,kind,name,unit", [
    ("glance-down", "image", "Glance", "glance-api"),
    ("placement-down", "placement", "Placement", "placement-api")])
def test_down_service_is_named_and_restarted_on_the_controller(case, kind, name, unit):
    import remediations.openstack_api_restart as m
    fd = checks.server_services_answer(SITE, captured(case))
    assert fd is not None and fd.remediation == m.ID
    assert fd.host == checks.controller(SITE)
    assert fd.message.startswith(f"{name} down: server operations fail")
    assert fd.params == {"service_type": kind, "name": name}
    plan = m.plan(Context(SITE, {}, {}), fd)
    [step] = plan.steps
    assert isinstance(step, Run) and step.host == fd.host
    family = profile(SITE, fd.host).family
    assert step.command == profile(SITE, fd.host).service(m.SERVICES[kind][family], "restart")
    assert m.SERVICES[kind]["debian"] == unit
    assert not m.DESTRUCTIVE


class _Conn:
    """openstacksdk's Connection as the probe uses it: the catalog lookup only."""

    def __init__(self, urls: dict[str, str]):
        self.session = self
        self.urls = urls

    def get_endpoint(self, service_type: str, interface: str):
        return self.urls.get(service_type)


class _Versions(BaseHTTPRequestHandler):
    def do_GET(self):                       # noqa: N802
        body = b'{"versions": []}'
        self.send_response(300)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_probe_answers_refused_and_missing():
    server = HTTPServer(("127.0.0.1", 0), _Versions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:              # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    try:
        conn = _Conn({"image": f"http://127.0.0.1:{server.server_port}",
                      "placement": f"http://127.0.0.1:{closed}"})
        up = probe(conn, "image")
        assert up.answers and up.status == 300 and up.name == "Glance"
        down = probe(conn, "placement")
        assert not down.answers and down.status is None
        assert down.error == "connection refused"
        missing = probe(_Conn({}), "image")
        assert not missing.answers and missing.error == "not in the catalog"
    finally:
        server.shutdown()
