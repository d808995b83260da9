"""Routes read back out of the files that keep them for boot: an OS family's route files
and libvirt network definitions, as (prefix, gateway) pairs. Plain functions of the text.

Below both layers that need them: the routing facts read what a host keeps
(stackproof.facts.routes), and the renderer reads the existing file it merges the intended
routes into, so it adds none twice (stackproof.render.routes). Kept out of render, which only
writes intended text, and out of facts, which render does not import.
"""
from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET


def _host_prefix(word: str) -> str:
    return word if "/" in word else f"{word}/32"


_DEBIAN_ROUTE = re.compile(
    r"^\s*(?:up|post-up)\s+(?:\S*/)?ip\s+(?:-4\s+)?route\s+(?:add|replace|append)\s+(\S+)"
    r"(?:\s+.*)?\s+via\s+(\S+)")
_RHEL_KEY = re.compile(r"^(ADDRESS|NETMASK|GATEWAY)(\d+)=(.*)$")


def parse_persisted(family: str, files: dict[str, str]) -> set[tuple[str, str]]:
    """(prefix, gateway) of every route the files bring back at boot. RHEL: `route-<dev>`
    lines in `ip route` syntax or the older ADDRESSn/NETMASKn/GATEWAYn keys; Debian:
    `up|post-up ip route add|replace <prefix> ... via <gw>` lines. Comments are ignored."""
    found: set[tuple[str, str]] = set()
    for text in files.values():
        keyed: dict[str, dict[str, str]] = {}
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            if family == "rhel":
                m = _RHEL_KEY.match(line.strip())
                if m:
                    keyed.setdefault(m.group(2), {})[m.group(1)] = m.group(3).strip("\"'")
                    continue
                words = line.split()
                if "via" in words[:-1]:
                    found.add((_host_prefix(words[0]), words[words.index("via") + 1]))
            else:
                m = _DEBIAN_ROUTE.match(line)
                if m:
                    found.add((_host_prefix(m.group(1)), m.group(2)))
        for k in keyed.values():
            if {"ADDRESS", "GATEWAY"} <= set(k):
                mask = k.get("NETMASK", "255.255.255.255")
                plen = sum(bin(int(o)).count("1") for o in mask.split(".")) \
                    if mask.count(".") == 3 else 32
                found.add((f"{k['ADDRESS']}/{plen}", k["GATEWAY"]))
    return found


def parse_libvirt_routes(xml_text: str) -> set[tuple[str, str]]:
    """(prefix, gateway) of every IPv4 `<route>` of a network definition."""
    if not xml_text.strip():
        return set()
    found = set()
    for r in ET.fromstring(xml_text).findall("route"):
        if r.get("family", "ipv4") != "ipv4" or not r.get("address") or not r.get("gateway"):
            continue
        plen = r.get("prefix")
        if plen is None and r.get("netmask"):
            plen = str(ipaddress.IPv4Network(f"0.0.0.0/{r.get('netmask')}").prefixlen)
        found.add((f"{r.get('address')}/{plen or 32}", r.get("gateway")))
    return found
