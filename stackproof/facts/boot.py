"""What a host's last boot did, as the lab's boot records it (stackproof_lab.boot writes
/run/stackproof-boot/*.json inside the host; a lab host shares the machine's kernel, so
this record stands in for /proc/swaps after a boot)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from stackproof.facts import fact
from stackproof.remote import Remote

FSTAB_RECORD = "/run/stackproof-boot/fstab.json"


@dataclass(frozen=True)
class BootSwap:
    recorded: bool                 # False: the host has not booted through the lab's boot
    swap_on_boot: tuple[str, ...]


def parse_fstab_record(text: str | None) -> BootSwap:
    if not text or not text.strip():
        return BootSwap(False, ())
    data = json.loads(text)
    return BootSwap(True, tuple(data.get("swap_on_boot", ())))


@fact
def swap_on_boot(remote: Remote) -> BootSwap:
    res = remote.run(f"cat {FSTAB_RECORD}")
    return parse_fstab_record(res.stdout if res.ok else None)
