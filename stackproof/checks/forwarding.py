"""IPv4 forwarding on BGP hosts: on in the kernel now, and no sysctl file turns it off at
boot (the last file read that sets the key wins). A BGP host that is not a hypervisor also
needs a file that turns it on: nothing else of its role does at boot (libvirt does on a
hypervisor, for its NAT networks), so a value set only at runtime dies with the next reboot.

Forwarding is its own fact, not FRR configuration: zebra only shows the kernel's value
(`no ip forwarding`), and a host that does not forward drops every packet between the
underlay and its NAT networks however healthy its BGP sessions are.
"""
from __future__ import annotations

from dataclasses import asdict

from stackproof.facts import forwarding as fwd
from stackproof.remedy import Finding
from stackproof.remote import Remote
from stackproof.site import Site


def switched_on_at_boot_by_role(site: Site, host: str) -> bool:
    """A hypervisor's libvirt turns forwarding on when it starts its NAT networks."""
    return "hypervisor" in site.hosts[host].roles


def forwarding_on(site: Site, remote: Remote) -> Finding | None:
    f = fwd.forwarding(remote)
    problems = []
    if f.runtime is None:
        problems.append(f"{fwd.PROC} cannot be read")
    elif not f.on:
        problems.append(f"{fwd.KEY} is {f.runtime} in the kernel: the host does not route "
                        f"between the underlay and its networks")
    won = f.persisted
    if won is not None and won.value != "1":
        problems.append(f"{won.path} line {won.line} sets {fwd.KEY} = {won.value}, and it "
                        f"is the last file read at boot: forwarding is off after a reboot")
    elif won is None and f.on and not switched_on_at_boot_by_role(site, remote.name):
        problems.append(f"{fwd.KEY} is on only at runtime: no sysctl file sets it, and "
                        f"nothing of this host's role turns it on at boot: forwarding is "
                        f"off after a reboot")
    if f.unreadable:
        problems.append("cannot read " + ", ".join(f.unreadable))
    if not problems:
        return None
    later = [asdict(s) for s in f.after(fwd.OUR_FILE) if s.value != "1"]
    return Finding("ip_forward", remote.name, "; ".join(problems),
                   {"runtime_on": f.on, "conflicts": later},
                   {"forwarding": asdict(f), "owned file": fwd.OUR_FILE})
