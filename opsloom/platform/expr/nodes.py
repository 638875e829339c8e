"""The shape of an expression: literals, lists, and one-key objects that call an operator.

Shared by every walker (compiler, interpreter, type checker, SQL translator, printer)
so that they agree on what is a call, how unary sugar (``{"var": "x"}``) unwraps, and
how JSON pointers to nodes are spelled.
"""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal
from typing import Any

from .errors import ExprTypeError

__all__ = ["arg_path", "as_call", "canonical_json", "is_literal_scalar", "normalize", "pointer_escape"]

_SCALARS = (str, int, float, bool, Decimal, date, time)


def pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def as_call(node: Any, path: str = "") -> tuple[str, list[Any], bool] | None:
    """``(operator, arguments, arguments_were_a_list)`` for a call, ``None`` for anything else.

    A JSON object with exactly one key is a call (JSON Logic's rule); any other object is
    a literal. A non-list argument is sugar for a one-item list.
    """
    if type(node) is not dict or len(node) != 1:
        return None
    ((op, args),) = node.items()
    if type(op) is not str:
        raise ExprTypeError(f"operator names are text; got {type(op).__name__}", path=path)
    if type(args) is list:
        return op, args, True
    return op, [args], False


def arg_path(path: str, op: str, index: int, listed: bool) -> str:
    base = f"{path}/{pointer_escape(op)}"
    return f"{base}/{index}" if listed else base


def is_literal_scalar(value: Any) -> bool:
    return value is None or isinstance(value, _SCALARS)


def normalize(expr: Any, registry: Any = None) -> Any:
    """The canonical JSON form: arguments always a list, except ``{"var": path}`` with one argument.

    ``parse_formula(to_formula(e)) == normalize(e)`` for every expression ``e``. Arguments an
    operator takes as literal JSON (``days_until``'s options) are left as they are.
    """
    if registry is None:
        from .builtins import default_registry

        registry = default_registry()
    if type(expr) is list:
        return [normalize(item, registry) for item in expr]
    call = as_call(expr)
    if call is None:
        return expr
    op, args, _ = call
    operator = registry.get(op)
    literal = operator.literal_args if operator is not None else ()
    args = [arg if i in literal else normalize(arg, registry) for i, arg in enumerate(args)]
    if op == "var" and len(args) == 1 and type(args[0]) is not list:
        return {"var": args[0]}
    return {op: args}


def canonical_json(expr: Any) -> str:
    """A stable text key for an expression (sorted keys, no spaces).

    :raises TypeError: the expression holds a non-JSON value (such expressions are not cached).
    :raises ValueError: it holds NaN or infinity.
    :raises RecursionError: it is nested beyond Python's recursion limit.
    """
    return json.dumps(expr, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
