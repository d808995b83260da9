"""Capture real `ip -j route get` and `ip -j neigh show` outputs from a seed lab for
tests/unit/test_trace.py: a forwarded packet with a route, a local address, a packet with
no route (forwarding through a host whose route was removed) and a failed neighbor.

    sudo .venv/bin/python tests/data/trace/capture.py --state-dir DIR   # a seed lab up in DIR

Every command is the exact string the suite runs (stackproof.facts.route_decision), executed
inside the lab host. `<name>.json` is its stdout, `<name>.rc`/`<name>.stderr` beside it when
not 0 / not empty. Broken states are made inside the lab only and undone after.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof.facts.route_decision import route_get_command  # noqa: E402
from stackproof_lab.lab import Lab  # noqa: E402
from stackproof.paths import expected_path  # noqa: E402

DATA = Path(__file__).resolve().parent


def save(lab: Lab, host: str, name: str, command: str) -> None:
    proc = lab.shell(host).run(["/bin/sh", "-c", command], check=False, timeout=60)
    (DATA / f"{name}.json").write_text(proc.stdout)
    for suffix, value in ((".rc", str(proc.returncode) if proc.returncode else ""),
                          (".stderr", proc.stderr)):
        p = DATA / f"{name}{suffix}"
        if value:
            p.write_text(value if value.endswith("\n") else value + "\n")
        elif p.exists():
            p.unlink()
    with open(DATA / "COMMANDS", "a") as fh:
        fh.write(f"{name}: [{host}] {command}\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--inventory", default=str(ROOT / "inventories" / "seed.yml"))
    args = ap.parse_args()
    lab = Lab(args.inventory, args.state_dir, daemons=False)
    site = lab.site
    (DATA / "COMMANDS").unlink(missing_ok=True)
    a, b = [n for n, h in site.hosts.items() if "bgp" in h.roles][:2]
    guest = next(g for g, gh in site.guests().items() if gh.hypervisor == b)
    fwd = expected_path(site, a, str(site.hosts[guest].address)).hops[1]
    save(lab, a, "route-get-bgp", route_get_command(str(site.hosts[guest].address)))
    save(lab, b, "route-get-forward", route_get_command(fwd.dst, fwd.src, fwd.iif))
    save(lab, b, "route-get-local", route_get_command(str(site.hosts[b].underlay.address)))
    # forwarding a packet for an address the host has no route to: a documentation address
    # is outside every site network; the default route goes to the uplink, so take it away
    # for the moment of the capture and put it back
    shell = lab.shell(a)
    default = shell.run(["ip", "-4", "route", "show", "default"], check=False).stdout.strip()
    shell.run(["ip", "route", "del", "default"], check=False)
    try:
        save(lab, a, "route-get-unreachable", route_get_command("192.0.2.77"))
    finally:
        if default:
            shell.run(["/bin/sh", "-c", f"ip route add {default}"], check=False)
    # a neighbor that never answers: an unused address of the underlay, pinged once
    under = site.underlay_cidr
    used = {str(site.address_of(n)) for n in site.physical_hosts()}
    if site.underlay.gateway:
        used.add(str(site.underlay.gateway))
    silent = next(str(ip) for ip in under.hosts() if str(ip) not in used)
    dev = site.hosts[a].underlay.interface
    shell.run(["ping", "-c", "1", "-W", "1", silent], check=False)
    save(lab, a, "neigh-failed", f"ip -j -4 neigh show to {silent} dev {dev}")
    peer = str(site.hosts[b].underlay.address)
    shell.run(["ping", "-c", "1", "-W", "1", peer], check=False)
    save(lab, a, "neigh-reachable", f"ip -j -4 neigh show to {peer} dev {dev}")
    print(f"captured into {DATA}")


if __name__ == "__main__":
    main()
