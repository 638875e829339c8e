"""Excel-like formula text -> the JSON form, with errors a business admin can act on.

``IF(AND(amount > 1000, level IN ("gold","vip")), "A", "B")`` becomes the same JSON an
admin could have written by hand. The grammar (``formula.lark``, LALR) uses Excel's
precedence; chains of ``+``, ``*`` and ``&`` become one n-ary call unless parenthesised,
which is what lets ``to_formula`` print any expression back to text that parses to the
same JSON. Errors carry line, column and a caret excerpt, and say what was expected
("expected a value after '+'") instead of naming grammar terminals.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from .builtins import default_registry
from .errors import ExprError, ExprLimitError, ExprParseError
from .limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from .operators import OperatorRegistry

__all__ = ["FIXED_FUNCTIONS", "KEYWORDS", "function_table", "parse_formula"]

#: Formula functions whose operator is not simply their lower-cased name.
FIXED_FUNCTIONS = {
    "IF": "if",
    "IFS": "if",
    "NOT": "!",
    "BOOL": "!!",
    "SUM": "+",
    "PRODUCT": "*",
    "MOD": "%",
    "CONCAT": "cat",
    "VAR": "var",
}
#: Names that are not fields when written bare (write ``[true]`` for a field called "true").
KEYWORDS = {"TRUE": True, "FALSE": False, "NULL": None}
_COMPARISONS = {
    "=": "==",
    "==": "==",
    "===": "===",
    "<>": "!=",
    "!=": "!=",
    "!==": "!==",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_VALUE_TYPES = {"NUMBER", "STRING", "NAME", "BRACKET", "LPAR"}
_OPERATOR_TYPES = {"ADD_OP", "MUL_OP", "AMP", "COMP_OP", "IN_KW", "NOT_KW", "COMMA", "LPAR"}


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = files(__package__).joinpath("formula.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", maybe_placeholders=False)


@functools.lru_cache(maxsize=16)
def function_table(registry: OperatorRegistry) -> dict[str, str]:
    """Upper-cased formula function name -> operator name, for ``registry``."""
    table = dict(FIXED_FUNCTIONS)
    for op in registry:
        if op.name.replace("_", "").replace(".", "").isalnum():
            table.setdefault(op.name.upper(), op.name)
        if op.formula:
            table[op.formula.upper()] = op.name
    return table


class _Paren:
    """A parenthesised sub-expression: it must not be merged into an enclosing chain."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Chain(dict):  # type: ignore[type-arg]
    """A call built from an infix chain (``a + b + c``), which a following ``+`` may extend."""


class _ListLiteral(list):  # type: ignore[type-arg]
    """The ``(a, b)`` after IN."""


def _u(value: Any) -> Any:
    return value.value if type(value) is _Paren else value


def _unescape(token: Token) -> str:
    body = str(token)[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt == "u":
                digits = body[i + 2 : i + 6]
                if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise _Located(r"\u must be followed by four hexadecimal digits", token)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise _Located(f"unknown escape \\{nxt} in text; use \\\\ for a backslash", token)
            out.append(_ESCAPES[nxt])
            i += 2
        elif char == '"':  # "" is an escaped quote, as in Excel
            out.append('"')
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


class _Located(Exception):
    def __init__(self, message: str, token: Token) -> None:
        super().__init__(message)
        self.message = message
        self.token = token


class _ToJson(Transformer):  # type: ignore[type-arg]
    def __init__(self, table: dict[str, str]) -> None:
        super().__init__()
        self.table = table

    def number(self, items: list[Token]) -> Any:
        text = str(items[0])
        if "." in text or "e" in text or "E" in text:
            value = float(text)
            if value in (float("inf"), float("-inf")):
                raise _Located("this number is too large", items[0])
            return value
        return int(text) if len(text) < 400 else float(text)

    def string(self, items: list[Token]) -> str:
        return _unescape(items[0])

    def name(self, items: list[Token]) -> Any:
        text = str(items[0])
        if text.upper() in KEYWORDS:
            return KEYWORDS[text.upper()]
        return {"var": text}

    def bracket(self, items: list[Token]) -> Any:
        name = str(items[0])[1:-1].replace("]]", "]")
        if not name.strip():
            raise _Located("a field name in [brackets] cannot be empty", items[0])
        return {"var": name}

    def paren(self, items: list[Any]) -> _Paren:
        return _Paren(_u(items[1]))

    def args(self, items: list[Any]) -> list[Any]:
        return [_u(item) for item in items if not (type(item) is Token and item.type == "COMMA")]

    def in_list(self, items: list[Any]) -> _ListLiteral:
        inner = [item for item in items if type(item) is list]
        return _ListLiteral(inner[0] if inner else [])

    def call(self, items: list[Any]) -> Any:
        token = items[0]
        args = next((item for item in items if type(item) is list), [])
        upper = str(token).upper()
        if upper == "ARRAY":
            return list(args)
        if upper == "LOGIC":
            if len(args) != 1 or type(args[0]) is not str:
                raise _Located(
                    'LOGIC needs one text argument holding JSON, like LOGIC("{\\"var\\": \\"a\\"}")', token
                )
            try:
                return json.loads(args[0])
            except ValueError as exc:
                raise _Located(f"LOGIC holds invalid JSON: {exc}", token) from None
        op = self.table.get(upper)
        if op is None:
            raise _Located(f"unknown function {token}", token)
        if op == "var" and len(args) == 1 and type(args[0]) is not list:
            return {"var": args[0]}
        return {op: list(args)}

    def unary(self, items: list[Any]) -> Any:
        sign, operand = str(items[0]), items[1]
        if sign == "-" and type(operand) in (int, float):
            return -operand
        return {sign: [_u(operand)]}

    def binop(self, items: list[Any]) -> Any:
        left, op_token, right = items
        symbol = {"&": "cat"}.get(str(op_token), str(op_token))
        right = _u(right)
        if symbol in ("+", "*", "cat") and type(left) is _Chain and symbol in left:
            left[symbol].append(right)
            return left
        return _Chain({symbol: [_u(left), right]})

    def compare(self, items: list[Any]) -> Any:
        left, op_token, right = items
        return {_COMPARISONS[str(op_token)]: [_u(left), _u(right)]}

    def in_op(self, items: list[Any]) -> Any:
        left, _, right = items
        rhs = list(right) if type(right) is _ListLiteral else _u(right)
        return {"in": [_u(left), rhs]}

    def not_in(self, items: list[Any]) -> Any:
        left, _, _, right = items
        return {"!": [self.in_op([left, None, right])]}


def _plain(node: Any, depth: int, limits: Limits) -> Any:
    """Internal node types -> plain JSON, enforcing the depth limit."""
    if depth > limits.max_depth:
        raise ExprLimitError(f"the formula is nested deeper than {limits.max_depth} levels")
    if type(node) is _Paren:
        return _plain(node.value, depth, limits)
    if isinstance(node, dict):
        return {key: _plain(value, depth + 1, limits) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item, depth + 1, limits) for item in node]
    return node


def parse_formula(
    text: str, *, registry: OperatorRegistry | None = None, limits: Limits | None = None
) -> Any:
    """Parse formula ``text`` into the expression's JSON form.

    :raises ExprParseError: the text is not a formula; ``line``, ``column`` (1-based) and
        ``excerpt`` (the line with a caret) say where.
    :raises ExprLimitError: the text is too long or too deeply nested.
    """
    limits = limits or DEFAULT_LIMITS
    if type(text) is not str:
        raise ExprParseError("a formula must be text", line=1, column=1)
    if len(text) > limits.max_formula_length:
        raise ExprLimitError(f"the formula is longer than {limits.max_formula_length} characters")
    if not text.strip():
        raise ExprParseError("the formula is empty", line=1, column=1)
    table = function_table(registry or default_registry())
    try:
        tree = _parser().parse(text)
        result = _ToJson(table).transform(tree)
    except VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, _Located):
            raise _error(text, inner.message, inner.token.line or 1, inner.token.column or 1) from None
        if isinstance(inner, ExprError):
            raise inner from None
        raise _error(text, f"cannot read this formula: {inner}", 1, 1) from None
    except UnexpectedInput as exc:
        raise _friendly(text, exc) from None
    except RecursionError:
        raise ExprLimitError("the formula is nested too deeply") from None
    except LarkError as exc:
        raise _error(text, f"cannot read this formula: {exc}", 1, 1) from None
    try:
        return _plain(result, 0, limits)
    except RecursionError:
        raise ExprLimitError("the formula is nested too deeply") from None


# ------------------------------------------------------------------ error messages


def _excerpt(text: str, line: int, column: int) -> str:
    lines = text.splitlines() or [""]
    source = lines[min(line, len(lines)) - 1]
    start = max(0, column - 60)
    return "  " + source[start : start + 120] + "\n  " + " " * (column - 1 - start) + "^"


def _error(text: str, message: str, line: int, column: int) -> ExprParseError:
    return ExprParseError(message, line=line, column=column, excerpt=_excerpt(text, line, column))


def _tokens_before(text: str, offset: int) -> list[Token]:
    tokens: list[Token] = []
    try:
        for token in _parser().lex(text[:offset]):
            tokens.append(token)
    except LarkError:
        pass
    return tokens


def _show(token: Token) -> str:
    return {"COMP_OP": str(token), "IN_KW": "IN", "NOT_KW": "NOT"}.get(token.type, str(token))


def _friendly(text: str, exc: UnexpectedInput) -> ExprParseError:
    line, column = exc.line or 1, exc.column or 1
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if char == '"':
            message = 'this text value is missing its closing quote (")'
        elif char == "[":
            message = "this field name is missing its closing bracket (])"
        elif char in "'\u2018\u2019\u201c\u201d":
            message = 'write text between straight double quotes, like "gold"'
        elif char == ";":
            message = "separate function arguments with commas (,), not semicolons"
        else:
            message = f"unexpected character {char!r}"
        return _error(text, message, line, column)
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    at_end = token is None or token.type == "$END"
    offset = len(text) if at_end else (token.start_pos or 0)  # type: ignore[union-attr]
    before = _tokens_before(text, offset)
    previous = before[-1] if before else None
    opened = sum(1 for t in before if t.type == "LPAR") - sum(1 for t in before if t.type == "RPAR")
    if at_end:
        lines = text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
        if previous is not None and previous.type in _OPERATOR_TYPES:
            message = f"expected a value after '{_show(previous)}'"
        elif opened > 0:
            message = "missing ')': a parenthesis was opened but never closed"
        else:
            message = "the formula ends too early"
        return _error(text, message, line, column)
    assert token is not None
    shown = _show(token)
    if token.type == "COMP_OP" and previous is not None and previous.type not in _OPERATOR_TYPES:
        message = f"comparisons cannot be chained (second '{shown}'); combine them with AND(...)"
    elif previous is not None and previous.type in _OPERATOR_TYPES and token.type not in _VALUE_TYPES:
        message = f"expected a value after '{_show(previous)}'"
    elif previous is None and token.type not in _VALUE_TYPES and token.type != "ADD_OP":
        message = f"a formula cannot start with '{shown}'"
    elif token.type == "RPAR" and opened <= 0:
        message = "')' has no matching '('"
    elif token.type in _VALUE_TYPES and previous is not None and previous.type not in _OPERATOR_TYPES:
        message = f"missing an operator or ',' before '{shown}'"
    else:
        message = f"unexpected '{shown}'"
    return _error(text, message, line, column)
