"""Capture real `ip -j route`, `ip -j addr`, route files, libvirt network definitions and
ping sweeps from lab sites into tests/data/routes/ for tests/unit/test_floating_ip.py.

    sudo .venv/bin/python tests/data/routes/capture.py                 # both sites (~2 min)
    sudo .venv/bin/python tests/data/routes/capture.py --only seed
    sudo .venv/bin/python tests/data/routes/capture.py --only seed --state-dir DIR
        (use a seed lab that is already up in DIR instead of building one; its faults are
        healed again after each case)

Every command is the exact string the suite runs (read from stackproof.facts.*), executed
inside the lab host (`nsenter -t <init pid> -m -u -n -p`); `<case>/<host>/<file>` is its
stdout, with `.rc` / `.stderr` beside it when not 0 / not empty, and `<case>/<host>/COMMANDS`
maps each file to its command. Broken states are made inside the lab only and healed after.
"""
from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof.checks.floating_ip import reach_hosts  # noqa: E402
from stackproof.expect import floating_ip_plumbing  # noqa: E402
from stackproof.facts.connectivity import (parse_sweep, retry_command,  # noqa: E402
                                           sweep_command)
from stackproof.facts.routes import (ADDR_CMD, KERNEL_ROUTES_CMD,  # noqa: E402
                                     network_xml_command, route_files_command)
from stackproof_lab import faults  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.render.routes import fip_routes, render_persisted  # noqa: E402

DATA = Path(__file__).resolve().parent
SEED = ROOT / "inventories" / "seed.yml"
FOUR = ROOT / "inventories" / "four-host-ebgp.yml"


class Capture:
    def __init__(self, lab: Lab, site_dir: str):
        self.lab, self.base = lab, DATA / site_dir

    def save(self, case: str, host: str, file: str, command: str) -> str:
        proc = self.lab.shell(host).run(["/bin/sh", "-c", command], check=False, timeout=60)
        d = self.base / case / host
        d.mkdir(parents=True, exist_ok=True)
        (d / file).write_text(proc.stdout)
        for suffix, value in ((".rc", str(proc.returncode) if proc.returncode else ""),
                              (".stderr", proc.stderr)):
            p = d / (file + suffix)
            if value:
                p.write_text(value + ("" if value.endswith("\n") else "\n"))
            elif p.exists():
                p.unlink()
        commands = d / "COMMANDS"
        lines = [ln for ln in (commands.read_text().splitlines() if commands.exists() else [])
                 if not ln.startswith(f"{file}: ")]
        commands.write_text("\n".join(sorted([*lines, f"{file}: {command}"])) + "\n")
        print(f"  {d.relative_to(DATA)}/{file}  (rc {proc.returncode})")
        return proc.stdout

    def host_state(self, case: str, host: str) -> None:
        site = self.lab.site
        self.save(case, host, "ip-route.json", KERNEL_ROUTES_CMD)
        self.save(case, host, "ip-addr.json", ADDR_CMD)
        h = site.hosts[host]
        if fip_routes(site, host):
            self.save(case, host, "route-files.debian.txt", route_files_command("debian"))
            self.save(case, host, "cat-interfaces.txt", "cat /etc/network/interfaces")
            for nw in h.nat_networks:
                self.save(case, host, f"net-{nw.name}.xml", network_xml_command(nw.name))

    def pings(self, case: str, *hosts: str) -> None:
        fips = tuple(reach_hosts(self.lab.site))
        for host in hosts:
            out = self.save(case, host, "ping-fips.txt", sweep_command(fips))
            # ping_sweep's second, slower look at what the first sweep missed
            seen = parse_sweep(out)
            missed = tuple(a for a in fips if not seen.get(a, False))
            if missed:
                self.save(case, host, "ping-fips-again.txt", retry_command(missed))


def reach_from(site) -> list[str]:
    return [*site.with_role("openstack_controller"), site.openstack.external_network.gateway_on.host]


def hops(site) -> list[str]:
    names = []
    for p in floating_ip_plumbing(site):
        names += [h for h in [*p.routes, *p.addresses] if site.hosts[h].kind != "instance"]
    return list(dict.fromkeys(names))


def sh(lab, host, script):
    lab.shell(host).run(["/bin/sh", "-c", script])


def capture_seed(lab: Lab) -> None:
    site, cap = lab.site, Capture(lab, "seed")
    pl = {p.instance: p for p in floating_ip_plumbing(site)}
    remote = next(p for p in pl.values() if p.routes)          # the report's k8s-worker-2
    front = site.openstack.external_network.gateway_on.host
    hv = next(h for h in remote.routes if h != front)
    compute = next(h for h in remote.addresses if site.hosts[h].kind != "instance")
    fip, dev = remote.floating_ip, site.overlay.external_bridge
    local = next(h for h in site.hosts if h not in (front, hv, compute)
                 and "nova_compute" in site.hosts[h].roles)
    print("seed: healthy")
    for h in dict.fromkeys([*hops(site), local]):
        cap.host_state("healthy", h)
    cap.pings("healthy", *reach_from(site))

    for name, case, host in (("dvr-front-route-missing", "front-route-missing", front),
                             ("dvr-compute-route-missing", "compute-route-missing", hv),
                             ("dvr-fip-not-on-br-ex", "fip-not-on-br-ex", compute)):
        print(f"seed: {case}")
        faults.inject(lab, name, host)
        try:
            cap.host_state(case, host)
            cap.pings(case, *reach_from(site))
        finally:
            faults.heal(lab, name, host)

    print("seed: route-elsewhere (the /32 points at another underlay host)")
    r = remote.routes[front][0]
    other = next(str(h.underlay.address) for n, h in site.physical_hosts().items()
                 if n not in (front, hv))
    sh(lab, front, f"ip route replace {r.prefix} via {other}")
    try:
        cap.host_state("route-elsewhere", front)
    finally:
        sh(lab, front, f"ip route replace {r.prefix} via {r.via}")

    print("seed: fip-wrong-prefix (the floating IP on br-ex as part of the external /24)")
    plen = site.openstack.external_network.cidr.prefixlen
    sh(lab, compute, f"ip addr del {fip}/32 dev {dev} && ip addr add {fip}/{plen} dev {dev}")
    try:
        cap.host_state("fip-wrong-prefix", compute)
    finally:
        sh(lab, compute, f"ip addr del {fip}/{plen} dev {dev}; ip addr replace {fip}/32 dev {dev}")

    print("seed: no-br-ex (the kernel device is gone)")
    sh(lab, compute, f"ip link del {dev}")
    try:
        cap.host_state("no-br-ex", compute)
    finally:
        sh(lab, compute, f"ip tuntap add dev {dev} mode tap && ip link set {dev} up && "
                         f"ip addr replace {fip}/32 dev {dev}")

    print("seed: not-kept (an operator's interfaces file without the route; the NAT "
          "network's definition without its <route>)")
    net = next(nw.name for nw in site.hosts[hv].nat_networks
               if nw.bridge == fip_routes(site, hv)[0].route.dev)
    sh(lab, front, "cp -p /etc/network/interfaces /root/interfaces.capture && printf '# The "
                   "operator'\"'\"'s file\\nauto lo\\niface lo inet loopback\\n' "
                   "> /etc/network/interfaces")
    virsh = "virsh -q -c qemu:///system"
    sh(lab, hv, f"{virsh} net-dumpxml --inactive {net} > /root/net.capture && "
                f"grep -v '<route ' /root/net.capture > /root/net.plain && "
                f"{virsh} net-define /root/net.plain >/dev/null")
    try:
        cap.host_state("not-kept", front)
        cap.host_state("not-kept", hv)
    finally:
        sh(lab, front, "mv -f /root/interfaces.capture /etc/network/interfaces")
        sh(lab, hv, f"{virsh} net-define /root/net.capture >/dev/null && "
                    f"rm -f /root/net.capture /root/net.plain")

    print("seed: rhel-files (route-<dev> files as a RHEL host keeps them)")
    route = fip_routes(site, front)[0].route
    new = render_persisted("rhel", None, [route])
    legacy = (f"ADDRESS0={route.prefix.split('/')[0]}\nNETMASK0=255.255.255.255\n"
              f"GATEWAY0={route.via}\n")
    d = "/etc/sysconfig/network-scripts"
    sh(lab, front, f"mkdir -p {d} && printf %s {shlex.quote(new)} > {d}/route-{route.dev} && "
                   f"printf %s {shlex.quote(legacy)} > {d}/route-legacy0 && "
                   f"cp {d}/route-{route.dev} {d}/route-{route.dev}.stackproof-1.bak")
    try:
        cap.save("rhel-files", front, "route-files.rhel.txt", route_files_command("rhel"))
        cap.save("rhel-files", front, f"cat-route-{route.dev}.txt", f"cat {d}/route-{route.dev}")
        sh(lab, front, f"rm -f {d}/route-legacy0")
        cap.save("rhel-files-modern", front, "route-files.rhel.txt", route_files_command("rhel"))
    finally:
        sh(lab, front, f"rm -rf {d}")
    sh(lab, front, f"mkdir -p {d}")
    try:
        cap.save("rhel-empty", front, "route-files.rhel.txt", route_files_command("rhel"))
        cap.save("rhel-empty", front, f"cat-route-{route.dev}.txt", f"cat {d}/route-{route.dev}")
    finally:
        sh(lab, front, f"rm -rf {d}")


def capture_four(lab: Lab) -> None:
    site, cap = lab.site, Capture(lab, "four-host-ebgp")
    print("four-host-ebgp: healthy")
    for h in hops(site):
        cap.host_state("healthy", h)
    cap.pings("healthy", *reach_from(site))
    front = site.openstack.external_network.gateway_on.host
    print("four-host-ebgp: front-route-missing")
    faults.inject(lab, "dvr-front-route-missing", front)
    try:
        cap.host_state("front-route-missing", front)
        cap.pings("front-route-missing", *reach_from(site))
    finally:
        faults.heal(lab, "dvr-front-route-missing", front)


def run(inventory: Path, fn, state_dir: str | None) -> None:
    if state_dir:
        lab = Lab.from_state(state_dir)
        from stackproof.site import load_site
        lab.site = load_site(lab.inventory_path)
        fn(lab)
        return
    tmp = Path(tempfile.mkdtemp(prefix="sp-routes-capture-"))
    try:
        with Lab(inventory, state_dir=tmp / "state", log=lambda line: None) as lab:
            fn(lab)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("seed", "four"))
    ap.add_argument("--state-dir", help="a lab of that inventory already up there")
    args = ap.parse_args()
    if args.only in (None, "seed"):
        run(SEED, capture_seed, args.state_dir if args.only == "seed" else None)
    if args.only in (None, "four"):
        run(FOUR, capture_four, args.state_dir if args.only == "four" else None)


if __name__ == "__main__":
    main()
