"""Faults that test the remediation engine itself, not a layer of the site: a remote command
that never returns, and a service whose start fails after its configuration was written.

remote-command-hangs: inside the host's own mount namespace, `mount --bind` puts a script
that sleeps over vtysh, so every new `vtysh` on that host hangs (as when vtysh waits on a
stuck daemon socket). Each hung script records its PID; heal unmounts and kills exactly
those PIDs. The machine's vtysh and the other hosts are untouched (private propagation).

service-start-fails: the host's chrony init script (its copy-on-write /etc) still stops
chronyd but refuses to start it, as a daemon does that cannot bind or read its state; a
remediation that writes chrony.conf and restarts chrony then fails after the write.
"""
from __future__ import annotations

import shlex

from stackproof_lab.daemons.chrony import ensure_running
from stackproof_lab.faults import register
from stackproof.osfamily import profile

HANG_SCRIPT = "/run/stackproof-lab-hang"
HANG_PIDS = "/run/stackproof-lab-hang.pids"
HANG_BINARY = "vtysh"


def _first_bgp_host(site):
    from stackproof.expect import bgp_hosts
    return next(iter(bgp_hosts(site)))


def _first_client(site):
    return next(n for n in site.hosts if site.time and n != site.time.server)


@register
class RemoteCommandHangs:
    name = "remote-command-hangs"
    chaos = False           # breaks the engine, not the site
    layer = "engine"
    description = (f"every new `{HANG_BINARY}` on the host hangs (a script that sleeps, "
                   "bind-mounted over it in the host's mount namespace)")

    def default_host(self, site):
        return _first_bgp_host(site)

    def inject(self, lab, site, host):
        q = shlex.quote
        script = (f"#!/bin/sh\n# lab fault {self.name}: hang like a stuck {HANG_BINARY}\n"
                  f"echo $$ >> {HANG_PIDS}\nexec sleep 3600\n")
        lab.shell(host).sh(
            f"b=$(command -v {HANG_BINARY}) && printf %s {q(script)} > {HANG_SCRIPT} && "
            f"chmod 755 {HANG_SCRIPT} && "
            f"if ! grep -q \" $b \" /proc/self/mountinfo; then mount --bind {HANG_SCRIPT} \"$b\"; fi")

    def heal(self, lab, site, host):
        lab.shell(host).sh(
            f"b=$(command -v {HANG_BINARY}); while grep -q \" $b \" /proc/self/mountinfo; do "
            f"umount \"$b\" || break; done; "
            f"if [ -f {HANG_PIDS} ]; then for p in $(cat {HANG_PIDS}); do "
            f"kill \"$p\" 2>/dev/null; done; fi; rm -f {HANG_PIDS} {HANG_SCRIPT}")


@register
class ServiceStartFails:
    name = "service-start-fails"
    chaos = False           # breaks the engine, not the site
    layer = "engine"
    description = "chrony's init script stops chronyd but refuses to start it again"

    def default_host(self, site):
        return _first_client(site)

    def _script(self, site, host) -> str:
        return f"/etc/init.d/{profile(site, host).chrony_service}"

    def inject(self, lab, site, host):
        path = self._script(site, host)
        q = shlex.quote
        wrapper = (f"#!/bin/sh\n# lab fault {self.name}: stop works, start does not\n"
                   f"case \"$1\" in\n"
                   f"  stop|status) exec {path}.lab-fault \"$@\" ;;\n"
                   f"  restart|force-reload) {path}.lab-fault stop ;;\n"
                   f"esac\n"
                   f"echo \"chronyd: start refused (lab fault {self.name})\" >&2\nexit 1\n")
        lab.shell(host).sh(f"[ -f {q(path)}.lab-fault ] || cp -p {q(path)} {q(path)}.lab-fault"
                           f" && printf %s {q(wrapper)} > {q(path)} && chmod 755 {q(path)}")

    def heal(self, lab, site, host):
        path = shlex.quote(self._script(site, host))
        lab.shell(host).sh(f"if [ -f {path}.lab-fault ]; then mv -f {path}.lab-fault {path}; "
                           f"fi; {path} start >/dev/null 2>&1 || {path} restart")
        ensure_running(lab.shell(host), f"{path} start")
