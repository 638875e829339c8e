"""Number field types: number, currency, percent and rating."""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    create_engine,
    insert,
    select,
)

from opsloom.form_engine.fields.base import FieldContext, FieldType, FieldValueError, SchemaContext
from opsloom.form_engine.fields.numbers import (
    NUMERIC_OPERATORS,
    CurrencyType,
    NumberType,
    PercentType,
    RatingType,
    parse_decimal_text,
)
from opsloom.platform.expr import default_registry

if TYPE_CHECKING:
    from collections.abc import Mapping

CTX = FieldContext()
SCHEMA_CTX = SchemaContext(entity={}, types={})
NUMBER, CURRENCY, PERCENT, RATING = NumberType(), CurrencyType(), PercentType(), RatingType()


def valid(ftype: FieldType, field: Mapping[str, Any], value: Any) -> bool:
    return Draft202012Validator(ftype.json_schema(field)).is_valid(value)


def refused(ftype: FieldType, value: Any, field: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        ftype.coerce(value, field or {}, CTX)
    return str(info.value)


def unparsable(ftype: FieldType, text: str, field: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        ftype.coerce(ftype.parse_text(text, field or {}, CTX), field or {}, CTX)
    return str(info.value)


def stored(ftype: FieldType, field: Mapping[str, Any], value: Any) -> Any:
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("v", ftype.column_type(field)))
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite has no DECIMAL; SQLAlchemy warns and emulates it
        with engine.begin() as conn:
            conn.execute(insert(table).values(id=1, v=value))
            return conn.execute(select(table.c.v)).scalar_one()


def test_filter_operators_exist_in_the_expression_language() -> None:
    assert NUMERIC_OPERATORS == ("==", "!=", "<", "<=", ">", ">=", "between", "missing")
    registry = default_registry()
    assert all(op in registry for op in NUMERIC_OPERATORS)
    for ftype in (NUMBER, CURRENCY, PERCENT, RATING):
        assert ftype.filter_operators == NUMERIC_OPERATORS
        assert ftype.expr_type == "number"
        assert ftype.widget == "number"
        assert ftype.group == "number"


# ---------------------------------------------------------------------- parsing text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.5", Decimal("1234.5")),
        ("1,234.5", Decimal("1234.5")),
        ("1,234,567", Decimal("1234567")),
        (" -3 ", Decimal("-3")),
        ("+3", Decimal("3")),
        (".5", Decimal("0.5")),
        ("5.", Decimal("5")),
        ("1e3", Decimal("1000")),
        ("1 234", Decimal("1234")),
        ("\uff11\uff12\uff13", Decimal("123")),  # full-width digits
        ("", None),
        ("   ", None),
    ],
)
def test_parse_decimal_text(text: str, expected: Decimal | None) -> None:
    assert parse_decimal_text(text) == expected


@pytest.mark.parametrize(
    "text", ["abc", "1,5", "12,34", "1.2.3", "--1", "1e", "NaN", "Infinity", "0x10", "1_000"]
)
def test_parse_decimal_text_refuses(text: str) -> None:
    with pytest.raises(FieldValueError, match="is not a number"):
        parse_decimal_text(text)


# ---------------------------------------------------------------------- number


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        (3, {}, 3.0),
        (3.25, {}, 3.25),
        (Decimal("1.5"), {}, 1.5),
        (-0.0, {}, 0.0),
        (2.675, {"precision": 2}, 2.68),  # decimal half-up, not binary-float 2.67
        (2.665, {"precision": 2}, 2.67),
        (-2.5, {"precision": 0}, -3.0),  # half away from zero
        (0.125, {"precision": 2}, 0.13),
        (1e300, {"precision": 2}, 1e300),
        (7, {"integer": True}, 7),
        (7.0, {"integer": True}, 7),
        (10, {"min": 0, "max": 10}, 10.0),
        (9.996, {"max": 10, "precision": 2}, 10.0),  # bounds are checked after rounding
    ],
)
def test_number_accepts(value: Any, field: dict[str, Any], expected: float) -> None:
    coerced = NUMBER.coerce(value, field, CTX)
    assert coerced == expected
    assert type(coerced) is (int if field.get("integer") else float)
    assert valid(NUMBER, field, NUMBER.to_json(coerced, field, CTX))


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (True, {}, "expects a number; got true"),
        ("12", {}, "expects a number; got '12'"),
        ([1], {}, "expects a number; got a list"),
        ({}, {}, "expects a number; got an object"),
        (float("nan"), {}, "is not a finite number (NaN and Infinity are not allowed)"),
        (float("inf"), {}, "is not a finite number (NaN and Infinity are not allowed)"),
        (Decimal("NaN"), {}, "is not a finite number (NaN and Infinity are not allowed)"),
        (Decimal("sNaN"), {}, "is not a finite number (NaN and Infinity are not allowed)"),
        (10**400, {}, "is too large to store as a number"),
        (3.5, {"integer": True}, "is 3.5; a whole number is needed"),
        (2**53, {"integer": True}, "is too large; whole numbers up to 9007199254740991 are stored exactly"),
        (5, {"min": 10}, "is 5; the minimum is 10"),
        (10.5, {"max": 10}, "is 10.5; the maximum is 10"),
        (-0.001, {"min": 0.5}, "is -0.001; the minimum is 0.5"),
    ],
)
def test_number_refuses(value: Any, field: dict[str, Any], message: str) -> None:
    assert refused(NUMBER, value, field) == message


def test_number_parse_text() -> None:
    assert (
        NUMBER.coerce(NUMBER.parse_text("1,234.567", {"precision": 2}, CTX), {"precision": 2}, CTX) == 1234.57
    )
    assert NUMBER.parse_text("", {}, CTX) is None
    assert NUMBER.parse_text(12.5, {}, CTX) == 12.5  # type: ignore[arg-type]  # a spreadsheet number
    assert unparsable(NUMBER, "twelve") == "'twelve' is not a number"
    assert unparsable(NUMBER, "1,5") == "'1,5' is not a number"


@pytest.mark.parametrize(
    ("value", "field", "text"),
    [
        (3.0, {}, "3"),
        (12.5, {}, "12.5"),
        (-0.0, {}, "0"),
        (12.5, {"precision": 2}, "12.50"),
        (7, {"integer": True}, "7"),
        (0.1 + 0.2, {}, "0.30000000000000004"),
        (1e20, {}, "1e+20"),
        (1.5e-8, {}, "1.5e-08"),
        (123456789012345.6, {}, "123456789012345.6"),
    ],
)
def test_number_to_text(value: float, field: dict[str, Any], text: str) -> None:
    assert NUMBER.to_text(value, field, CTX) == text
    assert NUMBER.coerce(NUMBER.parse_text(text, field, CTX), field, CTX) == NUMBER.coerce(value, field, CTX)


def test_number_to_json() -> None:
    assert NUMBER.to_json(3.0, {}, CTX) == 3.0
    assert NUMBER.to_json(3.0, {"integer": True}, CTX) == 3
    assert type(NUMBER.to_json(3.0, {"integer": True}, CTX)) is int
    assert NUMBER.to_json(None, {}, CTX) is None


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([{}, {"precision": 3}]))
def test_number_round_trips(value: float, field: dict[str, Any]) -> None:
    coerced = NUMBER.coerce(value, field, CTX)
    assert NUMBER.coerce(NUMBER.to_json(coerced, field, CTX), field, CTX) == coerced
    assert (
        NUMBER.coerce(NUMBER.parse_text(NUMBER.to_text(coerced, field, CTX), field, CTX), field, CTX)
        == coerced
    )
    assert valid(NUMBER, field, NUMBER.to_json(coerced, field, CTX))


def test_number_definition() -> None:
    assert isinstance(NUMBER.column_type({}), Float)
    assert NUMBER.json_schema({}) == {"type": ["number", "null"]}
    assert NUMBER.json_schema({"integer": True, "min": 0, "max": 99}) == {
        "type": ["integer", "null"],
        "minimum": 0,
        "maximum": 99,
    }
    assert list(NUMBER.check({"min": 0, "max": 10, "precision": 2}, SCHEMA_CTX)) == []
    assert list(NUMBER.check({"min": 10, "max": 1}, SCHEMA_CTX)) == [("/max", "is 1, less than min (10)")]
    assert list(NUMBER.check({"integer": True, "precision": 2}, SCHEMA_CTX)) == [
        ("/precision", "is set on a whole-number field (integer: true); remove one of them")
    ]
    assert NUMBER.default({"default": 2.555, "precision": 2}, CTX) == 2.56
    assert stored(NUMBER, {}, NUMBER.coerce(12.5, {}, CTX)) == 12.5


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ({"precision": 2}, {"precision": 4}, "widen"),
        ({"precision": 4}, {"precision": 2}, "narrow"),
        ({"precision": 2}, {"precision": 2, "min": 3}, "same"),
        ({}, {"precision": 2}, "narrow"),  # unrounded -> rounded
        ({"precision": 2}, {}, "widen"),
        ({"integer": True}, {}, "widen"),
        ({}, {"integer": True}, "narrow"),
        ({"integer": True}, {"precision": 0}, "same"),
        ({}, {}, "same"),
    ],
)
def test_number_type_change(old: dict[str, Any], new: dict[str, Any], change: str) -> None:
    assert NUMBER.type_change(old, new) == change


# ---------------------------------------------------------------------- currency


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [
        (1234.5, {}, Decimal("1234.50")),
        (0.1, {}, Decimal("0.10")),
        (1.005, {}, Decimal("1.01")),  # half up on the decimal as typed
        ("1234.565", {}, Decimal("1234.57")),
        (" 7 ", {}, Decimal("7.00")),
        (Decimal("-2.345"), {}, Decimal("-2.35")),
        (12, {"precision": 0}, Decimal("12")),
        (1.23456789, {"precision": 6}, Decimal("1.234568")),
        (-0.001, {}, Decimal("0.00")),  # no negative zero
        ("9999999999999999.99", {}, Decimal("9999999999999999.99")),
    ],
)
def test_currency_accepts(value: Any, field: dict[str, Any], expected: Decimal) -> None:
    coerced = CURRENCY.coerce(value, field, CTX)
    assert coerced == expected
    assert str(coerced) == str(expected)
    assert valid(CURRENCY, field, CURRENCY.to_json(coerced, field, CTX))
    assert valid(CURRENCY, field, value if not isinstance(value, Decimal) else float(value))


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (True, {}, "expects a number; got true"),
        ("12abc", {}, "expects a number; got '12abc'"),
        ("1,234.50", {}, "expects a number; got '1,234.50'"),  # only parse_text reads separators
        ("NaN", {}, "expects a number; got 'NaN'"),
        (float("nan"), {}, "is not a finite number (NaN and Infinity are not allowed)"),
        (1e17, {}, "is too large; amounts below 10000000000000000 fit"),
        ("9999999999999999.995", {}, "is too large; amounts below 10000000000000000 fit"),
        (-5, {"min": 0}, "is -5.00; the minimum is 0"),
        (100.006, {"max": 100}, "is 100.01; the maximum is 100"),
    ],
)
def test_currency_refuses(value: Any, field: dict[str, Any], message: str) -> None:
    assert refused(CURRENCY, value, field) == message


def test_currency_bounds_apply_to_the_rounded_amount() -> None:
    assert CURRENCY.coerce(100.004, {"max": 100}, CTX) == Decimal("100.00")


def test_currency_json_number_or_string() -> None:
    assert CURRENCY.to_json(Decimal("1234.50"), {}, CTX) == 1234.5
    assert type(CURRENCY.to_json(Decimal("1234.50"), {}, CTX)) is float
    assert CURRENCY.to_json(Decimal("12"), {"precision": 0}, CTX) == 12
    assert type(CURRENCY.to_json(Decimal("12"), {"precision": 0}, CTX)) is int
    big = Decimal("1234567890123456.78")  # 18 significant digits: a double cannot hold it
    assert CURRENCY.to_json(big, {}, CTX) == "1234567890123456.78"
    assert CURRENCY.coerce(CURRENCY.to_json(big, {}, CTX), {}, CTX) == big  # a client can echo it back
    assert CURRENCY.to_json(12.5, {}, CTX) == 12.5  # a float from a database without DECIMAL
    assert CURRENCY.to_json(None, {}, CTX) is None


@given(st.decimals(min_value=-(10**15), max_value=10**15, places=2))
def test_currency_round_trips(value: Decimal) -> None:
    coerced = CURRENCY.coerce(value, {}, CTX)
    as_json = CURRENCY.to_json(coerced, {}, CTX)
    assert valid(CURRENCY, {}, as_json)
    assert CURRENCY.coerce(as_json, {}, CTX) == coerced
    assert (
        CURRENCY.coerce(CURRENCY.parse_text(CURRENCY.to_text(coerced, {}, CTX), {}, CTX), {}, CTX) == coerced
    )


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("1,234.5", {}, Decimal("1234.50")),
        ("¥1,234.50", {}, Decimal("1234.50")),
        ("\uffe5 99", {}, Decimal("99.00")),  # full-width yen sign
        ("-¥12", {}, Decimal("-12.00")),
        ("¥-12", {}, Decimal("-12.00")),
        ("1234.5 CNY", {}, Decimal("1234.50")),
        ("usd 10", {"currency": "USD"}, Decimal("10.00")),
        ("$10", {"currency": "USD"}, Decimal("10.00")),
        ("", {}, None),
    ],
)
def test_currency_parse_text(text: str, field: dict[str, Any], expected: Decimal | None) -> None:
    assert CURRENCY.coerce(CURRENCY.parse_text(text, field, CTX), field, CTX) == expected


def test_currency_parse_text_refuses() -> None:
    assert unparsable(CURRENCY, "ten yuan") == "'ten yuan' is not a number"
    assert unparsable(CURRENCY, "EUR 5") == "'EUR 5' is not a number"  # not this field's currency


def test_currency_text_and_definition() -> None:
    assert CURRENCY.to_text(Decimal("1234.5"), {}, CTX) == "1234.50"
    assert CURRENCY.to_text(Decimal("1234567.5"), {}, CTX) == "1234567.50"  # no grouping in exports
    assert CURRENCY.to_text(Decimal("-0.00"), {}, CTX) == "0.00"
    assert CURRENCY.to_text(3, {"precision": 3}, CTX) == "3.000"
    column = CURRENCY.column_type({})
    assert isinstance(column, Numeric)
    assert (column.precision, column.scale) == (18, 2)
    column = CURRENCY.column_type({"precision": 4})
    assert (column.precision, column.scale) == (20, 4)  # 16 integral digits whatever the precision
    assert CURRENCY.type_change({}, {"precision": 4}) == "widen"
    assert CURRENCY.type_change({"precision": 4}, {"precision": 2}) == "narrow"
    assert CURRENCY.type_change({}, {"precision": 2, "currency": "USD"}) == "same"
    assert CURRENCY.currency({}) == "CNY"
    assert CURRENCY.currency({"currency": "USD"}) == "USD"
    assert CURRENCY.currency({"currency": "usd"}) == "CNY"
    assert list(CURRENCY.check({"min": 5, "max": 1}, SCHEMA_CTX)) == [("/max", "is 1, less than min (5)")]
    assert list(CURRENCY.check({"min": 0, "currency": "USD", "precision": 2}, SCHEMA_CTX)) == []
    assert CURRENCY.default({"default": "9.999"}, CTX) == Decimal("10.00")
    assert Decimal(str(stored(CURRENCY, {}, CURRENCY.coerce(1234.5, {}, CTX)))) == Decimal("1234.5")
    schema = CURRENCY.json_schema({"min": 0})
    assert Draft202012Validator(schema).is_valid("12.50")
    assert not Draft202012Validator(schema).is_valid(-1)
    assert not Draft202012Validator(schema).is_valid("abc")


# ---------------------------------------------------------------------- percent


def test_percent() -> None:
    assert PERCENT.coerce(12.5, {}, CTX) == 12.5  # 12.5 means 12.5 %
    assert PERCENT.coerce(PERCENT.parse_text("12.5%", {}, CTX), {}, CTX) == 12.5
    assert PERCENT.coerce(PERCENT.parse_text("12.5", {}, CTX), {}, CTX) == 12.5
    assert PERCENT.coerce(PERCENT.parse_text(" 12.5 \uff05", {}, CTX), {}, CTX) == 12.5  # full-width %
    assert PERCENT.coerce(PERCENT.parse_text("-3 %", {}, CTX), {}, CTX) == -3
    assert PERCENT.parse_text("", {}, CTX) is None
    assert PERCENT.parse_text("%", {}, CTX) is None
    assert PERCENT.to_text(12.5, {}, CTX) == "12.5%"
    assert PERCENT.to_text(100.0, {}, CTX) == "100%"
    assert PERCENT.to_text(12.5, {"precision": 2}, CTX) == "12.50%"
    assert PERCENT.to_text(None, {}, CTX) == ""
    assert PERCENT.coerce(33.3333, {"precision": 1}, CTX) == 33.3
    assert refused(PERCENT, 120, {"max": 100}) == "is 120; the maximum is 100"
    assert refused(PERCENT, "12%") == "expects a number; got '12%'"
    assert unparsable(PERCENT, "12%%") == "'12%' is not a number"
    assert PERCENT.coerce(7.0, {"integer": True}, CTX) == 7.0  # percent has no integer option
    assert "integer" not in PERCENT.options_schema
    assert isinstance(PERCENT.column_type({}), Float)
    assert PERCENT.json_schema({"min": 0, "max": 100}) == {
        "type": ["number", "null"],
        "minimum": 0,
        "maximum": 100,
    }
    assert PERCENT.type_change({"precision": 1}, {"precision": 3}) == "widen"
    for text in ("12.5%", "0%", "-0.5%"):
        value = PERCENT.coerce(PERCENT.parse_text(text, {}, CTX), {}, CTX)
        assert PERCENT.to_text(value, {}, CTX) == text


# ---------------------------------------------------------------------- rating


@pytest.mark.parametrize(
    ("value", "field", "expected"),
    [(0, {}, 0), (5, {}, 5), (3.0, {}, 3), (Decimal("4"), {}, 4), (10, {"max": 10}, 10), (1, {"max": 1}, 1)],
)
def test_rating_accepts(value: Any, field: dict[str, Any], expected: int) -> None:
    coerced = RATING.coerce(value, field, CTX)
    assert coerced == expected
    assert type(coerced) is int
    assert valid(RATING, field, RATING.to_json(coerced, field, CTX))
    assert (
        RATING.coerce(RATING.parse_text(RATING.to_text(coerced, field, CTX), field, CTX), field, CTX)
        == coerced
    )


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (6, {}, "is 6; ratings go from 0 to 5"),
        (-1, {}, "is -1; ratings go from 0 to 5"),
        (11, {"max": 10}, "is 11; ratings go from 0 to 10"),
        (2.5, {}, "is 2.5; a rating is a whole number from 0 to 5"),
        (True, {}, "expects a number; got true"),
        ("3", {}, "expects a number; got '3'"),
        (float("nan"), {}, "is not a finite number (NaN and Infinity are not allowed)"),
    ],
)
def test_rating_refuses(value: Any, field: dict[str, Any], message: str) -> None:
    assert refused(RATING, value, field) == message


def test_rating_text_and_definition() -> None:
    assert RATING.parse_text("★★★☆☆", {}, CTX) == 3
    assert RATING.parse_text("☆☆☆", {}, CTX) == 0
    assert RATING.coerce(RATING.parse_text(" 4 ", {}, CTX), {}, CTX) == 4
    assert unparsable(RATING, "good") == "'good' is not a number"
    assert RATING.to_text(4, {}, CTX) == "4"
    assert RATING.to_json(4, {}, CTX) == 4
    assert isinstance(RATING.column_type({}), SmallInteger)
    assert RATING.json_schema({"max": 10}) == {"type": ["integer", "null"], "minimum": 0, "maximum": 10}
    assert RATING.json_schema({"max": 99}) == {"type": ["integer", "null"], "minimum": 0, "maximum": 5}
    assert RATING.type_change({"max": 5}, {"max": 10}) == "widen"
    assert RATING.type_change({"max": 10}, {}) == "narrow"
    assert RATING.type_change({}, {"max": 5}) == "same"
    assert list(RATING.check({"max": 3}, SCHEMA_CTX)) == []
    assert stored(RATING, {}, 4) == 4
    assert not RATING.is_empty(0)  # zero stars is an answer


@pytest.mark.parametrize(
    ("ftype", "text", "message"),
    [
        (NUMBER, "1e999999999", "is too large to store as a number"),
        (NUMBER, "-1e400", "is too large to store as a number"),
        (CURRENCY, "1e999999999", "is too large to store as a number"),
        (CURRENCY, "1e308", "is too large; amounts below 10000000000000000 fit"),
        (RATING, "1e308", "is 1E+308; ratings go from 0 to 5"),
        (RATING, "1.5e30", "is 1.5E+30; ratings go from 0 to 5"),
    ],
)
def test_extreme_exponents_are_refused_plainly(ftype: FieldType, text: str, message: str) -> None:
    assert unparsable(ftype, text) == message


def test_underflow_is_zero() -> None:
    assert parsed_zero(NUMBER) == 0.0
    assert parsed_zero(CURRENCY) == Decimal("0.00")
    assert parsed_zero(RATING) == 0


def parsed_zero(ftype: FieldType) -> Any:
    return ftype.coerce(ftype.parse_text("1e-999999999", {}, CTX), {}, CTX)
