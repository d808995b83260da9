"""The lab never builds state from the suite's own expectation code: if the lab and the checks
shared the code that decides what is right, a wrong expectation would pass.

An import-graph test over every module under stackproof_lab (imports inside functions too),
and checks that the OS/package facts the lab duplicates as its own constants still name the
same paths as the product's.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "stackproof_lab"
BANNED = ("stackproof.render", "stackproof.expect", "stackproof.checks",
          "stackproof.remediations")

# Modules under stackproof_lab allowed to import a banned module, with the reason. Empty:
# even the faults' target pickers read the site model through the lab's own templates.
ALLOWED: dict[str, str] = {}

def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (`from stackproof import render` counts as
    stackproof.render)."""
    tree = ast.parse(path.read_text(), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _module_name(path) if path.name == "__init__.py" else \
                    _module_name(path).rpartition(".")[0]
                up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _banned(name: str) -> bool:
    return any(name == b or name.startswith(b + ".") for b in BANNED)


def lab_files() -> list[Path]:
    return sorted(LAB.rglob("*.py"))


def test_the_walk_sees_the_lab_and_the_parser_sees_every_spelling(tmp_path):
    names = {_module_name(p) for p in lab_files()}
    assert {"stackproof_lab.daemons.frr", "stackproof_lab.faults.bgp",
            "stackproof_lab.templates.bgp", "stackproof_lab.kube.hook",
            "stackproof_lab.daemons.ovs"} <= names
    probe = tmp_path / "probe.py"
    probe.write_text("import stackproof.expect\nfrom stackproof import render\n"
                     "def f():\n    from stackproof.checks.bgp import x\n")
    found = {n for n in imported_names(probe) if _banned(n)}
    assert {"stackproof.expect", "stackproof.render", "stackproof.checks.bgp"} <= found


@pytest.mark.parametrize("path", lab_files(), ids=lambda p: str(p.relative_to(LAB)))
def test_no_lab_module_imports_the_suites_expectation_code(path):
    name = _module_name(path)
    bad = sorted(n for n in imported_names(path) if _banned(n))
    if name in ALLOWED:
        return
    assert not bad, (f"{name} imports {bad}: the lab must build its state from "
                     f"stackproof_lab.templates (the site model), not from the suite's "
                     f"expectations")


def module_file(name: str) -> tuple[str, Path] | None:
    """The repository file of a dotted name (a module, a package, or a name inside one)."""
    while name:
        base = ROOT.joinpath(*name.split("."))
        for f in (base.with_suffix(".py"), base / "__init__.py"):
            if f.is_file():
                return name, f
        name = name.rpartition(".")[0]
    return None


def _product_closure(start: str, seen: set[str]) -> set[str]:
    """Product (non-lab) modules reachable from `start` through module-level and local
    imports, stopping at the lab."""
    found = module_file(start)
    if found is None:
        return seen
    name, path = found
    if name in seen or name.startswith("stackproof_lab") or not name.startswith("stackproof"):
        return seen
    seen.add(name)
    for n in imported_names(path):
        if n.startswith("stackproof"):
            _product_closure(n, seen)
    return seen


def test_product_modules_the_lab_uses_do_not_reach_the_expectation_code():
    """site, osfamily, services, redact...: plain data and OS facts. A product module that
    started importing expect/render would bring the suite's expectations back into the lab."""
    used = {n for p in lab_files() for n in imported_names(p)
            if n.startswith("stackproof.") and not n.startswith("stackproof_lab")}
    bad = {}
    for name in sorted(used):
        reach = sorted(m for m in _product_closure(name, set()) if _banned(m))
        if reach:
            bad[name] = reach
    assert not bad, f"product modules the lab imports reach the expectation code: {bad}"


def test_duplicated_os_facts_name_the_same_paths():
    """Paths that are facts of the OS or the packages, kept by the lab as its own constants:
    the product must name the same files, or the lab would build state the suite never
    reads."""
    from stackproof.facts.forwarding import OUR_FILE
    from stackproof_lab.faults.bgp import FIX_SYSCTL_FILE
    from stackproof_lab.templates import kubelet as lk
    from stackproof_lab.templates import neutron as ln
    from stackproof.render import kubelet as rk
    from stackproof.render import neutron as rn
    assert FIX_SYSCTL_FILE == OUR_FILE
    assert (ln.AGENT_INI, ln.AGENT_SERVICE) == (rn.AGENT_INI, rn.AGENT_SERVICE)
    assert (lk.JOIN_CONFIG, lk.KUBEADM_FLAGS, lk.UNIT_PATH, lk.UNIT_LINK) == \
        (rk.JOIN_CONFIG, rk.KUBEADM_FLAGS, rk.UNIT_PATH, rk.UNIT_LINK)
