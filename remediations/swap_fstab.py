"""Comment out swap entries in /etc/fstab so swap stays off after a reboot.

Managed scope: swap lines of /etc/fstab (commented out); every other entry and comment is
kept.
"""
from __future__ import annotations

from stackproof.facts import baseline as facts
from stackproof.facts import run_ok
from stackproof.remedy import Plan, WriteFile

ID = "swap_fstab"
DESTRUCTIVE = False
VERIFY_TIMEOUT = 5.0


def without_swap(fstab_text: str, line_numbers: list[int]) -> str:
    """The fstab text with the given (1-based) lines commented out, everything else kept."""
    lines = fstab_text.splitlines(keepends=True)
    for no in line_numbers:
        lines[no - 1] = "#" + lines[no - 1] + ("" if lines[no - 1].endswith("\n") else "\n")
    return "".join(lines)


def plan(ctx, finding) -> Plan:
    remote = ctx.fleet[finding.host]
    current = run_ok(remote, "cat /etc/fstab", "read /etc/fstab")
    lines = [e.line_no for e in facts.parse_fstab(current) if e.fstype == "swap"]
    new = without_swap(current, lines)
    return Plan(ID, f"comment out swap in /etc/fstab (lines {lines})",
                (WriteFile(finding.host, "/etc/fstab", new,
                           "no swap at boot: kubelet and nova-compute need swap off"),))
