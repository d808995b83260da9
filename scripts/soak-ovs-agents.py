#!/usr/bin/env python3
"""Soak test for the lab's real Neutron OVS agents (not part of `make test`): with the lab
idle, read Neutron's agent list every INTERVAL seconds for MINUTES minutes and record every
sample in which an Open vSwitch agent is not alive (Neutron: no state report over RPC within
agent_down_time), plus the oldest heartbeat seen.

    stackproof lab up --inventory inventories/seed.yml --state-dir /var/tmp/sp-soak
    python scripts/soak-ovs-agents.py --state-dir /var/tmp/sp-soak --minutes 30

Prints one line per minute and a summary; exits 1 if any agent was ever dead or missing.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import openstack
from openstack import config as occ
import yaml

OVS = "neutron-openvswitch-agent"


def connect(state_dir: Path):
    inv = yaml.safe_load((state_dir / "inventory.yml").read_text())
    os_ = inv["openstack"]
    cfg = occ.OpenStackConfig(config_files=[os_["clouds_yaml"]], load_envvars=False)
    return openstack.connection.Connection(
        config=cfg.get_one(cloud=os_["cloud"], region_name=os_.get("region")))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--expect", type=int, default=0, help="OVS agents expected (0: as seen first)")
    args = p.parse_args()
    conn = connect(args.state_dir)
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    samples = bad = 0
    dead: list[str] = []
    max_age = 0.0
    hosts: set[str] = set()
    next_line = t0 + 60
    while time.monotonic() < end:
        now = dt.datetime.utcnow()
        try:
            agents = [a for a in conn.network.agents() if a.binary == OVS]
        except Exception as exc:          # an API hiccup is recorded, not fatal
            dead.append(f"{now:%H:%M:%S} API error {type(exc).__name__}: {exc}")
            bad += 1
            samples += 1
            time.sleep(args.interval)
            continue
        hosts = hosts or {a.host for a in agents}
        want = args.expect or len(hosts)
        alive = {a.host for a in agents if a.is_alive}
        for a in agents:
            if a.last_heartbeat_at:
                hb = dt.datetime.fromisoformat(str(a.last_heartbeat_at).replace("Z", ""))
                max_age = max(max_age, (now - hb.replace(tzinfo=None)).total_seconds())
        samples += 1
        if len(alive) < want:
            bad += 1
            dead.append(f"{now:%H:%M:%S} alive {sorted(alive)} of {sorted(hosts)}")
        if time.monotonic() >= next_line:
            print(f"{(time.monotonic() - t0) / 60:5.1f} min: {samples} samples, {bad} with an "
                  f"agent dead; oldest heartbeat {max_age:.1f} s", flush=True)
            next_line += 60
        time.sleep(args.interval)
    summary = {"minutes": round((time.monotonic() - t0) / 60, 1), "agents": sorted(hosts),
               "samples": samples, "samples_with_dead_agent": bad,
               "oldest_heartbeat_s": round(max_age, 1), "dead": dead[:20]}
    print(json.dumps(summary, indent=1))
    return 1 if bad or not hosts else 0


if __name__ == "__main__":
    sys.exit(main())
