"""BGP underlay steps: each sentence hands one check to the remediation engine."""
from __future__ import annotations

from pytest_bdd import then

from stackproof import report
from stackproof.checks import bgp as checks
from stackproof.checks import boot as after_boot
from stackproof.checks import forwarding


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


@then("/etc/frr/daemons enables bgpd")
def _bgpd_enabled(site, remote, remedy):
    remedy.ensure(lambda: checks.bgpd_enabled(site, remote))


@then("FRR runs with watchfrr, zebra and bgpd")
def _frr_running(site, remote, remedy):
    remedy.ensure(lambda: checks.frr_running(site, remote))


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


@then("every BGP neighbor the inventory expects is Established")
def _established(site, remote, fleet, remedy):
    remedy.ensure(lambda: checks.neighbors_established(site, remote, fleet.__getitem__))


@then("every other BGP host's networks are kernel routes learned over BGP via that host's "
      "underlay address")
def _learned(site, remote, fleet, remedy):
    remedy.ensure(lambda: checks.prefixes_learned(site, remote, fleet.__getitem__))


@then("no static route overrides a prefix that BGP provides")
def _no_static(site, remote, remedy):
    remedy.ensure(lambda: checks.no_static_shadow(site, remote))


@then("the kernel forwards IPv4, and no sysctl file turns it off at boot")
def _forwarding(site, remote, remedy, reboot_check):
    if reboot_check.enabled:
        remedy.ensure(reboot_check.after_boot(remote.name,
                                              lambda: after_boot.ip_forward(site, remote)))
        return
    remedy.ensure(lambda: forwarding.forwarding_on(site, remote))
