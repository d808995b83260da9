"""What stackproof owns in FRR's configuration (the frr_config managed scope), as data, and the
merge that changes only that part of an existing frr.conf.

Merged (the default, inventory `bgp.config: merged`):
- inside the default VRF's `router bgp <asn>`: `bgp router-id`, `timers bgp`, and for each
  neighbor of the inventory its `remote-as` and `update-source`; in its
  `address-family ipv4 unicast`: `redistribute connected` and, per inventory neighbor,
  `next-hop-self` (iBGP) or `route-map ... in|out` (eBGP), and `route-reflector-client`
  on a route reflector's clients (bgp.route_reflectors);
- the eBGP permit-all prefix-list and route-map the model renders;
- STALE: any line of a neighbor (by address) in that router that the inventory does not
  have: a leftover peer, in scope and to be removed.
Everything else is the operator's and is kept byte for byte: other route-maps and
prefix-lists, static routes, logging, other protocols, VRFs (`vrf X`, `router bgp N vrf X`),
BFD, and attributes of managed neighbors that the model does not render (password,
description, bfd, per-neighbor timers, ...).

Exact (`bgp.config: exact`): the whole file is the rendering (full ownership, destructive).

In both modes the forwarding lines (`[no] ip forwarding`, `[no] ipv6 forwarding`) are kernel
state that zebra only reflects: never compared, never changed here (see facts.forwarding).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from stackproof.expect import BgpIntent, bgp_intent
from stackproof.render.frr import ALLOW_ALL_PREFIX_LIST, render_bgp_intent, render_frr_conf
from stackproof.site import Site

MANAGED, STALE, UNMANAGED, KERNEL = "managed", "stale", "unmanaged", "kernel"
AF = "address-family ipv4 unicast"
_DEFAULT_ROUTER = re.compile(r"^router bgp (\d+)$")
_FORWARDING = re.compile(r"^(no )?ip(v6)? forwarding$")
_BLOCK_ENDS = {"exit", "exit-address-family", "exit-vrf", "exit-vnc", "end", "quit"}


@dataclass(frozen=True)
class FrrScope:
    mode: str                                    # "merged" | "exact"
    asn: int
    neighbors: tuple[tuple[str, frozenset[str]], ...]   # address -> managed attribute keys
    redistribute_connected: bool
    prefix_lists: frozenset[str]
    route_maps: frozenset[str]

    def attrs(self, address: str) -> frozenset[str] | None:
        return dict(self.neighbors).get(address)

    def statement(self) -> str:
        """The managed scope in one operator-readable sentence (reports, plans)."""
        if self.mode == "exact":
            return ("exact: the whole of frr.conf is the configuration rendered from the "
                    "inventory (anything else is removed)")
        names = ", ".join(a for a, _ in self.neighbors) or "none"
        policy = (f"; the permit-all prefix-list/route-map "
                  f"{', '.join(sorted(self.prefix_lists | self.route_maps))}"
                  if self.route_maps else "")
        return (f"merged: in `router bgp {self.asn}` its router-id, timers, the inventory's "
                f"neighbors ({names}) with remote-as, update-source and the address-family "
                f"lines the inventory renders, and removal of neighbors the inventory does "
                f"not have{policy}; everything else is kept")


def scope_of(intent: BgpIntent, mode: str = "merged") -> FrrScope:
    neighbors = []
    for n in intent.neighbors:
        keys = {"remote-as", "update-source"}
        if n.next_hop_self:
            keys.add("next-hop-self")
        if n.route_reflector_client:
            keys.add("route-reflector-client")
        if n.route_map:
            keys |= {"route-map in", "route-map out"}
        neighbors.append((n.address, frozenset(keys)))
    maps = frozenset(n.route_map for n in intent.neighbors if n.route_map)
    return FrrScope(mode, intent.asn, tuple(neighbors), intent.redistribute_connected,
                    frozenset({ALLOW_ALL_PREFIX_LIST}) if maps else frozenset(), maps)


def frr_scope(site: Site, host: str) -> FrrScope:
    return scope_of(bgp_intent(site, host), site.bgp.config)


def _strip_no(line: str) -> str:
    return line[3:] if line.startswith("no ") else line


def _neighbor_key(line: str) -> tuple[str, str] | None:
    """(address-or-name, attribute key) of a `neighbor X ...` line."""
    f = line.split()
    if len(f) < 2 or f[0] != "neighbor":
        return None
    if len(f) == 2:
        return f[1], ""
    key = f[2]
    if key == "route-map" and f[-1] in ("in", "out"):
        key = f"route-map {f[-1]}"
    return f[1], key


def _is_address(word: str) -> bool:
    try:
        ipaddress.ip_address(word)
        return True
    except ValueError:
        return False


def classify(scope: FrrScope, path: tuple[str, ...]) -> str:
    """MANAGED, STALE, UNMANAGED or KERNEL for one configuration line, given as its context
    path without indentation, e.g. ("router bgp 64512", "address-family ipv4 unicast",
    "neighbor 192.0.2.1 next-hop-self"). A leading `no ` (frr-reload's delete form) is
    ignored: `no X` is about X."""
    path = tuple(p.strip() for p in path)
    top = _strip_no(path[0]) if len(path) == 1 else path[0]
    if len(path) == 1 and _FORWARDING.match(path[0]):
        return KERNEL
    if scope.mode == "exact":
        return MANAGED
    m = _DEFAULT_ROUTER.match(top)
    if m:
        if int(m.group(1)) != scope.asn:
            return STALE                    # the default router under another AS
        if len(path) == 1:
            return MANAGED
        inner = path[1:]
        if _strip_no(inner[0]) == AF:
            if len(inner) == 1:
                return MANAGED
            line = _strip_no(inner[1])
            if line == "redistribute connected" and scope.redistribute_connected:
                return MANAGED
            return _neighbor_class(scope, line, af=True)
        if len(inner) == 1:
            line = _strip_no(inner[0])
            if line.startswith("bgp router-id ") or line.startswith("timers bgp "):
                return MANAGED
            return _neighbor_class(scope, line, af=False)
        # another address family: its neighbor lines follow the same ownership
        return _neighbor_class(scope, _strip_no(inner[-1]), af=False, stale_only=True)
    words = top.split()
    if top.startswith("ip prefix-list ") and len(words) > 2 and words[2] in scope.prefix_lists:
        return MANAGED
    if top.startswith("route-map ") and len(words) > 1 and words[1] in scope.route_maps:
        return MANAGED
    return UNMANAGED


def _neighbor_class(scope: FrrScope, line: str, af: bool, stale_only: bool = False) -> str:
    key = _neighbor_key(line)
    if key is None:
        return UNMANAGED
    address, attr = key
    attrs = scope.attrs(address)
    if attrs is None:
        return STALE if _is_address(address) else UNMANAGED
    if stale_only:
        return UNMANAGED
    router_level = attr in ("remote-as", "update-source")
    if attr in attrs and router_level != af:
        return MANAGED
    return UNMANAGED


# --- the split of a whole configuration ------------------------------------------------------
@dataclass(frozen=True)
class ConfigLine:
    index: int                  # line number in the text (0-based)
    indent: int
    path: tuple[str, ...]       # context path, stripped
    text: str                   # the line as written


def config_lines(text: str) -> list[ConfigLine]:
    """Every configuration line of an frr.conf / running config with its context path.
    Comments (`!`), banner lines, `end` and block ends are not configuration lines."""
    out, stack = [], []                          # stack: (indent, stripped line)
    for i, raw in enumerate(text.splitlines()):
        body = raw.strip()
        if not body or body.startswith("!") or body in _BLOCK_ENDS or \
                body in ("Building configuration...", "Current configuration:") or \
                body.startswith("frr version "):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        out.append(ConfigLine(i, indent, tuple(s for _, s in stack) + (body,), raw))
        stack.append((indent, body))
    return out


@dataclass(frozen=True)
class ScopeSplit:
    managed: tuple[str, ...]         # lines, rendered as `ctx > ctx > line`
    stale: tuple[str, ...]
    unmanaged: tuple[str, ...]
    kernel: tuple[str, ...]


def render_path(path: tuple[str, ...]) -> str:
    return " > ".join(p.strip() for p in path)


def split(scope: FrrScope, text: str) -> ScopeSplit:
    """A configuration's lines by ownership. A block header (e.g. `route-map X permit 10`)
    is listed with its own class; its lines follow theirs."""
    groups: dict[str, list[str]] = {MANAGED: [], STALE: [], UNMANAGED: [], KERNEL: []}
    for cl in config_lines(text):
        groups[classify(scope, cl.path)].append(render_path(cl.path))
    return ScopeSplit(*(tuple(groups[k]) for k in (MANAGED, STALE, UNMANAGED, KERNEL)))


# --- the merge -----------------------------------------------------------------------------
def _managed_key(scope: FrrScope, cl: ConfigLine) -> tuple | None:
    """The slot a managed line fills (two lines with one key are one setting)."""
    p = cl.path
    if len(p) == 2:
        if p[1].startswith("bgp router-id "):
            return ("router-id",)
        if p[1].startswith("timers bgp "):
            return ("timers",)
    key = _neighbor_key(p[-1])
    if key is not None:
        return ("af" if len(p) == 3 else "router", *key)
    return ("af", p[-1])


def _desired(scope: FrrScope, intent_text: str) -> tuple[list[tuple[tuple, str]],
                                                           list[tuple[tuple, str]], list[str]]:
    """The model's router-level lines, address-family lines (key, text) and policy block."""
    router, af, policy = [], [], []
    for cl in config_lines(intent_text):
        cls = classify(scope, cl.path)
        if cls != MANAGED or len(cl.path) == 1 and _DEFAULT_ROUTER.match(cl.path[0]):
            continue
        if _DEFAULT_ROUTER.match(cl.path[0]):
            if len(cl.path) == 2 and cl.path[1] == AF:
                continue
            (af if len(cl.path) == 3 else router).append((_managed_key(scope, cl), cl.text))
    # the policy block as rendered (prefix-list, route-map with its lines and exit)
    lines = intent_text.splitlines()
    for cl in config_lines(intent_text):
        if len(cl.path) == 1 and classify(scope, cl.path) == MANAGED and \
                not _DEFAULT_ROUTER.match(cl.path[0]):
            policy.append(cl.text)
            if cl.path[0].startswith("route-map "):
                j = cl.index + 1
                while j < len(lines) and lines[j].startswith(" "):
                    policy.append(lines[j])
                    j += 1
                policy.append("exit")
    return router, af, policy


def merge_frr_conf(scope: FrrScope, intent: BgpIntent, existing: str | None) -> str:
    """`existing` with the managed lines changed in place, stale neighbors removed and missing
    managed lines inserted next to their neighbours in the model's order; every other line
    (the operator's, comments and blank lines included) is kept as written. Exact mode, or
    no file at all: the rendering itself."""
    rendered = render_bgp_intent(intent)
    if scope.mode == "exact" or not existing or not existing.strip():
        return rendered
    lines = existing.splitlines()
    parsed = config_lines(existing)
    drop: set[int] = set()
    replace: dict[int, str] = {}
    after: dict[int, list[str]] = {}            # index -> lines inserted after it
    router_d, af_d, policy = _desired(scope, rendered)
    want_router, want_af = dict(router_d), dict(af_d)

    header = next((cl for cl in parsed if len(cl.path) == 1 and
                   _DEFAULT_ROUTER.match(cl.path[0])), None)
    if header is None:
        # no default router: the model's router block (and policy) at the end of the file
        block = [ln for ln in rendered.splitlines()]
        start = next(i for i, ln in enumerate(block) if _DEFAULT_ROUTER.match(ln))
        end = block.index("exit", start)
        tail = block[start:end + 1] + ["!"]
        text = "\n".join(lines + tail) + "\n"
        return _merge_policy(scope, text, policy)
    if int(_DEFAULT_ROUTER.match(header.path[0]).group(1)) != scope.asn:
        replace[header.index] = f"router bgp {scope.asn}"
    inside = [cl for cl in parsed if cl.path[0] == header.path[0] and len(cl.path) > 1]
    seen_router: dict[tuple, int] = {}
    seen_af: dict[tuple, int] = {}
    af_header = None
    for cl in inside:
        cls = classify(scope, (f"router bgp {scope.asn}", *cl.path[1:]))
        if len(cl.path) == 2 and cl.path[1] == AF:
            af_header = cl
            continue
        if cls == STALE:
            drop.add(cl.index)
        elif cls == MANAGED:
            key = _managed_key(scope, cl)
            want = (want_af if len(cl.path) == 3 else want_router).get(key)
            seen = seen_af if len(cl.path) == 3 else seen_router
            if want is None or key in seen:
                drop.add(cl.index)          # a setting the model does not have, or a repeat
            else:
                seen[key] = cl.index
                if cl.text != want:
                    replace[cl.index] = want
    # missing router-level lines: after the previous managed line in the model's order
    anchor = header.index
    for key, text in router_d:
        if key in seen_router:
            anchor = seen_router[key]
        else:
            after.setdefault(anchor, []).append(text)
    missing_af = [(k, t) for k, t in af_d if k not in seen_af]
    if af_header is not None:
        anchor = af_header.index
        for key, text in af_d:
            if key in seen_af:
                anchor = seen_af[key]
            else:
                after.setdefault(anchor, []).append(text)
    elif missing_af:
        # the whole address family, before the router's closing `exit`
        end = _block_end(lines, header.index)
        block = [" !", f" {AF}", *(t for _, t in missing_af), " exit-address-family"]
        after.setdefault(end - 1, []).extend(block)
    out = []
    for i, line in enumerate(lines):
        if i not in drop:
            out.append(replace.get(i, line))
        out.extend(after.get(i, []))
    return _merge_policy(scope, "\n".join(out) + "\n", policy)


def _with_file_attributes(scope: FrrScope, merged: str, running: str,
                          file_text: str | None) -> str:
    """`merged` plus, for each managed neighbor with no line at all in `running`, the
    router-level lines of that neighbor that `file_text` holds and the merge does not own
    (inserted after the neighbor's remote-as line)."""
    if not file_text:
        return merged
    managed = dict(scope.neighbors)
    present = {key[0] for cl in config_lines(running)
               if len(cl.path) >= 2 and (key := _neighbor_key(cl.path[-1]))}
    carry: dict[str, list[str]] = {}
    for cl in config_lines(file_text):
        if len(cl.path) != 2 or not _DEFAULT_ROUTER.match(cl.path[0]):
            continue
        key = _neighbor_key(cl.path[1])
        if key is None or key[0] in present or key[0] not in managed:
            continue
        if classify(scope, (f"router bgp {scope.asn}", cl.path[1])) == UNMANAGED:
            carry.setdefault(key[0], []).append(cl.text)
    if not carry:
        return merged
    out = []
    for line in merged.splitlines():
        out.append(line)
        key = _neighbor_key(line.strip())
        if key and key[1] == "remote-as" and key[0] in carry:
            out.extend(carry.pop(key[0]))
    return "\n".join(out) + "\n"


def _block_end(lines: list[str], header: int) -> int:
    """Index of the line closing the top-level block opened at `header` (its `exit`), or of
    the next top-level line when the block has no `exit`."""
    for j in range(header + 1, len(lines)):
        s = lines[j]
        if s.strip() == "exit" and not s.startswith(" "):
            return j
        if s and not s.startswith(" ") and not s.startswith("!"):
            return j
    return len(lines)


def _merge_policy(scope: FrrScope, text: str, policy: list[str]) -> str:
    """The model's permit-all prefix-list and route-map replace any block of the same names
    (at the place of the first); other policies stay."""
    if not scope.route_maps and not scope.prefix_lists:
        return text
    lines = text.splitlines()
    owned: list[int] = []
    for cl in config_lines(text):
        if classify(scope, cl.path) == MANAGED and not _DEFAULT_ROUTER.match(cl.path[0]):
            owned.append(cl.index)
            if len(cl.path) == 1 and cl.path[0].startswith("route-map "):
                end = _block_end(lines, cl.index)
                if end < len(lines) and lines[end].strip() == "exit":
                    owned.append(end)
    current = [lines[i] for i in sorted(set(owned))]
    if current == policy:
        return text
    if not owned:
        return text.rstrip("\n") + "\n" + "\n".join(policy) + "\n!\n"
    first = min(owned)
    out = []
    for i, line in enumerate(lines):
        if i == first:
            out.extend(policy)
        if i not in owned:
            out.append(line)
    return "\n".join(out) + "\n"


def intended_text(site: Site, host: str, existing: str | None) -> str:
    """What frr.conf should hold on `host`: the merge (default) or the rendering (exact)."""
    scope = frr_scope(site, host)
    if scope.mode == "exact":
        return render_frr_conf(site, host)
    return merge_frr_conf(scope, bgp_intent(site, host), existing)


_BANNER = ("Building configuration...", "Current configuration:")


def reload_text(site: Site, host: str, running: str, file_text: str | None = None) -> str:
    """What the daemons should run, from their running configuration: merged, the running
    config with the managed lines changed (so configuration that exists only in memory is
    kept too); exact, the rendering. Either way the running config's forwarding lines stay
    as they are, so a reload of this text changes no forwarding switch.

    A managed neighbor that the running config lacks altogether (removed by hand) comes back
    with the operator's own attributes of it that frr.conf (`file_text`) still holds: its
    password, description, BFD... (they are unmanaged, so the merge alone never adds them)."""
    lines = [ln for ln in running.splitlines() if ln.strip() not in _BANNER]
    text = "\n".join(lines) + "\n"
    scope = frr_scope(site, host)
    if scope.mode != "exact":
        merged = merge_frr_conf(scope, bgp_intent(site, host), text)
        return _with_file_attributes(scope, merged, running, file_text)
    kernel = [ln for ln in lines if _FORWARDING.match(ln.strip())]
    rendered = [ln for ln in render_frr_conf(site, host).splitlines()
                if not _FORWARDING.match(ln.strip())]
    return "\n".join(kernel + rendered) + "\n"
