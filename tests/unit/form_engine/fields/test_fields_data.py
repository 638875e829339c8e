"""The json field type."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql

from opsloom.form_engine.fields.base import FieldContext, FieldValueError, SchemaContext
from opsloom.form_engine.fields.data import JsonType, canonical_json

CTX = FieldContext()
SCHEMA_CTX = SchemaContext(entity={}, types={})
JSON_TYPE = JsonType()


def refused(value: Any, field: dict[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        JSON_TYPE.coerce(value, field or {}, CTX)
    return str(info.value)


def unparsable(text: str) -> str:
    with pytest.raises(FieldValueError) as info:
        JSON_TYPE.parse_text(text, {}, CTX)
    return str(info.value)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [True, None, "x", 1.5]},
        [1, 2, 3],
        "text",
        0,
        -1.25,
        False,
        {},
        [],
        {"中文": "值"},
        10**30,
        _nested(64),
    ],
)
def test_accepts_any_json_value(value: Any) -> None:
    coerced = JSON_TYPE.coerce(value, {}, CTX)
    assert coerced == value
    assert Draft202012Validator(JSON_TYPE.json_schema({})).is_valid(JSON_TYPE.to_json(coerced, {}, CTX))


def test_coerce_returns_a_copy() -> None:
    value = {"list": [1, 2]}
    coerced = JSON_TYPE.coerce(value, {}, CTX)
    value["list"].append(3)
    assert coerced == {"list": [1, 2]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "contains NaN or Infinity, which JSON cannot represent"),
        ({"a": [float("inf")]}, "contains NaN or Infinity, which JSON cannot represent"),
        ({1: "a"}, "has an object key that is not text (the number 1)"),
        ({"when": date(2026, 1, 1)}, "contains a date, which is not a JSON value"),
        ([Decimal("1.5")], "contains the number 1.5, which is not a JSON value"),
        ((1, 2), "contains a list, which is not a JSON value"),
        ({1, 2}, "contains a set, which is not a JSON value"),
        (b"bytes", "contains a bytes, which is not a JSON value"),
        (_nested(65), "is nested too deeply; at most 64 levels are allowed"),
        (_nested(100000), "is nested too deeply; at most 64 levels are allowed"),
        ("x" * 65535, "is 65537 bytes as JSON; at most 65536 are allowed"),
        ("中" * 30000, "is 90002 bytes as JSON; at most 65536 are allowed"),  # bytes, not characters
    ],
)
def test_refuses(value: Any, message: str) -> None:
    assert refused(value) == message


def test_big_integer_beyond_printing() -> None:
    assert refused(10**5000) == "contains a number too long to write as JSON"


def test_max_bytes_counts_canonical_json() -> None:
    spaced = {"b": 1, "a": [1, 2]}
    assert canonical_json(spaced) == '{"a":[1,2],"b":1}'
    assert JSON_TYPE.coerce(spaced, {"max_bytes": 17}, CTX) == spaced
    assert refused(spaced, {"max_bytes": 16}) == "is 17 bytes as JSON; at most 16 are allowed"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        (" [1, 2] ", [1, 2]),
        ('"x"', "x"),
        ("12.5", 12.5),
        ("null", None),
        ("true", True),
        ("", None),
        ("   ", None),
    ],
)
def test_parse_text(text: str, expected: Any) -> None:
    assert JSON_TYPE.coerce(JSON_TYPE.parse_text(text, {}, CTX), {}, CTX) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{bad", "is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"),
        ("[1,]", "is not valid JSON: Expecting value (line 1, column 4)"),
        (
            "{'a': 1}",
            "is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)",
        ),
        ("NaN", "contains NaN, which JSON does not allow"),
        ("[Infinity]", "contains Infinity, which JSON does not allow"),
        ("-Infinity", "contains -Infinity, which JSON does not allow"),
        ("[" * 100000 + "]" * 100000, "is nested too deeply; at most 64 levels are allowed"),
    ],
)
def test_parse_text_refuses(text: str, message: str) -> None:
    assert unparsable(text) == message


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
def test_round_trips(value: Any) -> None:
    coerced = JSON_TYPE.coerce(value, {}, CTX)
    assert JSON_TYPE.coerce(JSON_TYPE.to_json(coerced, {}, CTX), {}, CTX) == coerced
    text = JSON_TYPE.to_text(coerced, {}, CTX)
    assert "\n" not in text  # one line
    assert JSON_TYPE.coerce(JSON_TYPE.parse_text(text, {}, CTX), {}, CTX) == coerced


def test_text_and_definition() -> None:
    assert JSON_TYPE.to_text({"b": 1, "a": "中"}, {}, CTX) == '{"a":"中","b":1}'
    assert JSON_TYPE.to_text(None, {}, CTX) == ""
    assert JSON_TYPE.is_empty({})
    assert JSON_TYPE.is_empty([])
    assert not JSON_TYPE.is_empty(0)
    assert not JSON_TYPE.is_empty(False)
    assert not JSON_TYPE.sortable
    assert not JSON_TYPE.searchable
    assert JSON_TYPE.filter_operators == ("missing",)
    assert (JSON_TYPE.widget, JSON_TYPE.expr_type, JSON_TYPE.group) == ("json", "any", "advanced")
    assert JSON_TYPE.json_schema({"max_bytes": 100}) == {
        "description": "any JSON value, at most 100 bytes as compact JSON"
    }
    assert JSON_TYPE.max_bytes({}) == 65536
    assert JSON_TYPE.max_bytes({"max_bytes": 0}) == 65536
    assert JSON_TYPE.type_change({}, {"max_bytes": 10}) == "same"
    assert list(JSON_TYPE.check({"max_bytes": 10}, SCHEMA_CTX)) == []
    assert JSON_TYPE.default({"default": {"a": 1}}, CTX) == {"a": 1}
    column = JSON_TYPE.column_type({})
    assert isinstance(column, JSON)
    assert column.none_as_null
    assert isinstance(column.dialect_impl(postgresql.dialect()), postgresql.JSONB)


def test_storage_keeps_null_as_sql_null() -> None:
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("v", JSON_TYPE.column_type({})))
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": 1, "v": {"a": [1, "x"]}}, {"id": 2, "v": None}])
        assert conn.execute(select(table.c.v).where(table.c.id == 1)).scalar_one() == {"a": [1, "x"]}
        assert conn.exec_driver_sql("SELECT v IS NULL FROM t WHERE id = 2").scalar_one() == 1
