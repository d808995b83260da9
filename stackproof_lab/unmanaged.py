"""Read back the operator's items of a lived-in lab (stackproof_lab.lived_in), so a test can
prove that no remediation touched what the inventory does not describe.

    before = snapshot(lab)            # one shell run per host, hosts read in parallel
    ... inject a fault, --remediate to green ...
    changes = wait_unchanged(lab, before)    # [] or one line per item that changed

A snapshot is {host: {item: value}}. Items are each operator line in each file and in each
running state that carries it (FRR's running config and frr.conf, iptables live and saved,
libvirt live and saved definition, chronyd's access table), plus the MD5-protected BGP
session's state. Every message passes through stackproof.redact (the BGP password).
"""
from __future__ import annotations

import re
import shlex

from concurrent.futures import ThreadPoolExecutor

from stackproof_lab.lived_in import VIRSH, HostItems, host_items, is_lived_in
from stackproof_lab.wait import WaitTimeout, wait_until
from stackproof.redact import redact

SEP = "@@stackproof-unmanaged@@"
RULES_FILE = "/etc/iptables/rules.v4"     # the lab's hosts are Debian (netfilter-persistent)
Snapshot = dict[str, dict[str, str]]


# --- what to read -----------------------------------------------------------------------------
def sections(it: HostItems) -> dict[str, str]:
    """Section name -> shell command, for the layers this host has."""
    q = shlex.quote
    out = {"iptables_live": "iptables-save -t filter", "iptables_file": f"cat {RULES_FILE}",
           "fstab": "cat /etc/fstab"}
    if it.frr:
        out["frr_running"] = "vtysh -c 'show running-config'"
        out["frr_conf"] = "cat /etc/frr/frr.conf"
        if it.frr.password_peer:
            out["bgp_summary"] = "vtysh -c 'show bgp ipv4 unicast summary json'"
    if it.libvirt:
        lv = it.libvirt
        out["virsh_active"] = f"{VIRSH} net-list --name"
        out["virsh_all"] = f"{VIRSH} net-list --all --name"
        out["ops_net_xml"] = f"{VIRSH} net-dumpxml --inactive {q(lv.network)}"
        out["resv_live"] = f"{VIRSH} net-dumpxml {q(lv.reservation_network)}"
        out["resv_config"] = f"{VIRSH} net-dumpxml --inactive {q(lv.reservation_network)}"
    if it.chrony_conf:
        out["chrony_conf"] = f"cat {q(it.chrony_conf)}"
        out["chrony_access"] = f"chronyc accheck {q(it.chrony_allowed)}"
    if it.nova_conf:
        out["nova_conf"] = f"cat {q(it.nova_conf)}"
    if it.agent_ini:
        out["agent_ini"] = f"cat {q(it.agent_ini)}"
    if it.ovs_bridge:
        out["ovs_bridge"] = (f"ovs-vsctl --timeout=5 br-exists {q(it.ovs_bridge)} && ovs-vsctl "
                             f"--timeout=5 get bridge {q(it.ovs_bridge)} external_ids:owner")
    if it.kubelet_file:
        out["kubelet"] = f"cat {q(it.kubelet_file)}"
    return out


def script(it: HostItems) -> str:
    """One shell script that prints every section, separated by SEP."""
    return "".join(f"{cmd} 2>/dev/null; echo; echo {SEP}\n" for cmd in sections(it).values())


def split_output(it: HostItems, output: str) -> dict[str, str]:
    names = list(sections(it))
    parts = output.split(SEP + "\n")
    return {n: (parts[i] if i < len(parts) else "") for i, n in enumerate(names)}


# --- what the output says ---------------------------------------------------------------------
def _count(text: str, line: str) -> str:
    n = sum(1 for ln in text.splitlines() if ln.strip() == line.strip())
    return "absent" if n == 0 else "present" if n == 1 else f"present {n} times"


def _lines(place: str, text: str, lines) -> dict[str, str]:
    return {f"{place}: {ln.strip()}": _count(text, ln) for ln in lines if ln.strip()}


def _reservation(xml: str, mac: str) -> str:
    m = re.search(rf"<host\b[^>]*mac=['\"]{re.escape(mac)}['\"][^>]*/>", xml, re.IGNORECASE)
    return " ".join(m.group(0).split()) if m else "absent"


def _network(xml: str) -> str:
    bridge = re.search(r"<bridge\b[^>]*name=['\"]([^'\"]+)", xml)
    ip = re.search(r"<ip\b[^>]*address=['\"]([^'\"]+)['\"][^>]*netmask=['\"]([^'\"]+)", xml)
    fwd = re.search(r"<forward\b[^>]*mode=['\"]([^'\"]+)", xml)
    if not bridge:
        return "absent"
    return (f"bridge {bridge.group(1)}, {ip.group(1)}/{ip.group(2) if ip else '?'}, "
            f"forward {fwd.group(1) if fwd else 'none'}")


def _session_state(summary: str, peer: str) -> str:
    import json
    try:
        data = json.loads(summary or "null") or {}
    except json.JSONDecodeError:
        return "unreadable"
    peers = data.get("peers") or data.get("ipv4Unicast", {}).get("peers", {})
    return peers.get(peer, {}).get("state", "absent")


def items_of(it: HostItems, out: dict[str, str]) -> dict[str, str]:
    """The host's operator items and their state, from the sections read."""
    items: dict[str, str] = {}
    for place, text in (("iptables (live)", out["iptables_live"]),
                        (RULES_FILE, out["iptables_file"])):
        declared = [ln for ln in text.splitlines() if ln.startswith(f":{it.iptables_chain} ")]
        items[f"{place}: chain {it.iptables_chain}"] = _count(declared[0] if declared else "",
                                                              declared[0] if declared else "-")
        items.update(_lines(place, text, it.iptables_rules))
    items.update(_lines("/etc/fstab", out["fstab"], it.fstab_lines))
    if it.frr:
        frr_lines = it.frr.top_lines() + ([it.frr.password_line] if it.frr.password_line else [])
        items.update(_lines("FRR running config", out["frr_running"], frr_lines))
        items.update(_lines("/etc/frr/frr.conf", out["frr_conf"], frr_lines))
        if it.frr.password_peer:
            items[f"BGP session to {it.frr.password_peer} (MD5 password)"] = _session_state(
                out["bgp_summary"], it.frr.password_peer)
    if it.libvirt:
        lv = it.libvirt
        active = out["virsh_active"].split()
        defined = out["virsh_all"].split()
        items[f"libvirt network {lv.network}"] = ("active" if lv.network in active else
                                                  "inactive" if lv.network in defined else
                                                  "absent")
        items[f"libvirt network {lv.network} definition"] = _network(out["ops_net_xml"])
        for kind in ("live", "config"):
            items[f"libvirt {lv.reservation_network} reservation {lv.reservation_mac} "
                  f"({kind})"] = _reservation(out[f"resv_{kind}"], lv.reservation_mac)
    if it.chrony_conf:
        items.update(_lines(it.chrony_conf, out["chrony_conf"], it.chrony_lines))
        text = out["chrony_access"].strip()
        items[f"chronyd access for {it.chrony_allowed}"] = (
            "allowed" if "allowed" in text.lower() else "denied" if "denied" in text.lower()
            else "no answer")
    if it.nova_conf:
        items.update(_lines(it.nova_conf, out["nova_conf"],
                            [*it.nova_default_lines, *it.nova_tail]))
    if it.agent_ini:
        items.update(_lines(it.agent_ini, out["agent_ini"], it.ini_tail))
    if it.ovs_bridge:
        owner = out["ovs_bridge"].strip().strip('"')
        items[f"OVS bridge {it.ovs_bridge}"] = f"present (owner {owner})" if owner else "absent"
    if it.kubelet_file:
        items.update(_lines(it.kubelet_file, out["kubelet"], [it.kubelet_line]))
    return items


# --- the lab ----------------------------------------------------------------------------------
def read_host(shell, it: HostItems) -> dict[str, str]:
    proc = shell.run(["/bin/sh", "-c", script(it)], check=False, timeout=60)
    return items_of(it, split_output(it, proc.stdout))


def snapshot(lab) -> Snapshot:
    """Every operator item of every host, read now (empty for a bare lab)."""
    if not is_lived_in(lab.state_dir):
        return {}
    profile = host_items(lab.site)
    with ThreadPoolExecutor(max_workers=min(8, len(profile) or 1)) as pool:
        futures = {h: pool.submit(read_host, lab.shell(h), it) for h, it in profile.items()}
        return {h: f.result() for h, f in futures.items()}


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per item that changed: `host: item: before -> after` (redacted)."""
    out = []
    for host in sorted(set(before) | set(after)):
        b, a = before.get(host, {}), after.get(host, {})
        for key in sorted(set(b) | set(a)):
            if b.get(key) != a.get(key):
                # each part on its own: a masked value must not swallow the separator
                out.append(f"{host}: {redact(key)}: {redact(b.get(key, 'not read'))} -> "
                           f"{redact(a.get(key, 'not read'))}")
    return out


def not_in_place(snap: Snapshot) -> list[str]:
    """Items that a freshly seeded lab has and this snapshot lacks (redacted)."""
    bad = []
    for host, items in sorted(snap.items()):
        for key, value in sorted(items.items()):
            ok = value in ("present", "active", "allowed", "Established") or (
                value.startswith(("present (", "bridge ", "<host ")))
            if not ok:
                bad.append(f"{host}: {redact(key)}: {redact(value)}")
    return bad


def wait_unchanged(lab, before: Snapshot, timeout: float = 45.0) -> list[str]:
    """[] once every item is as in `before`; else, at the deadline, what still differs.
    Polls: a session or a daemon a remediation restarted may take seconds to settle."""
    changes: list[str] = []

    def unchanged() -> bool:
        changes[:] = diff(before, snapshot(lab))
        return not changes
    try:
        wait_until(unchanged, timeout, "unmanaged items to settle", interval=1.0)
    except WaitTimeout:
        pass
    return changes
