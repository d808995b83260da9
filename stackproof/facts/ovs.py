"""Open vSwitch facts: bridges, ports and interfaces from ONE `ovs-vsctl` transaction per host
per run, and the Neutron OVS agent's ini.

    ovs-vsctl --timeout=5 --format=json \
        -- --columns=name,fail_mode,datapath_type,ports list Bridge \
        -- --columns=_uuid,name,interfaces list Port \
        -- --columns=_uuid,name,type,options,error,ofport list Interface

prints one JSON table per line. Cells use OVSDB's JSON encoding: a set of one element is the
element itself, `["set", [...]]` otherwise; a map is `["map", [[k, v], ...]]`; a reference
is `["uuid", "..."]`. When ovsdb-server or ovs-vswitchd does not answer, the fact says so
(`OvsState.running` False) instead of raising: that is a finding, not a suite error.
"""
from __future__ import annotations

import configparser
import json
import shlex
from dataclasses import dataclass, field

from stackproof.facts import FactError, fact, read_file
from stackproof.remote import CommandResult, Remote

BRIDGE_COLUMNS = "name,fail_mode,datapath_type,ports"
PORT_COLUMNS = "_uuid,name,interfaces"
INTERFACE_COLUMNS = "_uuid,name,type,options,error,ofport"
OVS_QUERY = ("ovs-vsctl --timeout=5 --format=json"
             f" -- --columns={BRIDGE_COLUMNS} list Bridge"
             f" -- --columns={PORT_COLUMNS} list Port"
             f" -- --columns={INTERFACE_COLUMNS} list Interface")


@dataclass(frozen=True)
class Interface:
    name: str
    type: str                      # "" for a system (physical) interface, as ovs-vsctl says
    options: dict[str, str] = field(default_factory=dict, hash=False)
    error: str | None = None
    ofport: int | None = None      # -1 when OVS could not add it


@dataclass(frozen=True)
class Bridge:
    name: str
    fail_mode: str | None
    datapath_type: str
    ports: tuple[str, ...]         # port names, sorted


@dataclass(frozen=True)
class OvsState:
    running: bool
    bridges: dict[str, Bridge] = field(default_factory=dict)
    interfaces: dict[str, Interface] = field(default_factory=dict)
    port_interfaces: dict[str, tuple[str, ...]] = field(default_factory=dict)
    error: str = ""                # why OVS did not answer

    def bridge_of(self, port: str) -> str | None:
        return next((b.name for b in self.bridges.values() if port in b.ports), None)

    def interfaces_on(self, bridge: str) -> list[Interface]:
        b = self.bridges.get(bridge)
        if b is None:
            return []
        return [self.interfaces[i] for p in b.ports for i in self.port_interfaces.get(p, ())
                if i in self.interfaces]

    def errors(self) -> list[Interface]:
        return [i for i in self.interfaces.values() if i.error]

    def summary(self) -> dict:
        """What a report shows: bridges with their ports and each interface's type, options
        and error (the essentials of `ovs-vsctl show`)."""
        return {"running": self.running, "error": self.error or None, "bridges": {
            b.name: {"fail_mode": b.fail_mode, "datapath_type": b.datapath_type,
                     "ports": {p: [_describe(self.interfaces[i])
                                   for i in self.port_interfaces.get(p, ())
                                   if i in self.interfaces] for p in b.ports}}
            for b in self.bridges.values()}}


def _describe(i: Interface) -> dict:
    out: dict = {"name": i.name, "type": i.type}
    if i.options:
        out["options"] = dict(i.options)
    if i.error:
        out["error"] = i.error
    return out


@dataclass(frozen=True)
class AgentIni:
    path: str
    exists: bool
    values: dict[tuple[str, str], str] = field(default_factory=dict, hash=False)
    text: str = ""
    error: str = ""                # the file does not parse

    def get(self, section: str, key: str) -> str | None:
        return self.values.get((section, key))


# --- OVSDB JSON ------------------------------------------------------------------------------
def _set(cell) -> list:
    """The members of an OVSDB set cell (a lone member is encoded bare)."""
    if isinstance(cell, list) and len(cell) == 2 and cell[0] == "set":
        return list(cell[1])
    return [cell]


def _uuid(cell) -> str:
    if isinstance(cell, list) and len(cell) == 2 and cell[0] == "uuid":
        return cell[1]
    raise ValueError(f"not an OVSDB uuid: {cell!r}")


def _map(cell) -> dict[str, str]:
    if isinstance(cell, list) and len(cell) == 2 and cell[0] == "map":
        return {str(k): str(v) for k, v in cell[1]}
    raise ValueError(f"not an OVSDB map: {cell!r}")


def _optional(cell):
    members = _set(cell)
    return members[0] if members else None


def _rows(doc: dict) -> list[dict]:
    return [dict(zip(doc["headings"], row)) for row in doc["data"]]


def parse_ovs_tables(output: str) -> OvsState:
    """Parse the three JSON tables of OVS_QUERY (Bridge, Port, Interface, one per line)."""
    docs = [json.loads(line) for line in output.splitlines() if line.strip()]
    if len(docs) != 3:
        raise ValueError(f"expected 3 JSON tables (Bridge, Port, Interface), got {len(docs)}")
    bridges_raw, ports_raw, ifaces_raw = (_rows(d) for d in docs)
    ifaces_by_uuid: dict[str, Interface] = {}
    for r in ifaces_raw:
        ofport = _optional(r["ofport"])
        ifaces_by_uuid[_uuid(r["_uuid"])] = Interface(
            name=r["name"], type=r["type"], options=_map(r["options"]),
            error=_optional(r["error"]), ofport=int(ofport) if ofport is not None else None)
    port_names: dict[str, str] = {}
    port_interfaces: dict[str, tuple[str, ...]] = {}
    for r in ports_raw:
        port_names[_uuid(r["_uuid"])] = r["name"]
        port_interfaces[r["name"]] = tuple(sorted(
            ifaces_by_uuid[_uuid(u)].name for u in _set(r["interfaces"])
            if _uuid(u) in ifaces_by_uuid))
    bridges = {}
    for r in bridges_raw:
        ports = tuple(sorted(port_names[_uuid(u)] for u in _set(r["ports"])
                             if _uuid(u) in port_names))
        bridges[r["name"]] = Bridge(r["name"], _optional(r["fail_mode"]),
                                    r["datapath_type"], ports)
    return OvsState(True, bridges, {i.name: i for i in ifaces_by_uuid.values()},
                    port_interfaces)


def parse_ovs_result(res: CommandResult) -> OvsState:
    if res.rc != 0:
        # ovsdb-server down: "database connection failed"; vswitchd alone down still answers
        return OvsState(False, error=(res.stderr or res.stdout).strip()[:400])
    return parse_ovs_tables(res.stdout)


def parse_agent_ini(path: str, text: str) -> AgentIni:
    """oslo.config reads ini files like configparser: last value of a key wins, keys are
    case-sensitive here as there. A file that does not parse is reported, not raised."""
    # [DEFAULT] is a plain section here: oslo.config does not copy it into other groups
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=", ":"),
                                   comment_prefixes=("#", ";"), inline_comment_prefixes=None,
                                   default_section="\0none")
    cp.optionxform = str
    try:
        cp.read_string(text, source=path)
    except configparser.Error as exc:
        return AgentIni(path, True, {}, text, " ".join(str(exc).split()))
    values = {(s, k): (v or "").strip() for s in cp.sections()
              for k, v in cp.items(s, raw=True)}
    return AgentIni(path, True, values, text)


# --- facts -----------------------------------------------------------------------------------
@fact
def ovs_state(remote: Remote) -> OvsState:
    res = remote.run(OVS_QUERY)
    try:
        return parse_ovs_result(res)
    except (ValueError, KeyError, TypeError) as exc:
        raise FactError(remote.name, CommandResult(res.command, res.rc, res.stdout[:200],
                                                   str(exc)), "ovs-vsctl (unexpected JSON)")


@fact
def agent_ini(remote: Remote, path: str) -> AgentIni:
    text = read_file(remote, path)      # unreadable (not missing) raises ReadFailed
    if text is None:
        return AgentIni(path, False, error="No such file or directory")
    return parse_agent_ini(path, text)
