"""Label and field selectors, parsed and matched the way the API server does.

Label selectors (k8s.io/apimachinery/pkg/labels): comma-separated requirements
`key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
`key>n`, `key<n`. Field selectors (k8s.io/apimachinery/pkg/fields): `field=value`,
`field==value`, `field!=value`, with `\\,` `\\=` `\\\\` escapes; each resource supports only
its own field labels, anything else is a 400 `field label not supported: <field>`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                     rf"{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")


class SelectorError(ValueError):
    """A selector the API server would reject with 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                    # exists, !, =, !=, in, notin, gt, lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("=", "in"):
            return has and value in self.values
        if self.op in ("!=", "notin"):
            return not has or value not in self.values
        if self.op in ("gt", "lt"):
            try:
                got, want = int(value), int(self.values[0])
            except (TypeError, ValueError):
                return False
            return got > want if self.op == "gt" else got < want
        raise AssertionError(self.op)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _check_key(key: str, term: str) -> str:
    if not _KEY_RE.match(key):
        raise SelectorError(f"unable to parse requirement: {term!r}: invalid label key {key!r}")
    return key


def _check_value(value: str, term: str) -> str:
    if not _VALUE_RE.match(value):
        raise SelectorError(f"unable to parse requirement: {term!r}: invalid label value "
                            f"{value!r}")
    return value


_SET_RE = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*?)\s*$")


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    out = []
    for term in _split_top(text):
        t = term.strip()
        if not t:
            raise SelectorError(f"unable to parse requirement: empty requirement in {text!r}")
        m = _SET_RE.match(t)
        if m:
            key, op, inner = m.groups()
            values = tuple(_check_value(v.strip(), t) for v in inner.split(",") if v.strip())
            if not values:
                raise SelectorError(f"unable to parse requirement: {t!r}: for 'in', 'notin' "
                                    "operators, values set can't be empty")
            out.append(Requirement(_check_key(key, t), op, values))
            continue
        if t.startswith("!"):
            out.append(Requirement(_check_key(t[1:].strip(), t), "!"))
            continue
        m = _CMP_RE.match(t)
        if m:
            key, op, value = m.groups()
            if op in (">", "<"):
                if not re.fullmatch(r"-?\d+", value):
                    raise SelectorError(f"unable to parse requirement: {t!r}: for 'Gt', 'Lt' "
                                        "operators, the value must be an integer")
                out.append(Requirement(_check_key(key, t), "gt" if op == ">" else "lt",
                                       (value,)))
            else:
                out.append(Requirement(_check_key(key, t), "!=" if op == "!=" else "=",
                                       (_check_value(value, t),)))
            continue
        out.append(Requirement(_check_key(t, t), "exists"))
    return out


def match_labels(reqs: list[Requirement], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str                    # = or !=
    value: str

    def matches(self, value: str) -> bool:
        return (value == self.value) == (self.op == "=")


def _split_escaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += ch + text[i + 1]
            i += 2
            continue
        if ch == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None, supported: set[str]) -> list[FieldRequirement]:
    if not text or not text.strip():
        return []
    out = []
    for term in _split_escaped(text, ","):
        m = re.match(r"^([^=!]+?)(==|=|!=)(.*)$", term.strip(), re.S)
        if not m:
            raise SelectorError(f"invalid selector: {text!r}; can't understand {term!r}")
        field, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3))
        if field not in supported:
            raise SelectorError(f"field label not supported: {field}")
        out.append(FieldRequirement(field, "!=" if op == "!=" else "=", value))
    return out


def match_fields(reqs: list[FieldRequirement], get: Callable[[str], str]) -> bool:
    return all(r.matches(get(r.field)) for r in reqs)
