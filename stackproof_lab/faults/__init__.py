"""The fault catalog: each failure the field report met, injectable into a running lab.

Layer modules (stackproof_lab/faults/<layer>.py) register their faults at import:

    from stackproof_lab.faults import Fault, register

    register(Fault(name="bgpd-off", layer="bgp", description="bgpd=no in /etc/frr/daemons",
                   inject=turn_bgpd_off, heal=turn_bgpd_on,
                   default_host=lambda site: bgp_hosts(site)[0]))

    @register                       # or a class with these attributes and methods
    class WrongRemoteAs:
        name = "bgp-wrong-remote-as"
        layer = "bgp"
        description = "a neighbor configured with the wrong remote-as"
        def inject(self, lab, site, host): ...
        def heal(self, lab, site, host): ...
        def default_host(self, site): ...        # optional

`inject(lab, site, host)` / `heal(lab, site, host)`: lab is a running `Lab`, site the model,
host an inventory host name (None when the fault is site-wide and has no default_host).
Layer modules are found from LAYERS and by listing this package, so a new layer needs no
edit here; a missing layer is skipped and a broken one is reported, not fatal.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from stackproof_lab.lab import Lab
    from stackproof.site import Site

LAYERS = ("host", "libvirt", "bgp", "firewall", "openstack", "ovs", "dvr", "kubernetes",
          "time")

Action = Callable[["Lab", "Site", "str | None"], None]


class FaultError(RuntimeError):
    pass


@dataclass(frozen=True)
class Fault:
    name: str
    layer: str
    description: str
    inject: Action
    heal: Action
    default_host: Callable[["Site"], "str | None"] | None = None
    # chaos rounds (stackproof_lab.chaos): False for faults made to break the engine itself
    # (a hung command, a start that fails), not the site; `conflicts` names faults that
    # cannot be injected together with this one (either side may declare it)
    chaos: bool = True
    conflicts: tuple[str, ...] = ()
    # its fix is destructive (the run needs --allow-destructive)
    destructive_fix: bool = False

    def target(self, site: Site, host: str | None) -> str | None:
        """The host to act on: the one asked for, else the fault's default."""
        if host is not None:
            if host not in site.hosts:
                raise FaultError(f"{host}: not a host of this inventory "
                                 f"(hosts: {', '.join(site.hosts)})")
            return host
        return self.default_host(site) if self.default_host else None


REGISTRY: dict[str, Fault] = {}
LOAD_ERRORS: dict[str, str] = {}
_loaded = False


def register(fault: Any) -> Any:
    """Register a Fault, or (as a class decorator) a class describing one. Returns its
    argument, so it works as a decorator."""
    if isinstance(fault, Fault):
        f = fault
    else:
        obj = fault() if isinstance(fault, type) else fault
        f = Fault(name=obj.name, layer=obj.layer, description=obj.description,
                  inject=obj.inject, heal=obj.heal,
                  default_host=getattr(obj, "default_host", None),
                  chaos=getattr(obj, "chaos", True),
                  conflicts=tuple(getattr(obj, "conflicts", ())),
                  destructive_fix=getattr(obj, "destructive_fix", False))
    if f.name in REGISTRY and REGISTRY[f.name] != f:
        raise FaultError(f"fault {f.name} registered twice ({REGISTRY[f.name].layer}, "
                         f"{f.layer})")
    REGISTRY[f.name] = f
    return fault


def load_layers() -> dict[str, Fault]:
    """Import every layer module once; a missing one is skipped, a broken one recorded."""
    global _loaded
    if _loaded:
        return REGISTRY
    _loaded = True
    names = list(LAYERS) + sorted(m.name for m in pkgutil.iter_modules(__path__)
                                  if m.name not in LAYERS and not m.name.startswith("_"))
    for layer in names:
        modname = f"{__name__}.{layer}"
        try:
            importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                LOAD_ERRORS[layer] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:             # one broken layer must not hide the others
            LOAD_ERRORS[layer] = f"{type(exc).__name__}: {exc}"
    return REGISTRY


def get(name: str) -> Fault:
    load_layers()
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none registered"
        raise FaultError(f"unknown fault {name!r} (known: {known})")
    return REGISTRY[name]


def inject(lab: Lab, name: str, host: str | None = None) -> str | None:
    """Inject a fault into a running lab and record it; returns the host acted on."""
    fault = get(name)
    target = fault.target(lab.site, host)
    _require_up(lab)
    fault.inject(lab, lab.site, target)
    lab.state.add_fault(fault.name, target)
    return target


def heal(lab: Lab, name: str | None = None,
         host: str | None = None) -> list[tuple[str, str | None]]:
    """Heal one injected fault (or, with no name, every recorded one, newest first)."""
    _require_up(lab)
    recorded = [(f.name, f.host) for f in lab.state.faults]
    if name is None:
        todo = list(reversed(recorded))
    else:
        fault = get(name)
        target = fault.target(lab.site, host)
        todo = [(n, h) for n, h in reversed(recorded)
                if n == name and (host is None or h == target)] or [(name, target)]
    from stackproof_lab.lived_in import reseed
    for n, h in todo:
        get(n).heal(lab, lab.site, h)
        reseed(lab, h)        # a heal may rewrite a whole file: the operator's items go back
        lab.state.drop_fault(n, h)
    return todo


def _require_up(lab: Lab) -> None:
    # the state file is the record: a `lab reboot` in another process (the suite's
    # --reboot-check) renews hosts' inits, and a stale copy saved back would undo that
    lab._state = None
    if lab.state is None or lab.state.phase != "up":
        raise FaultError(f"lab {lab.lab_id} is not up (run `stackproof lab up` first)")
