"""The built-in operators: every jsonlogic.com operator plus the business extensions.

Each entry is an ``Operator`` with its Python function, arity and type signature; the
special forms (``var``, ``if``, ``and``, ``or``, ``map``...) are listed here too, so the
registry is the one place that knows every name, but their evaluation lives in the
compiler and the reference interpreter. Arithmetic follows JavaScript exactly for plain
ints and floats (``+``/``*`` use ``parseFloat``; ``-``, ``/``, ``%`` use ``Number``), and
stays in ``decimal.Decimal`` as soon as one operand is a Decimal.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from . import dates, strings
from .operators import Operator, OperatorRegistry
from .runtime import MISSING
from .values import (
    DECIMAL_CONTEXT,
    INF,
    NAN,
    _narrow,
    compare,
    from_decimal,
    is_array,
    is_nan,
    js_string,
    loose_eq,
    parse_float,
    strict_eq,
    to_decimal,
    to_number,
    truthy,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .runtime import Env

__all__ = ["BUILTIN_OPERATORS", "build_registry", "default_registry"]


# ------------------------------------------------------------------ arithmetic


def _add(x: Any, y: Any) -> Any:
    if type(x) is Decimal or type(y) is Decimal:
        return from_decimal(DECIMAL_CONTEXT.add(to_decimal(x), to_decimal(y)))
    result = x + y
    return _narrow(result) if type(result) is int else result


def _mul(x: Any, y: Any) -> Any:
    if type(x) is Decimal or type(y) is Decimal:
        return from_decimal(DECIMAL_CONTEXT.multiply(to_decimal(x), to_decimal(y)))
    result = x * y
    return _narrow(result) if type(result) is int else result


def _sub(x: Any, y: Any) -> Any:
    if type(x) is Decimal or type(y) is Decimal:
        return from_decimal(DECIMAL_CONTEXT.subtract(to_decimal(x), to_decimal(y)))
    result = x - y
    return _narrow(result) if type(result) is int else result


def op_add(*args: Any) -> Any:
    total: Any = 0
    for value in args:
        total = _add(total, parse_float(value))
    return total


def op_mul(*args: Any) -> Any:
    if len(args) == 1:  # JavaScript's reduce without an initial value returns the lone item as is
        return args[0]
    total = parse_float(args[0])
    for value in args[1:]:
        total = _mul(total, parse_float(value))
    return total


def op_sub(a: Any = None, b: Any = MISSING, *_: Any) -> Any:
    x = to_number(a)
    if b is MISSING:
        return -x if x == x else x
    return _sub(x, to_number(b))


def op_div(a: Any = None, b: Any = None, *_: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if is_nan(x) or is_nan(y) or y == 0:
        return NAN  # JavaScript gives ±Infinity for x/0, which JSON cannot hold; we say NaN (null)
    if type(x) is Decimal or type(y) is Decimal:
        return from_decimal(DECIMAL_CONTEXT.divide(to_decimal(x), to_decimal(y)))
    if type(x) is int and type(y) is int and x % y == 0:
        return x // y
    return x / y


def op_mod(a: Any = None, b: Any = None, *_: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if is_nan(x) or is_nan(y) or y == 0 or x in (INF, -INF):
        return NAN
    if y in (INF, -INF):
        return x
    if type(x) is Decimal or type(y) is Decimal:
        return from_decimal(DECIMAL_CONTEXT.remainder(to_decimal(x), to_decimal(y)))
    if type(x) is int and type(y) is int:
        remainder = abs(x) % abs(y)
        return -remainder if x < 0 else remainder
    return math.fmod(x, y)


def _numbers(args: tuple[Any, ...]) -> list[Any] | None:
    numbers = [to_number(value) for value in args]
    return None if any(is_nan(number) for number in numbers) else numbers


def op_max(*args: Any) -> Any:
    numbers = _numbers(args)
    if numbers is None:
        return NAN
    return max(numbers) if numbers else -INF


def op_min(*args: Any) -> Any:
    numbers = _numbers(args)
    if numbers is None:
        return NAN
    return min(numbers) if numbers else INF


def op_avg(*args: Any) -> Any:
    """Mean of the numbers among the arguments (lists are flattened, ``null`` is skipped)."""
    values: list[Any] = []
    for value in args:
        values.extend(value if is_array(value) else [value])
    numbers = [to_number(value) for value in values if value is not None]
    if not numbers:
        return None
    if any(is_nan(number) for number in numbers):
        return NAN
    total: Any = 0
    for number in numbers:
        total = _add(total, number)
    return op_div(total, len(numbers))


def _rounded(value: Any, digits: Any, rounding: str) -> Any:
    number = to_number(value)
    if is_nan(number) or number in (INF, -INF):
        return number
    places = to_number(digits)
    places = 0 if is_nan(places) else max(-15, min(15, int(places)))
    if type(number) is int and places >= 0:
        return number
    exact = to_decimal(number)
    result = (
        exact.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=DECIMAL_CONTEXT)
        if places > 0
        else (
            exact.scaleb(places)
            .quantize(Decimal(1), rounding=rounding, context=DECIMAL_CONTEXT)
            .scaleb(-places)
        )
    )
    if result.is_nan():  # beyond Decimal precision: the number is already whole at that scale
        return number
    if type(number) is Decimal:
        return from_decimal(result)
    if places <= 0:
        return _narrow(int(result)) if result.is_finite() else float(result)
    return float(result)


def op_round(value: Any = None, digits: Any = 0) -> Any:
    """Half away from zero, as Excel and accountants do (not Python's banker's rounding)."""
    return _rounded(value, digits, ROUND_HALF_UP)


def op_floor(value: Any = None) -> Any:
    return _rounded(value, 0, ROUND_FLOOR)


def op_ceil(value: Any = None) -> Any:
    return _rounded(value, 0, ROUND_CEILING)


def op_abs(value: Any = None) -> Any:
    number = to_number(value)
    return abs(number) if not is_nan(number) else number


# ------------------------------------------------------------------ logic and comparison


def op_eq(a: Any = None, b: Any = None, *_: Any) -> bool:
    return loose_eq(a, b)


def op_ne(a: Any = None, b: Any = None, *_: Any) -> bool:
    return not loose_eq(a, b)


def op_seq(a: Any = None, b: Any = None, *_: Any) -> bool:
    return strict_eq(a, b)


def op_sne(a: Any = None, b: Any = None, *_: Any) -> bool:
    return not strict_eq(a, b)


def op_gt(a: Any = None, b: Any = None, *_: Any) -> bool:
    return compare(">", a, b)


def op_ge(a: Any = None, b: Any = None, *_: Any) -> bool:
    return compare(">=", a, b)


def op_lt(a: Any = None, b: Any = None, c: Any = MISSING, *_: Any) -> bool:
    if c is MISSING:
        return compare("<", a, b)
    return compare("<", a, b) and compare("<", b, c)


def op_le(a: Any = None, b: Any = None, c: Any = MISSING, *_: Any) -> bool:
    if c is MISSING:
        return compare("<=", a, b)
    return compare("<=", a, b) and compare("<=", b, c)


def op_between(value: Any = None, low: Any = None, high: Any = None) -> bool:
    """``low <= value <= high`` (both ends included)."""
    return compare("<=", low, value) and compare("<=", value, high)


def op_not(a: Any = None, *_: Any) -> bool:
    return not truthy(a)


def op_truthy(a: Any = None, *_: Any) -> bool:
    return truthy(a)


def op_in(a: Any = None, b: Any = None, *_: Any) -> bool:
    if not truthy(b) and not is_array(b):
        return False
    if type(b) is str:
        return js_string(a) in b
    if is_array(b):
        return any(strict_eq(a, item) for item in b)
    return False


def op_cat(*args: Any) -> str:
    return "".join("" if value is None else js_string(value) for value in args)


def _js_integer(value: Any) -> int | float:
    number = to_number(value)
    if is_nan(number):
        return 0
    if number in (INF, -INF):
        return number
    return int(number)


def _js_substr(text: str, start: Any, length: Any = MISSING) -> str:
    size = len(text)
    first = _js_integer(start)
    if first < 0:
        first = max(size + first, 0)
    first = min(first, size)
    if length is MISSING:
        count: int | float = size - first
    else:
        count = min(max(_js_integer(length), 0), size - first)
    return text[int(first) : int(first + count)]


def op_substr(source: Any = None, start: Any = 0, end: Any = MISSING, *_: Any) -> str:
    text = js_string(source)
    if end is not MISSING and compare("<", end, 0):
        rest = _js_substr(text, start)
        return _js_substr(rest, 0, len(rest) + _js_integer(end))
    return _js_substr(text, start, end)


def op_merge(*args: Any) -> list[Any]:
    merged: list[Any] = []
    for value in args:
        if is_array(value):
            merged.extend(value)
        else:
            merged.append(value)
    return merged


def op_coalesce(*args: Any) -> Any:
    for value in args:
        if value is not None:
            return value
    return None


def op_is_empty(value: Any = None) -> bool:
    """``null``, ``""``, ``[]`` and ``{}`` are empty; ``0`` and ``false`` are not."""
    if value is None:
        return True
    if type(value) in (str, list, tuple, dict):
        return len(value) == 0
    return False


def op_log(env: Env, data: Any, value: Any = None, *_: Any) -> Any:
    """Returns its argument; appends it to the context's ``_log`` list when there is one (no I/O)."""
    sink = env.context.get("_log")
    if type(sink) is list and len(sink) < 1000:
        sink.append(value)
    return value


def op_regex_match(env: Env, data: Any, text: Any = None, pattern: Any = None, flags: Any = "") -> bool:
    """RE2 search, with the pattern length bounded by ``Limits.max_regex_length``."""
    return strings.regex_match(text, pattern, flags, max_length=env.limits.max_regex_length)


def op_changed(env: Env, data: Any, *fields: Any) -> bool:
    """True when one of ``fields`` (or, without arguments, any field) is in ``_changed``.

    Without ``_changed`` the record is compared with ``_old``.
    """
    changed = env.lookup(data, "_changed")
    if changed is not None:
        names = set(changed) if is_array(changed) or type(changed) in (set, frozenset, dict) else {changed}
        return bool(names) if not fields else any(js_string(name) in names for name in fields)
    old = env.lookup(data, "_old")
    if type(old) is not dict or type(data) is not dict:
        return False
    keys = [js_string(name) for name in fields] or [key for key in data if not key.startswith("_")]
    return any(not strict_eq(old.get(key), data.get(key)) for key in keys)


# ------------------------------------------------------------------ the table

_N, _T, _B, _D, _A, _L = "number", "text", "boolean", "date", "any", "list"


def _special(
    name: str, summary: str, min_args: int = 0, max_args: int | None = None, returns: str = _A
) -> Operator:
    return Operator(name, None, min_args, max_args, returns=returns, special=True, summary=summary)


BUILTIN_OPERATORS: tuple[Operator, ...] = (
    # --- data access (special forms: they see the data)
    _special("var", "the value at a dotted path of the data, or a default", 0, 2),
    _special("missing", "the keys among the arguments that have no value", 0, None, _L),
    _special("missing_some", "the missing keys, unless at least N of them are present", 2, 2, _L),
    # --- logic (special forms: they short-circuit)
    _special("if", "if / else-if / else chain"),
    _special("?:", "ternary alias of `if`"),
    _special("and", "first falsy argument, or the last one"),
    _special("or", "first truthy argument, or the last one"),
    Operator("!", op_not, params=(_A,), returns=_B, summary="logical not (JSON Logic truthiness)"),
    Operator("!!", op_truthy, params=(_A,), returns=_B, summary="truthiness as a boolean"),
    Operator("==", op_eq, params=(_A,), returns=_B, summary="loose equality"),
    Operator("===", op_seq, params=(_A,), returns=_B, summary="strict equality"),
    Operator("!=", op_ne, params=(_A,), returns=_B, summary="loose inequality"),
    Operator("!==", op_sne, params=(_A,), returns=_B, summary="strict inequality"),
    Operator(">", op_gt, params=(_A,), returns=_B, summary="greater than"),
    Operator(">=", op_ge, params=(_A,), returns=_B, summary="greater than or equal"),
    Operator("<", op_lt, params=(_A,), returns=_B, summary="less than; three arguments test a < b < c"),
    Operator(
        "<=", op_le, params=(_A,), returns=_B, summary="less or equal; three arguments test a <= b <= c"
    ),
    Operator("between", op_between, 3, 3, (_A,), _B, summary="low <= value <= high"),
    # --- arrays (special forms: they evaluate logic per item)
    _special("map", "apply logic to every item", 0, 2, _L),
    _special("filter", "items for which logic is truthy", 0, 2, _L),
    _special("reduce", "fold items with `current` and `accumulator`", 0, 3),
    _special("all", "logic is truthy for every item (false for no items)", 0, 2, _B),
    _special("none", "logic is truthy for no item", 0, 2, _B),
    _special("some", "logic is truthy for at least one item", 0, 2, _B),
    Operator("merge", op_merge, params=(_A,), returns=_L, summary="flatten arguments into one list"),
    Operator("in", op_in, params=(_A,), returns=_B, summary="membership in a list, or substring of a text"),
    # --- numbers
    Operator("+", op_add, params=(_N,), returns=_N, summary="sum (casts text to number)"),
    Operator("-", op_sub, params=(_N,), returns=_N, summary="difference, or negation with one argument"),
    Operator("*", op_mul, 1, None, (_N,), _N, summary="product"),
    Operator("/", op_div, params=(_N,), returns=_N, summary="quotient (division by zero gives null)"),
    Operator("%", op_mod, params=(_N,), returns=_N, summary="remainder (sign of the dividend)"),
    Operator("max", op_max, params=(_N,), returns=_N, summary="largest number"),
    Operator("min", op_min, params=(_N,), returns=_N, summary="smallest number"),
    Operator("avg", op_avg, params=(_A,), returns=_N, summary="mean of the numbers", formula="AVERAGE"),
    Operator("round", op_round, 1, 2, (_N, _N), _N, summary="round half away from zero to N digits"),
    Operator("floor", op_floor, 1, 1, (_N,), _N, summary="round down"),
    Operator("ceil", op_ceil, 1, 1, (_N,), _N, summary="round up", formula="CEILING"),
    Operator("abs", op_abs, 1, 1, (_N,), _N, summary="absolute value"),
    # --- text
    Operator("cat", op_cat, params=(_A,), returns=_T, summary="concatenate as text", formula="CONCAT"),
    Operator(
        "substr",
        op_substr,
        params=(_A, _N, _N),
        returns=_T,
        summary="substring; negative start/length count from the end",
    ),
    Operator("lower", strings.lower, 1, 1, (_T,), _T, summary="lower case"),
    Operator("upper", strings.upper, 1, 1, (_T,), _T, summary="upper case"),
    Operator(
        "trim", strings.trim, 1, 1, (_T,), _T, summary="strip spaces, tabs and line breaks at both ends"
    ),
    Operator(
        "length",
        strings.length,
        1,
        1,
        (_A,),
        _N,
        summary="characters of a text or items of a list",
        formula="LEN",
    ),
    Operator("left", strings.left, 1, 2, (_T, _N), _T, summary="first N characters"),
    Operator("right", strings.right, 1, 2, (_T, _N), _T, summary="last N characters"),
    Operator("mid", strings.mid, 3, 3, (_T, _N, _N), _T, summary="N characters from a 1-based position"),
    Operator(
        "contains", strings.contains, 2, 2, (_A, _A), _B, summary="substring of a text or item of a list"
    ),
    Operator("starts_with", strings.starts_with, 2, 2, (_T, _T), _B, summary="text starts with a prefix"),
    Operator("ends_with", strings.ends_with, 2, 2, (_T, _T), _B, summary="text ends with a suffix"),
    Operator(
        "regex_match",
        op_regex_match,
        2,
        3,
        (_T, _T, _T),
        _B,
        pure=False,
        needs_env=True,
        summary="RE2 pattern search (linear time)",
    ),
    # --- dates
    Operator(
        "today",
        dates.today,
        0,
        0,
        (),
        _D,
        pure=False,
        needs_env=True,
        summary="today in the workspace time zone",
    ),
    Operator(
        "now", dates.now, 0, 0, (), "datetime", pure=False, needs_env=True, summary="the current date-time"
    ),
    Operator(
        "date",
        dates.make_date,
        1,
        3,
        (_A, _N, _N),
        _D,
        summary="a date from text, a date-time, or year, month, day",
    ),
    Operator(
        "datetime",
        dates.make_datetime,
        1,
        1,
        (_A,),
        "datetime",
        pure=False,
        needs_env=True,
        summary="a date-time (local time when no offset is given)",
    ),
    Operator(
        "date_add",
        dates.date_add,
        2,
        3,
        (_D, _A, _T),
        _D,
        summary="add an ISO 8601 duration (or N units)",
        formula="DATEADD",
    ),
    Operator(
        "date_diff",
        dates.date_diff,
        2,
        3,
        (_D, _D, _T),
        _N,
        summary="whole units from start to end",
        formula="DATEDIF",
    ),
    Operator(
        "days_until",
        dates.days_until,
        1,
        2,
        (_D, _A),
        _N,
        pure=False,
        needs_env=True,
        literal_args=(1,),
        summary='days from today; with {"anniversary": true} to the next yearly recurrence',
    ),
    Operator("year", dates.year, 1, 1, (_D,), _N, summary="year of a date"),
    Operator("month", dates.month, 1, 1, (_D,), _N, summary="month of a date (1-12)"),
    Operator("day", dates.day, 1, 1, (_D,), _N, summary="day of the month"),
    Operator("weekday", dates.weekday, 1, 1, (_D,), _N, summary="ISO weekday, Monday = 1"),
    Operator("quarter", dates.quarter, 1, 1, (_D,), _N, summary="quarter of the year (1-4)"),
    # --- misc
    Operator("coalesce", op_coalesce, params=(_A,), returns=_A, summary="first argument that is not null"),
    Operator(
        "is_empty", op_is_empty, 1, 1, (_A,), _B, summary="null, empty text or empty list", formula="ISBLANK"
    ),
    Operator(
        "changed",
        op_changed,
        0,
        None,
        (_T,),
        _B,
        pure=False,
        needs_env=True,
        summary="a field is in `_changed` (or differs from `_old`)",
    ),
    Operator(
        "log", op_log, params=(_A,), pure=False, needs_env=True, summary="returns its argument (debug aid)"
    ),
)


def build_registry(extra: Iterable[Operator] = (), *, freeze: bool = True) -> OperatorRegistry:
    """The built-ins plus ``extra`` operators (from plugins), frozen by default.

    :raises ExprError: an extra operator reuses a name or is malformed.
    """
    registry = OperatorRegistry()
    for op in BUILTIN_OPERATORS:
        registry.register(op, builtin=True)
    for op in extra:
        registry.register(op)
    return registry.freeze() if freeze else registry


_DEFAULT: OperatorRegistry | None = None


def default_registry() -> OperatorRegistry:
    """The frozen registry of built-ins only (built on first use, not at import)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = build_registry()
    return _DEFAULT
