"""Computed field types: auto_number, formula (typing, cycles, compute), rollup and lookup."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.types import JSON, Boolean, Date, DateTime, Float, String, Text

from opsloom.form_engine.fields import (
    FieldContext,
    FieldValueError,
    SchemaContext,
    computed,
    numbers,
    refs,
    structured,
    temporal,
    text,
)
from opsloom.form_engine.fields.computed import (
    AutoNumberType,
    FormulaType,
    LookupType,
    PatternError,
    RollupType,
    compute,
    period_key,
    render,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opsloom.form_engine.fields import FieldType

MODULES = (text, numbers, temporal, refs, structured, computed)
TYPES: dict[str, FieldType] = {t.name: t for module in MODULES for t in module.FIELD_TYPES}
AUTO, FORMULA, ROLLUP, LOOKUP = AutoNumberType(), FormulaType(), RollupType(), LookupType()
CTX = FieldContext(types=TYPES)


def entity(key: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "fields": list(fields)}


def app_ctx(home: Mapping[str, Any], *others: Mapping[str, Any]) -> SchemaContext:
    bodies = {body["key"]: body for body in (home, *others)}
    return SchemaContext(entity=home, types=TYPES, lookup_entity=bodies.get)


def field_of(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in body["fields"] if f["key"] == key)


def check(body: Mapping[str, Any], key: str, *others: Mapping[str, Any]) -> list[tuple[str, str]]:
    field = field_of(body, key)
    return list(TYPES[field["type"]].check(field, app_ctx(body, *others)))


def resolved(body: Mapping[str, Any], key: str, *others: Mapping[str, Any]) -> dict[str, Any]:
    field = field_of(body, key)
    return {**field, **TYPES[field["type"]].resolve(field, app_ctx(body, *others))}


# ---------------------------------------------------------------------- shared behaviour


@pytest.mark.parametrize("ftype", [AUTO, FORMULA, ROLLUP, LOOKUP], ids=repr)
def test_computed_values_are_never_taken_from_input(ftype: FieldType) -> None:
    assert ftype.computed
    assert ftype.group == "computed"
    for value in (1, None, "x"):
        with pytest.raises(FieldValueError, match=r"^is computed and cannot be set$"):
            ftype.coerce(value, {"key": "x", "type": ftype.name}, CTX)
    with pytest.raises(FieldValueError, match=r"^is computed and cannot be set$"):
        ftype.parse_text("1", {"key": "x", "type": ftype.name}, CTX)
    assert ftype.default({"key": "x", "type": ftype.name, "default": 3}, CTX) is None
    assert ftype.json_schema({"key": "x", "type": ftype.name})["readOnly"] is True


# ---------------------------------------------------------------------- auto_number


@pytest.mark.parametrize(
    ("pattern", "when", "seq", "number"),
    [
        ("C{YYYY}{seq:6}", datetime(2026, 11, 3, 9), 42, "C2026000042"),
        ("{seq:6}", datetime(2026, 11, 3), 1, "000001"),
        ("INV-{YY}{MM}-{seq:4}", date(2026, 2, 5), 17, "INV-2602-0017"),
        ("T/{YYYY}.{MM}.{DD}_{seq:3}", datetime(2026, 2, 5), 7, "T/2026.02.05_007"),
        ("C{YYYY}{seq:3}", datetime(2026, 1, 1), 12345, "C202612345"),  # wider than N: grows
    ],
)
def test_render(pattern: str, when: datetime, seq: int, number: str) -> None:
    assert render(pattern, when, seq) == number


@pytest.mark.parametrize(
    ("pattern", "key"),
    [
        ("{seq:6}", ""),
        ("C{YYYY}{seq:6}", "2026"),
        ("C{YY}{seq:6}", "26"),
        ("C{YYYY}{MM}{seq:6}", "202611"),
        ("{MM}{YYYY}-{seq:6}", "202611"),  # year first whatever the order shown
        ("{YY}{YYYY}{MM}{DD}{seq:2}", "20261103"),
        ("{MM}-{seq:4}", "11"),
    ],
)
def test_period_key(pattern: str, key: str) -> None:
    assert period_key(pattern, datetime(2026, 11, 3, 23, 59)) == key


def test_period_changes_with_the_year() -> None:
    pattern = "C{YYYY}{seq:6}"
    last, first = datetime(2026, 12, 31, 23, 59), datetime(2027, 1, 1, 0, 1)
    assert period_key(pattern, last) == "2026" != period_key(pattern, first) == "2027"
    assert render(pattern, first, 1) == "C2027000001"
    assert period_key("{seq:6}", last) == period_key("{seq:6}", first)  # no date: never resets
    assert period_key("{MM}{seq:4}", datetime(2026, 11, 3)) == period_key(
        "{MM}{seq:4}", datetime(2027, 11, 3)
    )


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("C{YYYY}", "the pattern needs a {seq:N} token (such as {seq:6})"),
        ("{seq:3}{seq:3}", "the pattern has 2 {seq:N} tokens; it needs exactly one"),
        ("{seq:13}", "{seq:N} takes N from 1 to 12; got 13"),
        ("{seq:0}", "{seq:N} takes N from 1 to 12; got 0"),
        (
            "C{yyyy}{seq:4}",
            "unexpected '{yyyy}' at position 2; use {YYYY}, {YY}, {MM}, {DD}, {seq:N} and letters, digits, - _ / .",
        ),
        (
            "C#{seq:4}",
            "unexpected '#' at position 2; use {YYYY}, {YY}, {MM}, {DD}, {seq:N} and letters, digits, - _ / .",
        ),
        (
            "C {seq:4}",
            "unexpected ' ' at position 2; use {YYYY}, {YY}, {MM}, {DD}, {seq:N} and letters, digits, - _ / .",
        ),
        (
            "{seq:4",
            "unexpected '{seq:4' at position 1; use {YYYY}, {YY}, {MM}, {DD}, {seq:N} and letters, digits, - _ / .",
        ),
        ("X" * 60 + "{seq:6}", "numbers from this pattern are 66 characters long; at most 64 fit"),
    ],
)
def test_bad_patterns(pattern: str, message: str) -> None:
    assert list(
        AUTO.check({"key": "code", "type": "auto_number", "pattern": pattern}, app_ctx(entity("c")))
    ) == [("/pattern", message)]
    with pytest.raises(PatternError):
        render(pattern, datetime(2026, 1, 1), 1)


def test_auto_number_field() -> None:
    field = {"key": "code", "type": "auto_number"}
    assert list(AUTO.check(field, app_ctx(entity("c")))) == []  # the default pattern
    assert AUTO.pattern(field) == "{seq:6}"
    column = AUTO.column_type(field)
    assert isinstance(column, String)
    assert column.length == 64
    assert (AUTO.sortable, AUTO.searchable, AUTO.expr_type) == (True, True, "text")
    assert AUTO.to_json("C2026000042", field, CTX) == "C2026000042"
    assert AUTO.to_text(None, field, CTX) == ""
    assert AUTO.type_change(field, {**field, "pattern": "X{seq:2}"}) == "same"
    with pytest.raises(ValueError, match="cannot be negative"):
        render("{seq:2}", date(2026, 1, 1), -1)


# ---------------------------------------------------------------------- formula: typing

CUSTOMER = entity(
    "customer",
    {"key": "name", "type": "text"},
    {"key": "level", "type": "text"},
    {"key": "birthday", "type": "date"},
    {"key": "company", "type": "relation", "target": "customer"},
    {"key": "tags", "type": "relation", "target": "customer", "many": True},
    {"key": "spent", "type": "currency"},
    {"key": "code", "type": "auto_number"},
    {"key": "vip_gap", "type": "formula", "formula": 'IF(level = "vip", 0, 10000 - spent)'},
    {"key": "label", "type": "formula", "formula": 'CONCAT(name, " ", code)'},
    {"key": "is_vip", "type": "formula", "expr": {"==": [{"var": "level"}, "vip"]}},
    {"key": "next_call", "type": "formula", "formula": 'DATE_ADD(birthday, 7, "day")'},
    {"key": "gap_twice", "type": "formula", "formula": "vip_gap * 2"},
    {"key": "mixed", "type": "formula", "formula": 'IF(is_vip, 1, "none")'},
    {"key": "age_days", "type": "formula", "formula": 'DATEDIF(birthday, TODAY(), "d")'},
)


@pytest.mark.parametrize(
    ("key", "result_type", "column"),
    [
        ("vip_gap", "number", Float),
        ("label", "text", Text),
        ("is_vip", "boolean", Boolean),
        ("next_call", "date", Date),
        ("gap_twice", "number", Float),  # through another formula
        ("mixed", "any", JSON),
    ],
)
def test_formula_result_types(key: str, result_type: str, column: type) -> None:
    assert check(CUSTOMER, key) == []
    field = resolved(CUSTOMER, key)
    assert field["result_type"] == result_type
    assert isinstance(FORMULA.column_type(field), column)


def test_formula_facts() -> None:
    field = resolved(CUSTOMER, "vip_gap")
    assert field["expr"] == {"if": [{"==": [{"var": "level"}, "vip"]}, 0, {"-": [10000, {"var": "spent"}]}]}
    assert field["depends_on"] == ["level", "spent"]
    assert resolved(CUSTOMER, "is_vip")["expr"] == {"==": [{"var": "level"}, "vip"]}
    assert FORMULA.json_schema(field) == {"type": ["number", "null"], "readOnly": True}


def test_datetime_results_use_an_aware_column() -> None:
    body = entity("x", {"key": "at", "type": "formula", "formula": "NOW()"})
    field = resolved(body, "at")
    assert field["result_type"] == "datetime"
    column = FORMULA.column_type(field)
    assert isinstance(column, DateTime)
    assert column.timezone


def test_relation_paths_system_fields_and_context_are_known() -> None:
    body = entity(
        "x",
        {"key": "company", "type": "relation", "target": "x"},
        {"key": "f", "type": "formula", "formula": "CONCAT(company.name, id, _created_at, _user.name)"},
    )
    assert check(body, "f") == []
    assert resolved(body, "f")["depends_on"] == ["_created_at", "_user.name", "company.name", "id"]


@pytest.mark.parametrize(
    ("field", "problems"),
    [
        (
            {"key": "f", "type": "formula", "formula": "totl * 2"},
            [("/formula", "formula uses 'totl', which is not a field of this entity")],
        ),
        (
            {"key": "f", "type": "formula", "formula": "comp.name"},
            [("/formula", "formula uses 'comp.name', which is not a field of this entity")],
        ),
        (
            {"key": "f", "type": "formula", "formula": "name > 3"},
            [("/formula", "`name` is text, `>` needs a number")],
        ),
        (
            {"key": "f", "type": "formula", "expr": {"and": [True, {">": [{"var": "name"}, 3]}]}},
            [("/expr/and/1/>/0", "`name` is text, `>` needs a number")],
        ),
        (
            {"key": "f", "type": "formula", "expr": {"and": [True, {"frobnicate": [1]}]}},
            [("/expr/and/1", "unknown operator `frobnicate`")],
        ),
        (
            {"key": "f", "type": "formula", "formula": "1 +* 2"},
            [("/formula", "expected a value after '+' (line 1, column 4)")],
        ),
        (
            {"key": "f", "type": "formula", "formula": "IF(a,\n  (b"},
            [("/formula", "missing ')': a parenthesis was opened but never closed (line 2, column 5)")],
        ),
        (
            {"key": "f", "type": "formula", "formula": "tags > 1"},
            [("/formula", "`tags` is a list; `>` compares single values")],
        ),
        (
            {"key": "f", "type": "formula", "formula": "1", "expr": 1},
            [("/expr", "give either formula (text) or expr (JSON), not both")],
        ),
        ({"key": "f", "type": "formula"}, [("/formula", "a formula field needs a formula (or an expr)")]),
    ],
)
def test_formula_problems(field: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    body = {**CUSTOMER, "fields": [*CUSTOMER["fields"], field]}
    assert check(body, "f") == problems
    assert FORMULA.resolve(field, app_ctx(body))["result_type"] == "any"


def test_formula_cycles() -> None:
    body = entity(
        "x",
        {"key": "n", "type": "number"},
        {"key": "a", "type": "formula", "formula": "b + 1"},
        {"key": "b", "type": "formula", "expr": {"+": [{"var": "a"}, {"var": "n"}]}},
        {"key": "me", "type": "formula", "formula": "me + 1"},
        {"key": "c", "type": "formula", "formula": "a * 2"},
    )
    assert check(body, "a") == [("/formula", "formulas a -> b -> a depend on each other")]
    assert check(body, "b") == [("/expr", "formulas b -> a -> b depend on each other")]
    assert check(body, "me") == [("/formula", "formulas me -> me depend on each other")]
    assert check(body, "c") == []  # reads a cycle but is not part of it: a and b report it
    assert FORMULA.resolve(field_of(body, "a"), app_ctx(body)) == {
        "result_type": "any",
        "expr": None,
        "depends_on": [],
    }
    assert resolved(body, "c")["result_type"] == "number"


def test_formula_type_change_recomputes() -> None:
    number, text_ = {"result_type": "number"}, {"result_type": "text"}
    assert FORMULA.type_change(number, {"result_type": "number"}) == "same"
    assert FORMULA.type_change(number, text_) == "widen"
    assert FORMULA.type_change({"result_type": "list"}, {"result_type": "any"}) == "same"  # both JSON


# ---------------------------------------------------------------------- formula: compute


def test_compute_evaluates_the_resolved_formula() -> None:
    field = resolved(CUSTOMER, "vip_gap")
    assert compute(field, {"level": "vip", "spent": 300}) == 0
    assert compute(field, {"level": "gold", "spent": 300.5}) == 9699.5
    hits = computed._compiled.cache_info().hits
    compute(field, {"level": "gold", "spent": 1})
    assert computed._compiled.cache_info().hits == hits + 1  # compiled once per expression


def test_compute_uses_the_context_and_fits_the_column() -> None:
    now = {"_now": datetime(2026, 11, 30, 20, 0), "tz": "UTC"}
    assert compute(resolved(CUSTOMER, "next_call"), {"birthday": "2026-01-01"}, now) == date(2026, 1, 8)
    assert compute(resolved(CUSTOMER, "age_days"), {"birthday": "2026-11-20"}, now) == 10
    assert compute(resolved(CUSTOMER, "label"), {"name": "Ann", "code": 7}) == "Ann 7"
    assert compute(resolved(CUSTOMER, "is_vip"), {"level": "vip"}) is True


def test_compute_errors_give_an_empty_value() -> None:
    broken = {"expr": {"regex_match": [{"var": "name"}, "("]}, "result_type": "boolean"}
    assert compute(broken, {"name": "x"}) is None
    assert compute({"expr": {"/": [1, {"var": "n"}]}, "result_type": "number"}, {"n": 0}) is None
    assert compute({"expr": None, "result_type": "number"}, {}) is None
    assert compute({"expr": {"no_such_op": [1]}, "result_type": "any"}, {}) is None
    # a value that does not fit the inferred column is empty too
    assert compute({"expr": {"var": "x"}, "result_type": "number"}, {"x": "abc"}) is None
    assert compute({"expr": {"var": "x"}, "result_type": "date"}, {"x": "soon"}) is None


def test_formula_output() -> None:
    field = resolved(CUSTOMER, "next_call")
    assert FORMULA.to_json(date(2026, 1, 8), field, CTX) == "2026-01-08"
    assert FORMULA.to_text(date(2026, 1, 8), field, CTX) == "2026-01-08"
    assert FORMULA.to_text(3.0, resolved(CUSTOMER, "vip_gap"), CTX) == "3"
    assert FORMULA.to_text(["a", 1], {"result_type": "list"}, CTX) == '["a",1]'
    assert FORMULA.to_text(True, {"result_type": "boolean"}, CTX) == "true"


# ---------------------------------------------------------------------- rollup

ORDER = entity(
    "order",
    {"key": "customer", "type": "relation", "target": "customer"},
    {"key": "company", "type": "relation", "target": "company"},
    {"key": "amount", "type": "currency"},
    {"key": "placed", "type": "date"},
    {"key": "note", "type": "text"},
    {"key": "status", "type": "text"},
    {"key": "net", "type": "formula", "formula": "amount * 0.9"},
)


def rollup_home(**source: Any) -> dict[str, Any]:
    return entity(
        "customer", {"key": "name", "type": "text"}, {"key": "r", "type": "rollup", "source": source}
    )


@pytest.mark.parametrize(
    ("source", "result_type", "column"),
    [
        ({"entity": "order", "link": "customer", "field": "amount", "fn": "sum"}, "number", Float),
        ({"entity": "order", "link": "customer", "fn": "count"}, "number", Float),
        ({"entity": "order", "link": "customer", "field": "note", "fn": "count"}, "number", Float),
        (
            {"entity": "order", "link": "customer", "field": "net", "fn": "avg"},
            "number",
            Float,
        ),  # a formula there
        ({"entity": "order", "link": "customer", "field": "placed", "fn": "min"}, "date", Date),
        (
            {
                "entity": "order",
                "link": "customer",
                "field": "amount",
                "fn": "max",
                "filter": {"==": [{"var": "status"}, "paid"]},
            },
            "number",
            Float,
        ),
    ],
)
def test_rollups(source: dict[str, Any], result_type: str, column: type) -> None:
    home = rollup_home(**source)
    assert check(home, "r", ORDER) == []
    field = resolved(home, "r", ORDER)
    assert field["result_type"] == result_type
    assert isinstance(ROLLUP.column_type(field), column)
    assert ROLLUP.json_schema(field)["readOnly"] is True


@pytest.mark.parametrize(
    ("source", "problems"),
    [
        (
            {"entity": "ordr", "link": "customer", "field": "amount", "fn": "sum"},
            [("/source/entity", "there is no entity 'ordr' in this app")],
        ),
        (
            {"entity": "order", "link": "custmer", "field": "amount", "fn": "sum"},
            [("/source/link", "order has no field 'custmer'")],
        ),
        (
            {"entity": "order", "link": "note", "field": "amount", "fn": "sum"},
            [("/source/link", "order.note is a text field, not a relation")],
        ),
        (
            {"entity": "order", "link": "company", "field": "amount", "fn": "sum"},
            [("/source/link", "order.company links to 'company', not to 'customer'")],
        ),
        (
            {"entity": "order", "link": "customer", "fn": "sum"},
            [("/source/field", "sum needs a field of order to aggregate")],
        ),
        (
            {"entity": "order", "link": "customer", "field": "amout", "fn": "sum"},
            [("/source/field", "order has no field 'amout'")],
        ),
        (
            {"entity": "order", "link": "customer", "field": "note", "fn": "sum"},
            [("/source/field", "order.note is text; sum needs a number")],
        ),
        (
            {"entity": "order", "link": "customer", "field": "placed", "fn": "avg"},
            [("/source/field", "order.placed is a date; avg needs a number")],
        ),
        (
            {"entity": "order", "link": "customer", "field": "note", "fn": "max"},
            [("/source/field", "order.note is text; max needs a number, a date or a date-time")],
        ),
        (
            {"entity": "order", "link": "customer", "field": "amount", "fn": "median"},
            [("/source/fn", "fn must be one of sum, count, avg, min, max; got 'median'")],
        ),
        (
            {
                "entity": "order",
                "link": "customer",
                "fn": "count",
                "filter": {"==": [{"var": "stat"}, "paid"]},
            },
            [("/source/filter", "filter uses 'stat', which is not a field of order")],
        ),
        (
            {"entity": "order", "link": "customer", "fn": "count", "filter": {">": [{"var": "status"}, 3]}},
            [("/source/filter/>/0", "`status` is text, `>` needs a number")],
        ),
    ],
)
def test_rollup_problems(source: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    assert check(rollup_home(**source), "r", ORDER) == problems


def test_rollup_over_its_own_entity() -> None:
    """A tree: a parent's total over its children."""
    body = entity(
        "task",
        {"key": "parent", "type": "relation", "target": "task"},
        {"key": "hours", "type": "number"},
        {
            "key": "total",
            "type": "rollup",
            "source": {"entity": "task", "link": "parent", "field": "hours", "fn": "sum"},
        },
    )
    assert check(body, "total") == []


def test_computed_fields_across_entities_may_not_depend_on_each_other() -> None:
    customer = entity(
        "customer",
        {
            "key": "total",
            "type": "rollup",
            "source": {"entity": "order", "link": "customer", "field": "x", "fn": "sum"},
        },
    )
    order = entity(
        "order",
        {"key": "customer", "type": "relation", "target": "customer"},
        {"key": "x", "type": "lookup", "relation": "customer", "field": "total"},
    )
    assert check(customer, "total", order) == [
        ("/source/field", "computed fields total -> order.x -> total depend on each other")
    ]
    assert check(order, "x", customer) == [
        ("/field", "computed fields x -> customer.total -> x depend on each other")
    ]
    assert ROLLUP.resolve(field_of(customer, "total"), app_ctx(customer, order)) == {"result_type": "number"}


# ---------------------------------------------------------------------- lookup

LOOKING = entity(
    "order",
    {"key": "customer", "type": "relation", "target": "customer"},
    {"key": "tags", "type": "relation", "target": "customer", "many": True},
    {"key": "note", "type": "text"},
    {"key": "lk", "type": "lookup", "relation": "customer", "field": "birthday"},
)
TARGET = entity(
    "customer",
    {"key": "name", "type": "text", "max_length": 50},
    {"key": "birthday", "type": "date"},
    {"key": "spent", "type": "currency"},
    {"key": "gap", "type": "formula", "formula": "10000 - spent"},
    {"key": "contacts", "type": "subtable", "fields": [{"key": "n", "type": "text"}]},
    {"key": "friends", "type": "relation", "target": "customer", "many": True},
)


def looking(**options: Any) -> dict[str, Any]:
    return {**LOOKING, "fields": [*LOOKING["fields"][:3], {"key": "lk", "type": "lookup", **options}]}


def test_lookup_resolves_to_the_target_field() -> None:
    assert check(LOOKING, "lk", TARGET) == []
    field = resolved(LOOKING, "lk", TARGET)
    assert field["result_type"] == "date"
    assert field["target_type"] == "date"
    assert field["target_field"] == {"key": "birthday", "type": "date"}
    assert isinstance(LOOKUP.column_type(field), Date)
    assert LOOKUP.json_schema(field) == {"type": ["string", "null"], "format": "date", "readOnly": True}
    assert LOOKUP.to_json(date(2026, 2, 28), field, CTX) == "2026-02-28"  # the date type's output
    assert LOOKUP.to_text(date(2026, 2, 28), field, CTX) == TYPES["date"].to_text(date(2026, 2, 28), {}, CTX)


def test_lookup_of_a_formula_carries_its_resolved_type() -> None:
    field = resolved(looking(relation="customer", field="gap"), "lk", TARGET)
    assert field["result_type"] == "number"
    assert field["target_field"]["expr"] == {"-": [10000, {"var": "spent"}]}
    assert isinstance(LOOKUP.column_type(field), Float)


def test_lookup_of_text_and_its_use_in_a_formula() -> None:
    body = looking(relation="customer", field="name")
    body["fields"].append({"key": "shout", "type": "formula", "formula": "UPPER(lk)"})
    body["fields"].append({"key": "bad", "type": "formula", "formula": "lk * 2"})
    assert resolved(body, "lk", TARGET)["result_type"] == "text"
    assert check(body, "shout", TARGET) == []
    assert check(body, "bad", TARGET) == [("/formula", "`lk` is text, `*` needs a number")]


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ({"field": "name"}, [("/relation", "a lookup needs the relation field it reads through")]),
        ({"relation": "cust", "field": "name"}, [("/relation", "there is no field 'cust' in this entity")]),
        (
            {"relation": "note", "field": "name"},
            [("/relation", "'note' is a text field; a lookup needs a relation")],
        ),
        (
            {"relation": "tags", "field": "name"},
            [("/relation", "'tags' links many records; a lookup needs a relation to one record")],
        ),
        ({"relation": "customer"}, [("/field", "a lookup needs the field of customer to show")]),
        ({"relation": "customer", "field": "nme"}, [("/field", "customer has no field 'nme'")]),
        (
            {"relation": "customer", "field": "contacts"},
            [("/field", "customer.contacts holds rows of a subtable; a lookup copies a single value")],
        ),
        (
            {"relation": "customer", "field": "friends"},
            [("/field", "customer.friends holds links to many records; a lookup copies a single value")],
        ),
    ],
)
def test_lookup_problems(options: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    assert check(looking(**options), "lk", TARGET) == problems
    assert LOOKUP.resolve(field_of(looking(**options), "lk"), app_ctx(looking(**options), TARGET)) == {
        "result_type": "any"
    }


def test_lookup_through_a_relation_to_a_missing_entity() -> None:
    body = entity(
        "order",
        {"key": "c", "type": "relation", "target": "gone"},
        {"key": "lk", "type": "lookup", "relation": "c", "field": "x"},
    )
    assert check(body, "lk") == [("/relation", "'c' links to 'gone', which is not an entity of this app")]


def test_lookup_without_resolution_falls_back() -> None:
    field = {"key": "lk", "type": "lookup", "relation": "customer", "field": "name"}
    assert isinstance(LOOKUP.column_type(field), JSON)
    assert LOOKUP.to_json(date(2026, 1, 1), field, CTX) == "2026-01-01"
    assert Draft202012Validator(LOOKUP.json_schema(field)).is_valid("anything")
    assert LOOKUP.type_change({"result_type": "text"}, {"result_type": "date"}) == "widen"
