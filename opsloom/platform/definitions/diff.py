"""A structural diff of two JSON documents, readable by people who reorder fields.

Pure: standard library only. Lists whose items are all objects with a distinct ``key``
(fields, nodes, widgets) are matched by key, not by position: moving a field is one
``moved`` change instead of a cascade of ``changed`` ones, and a change inside a moved
field is reported under its key. Other lists are compared position by position.

Each change is a dict: ``op`` (``added``, ``removed``, ``changed``, ``moved``), ``path``
(a JSON pointer into the new document; into the old one for ``removed``), ``at`` (a
readable path such as ``fields[phone].max_length``), and ``old``/``new`` values
(``from`` for ``moved``: the item's old pointer).
"""

from __future__ import annotations

from typing import Any

__all__ = ["diff"]

_MISSING = object()


def diff(old: Any, new: Any) -> list[dict[str, Any]]:
    """The changes that turn ``old`` into ``new``: object members in key order, list items in list order."""
    changes: list[dict[str, Any]] = []
    _walk(old, new, [], [], changes)
    return changes


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(parts: list[object]) -> str:
    return "".join("/" + _escape(p) for p in parts)


def _readable(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += part if part.startswith("[") else (f".{part}" if out else part)
    return out


def _same(a: Any, b: Any) -> bool:
    # JSON true is not 1: compare types as well as values for scalars
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) in (dict, list) or type(b) in (dict, list):
        return False
    return a == b


def _change(
    op: str, path: list[object], at: list[str], old: Any = _MISSING, new: Any = _MISSING
) -> dict[str, Any]:
    change: dict[str, Any] = {"op": op, "path": _pointer(path), "at": _readable(at) or "/"}
    if old is not _MISSING:
        change["old"] = old
    if new is not _MISSING:
        change["new"] = new
    return change


def _walk(old: Any, new: Any, path: list[object], at: list[str], out: list[dict[str, Any]]) -> None:
    if _same(old, new):
        return
    if isinstance(old, dict) and isinstance(new, dict):
        # members in key order: the same on every database (PostgreSQL's JSONB reorders keys)
        for name in sorted(old.keys() | new.keys(), key=str):
            if name not in old:
                out.append(_change("added", [*path, name], [*at, str(name)], new=new[name]))
            elif name not in new:
                out.append(_change("removed", [*path, name], [*at, str(name)], old=old[name]))
            else:
                _walk(old[name], new[name], [*path, name], [*at, str(name)], out)
        return
    if isinstance(old, list) and isinstance(new, list):
        if _keyed(old) and _keyed(new):
            _walk_keyed(old, new, path, at, out)
        else:
            _walk_positional(old, new, path, at, out)
        return
    out.append(_change("changed", path, at, old=old, new=new))


def _keyed(items: list[Any]) -> bool:
    keys = [item.get("key") for item in items if isinstance(item, dict)]
    return (
        bool(items)
        and len(keys) == len(items)
        and all(isinstance(k, str | int) and not isinstance(k, bool) for k in keys)
        and len(set(keys)) == len(keys)
    )


def _walk_positional(
    old: list[Any], new: list[Any], path: list[object], at: list[str], out: list[dict[str, Any]]
) -> None:
    for i in range(min(len(old), len(new))):
        _walk(old[i], new[i], [*path, i], [*at, f"[{i}]"], out)
    for i in range(len(old), len(new)):
        out.append(_change("added", [*path, i], [*at, f"[{i}]"], new=new[i]))
    for i in range(len(new), len(old)):
        out.append(_change("removed", [*path, i], [*at, f"[{i}]"], old=old[i]))


def _stable(old_order: list[Any], new_order: list[Any]) -> set[Any]:
    """Keys in a longest common subsequence of both orders: the ones that did not move."""
    n, m = len(old_order), len(new_order)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if old_order[i] == new_order[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    stable: set[Any] = set()
    i = j = 0
    while i < n and j < m:
        if old_order[i] == new_order[j]:
            stable.add(old_order[i])
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return stable


def _walk_keyed(
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    path: list[object],
    at: list[str],
    out: list[dict[str, Any]],
) -> None:
    old_index = {item["key"]: i for i, item in enumerate(old)}
    new_keys = [item["key"] for item in new]
    common_old = [item["key"] for item in old if item["key"] in set(new_keys)]
    common_new = [k for k in new_keys if k in old_index]
    stable = _stable(common_old, common_new)
    for j, item in enumerate(new):
        key = item["key"]
        here, label = [*path, j], [*at, f"[{key}]"]
        if key not in old_index:
            out.append(_change("added", here, label, new=item))
            continue
        i = old_index[key]
        if key not in stable:
            moved = _change("moved", here, label)
            moved["from"] = _pointer([*path, i])
            out.append(moved)
        _walk(old[i], item, here, label, out)
    new_set = set(new_keys)
    for i, item in enumerate(old):
        if item["key"] not in new_set:
            out.append(_change("removed", [*path, i], [*at, f"[{item['key']}]"], old=item))
