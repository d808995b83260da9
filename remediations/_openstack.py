"""Helpers the OpenStack remediations share: service names per OS family, the cloud
connection from the engine's context, and API calls that drop the run's cached facts."""
from __future__ import annotations

from typing import Any, Callable

from stackproof.osfamily import profile
from stackproof.remedy import Call, RemediationFailed

# RDO packages name the compute service openstack-nova-compute; Debian/Ubuntu nova-compute.
# Neutron's agents carry the same names on both.
NOVA_COMPUTE = {"rhel": "openstack-nova-compute", "debian": "nova-compute"}


def nova_compute_service(site, host: str) -> str:
    return NOVA_COMPUTE[profile(site, host).family]


def restart(site, host: str, name: str) -> str:
    return profile(site, host).service(name, "restart")


def conn(ctx):
    c = ctx.extras.get("openstack")
    if c is None:
        raise RemediationFailed("no OpenStack connection in this run (the cloud fixture "
                                "did not run)")
    return c


def call(ctx, description: str, fn: Callable[[], Any]) -> Call:
    """An API step; whatever it changed, the run's OpenStack facts are read again."""
    def run():
        try:
            return fn()
        except RemediationFailed:
            raise
        except Exception as exc:          # the SDK's errors: one line in the outcome
            raise RemediationFailed(f"{description}: {type(exc).__name__}: {exc}") from None
        finally:
            facts = ctx.extras.get("openstack_facts")
            if facts is not None:
                facts.invalidate()
    return Call("openstack", description, run)
