"""Static checks: ``free_vars`` for dependency tracking and ``infer_type`` for publish-time refusal."""

from __future__ import annotations

from typing import Any

import pytest

from opsloom.platform.expr import (
    ExprTypeError,
    ExprUnknownOperatorError,
    free_vars,
    infer_type,
    parse_formula,
)

FIELDS = {
    "amount": "currency",
    "name": "text",
    "level": "select",
    "birthday": "date",
    "signed_at": "datetime",
    "vip": "boolean",
    "tags": "multi_select",
    "customer": "relation",
    "qty": "number",
    "lines": "subtable",
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"var": "amount"}, {"amount"}),
        ({"==": [{"var": "customer.level"}, "vip"]}, {"customer.level"}),
        ({"var": ["amount", {"var": "qty"}]}, {"amount", "qty"}),
        ({"map": [{"var": "lines"}, {"var": "qty"}]}, {"lines"}),
        (
            {
                "reduce": [
                    {"var": "lines"},
                    {"+": [{"var": "accumulator"}, {"var": "current.qty"}]},
                    {"var": "base"},
                ]
            },
            {"lines", "base"},
        ),
        ({"missing": ["a", "b.c"]}, {"a", "b.c"}),
        ({"missing_some": [1, ["phone", "email"]]}, {"phone", "email"}),
        ({"changed": ["status"]}, {"status"}),
        ({"==": [{"var": "owner"}, {"var": "_user.id"}]}, {"owner", "_user.id"}),
        ({"var": {"cat": ["a", "b"]}}, set()),
        ({"var": ""}, set()),
        ({"var": 1}, {"1"}),
        ({"days_until": [{"var": "birthday"}, {"anniversary": True}]}, {"birthday"}),
        ([{"var": "a"}, {"if": [{"var": "b"}, {"var": "c"}, 1]}], {"a", "b", "c"}),
    ],
)
def test_free_vars(expr: Any, expected: set[str]) -> None:
    assert free_vars(expr) == expected


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("amount > 1000", "boolean"),
        ("amount + qty", "number"),
        ('IF(vip, "A", "B")', "text"),
        ("IF(vip, 1)", "number"),
        ('IF(vip, 1, "x")', "any"),
        ('name & " " & amount', "text"),
        ("TODAY()", "date"),
        ('DATEADD(birthday, "P1D")', "date"),
        ('DATEADD(signed_at, "PT1H")', "datetime"),
        ('DATEDIF(birthday, TODAY(), "y")', "number"),
        ("DAYS_UNTIL(birthday, TRUE) <= 7", "boolean"),
        ('birthday > "2024-01-01"', "boolean"),
        ('amount > "1000"', "boolean"),
        ('level IN ("gold", "vip")', "boolean"),
        ('"vip" IN tags', "boolean"),
        ("COALESCE(amount, 0)", "number"),
        ("customer.level", "any"),
        ("_user.id", "any"),
        ("AND(vip, amount > 1)", "boolean"),
        ("NULL", "null"),
        ("LEN(tags)", "number"),
    ],
)
def test_infer_type(formula: str, expected: str) -> None:
    assert infer_type(parse_formula(formula), FIELDS) == expected


@pytest.mark.parametrize(
    ("formula", "message", "path"),
    [
        ("name > 1000", "`name` is text, `>` needs a number", "/>/0"),
        ("name * 2", "`name` is text, `*` needs a number", "/*/0"),
        ("IF(vip, birthday > 5, 0)", "5 is a number, `>` needs a date", "/if/1/>/1"),
        ('birthday < "soon"', "needs a date", "/</1"),
        ("YEAR(amount)", "`amount` is a number, `year` needs a date", "/year/0"),
        ("tags > 1", "`tags` is a list; `>` compares single values", "/>/0"),
        ("nope = 1", "`nope` is not a field", "/==/0"),
        ("MAP(name, 1)", "`map` needs a list", "/map/0"),
        ("amount IN 5", "`in` looks inside a list or a text", "/in/1"),
    ],
)
def test_type_errors(formula: str, message: str, path: str) -> None:
    with pytest.raises(ExprTypeError) as info:
        infer_type(parse_formula(formula), FIELDS)
    assert message in info.value.detail
    assert info.value.path == path


def test_unknown_operator_in_type_check() -> None:
    with pytest.raises(ExprUnknownOperatorError):
        infer_type({"nope": [1]}, FIELDS)


def test_item_scope_is_untyped() -> None:
    assert infer_type({"filter": [{"var": "lines"}, {">": [{"var": "qty"}, 1]}]}, FIELDS) == "list"
    assert infer_type({"all": [{"var": "lines"}, {">": [{"var": "anything"}, 1]}]}, FIELDS) == "boolean"
