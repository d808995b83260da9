"""The inventory loader under a Hypothesis fuzz of the seed inventory: every mutated
inventory loads as a Site or fails with one-line problems that name a field; never a
traceback. The time bound is Hypothesis' per-example `deadline` (no timing assertions of
our own): an input that makes the loader slow fails the test as DeadlineExceeded. The
loader's work is bounded by counts (inventory_limits: bytes, depth, digits, values), which
keep a load under a second on an idle machine (scripts/fuzz_inventory.py measures it); the
deadline leaves room for a shared, loaded CPU."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings

from inventory_mutations import mutated_inventory, outcome  # tests/unit is on sys.path


@settings(max_examples=150, deadline=timedelta(seconds=10), derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(mutated_inventory)
def test_mutated_inventories_load_or_name_their_fields(text):
    kind, detail = outcome(text)
    assert kind in ("ok", "field errors"), detail


def test_the_known_crashers_are_field_errors():
    """The fuzz findings of issue 8, each as a fixed input."""
    from inventory_mutations import SEED_TEXT, _bomb
    cases = {
        "deep nesting": SEED_TEXT.replace("roles: [bgp, hypervisor]",
                                          "roles: " + "[" * 3000 + "]" * 3000, 1),
        "deep block nesting": SEED_TEXT.replace(
            "roles: [bgp, hypervisor]",
            "roles:\n" + "".join("      " + " " * i + "-\n" for i in range(300)), 1),
        "huge integer": SEED_TEXT.replace("asn: 65000", "asn: " + "9" * 5000),
        "infinite timeout": SEED_TEXT.replace("site: homelab",
                                              "site: homelab\nssh: {connect_timeout: .inf}"),
        "alias bomb": _bomb(9, 9) + SEED_TEXT,
        "alias chain": "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [1]\n"
                               for i in range(1200)) + SEED_TEXT,
        "self alias": "a: &a [*a]\n" + SEED_TEXT,
    }
    for name, text in cases.items():
        kind, detail = outcome(text)
        assert kind == "field errors", f"{name}: {kind}: {detail}"
