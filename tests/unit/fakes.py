"""Shared pieces of the unit tests' fake hosts (which replay captured daemon output)."""
from __future__ import annotations

import threading

from stackproof.remote import Remote


class ReplayCache:
    """The real Remote's fact cache, not a copy of it: fakes inherit `fact` and `invalidate`
    from `Remote` and set `self._facts = {}` in their own __init__."""
    _lock = threading.RLock()
    fact = Remote.fact
    invalidate = Remote.invalidate
