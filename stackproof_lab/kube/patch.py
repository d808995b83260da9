"""The three PATCH content types the API server takes for built-in objects.

- application/json-patch+json (RFC 6902): add, remove, replace, move, copy, test;
- application/merge-patch+json (RFC 7386): maps merge, `null` deletes, lists replace;
- application/strategic-merge-patch+json: like a merge patch, except lists whose Go type
  declares `patchStrategy:"merge"` merge element by element on their merge key (node
  conditions and addresses by `type`, owner references by `uid`, containers by `name`),
  plus the `$patch: replace|delete`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
  `$setElementOrder/<field>` directives. Lists without a strategy (node taints) replace.

Each function returns a new document and raises PatchError with the HTTP status the API
server answers with.
"""
from __future__ import annotations

import copy
from typing import Any

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


class PatchError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


# --- RFC 6902 ------------------------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, "Invalid", f"JSON pointer {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list, token: str, *, adding: bool) -> int:
    if token == "-" and adding:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(422, "Invalid", f"invalid array index {token!r}")
    i = int(token)
    if i > len(container) or (i == len(container) and not adding):
        raise PatchError(422, "Invalid", f"array index {i} out of bounds")
    return i


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, adding=False)]
        else:
            raise PatchError(422, "Invalid", f"doc is missing path: {path!r}")
    return cur


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for t in _pointer(path):
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, adding=False)]
        else:
            raise PatchError(422, "Invalid", f"doc is missing path: {path!r}")
    return cur


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise PatchError(422, "Invalid", f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError(422, "Invalid", "cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(422, "Invalid", f"unable to remove nonexistent key: {last}: "
                             "missing value")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, adding=False))
    raise PatchError(422, "Invalid", f"doc is missing path: {path!r}")


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise PatchError(400, "BadRequest", "json: cannot unmarshal object into Go value of "
                         "type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(422, "Invalid", f"invalid JSON patch operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(422, "Invalid", f"missing value for operation {kind!r} at {path!r}")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)          # must exist
            doc, _ = _remove(doc, path) if _pointer(path) else (doc, None)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            src = op.get("from")
            if src is None:
                raise PatchError(422, "Invalid", f"missing from for operation {kind!r}")
            value = copy.deepcopy(_get(doc, src))
            if kind == "move":
                doc, _ = _remove(doc, src)
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(422, "Invalid", f"testing value {path} failed: test failed")
        else:
            raise PatchError(422, "Invalid", f"unexpected kind of operation: {kind!r}")
    return doc


# --- RFC 7386 ------------------------------------------------------------------------------
def merge_patch(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --- strategic merge -----------------------------------------------------------------------
# The list fields (by path, list indexes dropped) that merge instead of replacing, with
# their merge key; None: a list of primitives merged as a set. From the core/v1 Go types.
MERGE_LISTS: dict[tuple[str, ...], str | None] = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "finalizers"): None,
    ("spec", "podCIDRs"): None,
    ("status", "conditions"): "type",
    ("status", "addresses"): "type",
    ("status", "volumesAttached"): "name",
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "ephemeralContainers"): "name",
    ("spec", "volumes"): "name",
    ("spec", "containers", "env"): "name",
    ("spec", "containers", "ports"): "containerPort",
    ("spec", "containers", "volumeMounts"): "mountPath",
}


def strategic_merge(doc: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        raise PatchError(400, "BadRequest", "json: cannot unmarshal array into Go value of "
                         "type map[string]interface {}")
    return _smp_map(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch, path)


def _smp_map(orig: dict, patch: dict, path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise PatchError(400, "BadRequest", f"Unknown patch type: {directive}")
    retain = patch.get("$retainKeys")
    out = dict(orig)
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(out.get(field), list) and isinstance(value, list):
                out[field] = [x for x in out[field] if x not in value]
            continue
        sub = path + (key,)
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(out.get(key) if isinstance(out.get(key), dict) else {}, value, sub)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
        elif isinstance(value, list) and sub in MERGE_LISTS:
            out[key] = _smp_list(out.get(key) or [], value, MERGE_LISTS[sub], sub)
        else:
            out[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _smp_list(orig: list, patch: list, merge_key: str | None, path: tuple[str, ...]) -> list:
    if merge_key is None:                     # primitives: union, keeping order
        return list(orig) + [x for x in patch if x not in orig]
    out = [copy.deepcopy(x) for x in orig]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(400, "BadRequest", f"{'.'.join(path)}: expected a list of "
                             f"objects, got {item!r}")
        if item.get("$patch") == "replace":
            return [x for x in patch if isinstance(x, dict) and x.get("$patch") != "replace"]
        if merge_key not in item:
            raise PatchError(400, "BadRequest", f"map: {item!r} does not contain declared "
                             f"merge key: {merge_key}")
        at = next((i for i, x in enumerate(out)
                   if isinstance(x, dict) and x.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                out.pop(at)
            continue
        if at is None:
            out.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            merged = _smp_map(out[at], item, path)
            out[at] = merged
    return out


def apply_patch(doc: Any, content_type: str, body: Any) -> Any:
    if content_type == JSON_PATCH:
        return json_patch(doc, body)
    if content_type == MERGE_PATCH:
        if not isinstance(body, dict):
            raise PatchError(400, "BadRequest", "json: cannot unmarshal array into Go value "
                             "of type map[string]interface {}")
        return merge_patch(doc, body)
    if content_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge(doc, body)
    raise PatchError(415, "UnsupportedMediaType",
                     "the body of the request was in an unknown format - accepted media types "
                     "include: application/json-patch+json, application/merge-patch+json, "
                     "application/apply-patch+yaml, application/apply-patch+cbor")
