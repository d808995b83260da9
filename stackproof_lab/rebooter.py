"""The lab's rebooter for the suite's `--reboot-check` (entry point group
`stackproof.rebooters`): the lab is found from the lab inventory (its state file sits next to
it), a host is rebooted through `Lab.reboot`, and the call returns once the lab settled."""
from __future__ import annotations

from pathlib import Path

from stackproof_lab.lab import Lab
from stackproof_lab.reboot import wait_settled


class LabRebooter:
    def __init__(self, inventory: str):
        self.lab = Lab.from_state(Path(inventory).resolve().parent, log=lambda line: None)

    def reboot(self, host: str) -> list[str]:
        """Reboot `host` (a hypervisor's guests with it); the hosts whose boot ended their
        connections: rebooted ones and guests that stay down."""
        report = self.lab.reboot(host)
        wait_settled(self.lab)
        return report.rebooted + report.down
