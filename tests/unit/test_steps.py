"""The step modules as pytest-bdd sees them, without a lab: every step of every feature finds
exactly one step definition among the plugins conftest.py loads, each definition's fixtures
come from those plugins, and `then_ensures` registers its step in the module that calls it."""
from __future__ import annotations

import ast
import inspect
from importlib import import_module
from pathlib import Path

from pytest_bdd.parser import FeatureParser
from pytest_bdd.scenario import find_fixturedefs_for_step
from pytest_bdd.steps import step_function_context_registry

from steps.common import then_ensures

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ROOT / "features"
PLUGIN_STEP_MODULES = [m for m in next(
    ast.literal_eval(node.value) for node in ast.parse((ROOT / "conftest.py").read_text()).body
    if isinstance(node, ast.Assign) and node.targets[0].id == "pytest_plugins")
    if m.startswith("steps.")]


def _feature_steps():
    for path in sorted(FEATURES.glob("*.feature")):
        feature = FeatureParser(str(FEATURES), path.name).parse()
        for scenario in feature.scenarios.values():
            for step in scenario.steps:          # the Background's steps first, as at run time
                yield path.name, scenario.name, step


def _definitions(request, step):
    # the lookup pytest-bdd makes at run time; step definitions in conftest.py's
    # pytest_plugins are plugin fixtures (baseid ""), visible to this test as to a scenario
    fm = request.session._fixturemanager
    return [d for d in find_fixturedefs_for_step(step, fm, request.node) if d.baseid == ""]


def test_every_feature_step_has_one_step_definition(request):
    seen = 0
    for feature, scenario, step in _feature_steps():
        found = _definitions(request, step)
        assert len(found) == 1, (f"{feature}: {scenario!r}: {step.type} {step.name!r} has "
                                 f"{len(found)} step definitions")
        seen += 1
    assert seen > 90


def test_every_step_definition_takes_fixtures_the_plugins_provide(request):
    fm = request.session._fixturemanager
    contexts = list({d.func: step_function_context_registry[d.func]
                     for _, _, step in _feature_steps()
                     for d in _definitions(request, step)}.values())
    made_by_steps = {c.target_fixture for c in contexts if c.target_fixture}
    for context in contexts:
        for arg in inspect.signature(context.step_func).parameters:
            if arg in {"request", "target"} | made_by_steps:   # target: the plugin's parameter
                continue
            defs = fm.getfixturedefs(arg, request.node) or []
            assert any(d.baseid == "" for d in defs), \
                f"{context.step_func.__qualname__} takes {arg!r}, which no plugin provides"


class _Remedy:
    def __init__(self):
        self.found = []

    def ensure(self, check):
        self.found.append(check())


def _context_of(step_func):
    return next(c for c in step_function_context_registry.values() if c.step_func is step_func)


def test_then_ensures_registers_a_then_step_in_the_calling_module():
    def holds(site, remote):
        return ("holds", site, remote)

    def holds_everywhere(site, remote, host):
        return ("everywhere", site, remote, host("b"))

    # a module's top level, where a step module calls then_ensures
    namespace: dict = {"__name__": "some_steps", "then_ensures": then_ensures, "holds": holds,
                       "holds_everywhere": holds_everywhere}
    exec("plain = then_ensures('the thing holds', holds)\n"
         "with_fleet = then_ensures('the thing holds everywhere', holds_everywhere, "
         "with_fleet=True)\n", namespace)
    assert sorted(n for n in namespace if n.startswith("pytestbdd_stepdef_")) == [
        "pytestbdd_stepdef_then_the thing holds",
        "pytestbdd_stepdef_then_the thing holds everywhere"]
    plain, with_fleet = _context_of(namespace["plain"]), _context_of(namespace["with_fleet"])
    assert (plain.type, plain.parser.name) == ("then", "the thing holds")
    assert (with_fleet.type, with_fleet.parser.name) == ("then", "the thing holds everywhere")
    assert list(inspect.signature(plain.step_func).parameters) == ["site", "remote", "remedy"]
    assert list(inspect.signature(with_fleet.step_func).parameters) == [
        "site", "remote", "fleet", "remedy"]

    remedy = _Remedy()
    plain.step_func("site", "remote", remedy)
    with_fleet.step_func("site", "remote", {"b": "host b"}, remedy)
    assert remedy.found == [("holds", "site", "remote"),
                            ("everywhere", "site", "remote", "host b")]


def test_the_steps_of_then_ensures_live_in_the_step_modules(request):
    # the runbook's then_ensures steps: a definition whose function then_ensures made
    made = 0
    for feature, scenario, step in _feature_steps():
        for d in _definitions(request, step):
            context = step_function_context_registry[d.func]
            if context.step_func.__module__ != "steps.common" or step.type != "then":
                continue
            made += 1
            holders = [m for m in PLUGIN_STEP_MODULES
                       if f"pytestbdd_stepdef_then_{step.name}" in vars(import_module(m))]
            assert len(holders) == 1 and holders[0] != "steps.common", (feature, step.name,
                                                                        holders)
    assert made >= 20
