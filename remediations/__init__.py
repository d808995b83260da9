"""One module per fix, each exposing ID, DESTRUCTIVE, VERIFY_TIMEOUT and plan(ctx, finding)."""
from __future__ import annotations

import importlib
import pkgutil


def load_registry() -> dict:
    registry = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        ident = getattr(module, "ID", None)
        if ident is None:
            continue
        if ident in registry:
            raise RuntimeError(f"remediation id {ident!r} registered twice "
                               f"({registry[ident].__name__}, {module.__name__})")
        registry[ident] = module
    return registry
