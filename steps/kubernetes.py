"""Kubernetes steps: nodes through the API, kubelet's node IP on the worker hosts, and the
maintenance (cordon + drain) of one node chosen with --node."""
from __future__ import annotations

from typing import Callable

import pytest
from pytest_bdd import given, then

from stackproof.checks import kubernetes as checks
from stackproof.facts.kubernetes import KubeFacts, KubeUnavailable
from stackproof.finding import Finding
from steps.common import then_ensures


def ensure_kube(remedy, kube: KubeFacts, check: Callable[[], Finding | None]) -> None:
    """remedy.ensure for an API fact: the first look uses the run's cached listing; `kube`
    is a fact source registered with the engine, which drops it before re-verifying. An
    unreachable API fails the scenario with its reason (the engine turns any error in a
    check into a failure, never a traceback)."""
    remedy.ensure(check)


def _nodes_of(site, target: str):
    nodes = checks.inventory_nodes(site, target)
    if not nodes:
        pytest.fail(f"{target} runs no inventory Kubernetes node", pytrace=False)
    return nodes


@given("the Kubernetes API answers")
def _api_answers(kube):
    try:
        kube.nodes()
    except KubeUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@then("every inventory node is registered with the API server")
def _registered(site, kube, remedy):
    for node in checks.inventory_nodes(site):
        ensure_kube(remedy, kube, lambda node=node: checks.registered(site, kube, node))


@then("the node is Ready")
def _ready(site, kube, remedy, target):
    for node in _nodes_of(site, target):
        ensure_kube(remedy, kube, lambda node=node: checks.ready(site, kube, node))


@then("its INTERNAL-IP is the inventory's internal_ip")
def _internal_ip(site, kube, remedy, target):
    for node in _nodes_of(site, target):
        ensure_kube(remedy, kube, lambda node=node: checks.internal_ip(site, kube, node))


@then("it takes workloads unless the inventory says otherwise")
def _schedulable(site, kube, remedy, target):
    for node in _nodes_of(site, target):
        ensure_kube(remedy, kube, lambda node=node: checks.schedulable(site, kube, node))


then_ensures("kubelet is given the floating IP as node-ip", checks.join_config_node_ip)
then_ensures("the floating IP is on lo as a /32", checks.node_ip_on_lo)


@then("add-kubelet-ip.service re-adds it at boot")
def _unit_file(site, remote, remedy, reboot_check):
    if reboot_check.enabled:
        from stackproof.checks import boot as after_boot
        remedy.ensure(reboot_check.after_boot(remote.name,
                                              lambda: after_boot.node_ip_on_lo(site, remote)))
    remedy.ensure(lambda: checks.unit_file_ok(site, remote))


then_ensures("add-kubelet-ip.service is enabled", checks.unit_enabled)


# --- maintenance -----------------------------------------------------------------------------
@given("the node chosen with --node", target_fixture="maintenance_node")
def _maintenance_node(pytestconfig, site, kube) -> str:
    name = pytestconfig.getoption("--node")
    known = [n.name for n in checks.inventory_nodes(site)]
    if not name:
        pytest.fail("maintenance needs a node: pass --node NAME (inventory nodes: "
                    f"{', '.join(known)})", pytrace=False)
    if name not in known:
        pytest.fail(f"--node {name}: not a Kubernetes node of the inventory (nodes: "
                    f"{', '.join(known)})", pytrace=False)
    return name


@then("the node is cordoned")
def _cordoned(site, kube, remedy, maintenance_node):
    ensure_kube(remedy, kube, lambda: checks.cordoned(site, kube, maintenance_node))


@then("only DaemonSet pods are left on it")
def _drained(site, kube, remedy, maintenance_node):
    ensure_kube(remedy, kube, lambda: checks.drained(site, kube, maintenance_node))
