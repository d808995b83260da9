"""The lab's stand-in for neutron-openvswitch-agent, for when the real agent does not run.

The lab copies this file into each ovs_agent host (/var/lib/neutron/bin/
neutron-openvswitch-agent, a private copy) and its init script
(/etc/init.d/neutron-openvswitch-agent) runs it with the host's own /usr/bin/python3:

    /usr/bin/python3 /var/lib/neutron/bin/neutron-openvswitch-agent \\
        --config-file /etc/neutron/plugins/ml2/openvswitch_agent.ini \\
        --endpoints /var/lib/neutron/lab-tunnel-endpoints.json

Like the real agent it reads only its ini and what the Neutron server would tell it (the
other tunnel endpoints, from tunnel_sync; here a JSON file the lab writes), and at start:
  - makes br-int (fail_mode secure) and, with tunnel_types set, br-tun with
    patch-int/patch-tun and one tunnel port per other endpoint, with the options
    ovs_lib.add_tunnel_port sets and the ini's local_ip; removes tunnel ports to endpoints
    the server no longer lists (as the agent's tunnel cleanup does);
  - exits at once, touching nothing, when local_ip is not an address of the host (the
    agent's validate_local_ip: "Tunneling can't be enabled with invalid local_ip ...");
  - refuses to start when a bridge_mappings bridge is missing (the agent's "Bridge br-ex
    for physical network physnet1 does not exist. Agent terminated!") and otherwise adds
    int-<bridge>/phy-<bridge>;
then stays running until SIGTERM (the process whose presence means "the agent runs").
It changes nothing after start: a bridge deleted later stays deleted, as with the agent.
Standard library only, and on purpose independent of the suite's expectations
(stackproof.expect, stackproof.render): it plays another program, so a mistake in the
suite's idea of the layout is not mirrored by the lab.
"""
from __future__ import annotations

import argparse
import configparser
import ipaddress
import json
import logging
import shlex
import signal
import subprocess
import sys

log = logging.getLogger("neutron-openvswitch-agent")
READY = "Agent initialized successfully, now running..."


class AgentError(RuntimeError):
    pass


def vsctl(*commands: list[str]) -> str:
    argv = ["ovs-vsctl", "--timeout=10"]
    for c in commands:
        argv += ["--", *c]
    return shlex.join(argv)


def ensure_bridge(bridge: str) -> list[list[str]]:
    # ovs_lib.OVSBridge.create(secure_mode=True) + the datapath_type option
    return [["--may-exist", "add-br", bridge],
            ["set", "Bridge", bridge, "fail_mode=secure", "datapath_type=system"]]


def ensure_patch(bridge: str, port: str, peer: str) -> list[list[str]]:
    # ovs_lib.add_patch_port
    return [["--may-exist", "add-port", bridge, port],
            ["set", "Interface", port, "type=patch", f"options:peer={peer}"]]


def tunnel_port_name(kind: str, remote_ip: str) -> str:
    # ovs_neutron_agent.get_tunnel_name for IPv4: the remote address as 8 hex digits
    return f"{kind}-{int(ipaddress.IPv4Address(remote_ip)):08x}"


def ensure_tunnel(bridge: str, name: str, kind: str, local_ip: str, remote_ip: str,
                  udp_port: int) -> list[list[str]]:
    # ovs_lib.add_tunnel_port
    opts = [f"options:dst_port={udp_port}"] if kind == "vxlan" and udp_port != 4789 else []
    opts += ["options:df_default=true", f"options:remote_ip={remote_ip}",
             f"options:local_ip={local_ip}", "options:in_key=flow", "options:out_key=flow",
             "options:egress_pkt_mark=0"]
    return [["--may-exist", "add-port", bridge, name],
            ["set", "Interface", name, f"type={kind}", *opts]]


def _sh(command: str) -> str:
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise AgentError(f"`{command}` -> rc {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def _vsctl_json(*args: str) -> list[dict]:
    out = _sh("ovs-vsctl --timeout=10 --format=json " + " ".join(args))
    doc = json.loads(out)
    return [dict(zip(doc["headings"], row)) for row in doc["data"]]


def read_config(path: str) -> dict:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    if not cp.read(path):
        raise AgentError(f"cannot read {path}")

    def get(section, key, default=""):
        return cp.get(section, key, fallback=default).strip()
    types = [t.strip() for t in get("agent", "tunnel_types").split(",") if t.strip()]
    mappings = {}
    for item in get("ovs", "bridge_mappings").split(","):
        if ":" in item:
            physnet, bridge = item.split(":", 1)
            mappings[physnet.strip()] = bridge.strip()
    return {"local_ip": get("ovs", "local_ip"),
            "integration_bridge": get("ovs", "integration_bridge", "br-int"),
            "tunnel_bridge": get("ovs", "tunnel_bridge", "br-tun"),
            "tunnel_types": types, "bridge_mappings": mappings,
            "udp_port": int(get("agent", "vxlan_udp_port", "4789") or 4789)}


def local_addresses() -> set[str]:
    out = json.loads(_sh("ip -j addr show") or "[]")
    return {a["local"] for link in out for a in link.get("addr_info", []) if "local" in a}


def existing_bridges() -> set[str]:
    return {r["name"] for r in _vsctl_json("--columns=name", "list", "Bridge")}


def setup(conf: dict, endpoints: dict[str, str]) -> list[str]:
    """Build the agent's bridges; returns the commands run."""
    ran = []
    integ, tun = conf["integration_bridge"], conf["tunnel_bridge"]
    have = existing_bridges()
    for physnet, bridge in conf["bridge_mappings"].items():
        if bridge not in have:
            raise AgentError(f"Bridge {bridge} for physical network {physnet} does not "
                             f"exist. Agent terminated!")
    cmds = ensure_bridge(integ)
    for bridge in conf["bridge_mappings"].values():
        int_if, phy_if = f"int-{bridge}"[:15], f"phy-{bridge}"[:15]
        cmds += ensure_patch(integ, int_if, phy_if)
        cmds += ensure_patch(bridge, phy_if, int_if)
    wanted: dict[str, str] = {}
    kind = conf["tunnel_types"][0] if conf["tunnel_types"] else ""
    if kind and conf["local_ip"] not in local_addresses():
        # ovs_neutron_agent.validate_local_ip: the agent exits before touching a bridge
        raise AgentError(f"Tunneling can't be enabled with invalid local_ip "
                         f"'{conf['local_ip']}'. IP couldn't be found on this host's "
                         f"interfaces.")
    if kind:
        cmds += ensure_bridge(tun)
        cmds += ensure_patch(integ, "patch-tun", "patch-int")
        cmds += ensure_patch(tun, "patch-int", "patch-tun")
        for ip in sorted(set(endpoints.values())):
            if ip == conf["local_ip"]:
                continue
            name = tunnel_port_name(kind, ip)
            wanted[name] = ip
            cmds += ensure_tunnel(tun, name, kind, conf["local_ip"], ip, conf["udp_port"])
    command = vsctl(*cmds)
    _sh(command)
    ran.append(command)
    if kind:
        # tunnel ports to endpoints the server no longer lists
        ports = set(_sh(vsctl(["list-ports", tun])).split())
        for row in _vsctl_json("--columns=name,type", "list", "Interface"):
            if row["type"] == kind and row["name"] in ports and row["name"] not in wanted:
                command = vsctl(["--if-exists", "del-port", tun, row["name"]])
                _sh(command)
                ran.append(command)
    return ran


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="neutron-openvswitch-agent (stackproof lab stand-in)")
    p.add_argument("--config-file", required=True)
    p.add_argument("--endpoints", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        conf = read_config(args.config_file)
        with open(args.endpoints) as fh:
            endpoints = json.load(fh)
        for command in setup(conf, endpoints):
            log.info("ran: %s", command)
    except (AgentError, OSError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    log.info(READY)
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        signal.pause()
    log.info("Agent caught SIGTERM, quitting daemon loop.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
