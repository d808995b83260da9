"""Whether the catalog's image and placement endpoints answer (openstacksdk).

Servers need both: nova-api looks the image up in Glance, the scheduler asks Placement for
hosts. Each probe is an unauthenticated GET of the endpoint's root (its version document,
which every OpenStack API serves); any HTTP answer below 500 means the service is there.
Probes are not cached: every check (and every re-verification after a fix) asks afresh.
"""
from __future__ import annotations

from dataclasses import dataclass

PROBE_TIMEOUT = 10.0
# the services a server operation needs besides compute and network, and their names
SERVICE_NAMES = {"image": "Glance", "placement": "Placement"}


@dataclass(frozen=True)
class EndpointProbe:
    service_type: str
    name: str                   # the project's name: what the finding says
    url: str                    # "" when the catalog has no such endpoint
    status: int | None          # HTTP status; None when nothing answered
    error: str = ""

    @property
    def answers(self) -> bool:
        return self.status is not None and self.status < 500


def probe_from_response(service_type: str, url: str, status: int | None,
                        error: str = "") -> EndpointProbe:
    return EndpointProbe(service_type, SERVICE_NAMES.get(service_type, service_type), url,
                         status, error)


def probe(conn, service_type: str, interface: str = "public") -> EndpointProbe:
    """GET the catalog endpoint of `service_type` (no token: the version document)."""
    import requests
    try:
        url = conn.session.get_endpoint(service_type=service_type, interface=interface) or ""
    except Exception as exc:        # keystoneauth: no such endpoint in the catalog
        return probe_from_response(service_type, "", None,
                                   f"not in the catalog ({type(exc).__name__})")
    if not url:
        return probe_from_response(service_type, "", None, "not in the catalog")
    try:
        resp = requests.get(url, timeout=PROBE_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return probe_from_response(service_type, url, None, _reason(exc))
    return probe_from_response(service_type, url, resp.status_code,
                               "" if resp.status_code < 500 else resp.text[:200])


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "Connection reset", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def probe_all(conn, service_types=tuple(SERVICE_NAMES)) -> list[EndpointProbe]:
    return [probe(conn, t) for t in service_types]
