"""Choice field types: boolean, select, multi_select, and the option helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.dialects import postgresql

from opsloom.form_engine.fields.base import FieldContext, FieldType, FieldValueError, SchemaContext
from opsloom.form_engine.fields.choice import (
    BooleanType,
    MultiSelectType,
    SelectType,
    option_label,
    option_values,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

CTX = FieldContext()
ZH = FieldContext(locale="zh-CN")
SCHEMA_CTX = SchemaContext(entity={}, types={})
BOOLEAN, SELECT, MULTI = BooleanType(), SelectType(), MultiSelectType()

LEVEL = {"key": "level", "type": "select", "options": ["normal", "silver", "gold", "vip"]}
RICH = {
    "key": "stage",
    "type": "select",
    "options": [
        {"value": "lead", "label": {"en": "Lead", "zh": "线索"}, "color": "blue"},
        {"value": "won", "label": {"en": "Won", "zh": "已成交"}, "color": "#2a2"},
        {"value": "已流失", "label": "Lost"},
        "on hold",
    ],
}


def valid(ftype: FieldType, field: Mapping[str, Any], value: Any) -> bool:
    return Draft202012Validator(ftype.json_schema(field)).is_valid(value)


def refused(ftype: FieldType, value: Any, field: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        ftype.coerce(value, field or {}, CTX)
    return str(info.value)


def parsed(ftype: FieldType, text: str, field: Mapping[str, Any] | None = None) -> Any:
    return ftype.coerce(ftype.parse_text(text, field or {}, CTX), field or {}, CTX)


def stored(ftype: FieldType, field: Mapping[str, Any], value: Any) -> Any:
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("v", ftype.column_type(field)))
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v=value))
        null_check = conn.exec_driver_sql("SELECT v IS NULL FROM t").scalar_one()
        return conn.execute(select(table.c.v)).scalar_one(), bool(null_check)


# ---------------------------------------------------------------------- boolean


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), (1, True), (0, False), (None, None)]
)
def test_boolean_accepts(value: Any, expected: bool | None) -> None:
    assert BOOLEAN.coerce(value, {}, CTX) is expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2, "expects true or false; got the number 2"),
        (-1, "expects true or false; got the number -1"),
        (1.0, "expects true or false; got the number 1.0"),
        ("true", "expects true or false; got 'true'"),
        ([], "expects true or false; got a list"),
    ],
)
def test_boolean_refuses(value: Any, message: str) -> None:
    assert refused(BOOLEAN, value) == message


@pytest.mark.parametrize(
    "text",
    [
        "true",
        "TRUE",
        "True",
        "yes",
        "Y",
        "1",
        "on",
        "ON",
        "是",
        "对",
        "√",
        "✓",
        " yes ",
        "\uff59\uff45\uff53",
    ],
)
def test_boolean_parse_true(text: str) -> None:
    assert parsed(BOOLEAN, text) is True


@pytest.mark.parametrize("text", ["false", "FALSE", "no", "N", "0", "off", "否", "错", "\u00d7", "✗"])
def test_boolean_parse_false(text: str) -> None:
    assert parsed(BOOLEAN, text) is False


def test_boolean_parse_text_other() -> None:
    assert BOOLEAN.parse_text("", {}, CTX) is None
    assert BOOLEAN.parse_text("  ", {}, CTX) is None
    assert BOOLEAN.parse_text(True, {}, CTX) is True  # type: ignore[arg-type]  # a spreadsheet boolean
    with pytest.raises(FieldValueError) as info:
        BOOLEAN.parse_text("Maybe", {}, CTX)
    assert str(info.value) == "'maybe' is not yes or no; write true/false, yes/no, 1/0 or 是/否"
    with pytest.raises(FieldValueError):
        BOOLEAN.parse_text("2", {}, CTX)


def test_boolean_text_json_and_definition() -> None:
    assert BOOLEAN.to_text(True, {}, CTX) == "yes"
    assert BOOLEAN.to_text(False, {}, CTX) == "no"
    assert BOOLEAN.to_text(True, {}, ZH) == "是"
    assert BOOLEAN.to_text(False, {}, ZH) == "否"
    for value in (True, False):
        for ctx in (CTX, ZH):
            assert (
                BOOLEAN.coerce(BOOLEAN.parse_text(BOOLEAN.to_text(value, {}, ctx), {}, ctx), {}, ctx) is value
            )
            assert valid(BOOLEAN, {}, BOOLEAN.to_json(value, {}, ctx))
    assert not valid(BOOLEAN, {}, 1)
    assert BOOLEAN.to_json(False, {}, CTX) is False
    assert not BOOLEAN.is_empty(False)
    assert BOOLEAN.is_empty(None)
    assert isinstance(BOOLEAN.column_type({}), Boolean)
    assert BOOLEAN.json_schema({}) == {"type": ["boolean", "null"]}
    assert BOOLEAN.default({"default": False}, CTX) is False
    assert list(BOOLEAN.check({}, SCHEMA_CTX)) == []
    assert stored(BOOLEAN, {}, False) == (False, False)
    assert (BOOLEAN.widget, BOOLEAN.expr_type, BOOLEAN.label["zh"]) == ("checkbox", "boolean", "是/否")


# ---------------------------------------------------------------------- option helpers


def test_option_values_and_labels() -> None:
    assert option_values(LEVEL) == ["normal", "silver", "gold", "vip"]
    assert option_values(RICH) == ["lead", "won", "已流失", "on hold"]
    assert option_values({}) == []
    assert option_values({"options": "nope"}) == []
    assert option_values({"options": ["a", {"label": "no value"}, 3, {"value": "b"}]}) == ["a", "b"]
    assert option_label(RICH, "won", "zh") == "已成交"
    assert option_label(RICH, "won", "zh-CN") == "已成交"
    assert option_label(RICH, "won", "en") == "Won"
    assert option_label(RICH, "won", "fr") == "Won"
    assert option_label(RICH, "已流失", "zh") == "Lost"
    assert option_label(RICH, "on hold", "zh") == "on hold"
    assert option_label(RICH, "removed", "en") == "removed"
    assert option_label({"options": [{"value": "x", "label": {"zh": "叉"}}]}, "x", "en") == "叉"
    assert option_label({"options": [{"value": "x", "label": ""}]}, "x", "en") == "x"


# ---------------------------------------------------------------------- select


def test_select_accepts() -> None:
    assert SELECT.coerce("gold", LEVEL, CTX) == "gold"
    assert SELECT.coerce(" gold ", LEVEL, CTX) == "gold"
    assert SELECT.coerce("", LEVEL, CTX) is None
    assert SELECT.coerce("已流失", RICH, CTX) == "已流失"
    assert SELECT.coerce("on hold", RICH, CTX) == "on hold"


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("platinum", LEVEL, "'platinum' is not one of: normal, silver, gold, vip"),
        (
            "Gold",
            LEVEL,
            "'Gold' is not one of: normal, silver, gold, vip",
        ),  # coerce is exact; parse_text is not
        ("Won", RICH, "'Won' is not one of: lead, won, 已流失, on hold"),  # labels are for parse_text
        (1, LEVEL, "expects one of: normal, silver, gold, vip; got the number 1"),
        (["gold"], LEVEL, "expects one of: normal, silver, gold, vip; got a list"),
        (
            "z",
            {"options": [f"o{i}" for i in range(15)]},
            "'z' is not one of: o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, … (5 more)",
        ),
    ],
)
def test_select_refuses(value: Any, field: dict[str, Any], message: str) -> None:
    assert refused(SELECT, value, field) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("won", "won"),
        ("Won", "won"),  # English label
        ("已成交", "won"),  # Chinese label
        ("WON", "won"),  # case-insensitive, value or label
        ("lost", "已流失"),
        (" LEAD ", "lead"),
        ("On Hold", "on hold"),
        ("", None),
    ],
)
def test_select_parse_text(text: str, expected: str | None) -> None:
    assert parsed(SELECT, text, RICH) == expected


def test_select_parse_text_ambiguity_and_misses() -> None:
    field = {"options": [{"value": "a", "label": "Same"}, {"value": "b", "label": "same"}, "Apple", "apple"]}
    assert parsed(SELECT, "Same", field) == "a"  # exact label wins
    assert parsed(SELECT, "apple", field) == "apple"
    with pytest.raises(FieldValueError, match="'SAME' is not one of"):
        parsed(SELECT, "SAME", field)  # two options fold to it: refuse rather than guess
    with pytest.raises(FieldValueError, match="'diamond' is not one of: normal, silver, gold, vip"):
        parsed(SELECT, "diamond", LEVEL)


def test_select_text_json_and_schema() -> None:
    assert SELECT.to_json("won", RICH, CTX) == "won"
    assert SELECT.to_text("won", RICH, CTX) == "Won"
    assert SELECT.to_text("won", RICH, ZH) == "已成交"
    assert SELECT.to_text("gone", RICH, CTX) == "gone"
    for value in option_values(RICH):
        for ctx in (CTX, ZH):
            assert (
                SELECT.coerce(SELECT.parse_text(SELECT.to_text(value, RICH, ctx), RICH, ctx), RICH, ctx)
                == value
            )
            assert valid(SELECT, RICH, SELECT.to_json(value, RICH, ctx))
    assert SELECT.json_schema(LEVEL) == {
        "type": ["string", "null"],
        "enum": ["normal", "silver", "gold", "vip", None],
    }
    assert not valid(SELECT, LEVEL, "platinum")
    column = SELECT.column_type(LEVEL)
    assert isinstance(column, String)
    assert column.length == 100
    assert SELECT.type_change(LEVEL, RICH) == "same"
    assert SELECT.default({**LEVEL, "default": "normal"}, CTX) == "normal"
    assert stored(SELECT, LEVEL, "gold") == ("gold", False)
    assert (SELECT.widget, SELECT.expr_type, SELECT.filter_operators) == (
        "select",
        "text",
        ("==", "!=", "in", "missing"),
    )


def test_select_options_schema() -> None:
    schema = {"type": "object", "properties": SELECT.options_schema}
    validator = Draft202012Validator(schema)
    assert validator.is_valid(RICH)
    assert validator.is_valid(LEVEL)
    assert not validator.is_valid({"options": []})
    assert not validator.is_valid({"options": [{"label": "no value"}]})
    assert not validator.is_valid({"options": [{"value": "x", "color": "red; background: url(x)"}]})
    assert not validator.is_valid({"options": [{"value": "x", "extra": 1}]})
    assert not validator.is_valid({"options": ["x" * 101]})


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        (["a", "b"], []),
        ([], [("/options", "needs at least one option")]),
        (None, [("/options", "needs at least one option")]),
        ("a,b", [("/options", "needs at least one option")]),
        (["a", "b", "a"], [("/options/2", "'a' is listed twice (first as option 1)")]),
        (["a", {"value": "a"}], [("/options/1/value", "'a' is listed twice (first as option 1)")]),
        ([" a"], [("/options/0", "' a' has spaces at its start or end")]),
        (
            ["", "  "],
            [
                ("/options/0", "an option value cannot be blank"),
                ("/options/1", "an option value cannot be blank"),
            ],
        ),
        (["x" * 101], [("/options/0", "is 101 characters long; at most 100 are allowed")]),
        (["a\tb"], [("/options/0", "'a\\tb' contains a control character")]),
        (
            [3, {"value": None}],
            [
                ("/options/0", "an option value must be text"),
                ("/options/1/value", "an option value must be text"),
            ],
        ),
        (["已成交", "VIP 客户", "a,b"], []),  # free text, not identifiers
    ],
)
def test_select_check(options: Any, problems: list[tuple[str, str]]) -> None:
    assert list(SELECT.check({"options": options}, SCHEMA_CTX)) == problems
    assert list(MULTI.check({"options": options}, SCHEMA_CTX)) == problems


# ---------------------------------------------------------------------- multi_select

TAGS = {
    "key": "tags",
    "type": "multi_select",
    "options": [
        "new",
        "churn_risk",
        {"value": "vip", "label": {"en": "VIP", "zh": "贵宾"}},
        "Hong Kong, China",
    ],
}


def test_multi_select_accepts() -> None:
    assert MULTI.coerce(["vip", "new"], TAGS, CTX) == ["vip", "new"]  # the given order
    assert MULTI.coerce(["new", "vip", "new", " vip "], TAGS, CTX) == ["new", "vip"]  # deduplicated
    assert MULTI.coerce([], TAGS, CTX) is None  # nothing chosen is empty
    assert MULTI.coerce(["", " "], TAGS, CTX) is None
    assert MULTI.coerce(["Hong Kong, China"], TAGS, CTX) == ["Hong Kong, China"]


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("new", TAGS, "expects a list of options; got 'new'"),
        ({"new": True}, TAGS, "expects a list of options; got an object"),
        (["new", "gold"], TAGS, "'gold' is not one of: new, churn_risk, vip, Hong Kong, China"),
        (["new", 3], TAGS, "expects one of: new, churn_risk, vip, Hong Kong, China; got the number 3"),
        (["new", "vip", "churn_risk"], {**TAGS, "max_items": 2}, "has 3 choices; at most 2 are allowed"),
        (["new"], {**TAGS, "min_items": 2}, "has 1 choice; at least 2 are needed"),
    ],
)
def test_multi_select_refuses(value: Any, field: dict[str, Any], message: str) -> None:
    assert refused(MULTI, value, field) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("new, vip", ["new", "vip"]),
        ("new;vip", ["new", "vip"]),
        ("new|vip", ["new", "vip"]),
        ("new\uff0cVIP", ["new", "vip"]),  # full-width comma, label
        ("new\u3001贵宾", ["new", "vip"]),  # enumeration comma, Chinese label
        ("new\uff1bvip", ["new", "vip"]),
        ("new\nvip\r\nchurn_risk", ["new", "vip", "churn_risk"]),
        ("new,,new, ", ["new"]),
        ("Hong Kong, China", ["Hong Kong, China"]),  # a whole cell naming one option
        ("", None),
    ],
)
def test_multi_select_parse_text(text: str, expected: list[str] | None) -> None:
    assert parsed(MULTI, text, TAGS) == expected


def test_multi_select_parse_text_refuses() -> None:
    with pytest.raises(FieldValueError, match="'gold' is not one of"):
        parsed(MULTI, "new, gold", TAGS)


@given(st.lists(st.sampled_from(["new", "churn_risk", "vip"]), max_size=6))
def test_multi_select_round_trips(chosen: list[str]) -> None:
    coerced = MULTI.coerce(chosen, TAGS, CTX)
    as_json = MULTI.to_json(coerced, TAGS, CTX)
    assert valid(MULTI, TAGS, as_json)
    assert MULTI.coerce(as_json, TAGS, CTX) == coerced
    for ctx in (CTX, ZH):
        assert (
            MULTI.coerce(MULTI.parse_text(MULTI.to_text(coerced, TAGS, ctx), TAGS, ctx), TAGS, ctx) == coerced
        )


def test_multi_select_text_schema_and_definition() -> None:
    assert MULTI.to_text(["vip", "new"], TAGS, CTX) == "VIP, new"
    assert MULTI.to_text(["vip", "new"], TAGS, ZH) == "贵宾, new"
    assert MULTI.to_text(None, TAGS, CTX) == ""
    assert MULTI.to_json(("new",), TAGS, CTX) == ["new"]
    assert MULTI.json_schema({**TAGS, "min_items": 1, "max_items": 2}) == {
        "type": ["array", "null"],
        "items": {"type": "string", "enum": ["new", "churn_risk", "vip", "Hong Kong, China"]},
        "uniqueItems": True,
        "minItems": 1,
        "maxItems": 2,
    }
    assert not valid(MULTI, TAGS, ["gold"])
    assert not valid(MULTI, TAGS, "new")
    column = MULTI.column_type(TAGS)
    assert isinstance(column, JSON)
    assert isinstance(column.dialect_impl(postgresql.dialect()), postgresql.JSONB)
    assert MULTI.type_change(TAGS, {**TAGS, "max_items": 1}) == "same"
    assert not MULTI.sortable
    assert MULTI.filter_operators == ("in", "missing")
    assert (MULTI.widget, MULTI.expr_type) == ("multiselect", "list")
    assert MULTI.default({**TAGS, "default": ["new"]}, CTX) == ["new"]
    assert stored(MULTI, TAGS, ["new", "vip"]) == (["new", "vip"], False)
    assert stored(MULTI, TAGS, None) == (None, True)  # SQL NULL, not the JSON text null


def test_multi_select_check() -> None:
    assert list(MULTI.check({**TAGS, "min_items": 1, "max_items": 3}, SCHEMA_CTX)) == []
    assert list(MULTI.check({**TAGS, "min_items": 3, "max_items": 2}, SCHEMA_CTX)) == [
        ("/min_items", "is 3, more than max_items (2)")
    ]
    assert list(MULTI.check({**TAGS, "min_items": 5}, SCHEMA_CTX)) == [
        ("/min_items", "is 5, but there are only 4 options")
    ]
    assert list(MULTI.check({"options": []}, SCHEMA_CTX)) == [("/options", "needs at least one option")]
