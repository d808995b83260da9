"""Accept-header negotiation, as the API server does it for the three JSON answers the
stand-in gives: plain objects, server-side Tables (meta.k8s.io Table), and aggregated
discovery (apidiscovery.k8s.io APIGroupDiscoveryList).

kubectl asks e.g. `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;
v=v1beta1;g=meta.k8s.io,application/json` and takes the first the server can give. A list
with nothing the server can give is a 406 NotAcceptable.
"""
from __future__ import annotations

from dataclasses import dataclass

JSON = "application/json"


@dataclass(frozen=True)
class Media:
    type: str                          # "application/json", "*/*", ...
    params: dict

    @property
    def as_kind(self) -> str | None:
        return self.params.get("as")


@dataclass(frozen=True)
class Choice:
    kind: str                          # "object" | "table" | "discovery"
    version: str = ""                  # Table: v1 / v1beta1; discovery: v2 / v2beta1


def parse_accept(header: str | None) -> list[Media]:
    out = []
    for part in (header or "").split(","):
        part = part.strip()
        if not part:
            continue
        bits = [b.strip() for b in part.split(";")]
        params = {}
        for b in bits[1:]:
            if "=" in b:
                k, v = b.split("=", 1)
                params[k.strip()] = v.strip().strip('"')
        out.append(Media(bits[0].lower(), params))
    return out or [Media("*/*", {})]


def _json_ok(m: Media) -> bool:
    return m.type in (JSON, "application/*", "*/*")


def choose(header: str | None, *, table: bool = False, discovery: bool = False) -> Choice | None:
    """What to answer for this Accept; None means 406. `table`: the route can give a Table;
    `discovery`: the route is /api or /apis (aggregated discovery possible)."""
    for m in parse_accept(header):
        if not _json_ok(m):
            continue
        as_kind = m.as_kind
        if as_kind is None:
            return Choice("object")
        if as_kind == "Table" and table and m.params.get("g") == "meta.k8s.io" and \
                m.params.get("v") in ("v1", "v1beta1"):
            return Choice("table", m.params["v"])
        if as_kind == "APIGroupDiscoveryList" and discovery and \
                m.params.get("g") == "apidiscovery.k8s.io" and \
                m.params.get("v") in ("v2", "v2beta1"):
            return Choice("discovery", m.params["v"])
        # PartialObjectMetadata(List) and anything else: not served, try the next
    return None
