"""Cross-host reachability: the symptom every underlay fault ends in."""
from __future__ import annotations

from dataclasses import asdict

from stackproof.expect import reach_targets
from stackproof.facts.connectivity import ping_sweep
from stackproof.finding import Finding
from stackproof.remote import Remote
from stackproof.site import Site


def reaches_everything(site: Site, remote: Remote) -> Finding | None:
    targets = reach_targets(site, remote.name)
    results = ping_sweep(remote, tuple(t.address for t in targets))
    down = [t for t, r in zip(targets, results) if not r.reachable]
    if not down:
        return None
    return Finding("reachability", remote.name,
                   f"{remote.name} cannot reach " +
                   ", ".join(f"{t.address} ({t.what})" for t in down),
                   {"unreachable": [t.address for t in down]},
                   {"ping": [asdict(r) for r in results]})
