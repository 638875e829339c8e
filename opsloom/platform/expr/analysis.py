"""Static analysis: which fields an expression reads (for dependency tracking and validation).

Only reads of the record count: inside ``map``/``filter``/``all``/``some``/``none`` the
per-item logic reads the item, and inside ``reduce`` it reads ``current`` and
``accumulator``, so those are not fields. Relation paths are kept whole
(``customer.level``); context names start with ``_`` (``_user.id``).
"""

from __future__ import annotations

from typing import Any

from .nodes import as_call
from .values import js_string

__all__ = ["free_vars"]

_SCOPED = {"map", "filter", "all", "some", "none", "reduce"}


def free_vars(expr: Any) -> set[str]:
    """The dotted paths ``expr`` reads from the record (and the context).

    A ``var`` whose path is computed at run time cannot be known and is left out;
    ``missing``/``missing_some`` with literal keys and ``changed`` count their fields.
    """
    found: set[str] = set()
    _walk(expr, found, 0)
    return found


def _key(value: Any) -> str | None:
    if value is None or value == "" or type(value) in (list, dict):
        return None
    return value if type(value) is str else js_string(value)


def _walk(node: Any, found: set[str], depth: int) -> None:
    if depth > 200:
        return
    if type(node) is list:
        for item in node:
            _walk(item, found, depth + 1)
        return
    try:
        call = as_call(node)
    except Exception:
        return
    if call is None:
        return
    op, args, _ = call
    if op == "var":
        if args and type(args[0]) not in (dict, list):
            key = _key(args[0])
            if key:
                found.add(key)
        else:
            for arg in args:
                _walk(arg, found, depth + 1)
        for arg in args[1:]:
            _walk(arg, found, depth + 1)
        return
    if op in _SCOPED:
        if args:
            _walk(args[0], found, depth + 1)
        if op == "reduce" and len(args) > 2:
            _walk(args[2], found, depth + 1)
        return
    if op in ("missing", "missing_some", "changed"):
        keys = args[1] if op == "missing_some" and len(args) > 1 else (args[0] if len(args) == 1 else args)
        for key in keys if type(keys) is list else [keys]:
            if type(key) in (dict, list):
                _walk(key, found, depth + 1)
            elif _key(key):
                found.add(_key(key))  # type: ignore[arg-type]
        return
    if op == "days_until":
        if args:
            _walk(args[0], found, depth + 1)
        return
    for arg in args:
        _walk(arg, found, depth + 1)
