"""BGP underlay steps: each sentence hands one check to the remediation engine."""
from __future__ import annotations

from pytest_bdd import then

from stackproof import report
from stackproof.checks import bgp as checks
from stackproof.checks import boot as after_boot
from stackproof.checks import forwarding
from steps.common import then_ensures


def _with_diff(check, title: str):
    """The check, attaching its configuration diff to the report the first time it fails."""
    attached = False

    def run():
        nonlocal attached
        finding = check()
        if finding is not None and not attached and finding.facts.get("diff"):
            report.attach_text(title, finding.facts["diff"])
            attached = True
        return finding
    return run


then_ensures("/etc/frr/daemons enables bgpd", checks.bgpd_enabled)
then_ensures("FRR runs with watchfrr, zebra and bgpd", checks.frr_running)


def _attach_kept(site, remote, source: str) -> None:
    kept = checks.kept_configuration(site, remote, source)
    report.attach_text(f"{checks.UNMANAGED_KEPT}: {remote.name} {source}",
                       "\n".join(kept) or "(none)")


@then("/etc/frr/frr.conf holds the BGP settings rendered from the inventory")
def _config_file(site, remote, remedy):
    remedy.ensure(_with_diff(lambda: checks.config_file_matches(site, remote),
                             f"frr.conf diff: {remote.name}"))
    _attach_kept(site, remote, "file")


@then("the running FRR configuration holds the BGP settings rendered from the inventory")
def _running_config(site, remote, remedy):
    remedy.ensure(_with_diff(lambda: checks.running_config_matches(site, remote),
                             f"running-config diff: {remote.name}"))
    _attach_kept(site, remote, "running")


then_ensures("every BGP neighbor the inventory expects is Established",
             checks.neighbors_established, with_fleet=True)
then_ensures("every other BGP host's networks are kernel routes learned over BGP via that "
             "host's underlay address", checks.prefixes_learned, with_fleet=True)
then_ensures("no static route overrides a prefix that BGP provides", checks.no_static_shadow)


@then("the kernel forwards IPv4, and no sysctl file turns it off at boot")
def _forwarding(site, remote, remedy, reboot_check):
    if reboot_check.enabled:
        remedy.ensure(reboot_check.after_boot(remote.name,
                                              lambda: after_boot.ip_forward(site, remote)))
        return
    remedy.ensure(lambda: forwarding.forwarding_on(site, remote))
