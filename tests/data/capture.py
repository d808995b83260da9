"""Capture real daemon outputs from lab sites into tests/data/{frr,libvirt,chrony}.

    sudo .venv/bin/python tests/data/capture.py [--only seed|four]

Brings up a lab of inventories/seed.yml (iBGP) and of inventories/four-host-ebgp.yml (eBGP)
with the real daemons (stackproof_lab.daemons), runs each command inside the hosts and stores
its stdout verbatim, then takes every lab down (also on failure). Fault cases are made inside
the lab only (a wrong remote-as, bgpd=no, the report's LIBVIRT_FWI/FWO rules). See README.md
for the file list and the exact commands.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from stackproof.expect import bgp_hosts, bgp_intent  # noqa: E402
from stackproof_lab.daemons import chrony as chronyd  # noqa: E402
from stackproof_lab.daemons import frr as frrd  # noqa: E402
from stackproof_lab.daemons.common import wait_until, write_file  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.render.frr import render_frr_conf, set_bgpd  # noqa: E402

DATA = Path(__file__).resolve().parent
RELOAD = "/usr/lib/frr/frr-reload.py"


class Capture:
    def __init__(self, lab: Lab, base: Path):
        self.lab, self.base = lab, base

    def save(self, rel: str, host: str, argv: list[str], *, ok_rcs=(0,)) -> str:
        proc = self.lab.shell(host).run(argv, check=False, timeout=60)
        if proc.returncode not in ok_rcs:
            raise RuntimeError(f"{host}: {argv} rc {proc.returncode}: {proc.stderr}")
        path = self.base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(proc.stdout)
        print(f"  {path.relative_to(DATA)}  <- [{host}] {' '.join(argv)}  (rc {proc.returncode})")
        return proc.stdout


def peer(shell, address: str) -> dict:
    summary = frrd.bgp_summary(shell) or {}
    return summary.get("ipv4Unicast", {}).get("peers", {}).get(address, {})


def frr_host_files(cap: Capture, host: str, sub: str) -> None:
    cap.save(f"{sub}/{host}/show-bgp-summary.json", host, ["vtysh", "-c", "show bgp summary json"])
    cap.save(f"{sub}/{host}/show-ip-route.json", host, ["vtysh", "-c", "show ip route json"])
    cap.save(f"{sub}/{host}/show-ip-route-bgp.json", host,
             ["vtysh", "-c", "show ip route bgp json"])
    cap.save(f"{sub}/{host}/show-running-config.txt", host,
             ["vtysh", "-c", "show running-config"])
    cap.save(f"{sub}/{host}/frr.conf", host, ["cat", "/etc/frr/frr.conf"])
    cap.save(f"{sub}/{host}/frr-reload-test.txt", host, [RELOAD, "--test", "/etc/frr/frr.conf"])
    cap.save(f"{sub}/{host}/ip-route.json", host, ["ip", "-j", "route", "show"])
    cap.save(f"{sub}/{host}/ip-addr.json", host, ["ip", "-j", "addr", "show"])


def libvirt_host_files(cap: Capture, host: str, sub: str) -> None:
    site = cap.lab.site
    cap.save(f"{sub}/{host}/net-list-all.txt", host, ["virsh", "net-list", "--all"])
    cap.save(f"{sub}/{host}/list-all.txt", host, ["virsh", "list", "--all"])
    for nw in site.hosts[host].nat_networks:
        cap.save(f"{sub}/{host}/net-dumpxml-{nw.name}.xml", host,
                 ["virsh", "net-dumpxml", nw.name])
        cap.save(f"{sub}/{host}/net-info-{nw.name}.txt", host, ["virsh", "net-info", nw.name])
    cap.save(f"{sub}/{host}/iptables-save.txt", host, ["iptables-save"])


def restore_frr(lab: Lab, host: str) -> None:
    sh = lab.shell(host)
    write_file(sh, "/etc/frr/daemons", set_bgpd(sh.run(["cat", "/etc/frr/daemons"]).stdout, True),
               mode=0o640, owner="frr:frr")
    write_file(sh, "/etc/frr/frr.conf", render_frr_conf(lab.site, host), mode=0o640,
               owner="frr:frr")
    sh.run(frrd.frr_command(lab.site, host, "reload"), check=False, timeout=60)
    frrd.wait_converged({h: lab.shell(h) for h in bgp_hosts(lab.site)}, lab.site)


def capture_seed(state: Path) -> None:
    inv = ROOT / "inventories" / "seed.yml"
    with Lab(inv, state_dir=state, bare=True) as lab:     # the daemons as the hooks made them
        site = lab.site
        frr_base, lv_base, ch_base = (Capture(lab, DATA / d / "seed")
                                      for d in ("frr", "libvirt", "chrony"))
        shutil.copy(inv, DATA / "frr" / "seed" / "inventory.yml")
        print("seed: healthy FRR")
        for host in bgp_hosts(site):
            frr_host_files(frr_base, host, ".")
        print("seed: libvirt")
        for host in site.physical_hosts():
            libvirt_host_files(lv_base, host, ".")

        # chrony: the time server is a guest behind openstack-host's NAT. Before the
        # report's LIBVIRT_FWI/FWO rules only hosts on that bridge reach it.
        print("seed: chrony")
        server_ip = str(site.address_of(site.time.server))
        for h in ("openstack-host", "compute"):
            chronyd.wait_synced(lab.shell(h), server_ip)
        time.sleep(1)
        ch_base.save("openstack-host/sources.csv", "openstack-host",
                     ["chronyc", "-n", "-c", "sources"])
        ch_base.save("openstack-host/tracking.csv", "openstack-host",
                     ["chronyc", "-n", "-c", "tracking"])
        ch_base.save("controller/sources.csv", "controller", ["chronyc", "-n", "-c", "sources"])
        ch_base.save("controller/tracking.csv", "controller",
                     ["chronyc", "-n", "-c", "tracking"])
        ch_base.save("compute-2-host/sources-rejected.csv", "compute-2-host",
                     ["chronyc", "-n", "-c", "sources"])
        ch_base.save("compute-2-host/tracking-unsynchronised.csv", "compute-2-host",
                     ["chronyc", "-n", "-c", "tracking"])
        front = lab.shell("openstack-host")
        under = str(site.underlay_cidr)
        nat = str(site.nat_network("openstack-host", "default").cidr)
        front.run(["iptables", "-I", "LIBVIRT_FWI", "1", "-s", under, "-d", nat, "-j", "ACCEPT"])
        front.run(["iptables", "-I", "LIBVIRT_FWO", "1", "-s", nat, "-d", under, "-j", "ACCEPT"])
        lab.shell("compute-2-host").run(["chronyc", "burst", "4/4"], check=False)
        chronyd.wait_synced(lab.shell("compute-2-host"), server_ip, timeout=60)
        ch_base.save("compute-2-host/sources.csv", "compute-2-host",
                     ["chronyc", "-n", "-c", "sources"])
        ch_base.save("compute-2-host/tracking.csv", "compute-2-host",
                     ["chronyc", "-n", "-c", "tracking"])
        lv_base.save("openstack-host/iptables-save-with-report-rules.txt", "openstack-host",
                     ["iptables-save"])

        # FRR faults on compute-2-host, seen from both ends.
        victim, watcher = "compute-2-host", "openstack-host"
        vsh, wsh = lab.shell(victim), lab.shell(watcher)
        vaddr = str(site.hosts[victim].underlay.address)
        waddr = str(site.hosts[watcher].underlay.address)
        faults = Capture(lab, DATA / "frr" / "seed-faults")

        print("seed: wrong remote-as on compute-2-host")
        wrong = bgp_intent(site, victim).asn + 1
        conf = render_frr_conf(site, victim).replace(
            f"neighbor {waddr} remote-as {site.asn_of(watcher)}",
            f"neighbor {waddr} remote-as {wrong}")
        write_file(vsh, "/etc/frr/frr.conf", conf, mode=0o640, owner="frr:frr")
        vsh.run(frrd.frr_command(site, victim, "reload"), timeout=60)
        wait_until(lambda: peer(wsh, vaddr).get("state") not in (None, "Established")
                   and peer(vsh, waddr).get("state") not in (None, "Established"), 30,
                   "the session to drop")
        # first a Cease (the neighbor was re-configured), then the OPEN is refused:
        # wait for "OPEN Message Error/Bad Peer AS" (code 2, subcode 2)
        wait_until(lambda: json.loads(
            wsh.run(["vtysh", "-c", f"show bgp neighbors {vaddr} json"]).stdout)
            .get(vaddr, {}).get("lastErrorCodeSubcode") == "0202", 60, "Bad Peer AS")
        faults.save("wrong-remote-as/openstack-host/show-bgp-summary.json", watcher,
                    ["vtysh", "-c", "show bgp summary json"])
        faults.save("wrong-remote-as/openstack-host/show-bgp-neighbors-peer.json", watcher,
                    ["vtysh", "-c", f"show bgp neighbors {vaddr} json"])
        faults.save("wrong-remote-as/compute-2-host/show-bgp-neighbors-peer.json", victim,
                    ["vtysh", "-c", f"show bgp neighbors {waddr} json"])
        faults.save("wrong-remote-as/compute-2-host/show-bgp-summary.json", victim,
                    ["vtysh", "-c", "show bgp summary json"])
        faults.save("wrong-remote-as/compute-2-host/show-ip-route-bgp.json", victim,
                    ["vtysh", "-c", "show ip route bgp json"])
        faults.save("wrong-remote-as/compute-2-host/show-running-config.txt", victim,
                    ["vtysh", "-c", "show running-config"])
        # the drift case: the running config (wrong AS) against the intended file
        intended = "/etc/frr/intended.conf"
        write_file(vsh, intended, render_frr_conf(site, victim), mode=0o640, owner="frr:frr")
        faults.save("wrong-remote-as/compute-2-host/frr-reload-test-intended.txt", victim,
                    [RELOAD, "--test", intended])
        vsh.run(["rm", "-f", intended])
        restore_frr(lab, victim)

        print("seed: bgpd=no on compute-2-host")
        write_file(vsh, "/etc/frr/daemons", set_bgpd(vsh.run(["cat", "/etc/frr/daemons"]).stdout,
                                                     False), mode=0o640, owner="frr:frr")
        vsh.run(frrd.frr_command(site, victim, "reload"), check=False, timeout=60)
        wait_until(lambda: peer(wsh, vaddr).get("state") not in (None, "Established"), 30,
                   "the session to drop")
        faults.save("bgpd-off/openstack-host/show-bgp-summary.json", watcher,
                    ["vtysh", "-c", "show bgp summary json"])
        faults.save("bgpd-off/openstack-host/show-bgp-neighbors-peer.json", watcher,
                    ["vtysh", "-c", f"show bgp neighbors {vaddr} json"])
        faults.save("bgpd-off/openstack-host/show-ip-route-bgp.json", watcher,
                    ["vtysh", "-c", "show ip route bgp json"])
        faults.save("bgpd-off/compute-2-host/show-bgp-summary.txt", victim,
                    ["vtysh", "-c", "show bgp summary json"], ok_rcs=(0, 1))
        faults.save("bgpd-off/compute-2-host/service-frr-status.txt", victim,
                    frrd.frr_command(site, victim, "status"), ok_rcs=(0, 1, 3))
        restore_frr(lab, victim)


def capture_four(state: Path) -> None:
    inv = ROOT / "inventories" / "four-host-ebgp.yml"
    with Lab(inv, state_dir=state, bare=True) as lab:     # the daemons as the hooks made them
        base = Capture(lab, DATA / "frr" / "four-host-ebgp")
        shutil.copy(inv, DATA / "frr" / "four-host-ebgp" / "inventory.yml")
        print("four-host-ebgp: healthy FRR")
        for host in bgp_hosts(lab.site):
            frr_host_files(base, host, ".")
        lv = Capture(lab, DATA / "libvirt" / "four-host-ebgp")
        libvirt_host_files(lv, "rack-a", ".")
        ch = Capture(lab, DATA / "chrony" / "four-host-ebgp")
        server_ip = str(lab.site.address_of(lab.site.time.server))
        chronyd.wait_synced(lab.shell("rack-a"), server_ip)
        ch.save("rack-a/sources.csv", "rack-a", ["chronyc", "-n", "-c", "sources"])
        ch.save("rack-a/tracking.csv", "rack-a", ["chronyc", "-n", "-c", "tracking"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["seed", "four"])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sp-capture-"))
    try:
        (DATA / "frr").mkdir(exist_ok=True)
        shutil.copy("/etc/frr/daemons", DATA / "frr" / "daemons.stock")
        (DATA / "chrony").mkdir(exist_ok=True)
        shutil.copy("/etc/default/chrony", DATA / "chrony" / "default-chrony.stock")
        if args.only in (None, "seed"):
            (DATA / "frr" / "seed").mkdir(parents=True, exist_ok=True)
            capture_seed(tmp / "seed")
        if args.only in (None, "four"):
            (DATA / "frr" / "four-host-ebgp").mkdir(parents=True, exist_ok=True)
            capture_four(tmp / "four")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
