"""Number field types: number, currency, percent and rating.

Every value passes through ``decimal.Decimal`` on the way in, so rounding is decimal
(``2.675`` at 2 places is ``2.68``, as typed, not ``2.67`` as binary floats would give)
and half-up, the rule people learn at school and accountants expect. Pure code: no
Flask, no database I/O.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import Float, Numeric, SmallInteger

from .base import FieldType, FieldValueError
from .text import cell_text, describe_value, int_option

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.types import TypeEngine

    from .base import FieldContext, SchemaContext, TypeChange

__all__ = [
    "FIELD_TYPES",
    "NUMERIC_OPERATORS",
    "CurrencyType",
    "NumberType",
    "NumericType",
    "PercentType",
    "RatingType",
    "parse_decimal_text",
]

#: the filter operators of ordered values, as named in the expression language
#: (``between`` is inclusive at both ends; ``missing`` finds empty values)
NUMERIC_OPERATORS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "between", "missing")

# 1234 | 1,234 | 1,234.5 | .5 | 5. | 1e3 ; commas only in groups of three, so "1,5" (a
# European 1.5) is refused instead of being read as 15
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_SAFE_INTEGER = 2**53 - 1
_MIN_MAX_SCHEMA = {"type": "number"}


def parse_decimal_text(text: str) -> Decimal | None:
    """A number typed in a form or a CSV cell (``1,234.5``, full-width digits, ``+3``) as a Decimal.

    :raises FieldValueError: the text is not a number.
    """
    typed = unicodedata.normalize("NFKC", cell_text(text)).strip()
    raw = typed.replace(" ", "")  # "1 234": a space groups thousands in many locales
    if not raw:
        return None
    if not _NUMBER_TEXT.fullmatch(raw):
        raise FieldValueError(f"{describe_value(typed)} is not a number")
    return Decimal(raw.replace(",", ""))


def _plain(number: Decimal) -> str:
    """``number`` written out without an exponent (``1E+3`` -> ``1000``); ``-0`` is ``0``."""
    if number == 0:
        number = abs(number)
    return format(number, "f")


def _shown(number: Decimal) -> str:
    """``number`` for a message: plain, or with an exponent when plain would be dozens of digits."""
    return _plain(number) if -7 < number.adjusted() < 21 else f"{number.normalize():E}"


def _option_decimal(field: Mapping[str, Any], key: str) -> Decimal | None:
    value = field.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class NumericType(FieldType):
    """What the number types share: accepting JSON numbers, refusing bools and NaN, bounds.

    ``to_decimal`` turns an accepted input into a finite Decimal (floats by their
    shortest repr, so 0.1 stays 0.1); subclasses round and store it their way.
    """

    group = "number"
    expr_type = "number"
    widget = "number"
    filter_operators = NUMERIC_OPERATORS
    #: whether ``coerce`` takes a decimal string (currency: amounts travel as strings to keep cents exact)
    accepts_strings: ClassVar[bool] = False

    def to_decimal(self, value: Any) -> Decimal:
        """``value`` as a finite Decimal.

        :raises FieldValueError: a bool, a non-number, NaN or an infinity.
        """
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            raise FieldValueError(f"expects a number; got {describe_value(value)}")
        if isinstance(value, str):
            if not self.accepts_strings:
                raise FieldValueError(f"expects a number; got {describe_value(value)}")
            text = value.strip()
            if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)", text):
                raise FieldValueError(f"expects a number; got {describe_value(value)}")
            number = Decimal(text)
        else:
            try:
                number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            except InvalidOperation:
                raise FieldValueError(f"expects a number; got {describe_value(value)}") from None
        if not number.is_finite():
            raise FieldValueError("is not a finite number (NaN and Infinity are not allowed)")
        # keep exponents within what a double holds, so Decimal arithmetic cannot overflow its context
        if number.adjusted() > 308:
            raise FieldValueError("is too large to store as a number")
        if number.adjusted() < -330:
            return Decimal(0)  # below the smallest double: it would be stored as 0 anyway
        return number

    def check_bounds(self, number: Decimal, field: Mapping[str, Any]) -> None:
        low, high = _option_decimal(field, "min"), _option_decimal(field, "max")
        if low is not None and number < low:
            raise FieldValueError(f"is {_shown(number)}; the minimum is {_shown(low)}")
        if high is not None and number > high:
            raise FieldValueError(f"is {_shown(number)}; the maximum is {_shown(high)}")

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        low, high = _option_decimal(field, "min"), _option_decimal(field, "max")
        if low is not None and high is not None and low > high:
            yield "/max", f"is {_shown(high)}, less than min ({_shown(low)})"

    def bounds_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {}
        for key, word in (("min", "minimum"), ("max", "maximum")):
            value = field.get(key)
            if _option_decimal(field, key) is not None:
                schema[word] = value
        return schema

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if isinstance(text, (int, float, Decimal)) and not isinstance(text, bool):
            return text  # a spreadsheet reader already gave a number
        return parse_decimal_text(text)


def _places(field: Mapping[str, Any], key: str, default: int | None, limit: int) -> int | None:
    places = int_option(field, key, default)
    return default if places is None or not 0 <= places <= limit else places


def _round(number: Decimal, places: int) -> Decimal:
    if number.adjusted() >= 17:
        return number  # beyond 1e17 a float has no fractional digits left to round
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


class NumberType(NumericType):
    """A number stored as a double. ``precision`` rounds half up on input; ``integer`` wants whole numbers.

    Whole numbers are limited to ±(2**53 - 1), the range a double (and a JavaScript
    client) holds exactly.
    """

    name = "number"
    label = {"en": "Number", "zh": "数字"}
    masks = ("full",)
    options_schema = {
        "min": _MIN_MAX_SCHEMA,
        "max": _MIN_MAX_SCHEMA,
        "precision": {"type": "integer", "minimum": 0, "maximum": 10},
        "integer": {"type": "boolean"},
    }

    def is_integer(self, field: Mapping[str, Any]) -> bool:
        return field.get("integer") is True

    def precision(self, field: Mapping[str, Any]) -> int | None:
        """Decimal places kept, or ``None`` for as many as a double holds."""
        return 0 if self.is_integer(field) else _places(field, "precision", None, 10)

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        yield from super().check(field, ctx)
        places = int_option(field, "precision", None)
        if self.is_integer(field) and places:
            yield "/precision", "is set on a whole-number field (integer: true); remove one of them"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Float()

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        before, after = self.precision(old), self.precision(new)
        if before == after:
            return "same"
        if before is None:
            return "narrow"
        if after is None or after > before:
            return "widen"
        return "narrow"

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        kind = "integer" if self.is_integer(field) else "number"
        return {"type": [kind, "null"], **self.bounds_schema(field)}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        number = self.to_decimal(value)
        if self.is_integer(field):
            if number != number.to_integral_value():
                raise FieldValueError(f"is {_shown(number)}; a whole number is needed")
            if abs(number) > _MAX_SAFE_INTEGER:
                raise FieldValueError(
                    f"is too large; whole numbers up to {_MAX_SAFE_INTEGER} are stored exactly"
                )
        places = self.precision(field)
        if places is not None:
            number = _round(number, places)
        self.check_bounds(number, field)
        as_float = float(number)
        if as_float in (float("inf"), float("-inf")):
            raise FieldValueError("is too large to store as a number")
        return int(number) if self.is_integer(field) else as_float

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if self.is_integer(field):
            return int(value)
        return float(value)

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        if value is None:
            return ""
        number = Decimal(repr(float(value)))
        if number != 0 and not -7 < number.adjusted() < 16:
            return repr(float(value))  # 1e+20, 1e-08: an exponent reads better than 20 zeros
        places = self.precision(field)
        if places is not None:
            return _plain(_round(number, places))  # a fixed number of places, as configured
        if number == number.to_integral_value():
            number = number.to_integral_value()  # 3, not 3.0
        return _plain(number)


class PercentType(NumberType):
    """A percentage stored as typed: ``12.5`` means 12.5 % (not 0.125), so what is stored is what is shown.

    ``parse_text`` takes ``12.5%`` and ``12.5``; ``to_text`` adds the ``%``.
    """

    name = "percent"
    label = {"en": "Percent", "zh": "百分比"}
    options_schema = {
        "min": _MIN_MAX_SCHEMA,
        "max": _MIN_MAX_SCHEMA,
        "precision": {"type": "integer", "minimum": 0, "maximum": 10},
    }

    def is_integer(self, field: Mapping[str, Any]) -> bool:
        return False

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if isinstance(text, str):
            text = unicodedata.normalize("NFKC", text).strip().removesuffix("%")
        return super().parse_text(text, field, ctx)

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return "" if value is None else super().to_text(value, field, ctx) + "%"


# integral digits a currency column keeps whatever its precision: 10**16 is ten thousand trillion
_CURRENCY_DIGITS = 16
_CURRENCY_SYMBOLS = "¥$€£₩₹"


class CurrencyType(NumericType):
    """An amount of money: a Decimal with ``precision`` places (default 2), rounded half up.

    The column is ``Numeric(16 + precision, precision)``: 16 integral digits whatever the
    precision, so raising the precision really is a widening (a fixed ``Numeric(18, p)``
    would lose integral range as ``p`` grows). ``to_json`` gives a JSON number when the
    amount survives the trip through a double exactly (it nearly always does) and a
    string such as ``"12345678901234567.89"`` when it would not; ``coerce`` takes such a
    string back, so a client can echo any value it read. ``currency`` is an ISO 4217 code
    for display; amounts are not converted.
    """

    name = "currency"
    label = {"en": "Currency", "zh": "金额"}
    masks = ("full",)
    accepts_strings = True
    options_schema = {
        "min": _MIN_MAX_SCHEMA,
        "max": _MIN_MAX_SCHEMA,
        "precision": {"type": "integer", "minimum": 0, "maximum": 6},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    }

    def precision(self, field: Mapping[str, Any]) -> int:
        return _places(field, "precision", 2, 6) or 0

    def currency(self, field: Mapping[str, Any]) -> str:
        code = field.get("currency")
        return code if isinstance(code, str) and re.fullmatch(r"[A-Z]{3}", code) else "CNY"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        places = self.precision(field)
        return Numeric(_CURRENCY_DIGITS + places, places)

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        before, after = self.precision(old), self.precision(new)
        if after > before:
            return "widen"
        return "narrow" if after < before else "same"

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "number", **self.bounds_schema(field)},
                {"type": "string", "pattern": r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$"},
                {"type": "null"},
            ]
        }

    def quantize(self, value: Any, field: Mapping[str, Any]) -> Decimal:
        number = self.to_decimal(value)
        if number.adjusted() >= _CURRENCY_DIGITS:
            raise FieldValueError(
                f"is too large; amounts below {_plain(Decimal(10) ** _CURRENCY_DIGITS)} fit"
            )
        return number.quantize(Decimal(1).scaleb(-self.precision(field)), rounding=ROUND_HALF_UP)

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        number = self.quantize(value, field)
        if number.adjusted() >= _CURRENCY_DIGITS:  # 9999999999999999.995 rounds up out of range
            raise FieldValueError(
                f"is too large; amounts below {_plain(Decimal(10) ** _CURRENCY_DIGITS)} fit"
            )
        self.check_bounds(number, field)
        return abs(number) if number == 0 else number

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        number = self.quantize(value, field)
        as_float = float(number)
        if Decimal(repr(as_float)) != number:
            return _plain(number)
        return int(number) if self.precision(field) == 0 else as_float

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """Plain ``1234.50``: exports stay machine-readable; grouping and symbols are the page's job."""
        return "" if value is None else _plain(self.quantize(value, field))

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Also takes a currency symbol or the field's code around the amount (``¥1,234.50``, ``1234.5 CNY``)."""
        if isinstance(text, str):
            raw = unicodedata.normalize("NFKC", text).strip()
            code = self.currency(field)
            sign = ""
            if raw and raw[0] in "+-":
                sign, raw = raw[0], raw[1:].lstrip()
            for affix in (code, code.lower(), *_CURRENCY_SYMBOLS):
                raw = raw.removeprefix(affix).removesuffix(affix).strip()
            text = sign + raw
        return super().parse_text(text, field, ctx)


class RatingType(NumericType):
    """A whole number of stars from 0 to ``max`` (1-10, default 5); 0 is a rating, empty is ``null``."""

    name = "rating"
    label = {"en": "Rating", "zh": "评分"}
    options_schema = {"max": {"type": "integer", "minimum": 1, "maximum": 10}}

    def top(self, field: Mapping[str, Any]) -> int:
        top = int_option(field, "max", 5)
        return top if top is not None and 1 <= top <= 10 else 5

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        return ()

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return SmallInteger()

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        # the column stays SMALLINT, but a lower max leaves existing ratings out of range
        before, after = self.top(old), self.top(new)
        if after > before:
            return "widen"
        return "narrow" if after < before else "same"

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": ["integer", "null"], "minimum": 0, "maximum": self.top(field)}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        number = self.to_decimal(value)
        top = self.top(field)
        if number != number.to_integral_value():
            raise FieldValueError(f"is {_shown(number)}; a rating is a whole number from 0 to {top}")
        if not 0 <= number <= top:
            raise FieldValueError(f"is {_shown(number)}; ratings go from 0 to {top}")
        return int(number)

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Also takes stars (``★★★☆☆`` is 3)."""
        if isinstance(text, str):
            stars = text.strip()
            if stars and set(stars) <= {"★", "☆"}:
                return stars.count("★")
        return super().parse_text(text, field, ctx)

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return None if value is None else int(value)


FIELD_TYPES: tuple[FieldType, ...] = (
    NumberType(),
    CurrencyType(),
    PercentType(),
    RatingType(),
)
