"""Hypothesis strategies that mutate the seed inventory, and the loader's contract, shared by
the unit fuzz test (test_site_fuzz.py) and scripts/fuzz_inventory.py.

The contract: `load_site_text(text)` returns a Site or raises InventoryError whose every
problem is one line that starts with where it is (a field path, `line L, column C`,
`(file)` or `(top level)`) followed by `: `; nothing else escapes."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml
from hypothesis import strategies as st

from stackproof.site import InventoryError, Site, load_site_text

SEED = Path(__file__).resolve().parents[2] / "inventories" / "seed.yml"
SEED_TEXT = SEED.read_text()
SEED_DATA = yaml.safe_load(SEED_TEXT)

_LOCATION = re.compile(
    r"^(?:\(file\)|\(top level\)|line \d+, column \d+(?: \([^\n]*?\))?"
    r"|(?P<path>[^\s:.\[][^:\n]*?)): \S")


def _paths(node, path=()):
    """Every path (tuple of keys/indexes) into the data, the root excluded."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path + (k,)
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield path + (i,)
            yield from _paths(v, path + (i,))


PATHS = list(_paths(SEED_DATA))

# values a careless or hostile edit puts in a field
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                max_size=40)
_evil_strings = st.sampled_from([
    "", " ", "-oProxyCommand=touch /tmp/x", "var/lib/nova", "/var/lib/nova\n[DEFAULT]",
    "physnet1\n[ovs]\nbridge_mappings = x", "a<b>&'\"", "x" * 300, "\x1b[31m", "../../etc",
    "10.10.10.999", "192.168.100.0/33", "52:54:00:zz:00:01", "root@jump:99999",
    "ops@jump:2222", "ébgp", "~/.ssh/id", "0", "1e400", ".inf", "-.inf", ".nan", "null",
    "yes", "65000:1", "4294967296", "\t", "a:b,c"])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), _text, _evil_strings)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)), max_leaves=12)


@st.composite
def data_mutation(draw) -> str:
    """The seed's data with one to three fields replaced, removed, added or wrapped."""
    data = copy.deepcopy(SEED_DATA)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            last = path[-1]
            current = parent[last]
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "wrap"]))
        if action == "replace":
            parent[last] = draw(_values)
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(current, dict):
            current[draw(_text)] = draw(_values)
        elif action == "wrap":
            parent[last] = [current] if draw(st.booleans()) else {"x": current}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _bomb(levels: int, width: int) -> str:
    out = [f"b0: &b0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        out.append(f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * width)}]")
    return "\n".join(out) + "\n"


_SNIPPETS = st.one_of(
    st.builds(lambda n: "x: " + "[" * n + "]" * n + "\n", st.integers(1, 5000)),
    st.builds(lambda n: "x:\n" + "".join(" " * (i + 1) + "-\n" for i in range(n)),
              st.integers(1, 300)),
    st.builds(lambda n: "x: " + "9" * n + "\n", st.integers(1, 20000)),
    st.builds(_bomb, st.integers(2, 10), st.integers(2, 12)),
    st.builds(lambda n: "".join(f"a{i}: &a{i} [*a{i - 1}]\n" if i else "a0: &a0 [1]\n"
                                for i in range(n)), st.integers(1, 1500)),
    st.sampled_from(["a: &a [*a]\n", "ssh: {connect_timeout: .inf}\n",
                     "ssh: {connect_timeout: 1.0e+400}\n", "ssh: {port: 0x10000}\n",
                     "ssh: {connect_timeout: 190:20:30}\n", "site: homelab\n",
                     "? [a, b]\n: c\n", "<<: {x: 1}\n", "!!python/object:os.system x\n",
                     "x: !!binary aGVsbG8=\n", "x: !!set {a, b}\n", "\t- tab\n", "%YAML 1.1\n",
                     "--- \n", "...\n", "x: *undefined\n", "\ufeffsite: x\n", "\x00\n"]),
    _text.map(lambda t: t + "\n"),
)


@st.composite
def text_mutation(draw) -> str:
    """The seed's text with a snippet put in, a range replaced, or cut short."""
    lines = SEED_TEXT.splitlines(keepends=True)
    action = draw(st.sampled_from(["insert", "insert", "replace", "truncate", "indent"]))
    at = draw(st.integers(0, len(lines)))
    if action == "insert":
        snippet = draw(_SNIPPETS)
        if draw(st.booleans()) and at < len(lines) and ":" in lines[at - 1 if at else 0]:
            # as the value of an existing key, indented like it
            line = lines[at - 1 if at else 0]
            key = line.split(":", 1)[0]
            snippet = key + ": " + snippet.split(": ", 1)[-1] if ": " in snippet else snippet
            lines[at - 1 if at else 0] = snippet
        else:
            lines.insert(at, snippet)
    elif action == "replace":
        end = min(len(lines), at + draw(st.integers(1, 5)))
        lines[at:end] = [draw(_text) + "\n"]
    elif action == "truncate":
        return "".join(lines)[: draw(st.integers(0, len(SEED_TEXT)))]
    else:
        if at < len(lines):
            lines[at] = " " * draw(st.integers(1, 9)) + lines[at]
    return "".join(lines)


mutated_inventory = st.one_of(data_mutation(), text_mutation())


def outcome(text: str) -> tuple[str, str]:
    """('ok' | 'field errors' | 'crash', detail) for one inventory text."""
    try:
        site = load_site_text(text, "<fuzz>")
    except InventoryError as exc:
        bad = [p for p in exc.problems if "\n" in p or not _LOCATION.match(p)]
        if not exc.problems or bad:
            return "crash", f"problem lines that name no field: {bad or exc.problems!r}"
        return "field errors", exc.problems[0]
    except Exception as exc:  # the loader's contract is broken: report, do not raise
        return "crash", f"{type(exc).__name__}: {exc}"[:300]
    if not isinstance(site, Site):
        return "crash", f"returned {type(site).__name__}"
    return "ok", ""
