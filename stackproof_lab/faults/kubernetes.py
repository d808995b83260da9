"""Kubernetes faults from the report: the floating IP missing on a worker's lo (kubelet then
refuses its node IP and the node goes NotReady), add-kubelet-ip.service missing or not
enabled (the IP would be gone after the next boot), a worker joined without node-ip (its
INTERNAL-IP is some other address), and a node cordoned and left that way.

Worker files are edited inside the host (the JoinConfiguration's token is kept as it is);
the cordon goes through the lab's API stand-in, like `kubectl cordon`.
"""
from __future__ import annotations

import shlex

from stackproof_lab.faults import Fault, FaultError, register
from stackproof_lab.wait import wait_until
from stackproof_lab.kube import hook as kh
from stackproof.render import kubelet as rk


def _first_floating(site):
    hosts = rk.floating_node_ip_hosts(site)
    return hosts[0] if hosts else None


def _first_worker(site):
    return next((n.host for n in (site.kubernetes.nodes if site.kubernetes else [])
                 if n.host and n.schedulable
                 and not rk.kubelet_intent(site, n.host).control_plane), None)


def _intent(site, host):
    intent = rk.kubelet_intent(site, host) if host else None
    if intent is None:
        raise FaultError(f"{host}: runs no Kubernetes node of the inventory")
    return intent


SEEN_TIMEOUT = 10.0


def _node_seen(lab, node: str, want, what: str) -> None:
    """Return once the API stand-in shows the node as the fault left it (it looks at the
    hosts every second): a suite run right after sees the fault, not the moment before."""
    def shown() -> bool:
        code, body = kh.api_request(lab.state_dir, "GET", f"/api/v1/nodes/{node}")
        if code != 200:
            return False
        ready = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
        ips = [a["address"] for a in body["status"]["addresses"] if a["type"] == "InternalIP"]
        return want(ready["status"], ips[0] if ips else None)
    wait_until(shown, SEEN_TIMEOUT, f"the API stand-in to show node {node} {what}",
               error=FaultError)


def _ip_off_lo(lab, site, host):
    intent = _intent(site, host)
    lab.shell(host).sh(f"ip addr del {shlex.quote(intent.node_ip)}/32 dev lo 2>/dev/null || true")
    _node_seen(lab, intent.node, lambda ready, ip: ready == "False", "NotReady")


def _ip_on_lo(lab, site, host):
    intent = _intent(site, host)
    kh.add_ip_on_lo(lab.shell(host), intent.node_ip)
    _node_seen(lab, intent.node, lambda ready, ip: ready == "True", "Ready")


def _unit_remove(lab, site, host):
    _intent(site, host)
    lab.shell(host).run(["rm", "-f", rk.UNIT_LINK, rk.UNIT_PATH])


def _unit_restore(lab, site, host):
    kh.install_unit(lab.shell(host), _intent(site, host).node_ip)


def _unit_disable(lab, site, host):
    _intent(site, host)
    lab.shell(host).run(["rm", "-f", rk.UNIT_LINK])


def _unit_enable(lab, site, host):
    _intent(site, host)
    kh.enable_unit(lab.shell(host))


def _join_node_ip(node_ip_of):
    """Set (or drop) node-ip in the worker's JoinConfiguration, token kept, and rewrite the
    kubelet flags kubeadm join would have written from it."""
    def act(lab, site, host):
        intent = _intent(site, host)
        shell = lab.shell(host)
        config = kh.read_join_config(shell)
        if config is None:
            raise FaultError(f"{host}: no {rk.JOIN_CONFIG} to edit")
        node_ip = node_ip_of(intent)
        kh.write_join_config(shell, rk.set_join_node_ip(config, node_ip))
        kh.write_flags(shell, node_ip)
        if node_ip is None:
            _node_seen(lab, intent.node, lambda ready, ip: ip != intent.node_ip,
                       "with another INTERNAL-IP")
        else:
            _node_seen(lab, intent.node, lambda ready, ip: ip == node_ip and ready == "True",
                       f"Ready with INTERNAL-IP {node_ip}")
    return act


def _cordon(unschedulable):
    def act(lab, site, host):
        node = _intent(site, host).node
        code, body = kh.api_request(lab.state_dir, "PATCH", f"/api/v1/nodes/{node}",
                                    {"spec": {"unschedulable": unschedulable}},
                                    "application/strategic-merge-patch+json")
        if code != 200:
            raise FaultError(f"PATCH node {node}: HTTP {code}: {body.get('message')}")
    return act


register(Fault("kubelet-ip-off-lo", "kubernetes", "the worker's floating IP (its node IP) is "
               "missing on lo: kubelet reports the node NotReady", inject=_ip_off_lo,
               heal=_ip_on_lo, default_host=_first_floating))
register(Fault("kubelet-ip-unit-missing", "kubernetes", "add-kubelet-ip.service is missing: "
               "the floating IP would be gone after the next boot", inject=_unit_remove,
               heal=_unit_restore, default_host=_first_floating))
register(Fault("kubelet-ip-unit-disabled", "kubernetes", "add-kubelet-ip.service is not "
               "enabled: it would not run at boot", inject=_unit_disable, heal=_unit_enable,
               default_host=_first_floating))
register(Fault("join-config-no-node-ip", "kubernetes", "the worker joined without node-ip in "
               "its JoinConfiguration: kubelet registers another address as INTERNAL-IP",
               inject=_join_node_ip(lambda intent: None),
               heal=_join_node_ip(lambda intent: intent.node_ip),
               default_host=_first_floating))
register(Fault("node-cordoned", "kubernetes", "a node cordoned for maintenance and left that "
               "way (SchedulingDisabled)", inject=_cordon(True), heal=_cordon(None),
               default_host=_first_worker))
