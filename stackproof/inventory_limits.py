"""Bounds on what an inventory may be, so that loading it takes bounded time and stack.

Found by fuzzing the loader (scripts/fuzz_inventory.py): deeply nested YAML overflowed
PyYAML's recursive composer (RecursionError), a number past Python's 4300-digit limit made
PyYAML's int() raise ValueError, and an alias bomb (a few lines of `&a [*b, *b, ...]`)
expanded to millions of values once something walked or formatted it.

- The text is at most MAX_BYTES, and `[`/`{` nest at most MAX_DEPTH levels in it
  (`flow_depth_problem`, before any YAML parser: PyYAML's scanner is quadratic in them).
- The YAML loader (site.py) turns a number of more than MAX_DIGITS digits into
  `Unusable("a number of N characters")`, and the pure-Python one (no libyaml) composes at
  most MAX_DEPTH levels, a deeper collection becoming `Unusable("nested deeper ...")`.
  An Unusable is no valid value for any field, so validation names the field it sits in.
- `expansion_problem(data)` walks the loaded data as a validator would, aliases expanded,
  with a budget of MAX_VALUES values and MAX_DEPTH levels, and names the field where the
  budget ran out.
"""
from __future__ import annotations

MAX_BYTES = 64 * 1024        # a 100-host site is ~30 KiB; PyYAML (pure Python, for the
                             # depth bound) reads ~100 KiB/s: the bound keeps a load < 1 s
MAX_DEPTH = 24               # the deepest real field is 5 levels down
MAX_DIGITS = 64              # an ASN, a port, a timeout: a few digits
MAX_VALUES = 50_000          # 64 KiB of plain YAML holds ~10,000: more comes from aliases


class Unusable:
    """A YAML value the loader refused to build; invalid for every field."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"({self.what})"

    __str__ = __repr__


def flow_depth_problem(text: str) -> str | None:
    """'line L, column C: reason' when `[`/`{` nest deeper than MAX_DEPTH. Checked on the
    text before PyYAML sees it: its scanner does work per open flow level on every token
    (thousands of `[` take tens of seconds), before any composer bound could act."""
    depth = 0
    for n, line in enumerate(text.splitlines(), 1):
        quote = ""
        prev = " "
        for col, c in enumerate(line, 1):
            if quote:
                if c == quote and not (quote == '"' and prev == "\\"):
                    quote = ""
            elif c in "\"'" and prev in " \t[{,:":
                quote = c
            elif c == "#" and prev in " \t":
                break
            elif c in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    key = line.split(":", 1)[0].strip() if ":" in line[:col] else ""
                    where = f" ({key[:40]})" if key else ""
                    return (f"line {n}, column {col}{where}: nested deeper than "
                            f"{MAX_DEPTH} levels")
            elif c in "]}":
                depth = max(0, depth - 1)
            prev = c
    return None


def _step(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = str(key) if isinstance(key, str) else repr(key)
    text = text[:40]
    return f"{path}.{text}" if path else text


def _short(path: str) -> str:
    """A field path shown on one line: a very deep one keeps its head and tail."""
    if len(path) <= 120:
        return path
    return f"{path[:60]}...{path[-40:]}"


def expansion_problem(data) -> str | None:
    """'path: reason' for the first place the data is too deep or too big, else None."""
    budget = MAX_VALUES
    stack: list[tuple[object, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return (f"{_short(path) or '(top level)'}: more than {MAX_VALUES} values in the "
                    "inventory (YAML aliases expanding?)")
        if depth > MAX_DEPTH:
            return f"{_short(path)}: nested deeper than {MAX_DEPTH} levels"
        if isinstance(node, dict):
            items = list(node.items())
            for key, value in reversed(items):
                stack.append((value, _step(path, key), depth + 1))
        elif isinstance(node, (list, tuple)):
            for i in range(len(node) - 1, -1, -1):
                stack.append((node[i], _step(path, i), depth + 1))
    return None
