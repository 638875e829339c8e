"""Static typing: the result type of an expression, or an error naming the field that cannot work.

A publish runs ``infer_type(expr, field_types)`` so that a formula such as
``amount > 1000`` over a text field is refused ("`amount` is text, `>` needs a
number") before any record sees it. Types: number, text, boolean, date, datetime,
list, any, null. Field types may be given in platform terms (``currency``, ``select``,
``multi_select``...); ``FIELD_TYPE_ALIASES`` maps them. The checker is permissive where
JSON Logic is (``==`` compares anything, ``any`` fits everywhere) and strict where a
mix can only be a mistake (text in arithmetic, a date against a number).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .builtins import default_registry
from .errors import ExprTypeError
from .nodes import arg_path, as_call
from .values import is_nan, to_date_like, to_number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .operators import OperatorRegistry

__all__ = ["FIELD_TYPE_ALIASES", "infer_type"]

FIELD_TYPE_ALIASES = {
    "number": "number",
    "integer": "number",
    "decimal": "number",
    "currency": "number",
    "percent": "number",
    "rating": "number",
    "auto_number": "text",
    "text": "text",
    "textarea": "text",
    "rich_text": "text",
    "select": "text",
    "email": "text",
    "phone": "text",
    "url": "text",
    "time": "text",
    "string": "text",
    "boolean": "boolean",
    "bool": "boolean",
    "date": "date",
    "datetime": "datetime",
    "multi_select": "list",
    "list": "list",
    "subtable": "list",
    "array": "list",
    "user": "any",
    "department": "any",
    "relation": "any",
    "file": "any",
    "image": "any",
    "json": "any",
    "formula": "any",
    "rollup": "any",
    "lookup": "any",
    "any": "any",
    "null": "null",
}
_RELATIONAL = {"relation", "user", "department", "json", "any", "lookup"}
_ORDERING = {"<", "<=", ">", ">="}
_ARITHMETIC = {"+", "-", "*", "/", "%", "max", "min"}
_LOOPS = {"map": "list", "filter": "list", "all": "boolean", "some": "boolean", "none": "boolean"}
_ARTICLE = {
    "number": "a number",
    "text": "text",
    "boolean": "a boolean",
    "date": "a date",
    "datetime": "a date-time",
    "list": "a list",
    "null": "null",
    "any": "any value",
}


def _union(types: list[str]) -> str:
    real = {t for t in types if t != "null"}
    if not real:
        return "null"
    if len(real) == 1:
        return real.pop()
    return "any"


def _literal_type(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) in (int, float, Decimal):
        return "number"
    if type(value) is str:
        return "text"
    if type(value) is list:
        return "list"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    return "any"


def infer_type(expr: Any, field_types: Mapping[str, str], *, registry: OperatorRegistry | None = None) -> str:
    """The type ``expr`` evaluates to, given the record's ``field_types`` (path -> type).

    :raises ExprTypeError: an operand cannot have the type its operator needs, or a
        field is unknown; ``path`` points at the offending node.
    :raises ExprUnknownOperatorError: an operator nobody registered.
    """
    fields = {key: FIELD_TYPE_ALIASES.get(value, value) for key, value in field_types.items()}
    raw = dict(field_types)
    return _Typer(registry or default_registry(), fields, raw).infer(expr, "", False)


class _Typer:
    def __init__(self, registry: OperatorRegistry, fields: dict[str, str], raw: dict[str, str]) -> None:
        self.registry = registry
        self.fields = fields
        self.raw = raw

    def field(self, key: str, path: str) -> str:
        if key in self.fields:
            return self.fields[key]
        if key.startswith("_"):
            return "any"
        parts = key.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix in self.raw and (self.raw[prefix] in _RELATIONAL or self.fields.get(prefix) == "any"):
                return "any"
        raise ExprTypeError(f"`{key}` is not a field of this record", path=path)

    def infer(self, node: Any, path: str, scoped: bool) -> str:
        if type(node) is list:
            for i, item in enumerate(node):
                self.infer(item, f"{path}/{i}", scoped)
            return "list"
        call = as_call(node, path)
        if call is None:
            return _literal_type(node) if type(node) is not dict else "any"
        op_name, args, listed = call
        op = self.registry.lookup(op_name, path)
        if len(args) < op.min_args or (op.max_args is not None and len(args) > op.max_args):
            raise ExprTypeError(f"`{op_name}` takes {op.arity_text()}; got {len(args)}", path=path)

        def sub(i: int, inner: bool = scoped) -> str:
            return self.infer(args[i], arg_path(path, op_name, i, listed), inner)

        if op_name == "var":
            if not args:
                return "any"
            key = args[0]
            if type(key) in (dict, list):
                sub(0)
                return "any"
            base = "any" if scoped or key in (None, "") else self.field(str(key), path)
            return _union([base, sub(1)]) if len(args) > 1 and base != "any" else base
        if op_name in ("if", "?:"):
            branches = []
            for i in range(len(args)):
                kind = sub(i)
                if i % 2 == 1 or i == len(args) - 1:
                    branches.append(kind)
            if len(args) % 2 == 0:
                branches.append("null")
            return _union(branches)
        if op_name in ("and", "or"):
            return _union([sub(i) for i in range(len(args))])
        if op_name in _LOOPS or op_name == "reduce":
            if args:
                source = sub(0)
                if source not in ("list", "any", "null"):
                    raise ExprTypeError(
                        f"`{op_name}` needs a list; {self.describe(args[0], source)}",
                        path=arg_path(path, op_name, 0, listed),
                    )
            for i in range(1, len(args)):
                sub(i, inner=(i == 1))
            return _LOOPS.get(op_name, "any")
        kinds = [("any" if i in op.literal_args else sub(i)) for i in range(len(args))]
        if op_name in _ORDERING or op_name == "between":
            self.check_comparable(op_name, args, kinds, path, listed)
            return "boolean"
        if op_name in _ARITHMETIC:
            for i, kind in enumerate(kinds):
                self.need(op_name, "number", args[i], kind, arg_path(path, op_name, i, listed))
            return "number"
        if op_name == "in":
            if len(kinds) > 1 and kinds[1] not in ("list", "text", "any", "null"):
                raise ExprTypeError(
                    f"`in` looks inside a list or a text; {self.describe(args[1], kinds[1])}",
                    path=arg_path(path, op_name, 1, listed),
                )
            return "boolean"
        if op_name == "coalesce":
            return _union(kinds)
        for i, kind in enumerate(kinds):
            if i not in op.literal_args:
                self.need(op_name, op.param_type(i), args[i], kind, arg_path(path, op_name, i, listed))
        if op_name == "date_add" and kinds and kinds[0] in ("date", "datetime"):
            return kinds[0]
        return op.returns

    # ------------------------------------------------------------ checks

    def describe(self, node: Any, kind: str) -> str:
        call = as_call(node)
        if call is not None and call[0] == "var" and call[1] and type(call[1][0]) is str:
            return f"`{call[1][0]}` is {_ARTICLE.get(kind, kind)}"
        if call is not None:
            return f"`{call[0]}` gives {_ARTICLE.get(kind, kind)}"
        return f"{node!r} is {_ARTICLE.get(kind, kind)}"

    def need(self, op: str, wanted: str, node: Any, kind: str, path: str) -> None:
        if wanted == "any" or kind in ("any", "null") or kind == wanted:
            return
        if wanted == "number":
            if kind == "boolean" or (type(node) is str and not is_nan(to_number(node))):
                return
        elif wanted == "text":
            if kind in ("number", "boolean"):
                return
        elif wanted == "date":
            if kind == "datetime" or (type(node) is str and to_date_like(node) is not None):
                return
        elif wanted == "boolean":
            return
        raise ExprTypeError(
            f"{self.describe(node, kind)}, `{op}` needs {_ARTICLE.get(wanted, wanted)}", path=path
        )

    def check_comparable(self, op: str, args: list[Any], kinds: list[str], path: str, listed: bool) -> None:
        known = [(i, kind) for i, kind in enumerate(kinds) if kind not in ("any", "null")]
        for i, kind in known:
            if kind == "list":
                raise ExprTypeError(
                    f"{self.describe(args[i], kind)}; `{op}` compares single values",
                    path=arg_path(path, op, i, listed),
                )
        classes = {kind if kind not in ("date", "datetime") else "date" for _, kind in known}
        classes.discard("boolean") if "number" in classes else None
        if len(classes) <= 1:
            return
        # Literals may bridge: "1000" is a number, "2024-01-31" is a date.
        wanted = "date" if "date" in classes else "number"
        for i, kind in known:
            target = "date" if kind in ("date", "datetime") else kind
            if target == wanted or (wanted == "number" and kind == "boolean"):
                continue
            node = args[i]
            if type(node) is str and (
                (wanted == "number" and not is_nan(to_number(node)))
                or (wanted == "date" and to_date_like(node) is not None)
            ):
                continue
            raise ExprTypeError(
                f"{self.describe(node, kind)}, `{op}` needs {_ARTICLE[wanted]}",
                path=arg_path(path, op, i, listed),
            )
