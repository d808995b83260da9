"""site.svg from the site model, coloured by a compliance report; rendered by Graphviz and
read back by a browser."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from stackproof.picture import BADGE, RED, host_states, render_svg
from stackproof.site import load_site

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) missing")


@pytest.fixture(scope="module", params=["seed.yml", "four-host-ebgp.yml"])
def site(request):
    return load_site(ROOT / "inventories" / request.param)


def test_every_host_is_drawn(site):
    svg = render_svg(site)
    for name in site.hosts:
        assert f">{name}<" in svg.replace("&#45;", "-"), name


def test_colours_follow_the_run(site):
    a, b = list(site.physical_hosts())[:2]
    report = {"checks": [
        {"host": a, "check": "bgp.neighbors-established", "status": "failed"},
        {"host": b, "check": "baseline.hostname", "status": "remediated"},
        {"host": b, "check": "bgp.frr-running", "status": "passed"}]}
    states = host_states(report)
    assert states[a].status == "failed" and states[b].status == "remediated"
    svg = render_svg(site, report)
    assert BADGE["failed"] in svg and BADGE["remediated"] in svg
    assert RED in svg                    # the failed host's BGP sessions are red edges
    assert render_svg(site, {"checks": []}).count(RED) == 0
    # a symptom that cleared once its root cause was fixed was red too: orange, like a fix
    cleared = host_states({"checks": [
        {"host": a, "check": "bgp.neighbors-established", "status": "cleared"}]})
    assert cleared[a].status == "remediated" and not cleared[a].failed_checks


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium missing")
def test_a_browser_renders_every_host_name(site, tmp_path):
    path = tmp_path / "site.svg"
    path.write_text(render_svg(site))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=60).stdout
    for name in site.hosts:
        assert name in dom.replace("&#45;", "-"), name
