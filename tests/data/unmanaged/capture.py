"""Capture the raw read-back of a lived-in lab's operator items (stackproof_lab.unmanaged):
the one shell script's stdout per host, verbatim, into tests/data/unmanaged/<site>/<host>.out.

    sudo .venv/bin/python tests/data/unmanaged/capture.py --inventory inventories/seed.yml \
        --state-dir /var/tmp/sp-...        # a lab already up (`stackproof lab up`, lived-in)

The files hold lab values only (the MD5 password is the lab profile's invented one).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from stackproof_lab.lab import Lab  # noqa: E402
from stackproof_lab.lived_in import host_items  # noqa: E402
from stackproof_lab.unmanaged import script  # noqa: E402

HOSTS = ("openstack-host", "controller", "master")    # FRR+libvirt, OpenStack node, kubelet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inventory", required=True)
    ap.add_argument("--state-dir", required=True)
    args = ap.parse_args()
    lab = Lab(args.inventory, args.state_dir)
    out = Path(__file__).resolve().parent / lab.site.site
    out.mkdir(exist_ok=True)
    items = host_items(lab.site)
    for host in HOSTS:
        proc = lab.shell(host).run(["/bin/sh", "-c", script(items[host])], check=False)
        (out / f"{host}.out").write_text(proc.stdout)
        print(f"{host}: {len(proc.stdout)} bytes")


if __name__ == "__main__":
    main()
