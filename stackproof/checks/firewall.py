"""Firewall checks: the rules `expect.iptables_rules()` derives, against iptables-save.

The expected rules fall into families, one scenario each:
  libvirt     LIBVIRT_FWI/LIBVIRT_FWO accepts between the underlay and each NAT network
  forward     FORWARD accepts and nat POSTROUTING MASQUERADE for the external/compute NAT
  vxlan       udp/<overlay port> in INPUT, and FORWARD to/from a compute guest
A rule marked `first` must sit ahead of the first rule that can reject the packet: a
REJECT/DROP in the chain itself, or a jump into a chain that rejects (libvirt's
`-j LIBVIRT_FWI` in FORWARD ends in `-o virbr.. -j REJECT`). Persistence is its own
scenario: every expected rule must be in the file loaded at boot.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from stackproof.expect import IptablesRule, iptables_rules
from stackproof.facts import firewall as facts
from stackproof.facts.firewall import BLOCKING_TARGETS as BLOCKING, RuleState, Ruleset, \
    evaluate
from stackproof.osfamily import profile
from stackproof.finding import Finding
from stackproof.remote import Remote
from stackproof.render.firewall import command
from stackproof.site import Site

LIBVIRT_CHAINS = ("LIBVIRT_FWI", "LIBVIRT_FWO")
FAMILIES = ("libvirt", "forward", "vxlan")


def family_of(site: Site, rule: IptablesRule) -> str:
    if rule.chain in LIBVIRT_CHAINS:
        return "libvirt"
    words = rule.spec.split()
    port = str(site.overlay.udp_port)
    if "udp" in words and any(words[i] in ("--dport", "--sport") and words[i + 1] == port
                              for i in range(len(words) - 1)):
        return "vxlan"
    return "forward"


def expected_rules(site: Site, host: str, family: str | None = None) -> list[IptablesRule]:
    rules = iptables_rules(site, host)
    return rules if family is None else [r for r in rules if family_of(site, r) == family]


def _listings(ruleset: Ruleset, states: list[RuleState]) -> dict[str, list[str] | str]:
    """The chains an operator needs to see: the rules' chains and the chains that reject."""
    out: dict[str, list[str] | str] = {}
    for st in states:
        key = f"{st.rule.table} {st.rule.chain}"
        chain = ruleset.chain(st.rule.table, st.rule.chain)
        out[key] = chain.listing() if chain else "chain does not exist"
        target = st.blocker.target if st.blocker else None
        sub = ruleset.chain(st.rule.table, target) if target else None
        if sub is not None and not sub.builtin:
            out[f"{st.rule.table} {target}"] = sub.listing()
    return out


def _describe(ruleset: Ruleset, st: RuleState) -> str:
    r = st.rule
    if not st.chain_exists:
        hint = " (libvirt makes it when it starts a NAT network)" \
            if r.chain.startswith("LIBVIRT_") else ""
        return (f"chain {r.chain} ({r.table}) does not exist{hint}, so `{command(r)}` cannot "
                f"be added ({r.why})")
    if st.missing:
        return f"missing `{command(r)}` ({r.why})"
    b = st.blocker
    via = ""
    sub = ruleset.first_blocking(r.table, b.target) if b.target not in (None, *BLOCKING) \
        else None
    if sub is not None:
        via = f", whose chain rejects with `-A {b.target} {sub.spec}`"
    return (f"`-A {r.chain} {r.spec}` is rule {min(st.positions)}, behind rule "
            f"{b.position} `-A {r.chain} {b.spec}`{via}: what that rejects never reaches "
            f"it; move it with `{command(r)}` ({r.why})")


def live_finding(site: Site, remote: Remote, rules: list[IptablesRule],
                 what: str) -> Finding | None:
    """One Finding for every expected rule of a family that is missing or behind a reject."""
    if not rules:
        return None
    ruleset = facts.live_rules(remote)
    states = [evaluate(ruleset, r) for r in rules]
    bad = [st for st in states if not st.ok]
    if not bad:
        return None
    message = f"{what}: {len(bad)} of {len(rules)} rule(s) not in effect\n" + \
        "\n".join(f"  - {_describe(ruleset, st)}" for st in bad)
    params = {"rules": [asdict(st.rule) for st in bad],
              "missing": [command(st.rule) for st in bad if st.missing],
              "misplaced": [command(st.rule) for st in bad if st.misplaced],
              "absent_chains": sorted({f"{st.rule.table} {st.rule.chain}"
                                       for st in bad if not st.chain_exists})}
    facts_read = {"iptables-save": _listings(ruleset, states)}
    if ruleset.warnings:        # e.g. rules added with iptables-legacy: live, but not seen here
        facts_read["warnings"] = list(ruleset.warnings)
        message += "\n" + "\n".join(f"  note: iptables-save warns: {w}" for w in ruleset.warnings)
    return Finding("iptables_rules", remote.name, message, params, facts_read)


def libvirt_chains_accept(site: Site, remote: Remote) -> Finding | None:
    return live_finding(site, remote, expected_rules(site, remote.name, "libvirt"),
                        "libvirt's LIBVIRT_FWI/LIBVIRT_FWO reject traffic between the underlay "
                        "and the NAT networks")


def forward_and_masquerade(site: Site, remote: Remote) -> Finding | None:
    return live_finding(site, remote, expected_rules(site, remote.name, "forward"),
                        "FORWARD/MASQUERADE for the external and compute NAT networks")


def vxlan_accepted(site: Site, remote: Remote) -> Finding | None:
    port = site.overlay.udp_port
    return live_finding(site, remote, expected_rules(site, remote.name, "vxlan"),
                        f"VXLAN (udp/{port}) is not let through")


def rules_saved(site: Site, remote: Remote) -> Finding | None:
    """Every expected rule is in the file the host loads at boot."""
    rules = expected_rules(site, remote.name)
    if not rules:
        return None
    path = profile(site, remote.name).iptables_rules_file
    saved = facts.saved_rules(remote, path)
    absent = [r for r in rules if not saved.has(r.table, r.chain, r.spec)]
    if not absent:
        return None
    if not saved.exists:
        head = f"{path} does not exist: none of the {len(rules)} rule(s) survives a reboot"
    else:
        head = f"{path} lacks {len(absent)} of {len(rules)} rule(s): they vanish at reboot"
    message = head + "\n" + "\n".join(f"  - `{command(r)}` ({r.why})" for r in absent)
    chains = sorted({(r.table, r.chain) for r in rules})
    listing = {f"{t} {c}": (saved.chain(t, c).listing() if saved.chain(t, c) else
                            "chain not in the file") for t, c in chains}
    return Finding("iptables_save", remote.name, message,
                   {"path": path, "rules": [asdict(r) for r in absent],
                    "missing": [command(r) for r in absent]},
                   {path: listing if saved.exists else "file does not exist"})
