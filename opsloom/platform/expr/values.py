"""JSON Logic value semantics in Python: truthiness, JavaScript coercions, equality and ordering.

JSON Logic is defined by its JavaScript reference, so "exactly JSON Logic" means these
helpers reproduce JavaScript's ``Number()``, ``parseFloat()``, ``String()``, ``==``,
``===`` and ``<`` on JSON values. Three deliberate extensions, written down in
``docs/expressions.md``: ``decimal.Decimal`` stays exact, ``date``/``datetime`` values
compare as instants (a date against ``null`` or unparseable text is ``false``), and
arrays/objects compare by value rather than by identity.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, tzinfo
from decimal import Context, Decimal, InvalidOperation
from typing import Any

__all__ = [
    "MAX_SAFE_INTEGER",
    "NAN",
    "clean_result",
    "compare",
    "is_array",
    "is_nan",
    "is_number",
    "js_string",
    "kind",
    "loose_eq",
    "parse_float",
    "strict_eq",
    "to_date_like",
    "to_number",
    "truthy",
]

NAN = float("nan")
INF = float("inf")
MAX_SAFE_INTEGER = 2**53 - 1
#: Decimal arithmetic never raises: overflow gives Infinity, invalid operations give NaN.
DECIMAL_CONTEXT = Context(prec=28, traps=[])

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INT_TEXT = re.compile(r"[+-]?\d+\Z")
_RADIX_TEXT = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)\Z")
_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
# JavaScript's StrWhiteSpaceChar: what Number() and trim() strip.
_JS_SPACE = (
    " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def is_number(value: Any) -> bool:
    """A JSON number (``bool`` is not one, although Python thinks so)."""
    cls = type(value)
    return cls is int or cls is float or cls is Decimal


def is_array(value: Any) -> bool:
    return type(value) is list or type(value) is tuple


def is_nan(value: Any) -> bool:
    return (type(value) is float and value != value) or (type(value) is Decimal and value.is_nan())


def kind(value: Any) -> str:
    """The JSON Logic type of a value: null, boolean, number, string, array, object, date."""
    if value is None:
        return "null"
    cls = type(value)
    if cls is bool:
        return "boolean"
    if cls is int or cls is float or cls is Decimal:
        return "number"
    if cls is str:
        return "string"
    if cls is list or cls is tuple:
        return "array"
    if isinstance(value, date):  # datetime is a date too
        return "date"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def truthy(value: Any) -> bool:
    """JSON Logic truthiness: JavaScript's, except that an empty array is falsy."""
    if value is True:
        return True
    if value is False or value is None:
        return False
    cls = type(value)
    if cls is str or cls is list or cls is tuple:
        return len(value) > 0
    if cls is int:
        return value != 0
    if cls is float:
        return value == value and value != 0.0
    if cls is Decimal:
        return not value.is_nan() and value != 0
    return True


# ------------------------------------------------------------------ numbers


def _narrow(value: int) -> int | float:
    """JavaScript numbers are doubles: integers beyond 2**53 become floats (never huge ints)."""
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    try:
        return float(value)
    except OverflowError:
        return INF if value > 0 else -INF


def _text_to_number(text: str) -> int | float:
    text = text.strip(_JS_SPACE)
    if not text:
        return 0
    if _INT_TEXT.match(text):
        return _narrow(int(text)) if len(text) < 400 else float(text)
    if _NUMBER_TEXT.match(text):
        return float(text)
    if _RADIX_TEXT.match(text):
        return _narrow(int(text, 0))
    if text in ("Infinity", "+Infinity"):
        return INF
    if text == "-Infinity":
        return -INF
    return NAN


def to_number(value: Any) -> int | float | Decimal:
    """JavaScript ``Number(value)``; NaN for anything that is not numeric."""
    cls = type(value)
    if cls is int:
        return _narrow(value)
    if cls is float or cls is Decimal:
        return value
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if cls is str:
        return _text_to_number(value)
    if cls is list or cls is tuple:
        return _text_to_number(js_string(value))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return _narrow(int(value))
    if isinstance(value, (float, Decimal)):
        return value
    if isinstance(value, str):
        return _text_to_number(str(value))
    return NAN


def parse_float(value: Any) -> int | float | Decimal:
    """JavaScript ``parseFloat(String(value))``: the longest numeric prefix, else NaN."""
    cls = type(value)
    if cls is int:
        return _narrow(value)
    if cls is float or cls is Decimal:
        return value
    text = js_string(value).lstrip(_JS_SPACE)
    match = _FLOAT_PREFIX.match(text)
    if match is None:
        return NAN
    token = match.group(0)
    if token.endswith("Infinity"):
        return -INF if token.startswith("-") else INF
    if _INT_TEXT.match(token):
        return _narrow(int(token)) if len(token) < 400 else float(token)
    return float(token)


def to_decimal(value: int | float | Decimal) -> Decimal:
    if type(value) is Decimal:
        return value
    if type(value) is float:
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(str(value))
    return Decimal(value)


def from_decimal(value: Decimal) -> Decimal | float:
    """Decimal NaN/Infinity become floats so that comparisons never raise."""
    if value.is_finite():
        return value
    if value.is_nan():
        return NAN
    return INF if value > 0 else -INF


# ------------------------------------------------------------------ strings


def _js_float(value: float) -> str:
    """ECMAScript Number::toString for a double."""
    if value != value:
        return "NaN"
    if value in (INF, -INF):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digits_tuple.digits)).rstrip("0") or "0"
    exponent = int(digits_tuple.exponent) + len("".join(map(str, digits_tuple.digits))) - len(digits)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
        text = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def js_string(value: Any) -> str:
    """JavaScript ``String(value)`` (dates print as ISO 8601)."""
    cls = type(value)
    if cls is str:
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if cls is int:
        return str(value)
    if cls is float:
        return _js_float(value)
    if cls is Decimal:
        if value.is_finite():
            return str(value)
        return "NaN" if value.is_nan() else ("Infinity" if value > 0 else "-Infinity")
    if cls is list or cls is tuple:
        # Array.prototype.join: null and undefined elements print as "".
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return js_string(to_number(value))
    return "[object Object]"


def _primitive(value: Any) -> Any:
    """JavaScript ToPrimitive: arrays and objects become their string form."""
    cls = type(value)
    if cls is list or cls is tuple or cls is dict:
        return js_string(value)
    return value


# ------------------------------------------------------------------ dates


def to_date_like(value: Any, tz: tzinfo | None = None) -> date | datetime | None:
    """A date or datetime from a value (ISO 8601 text accepted); ``None`` if it is not one."""
    if isinstance(value, date):
        return value
    if type(value) is str and 8 <= len(value) <= 40 and value[:1].isdigit():
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            return None
        return parsed
    return None


def _align(a: date, b: date) -> tuple[Any, Any]:
    """Make a date and a datetime (naive or aware) comparable."""
    a_dt, b_dt = isinstance(a, datetime), isinstance(b, datetime)
    if a_dt != b_dt:
        if not a_dt:
            a = datetime.combine(a, time(), tzinfo=b.tzinfo)  # type: ignore[union-attr]
        else:
            b = datetime.combine(b, time(), tzinfo=a.tzinfo)  # type: ignore[union-attr]
    if isinstance(a, datetime) and isinstance(b, datetime) and (a.tzinfo is None) != (b.tzinfo is None):
        if a.tzinfo is None:
            a = a.replace(tzinfo=b.tzinfo)
        else:
            b = b.replace(tzinfo=a.tzinfo)
    return a, b


def _date_pair(a: Any, b: Any) -> tuple[Any, Any] | None:
    da, db = to_date_like(a), to_date_like(b)
    if da is None or db is None:
        return None
    return _align(da, db)


# ------------------------------------------------------------------ equality and ordering


def _num_eq(a: Any, b: Any) -> bool:
    if type(a) is Decimal and type(b) is float:
        return not a.is_nan() and float(a) == b
    if type(b) is Decimal and type(a) is float:
        return not b.is_nan() and float(b) == a
    if (type(a) is Decimal and a.is_nan()) or (type(b) is Decimal and b.is_nan()):
        return False
    return bool(a == b)


def strict_eq(a: Any, b: Any) -> bool:
    """JavaScript ``===``, with arrays and objects compared by value."""
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == "number":
        return _num_eq(a, b)
    if ka == "date":
        pair = _date_pair(a, b)
        return pair is not None and type(pair[0]) is type(pair[1]) and pair[0] == pair[1]
    if ka == "array":
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def loose_eq(a: Any, b: Any) -> bool:
    """JavaScript ``==`` (the abstract equality algorithm), extended to dates."""
    ka, kb = kind(a), kind(b)
    if ka == kb:
        return strict_eq(a, b)
    if ka == "null" or kb == "null":
        return False
    if ka == "date" or kb == "date":
        pair = _date_pair(a, b)
        return pair is not None and pair[0] == pair[1]
    if ka == "number" and kb == "string":
        return _num_eq(a, to_number(b))
    if ka == "string" and kb == "number":
        return _num_eq(to_number(a), b)
    if ka == "boolean":
        return loose_eq(int(a), b)
    if kb == "boolean":
        return loose_eq(a, int(b))
    if ka in ("array", "object") and kb in ("number", "string"):
        return loose_eq(_primitive(a), b)
    if kb in ("array", "object") and ka in ("number", "string"):
        return loose_eq(a, _primitive(b))
    return False


def compare(op: str, a: Any, b: Any) -> bool:
    """JavaScript ``a < b`` (and ``<=``, ``>``, ``>=``); dates compare as instants."""
    if isinstance(a, date) or isinstance(b, date):
        pair = _date_pair(a, b)
        if pair is None:
            return False
        x, y = pair
    else:
        x, y = _primitive(a), _primitive(b)
        if type(x) is not str or type(y) is not str:
            x, y = to_number(x), to_number(y)
            if is_nan(x) or is_nan(y):
                return False
    try:
        if op == "<":
            return bool(x < y)
        if op == "<=":
            return bool(x <= y)
        if op == ">":
            return bool(x > y)
        return bool(x >= y)
    except (TypeError, InvalidOperation):
        return False


def clean_result(value: Any) -> Any:
    """What an evaluation returns: NaN and infinities become ``None``, as JSON.stringify does."""
    cls = type(value)
    if cls is float:
        return value if math.isfinite(value) else None
    if cls is list:
        if any(type(item) in (float, list, dict) for item in value):
            return [clean_result(item) for item in value]
        return value
    if cls is dict and any(type(item) in (float, list, dict) for item in value.values()):
        return {key: clean_result(item) for key, item in value.items()}
    return value
