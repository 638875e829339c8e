"""JSON form -> formula text, such that ``parse_formula(to_formula(e)) == normalize(e)``.

Printing is precedence-aware (parentheses only where the structure needs them) and
prefers Excel's function names (``IF``, ``CONCAT``, ``DATEDIF``). A construct formulas
cannot spell (``map`` over item scopes is fine as ``MAP(...)``, but a three-way ``<``
or an object literal is not) prints as ``LOGIC("<json>")``, which parses back to
exactly that JSON, so every expression round-trips.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from .builtins import default_registry
from .errors import ExprError
from .formula import KEYWORDS
from .nodes import as_call, normalize

if TYPE_CHECKING:
    from .operators import OperatorRegistry

__all__ = ["to_formula"]

_IDENT = re.compile(r"[^\W\d]\w*\Z")
_RESERVED = {name.lower() for name in KEYWORDS} | {"in", "not"}
_COMPARE = {"==": "=", "!=": "<>", "===": "===", "!==": "!==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PREFERRED = {"!": "NOT", "!!": "BOOL", "%": "MOD", "+": "SUM", "*": "PRODUCT", "cat": "CONCAT", "var": "VAR"}
# Precedence levels: 1 comparison, 2 &, 3 + -, 4 * /, 5 unary, 6 atoms.
_NOT_FUNCTIONS = {"ARRAY", "LOGIC", "IN", "NOT", "TRUE", "FALSE", "NULL", "IFS"}
_LEVEL = {"cat": 2, "+": 3, "-": 3, "*": 4, "/": 4}


def to_formula(expr: Any, *, registry: OperatorRegistry | None = None) -> str:
    """Formula text for ``expr``.

    :raises ExprError: the expression holds a value JSON cannot represent (NaN, infinity).
    """
    return _Printer(registry or default_registry()).text(expr, 1)


def _quote(text: str) -> str:
    out = []
    for char in text:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _field(name: str) -> str:
    segments = name.split(".")
    if all(_IDENT.match(segment) for segment in segments) and segments[0].lower() not in _RESERVED:
        return name
    return "[" + name.replace("]", "]]") + "]"


class _Printer:
    def __init__(self, registry: OperatorRegistry) -> None:
        self.registry = registry

    def text(self, node: Any, level: int) -> str:
        """``node`` printed so that it parses back as one operand at ``level`` or tighter."""
        printed, own = self.render(node)
        return f"({printed})" if own < level else printed

    def literal(self, value: Any) -> tuple[str, int]:
        if value is None:
            return "NULL", 6
        if value is True:
            return "TRUE", 6
        if value is False:
            return "FALSE", 6
        if type(value) is int:
            return str(value), (6 if value >= 0 else 5)
        if type(value) is float:
            if not math.isfinite(value):
                raise ExprError("NaN and infinity cannot be written in a formula")
            text = repr(value)
            return text, (5 if text.startswith("-") else 6)
        if type(value) is str:
            return _quote(value), 6
        return self.escape(value)

    def escape(self, node: Any) -> tuple[str, int]:
        try:
            payload = json.dumps(node, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ExprError(f"this expression holds a value a formula cannot represent: {exc}") from None
        return f"LOGIC({_quote(payload)})", 6

    def render(self, node: Any) -> tuple[str, int]:
        if type(node) is list:
            return "ARRAY(" + ", ".join(self.text(item, 1) for item in node) + ")", 6
        call = as_call(node)
        if call is None:
            return self.literal(node) if type(node) is not dict else self.escape(node)
        op, args, _ = call
        if op == "var":
            if len(args) == 1 and type(args[0]) is str and args[0].strip():
                return _field(args[0]), 6
            return self.function("VAR", args), 6
        if op in _COMPARE and len(args) == 2:
            return f"{self.text(args[0], 2)} {_COMPARE[op]} {self.text(args[1], 2)}", 1
        if op == "in" and len(args) == 2:
            return self.membership(args)
        if op in ("+", "*", "cat") and len(args) >= 2:
            level = _LEVEL[op]
            symbol = {"cat": "&"}.get(op, op)
            parts = [self.chain_operand(args[0], op, level)]
            parts += [self.text(arg, level + 1) for arg in args[1:]]
            return f" {symbol} ".join(parts), level
        if op in ("-", "/") and len(args) == 2:
            level = _LEVEL[op]
            return f"{self.text(args[0], level)} {op} {self.text(args[1], level + 1)}", level
        if op in ("-", "+") and len(args) == 1:
            operand = args[0]
            if op == "-" and type(operand) in (int, float):
                return f"-({self.text(operand, 1)})", 5
            return f"{op}{self.text(operand, 5)}", 5
        if op == "if":
            return self.function("IF" if len(args) <= 3 else "IFS", args), 6
        name = self.function_name(op)
        if name is None:
            return self.escape(normalize({op: args}, self.registry))
        operator = self.registry.get(op)
        if operator is not None and operator.literal_args:
            parts = [
                self.escape(arg)[0]
                if i in operator.literal_args and type(arg) in (dict, list)
                else self.text(arg, 1)
                for i, arg in enumerate(args)
            ]
            return f"{name}(" + ", ".join(parts) + ")", 6
        return self.function(name, args), 6

    def chain_operand(self, node: Any, op: str, level: int) -> str:
        call = as_call(node)
        if call is not None and call[0] == op and len(call[1]) >= 2:
            return "(" + self.render(node)[0] + ")"
        return self.text(node, level)

    def membership(self, args: list[Any]) -> tuple[str, int]:
        left, right = args
        if type(right) is list:
            return f"{self.text(left, 2)} IN (" + ", ".join(self.text(item, 1) for item in right) + ")", 1
        printed, level = self.render(right)
        if level < 6 or printed.startswith("("):
            return self.escape(normalize({"in": args}, self.registry))
        return f"{self.text(left, 2)} IN {printed}", 1

    def function_name(self, op: str) -> str | None:
        if op in _PREFERRED:
            return _PREFERRED[op]
        operator = self.registry.get(op)
        if operator is None:
            return None
        if operator.formula:
            return operator.formula
        if re.fullmatch(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*", op) and op.upper() not in _NOT_FUNCTIONS:
            return op.upper()
        return None

    def function(self, name: str, args: list[Any]) -> str:
        return f"{name}(" + ", ".join(self.text(arg, 1) for arg in args) + ")"
