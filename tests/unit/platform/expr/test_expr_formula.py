"""Formula syntax: Excel precedence, literals and names, friendly errors, and the JSON round trip."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloom.platform.expr import (
    ExprLimitError,
    ExprParseError,
    Limits,
    default_registry,
    evaluate,
    normalize,
    parse_formula,
    to_formula,
)

DOCS = Path(__file__).resolve().parents[4] / "docs" / "expressions.md"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", {"+": [1, {"*": [2, 3]}]}),
        ("(1 + 2) * 3", {"*": [{"+": [1, 2]}, 3]}),
        ("1 - 2 - 3", {"-": [{"-": [1, 2]}, 3]}),
        ("1 + 2 + 3", {"+": [1, 2, 3]}),
        ("(1 + 2) + 3", {"+": [{"+": [1, 2]}, 3]}),
        ("8 / 4 / 2", {"/": [{"/": [8, 4]}, 2]}),
        ("-2 * 3", {"*": [-2, 3]}),
        ("-x * 3", {"*": [{"-": [{"var": "x"}]}, 3]}),
        ("-(5)", {"-": [5]}),
        ('"a" & 1 + 2', {"cat": ["a", {"+": [1, 2]}]}),
        ('a & b & "c"', {"cat": [{"var": "a"}, {"var": "b"}, "c"]}),
        ("1 + 2 = 3", {"==": [{"+": [1, 2]}, 3]}),
        ("a <> b", {"!=": [{"var": "a"}, {"var": "b"}]}),
        ("a >= 1.5e3", {">=": [{"var": "a"}, 1500.0]}),
        ('level IN ("gold", "vip")', {"in": [{"var": "level"}, ["gold", "vip"]]}),
        ('level in ("vip")', {"in": [{"var": "level"}, ["vip"]]}),
        ('"Spring" IN city', {"in": ["Spring", {"var": "city"}]}),
        ("x NOT IN (1, 2)", {"!": [{"in": [{"var": "x"}, [1, 2]]}]}),
        ("index > 1", {">": [{"var": "index"}, 1]}),
        ("customer.level", {"var": "customer.level"}),
        ('[客户 等级] = "VIP"', {"==": [{"var": "客户 等级"}, "VIP"]}),
        ("客户等级 = 1", {"==": [{"var": "客户等级"}, 1]}),
        ("[a]]b]", {"var": "a]b"}),
        ("TRUE", True),
        ("false", False),
        ("Null", None),
        ('"say ""hi"""', 'say "hi"'),
        ('"tab\\tquote\\"back\\\\ \\u4e2d"', 'tab\tquote"back\\ 中'),
        ("IF(a, 1)", {"if": [{"var": "a"}, 1]}),
        ("IFS(a, 1, b, 2, 3)", {"if": [{"var": "a"}, 1, {"var": "b"}, 2, 3]}),
        ("AND(a, OR(b, NOT(c)))", {"and": [{"var": "a"}, {"or": [{"var": "b"}, {"!": [{"var": "c"}]}]}]}),
        ("SUM(1, 2)", {"+": [1, 2]}),
        ("AVERAGE(a, b)", {"avg": [{"var": "a"}, {"var": "b"}]}),
        ("MOD(a, 2)", {"%": [{"var": "a"}, 2]}),
        ("LEN(name)", {"length": [{"var": "name"}]}),
        ('DATEDIF(birthday, TODAY(), "d")', {"date_diff": [{"var": "birthday"}, {"today": []}, "d"]}),
        ('DATEADD(start, "P30D")', {"date_add": [{"var": "start"}, "P30D"]}),
        ("ISBLANK(x)", {"is_empty": [{"var": "x"}]}),
        ('regex_match(code, "^A")', {"regex_match": [{"var": "code"}, "^A"]}),
        ('VAR("a", 0)', {"var": ["a", 0]}),
        ("ARRAY(1, 2)", [1, 2]),
        ('LOGIC("{\\"<\\": [1, 2, 3]}")', {"<": [1, 2, 3]}),
        ("1 +\n  2", {"+": [1, 2]}),
    ],
)
def test_parse(text: str, expected: Any) -> None:
    assert parse_formula(text) == expected


def test_the_issue_example() -> None:
    expr = parse_formula('IF(AND(amount > 1000, level IN ("gold","vip")), "A", "B")')
    assert evaluate(expr, {"amount": 1500, "level": "vip"}) == "A"
    assert evaluate(expr, {"amount": 1500, "level": "normal"}) == "B"


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("1 +", "expected a value after '+'", 1, 4),
        ("1 + * 2", "expected a value after '+'", 1, 5),
        ("IF(a, b", "missing ')'", 1, 8),
        ("a < b < c", "comparisons cannot be chained", 1, 7),
        ('"abc', "missing its closing quote", 1, 1),
        ("[abc", "missing its closing bracket", 1, 1),
        ("FOO(1)", "unknown function FOO", 1, 1),
        ("a b", "missing an operator or ',' before 'b'", 1, 3),
        (")", "cannot start with ')'", 1, 1),
        ("IF(a,,b)", "expected a value after ','", 1, 6),
        ("1 +\n  2 +", "expected a value after '+'", 2, 6),
        ("SUM(1;2)", "commas", 1, 6),
        ("'gold'", "straight double quotes", 1, 1),
        ('"\\q"', "unknown escape", 1, 1),
        ("", "empty", 1, 1),
    ],
)
def test_friendly_errors(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(ExprParseError) as info:
        parse_formula(text)
    error = info.value
    assert message in error.reason
    assert (error.line, error.column) == (line, column)
    assert error.status == 422
    if text:
        assert error.excerpt.splitlines()[-1].index("^") == column + 1  # two spaces of indent


def test_formula_limits() -> None:
    with pytest.raises(ExprLimitError):
        parse_formula("1+" * 20 + "1", limits=Limits(max_formula_length=10))
    assert parse_formula("(" * 200 + "1" + ")" * 200) == 1  # parentheses add no depth
    with pytest.raises(ExprLimitError):
        parse_formula("ABS(" * 200 + "1" + ")" * 200)
    with pytest.raises(ExprLimitError):
        parse_formula("ABS(" * 4000 + "1" + ")" * 4000)
    with pytest.raises(ExprLimitError):
        parse_formula("-" * 300 + "x")


@pytest.mark.parametrize(
    "expr",
    [
        {"<": [1, 2, 3]},
        {"?:": [True, 1, 2]},
        {"-": [1, 2, 3]},
        {"var": ""},
        {"var": []},
        {"var": [["a"]]},
        {"var": 1},
        {"in": [1, {"cat": ["a", "b"]}]},
        {"in": [1, -5]},
        {"==": [{}, {"a": 1, "b": 2}]},
        {"map": [{"var": "xs"}, {"*": [{"var": ""}, 2]}]},
        {"!": {"var": "a"}},
        {"days_until": [{"var": "birthday"}, {"anniversary": True}]},
        {"var": "true"},
        {"var": "in"},
        {"var": " padded "},
        {"-": [-5]},
        {"+": [-5]},
        {"*": [{"+": [1, 2]}, {"-": [3, 4]}]},
        {"-": [{"+": [1, 2]}, {"+": [3, 4]}]},
        {"cat": [{"cat": ["a", "b"]}, "c"]},
        {"==": [{"==": [1, 2]}, False]},
        {"if": []},
        {"and": []},
        [1, [2, {"var": "x"}]],
        'line\nbreak "quoted" back\\slash',
        -0.5,
        1e-07,
        12345678901234567890,
    ],
)
def test_round_trip(expr: Any) -> None:
    text = to_formula(expr)
    assert parse_formula(text) == normalize(expr), text


# ------------------------------------------------------------------ property: every expression round-trips

OPS = [op.name for op in default_registry()]
names = st.one_of(
    st.sampled_from(
        ["amount", "level", "customer.level", "客户", "_user.id", "true", "in", "a b", "x]y", "1st"]
    ),
    st.text(min_size=1, max_size=6),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


def calls(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.tuples(st.sampled_from(OPS), st.lists(children, max_size=4)).map(lambda x: {x[0]: x[1]}),
        st.tuples(st.sampled_from(OPS), children).map(lambda x: {x[0]: x[1]}),
        names.map(lambda n: {"var": n}),
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=3), children, min_size=2, max_size=2),
    )


expressions = st.recursive(scalars | names.map(lambda n: {"var": n}), calls, max_leaves=12)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions)
def test_every_expression_round_trips(expr: Any) -> None:
    assert parse_formula(to_formula(expr)) == normalize(expr)


# ------------------------------------------------------------------ the docs' examples

_ROW = re.compile(r"^\|\s*`(?P<json>[^`]+)`\s*\|\s*`(?P<formula>[^`]+)`\s*\|")


def doc_examples() -> list[tuple[str, str]]:
    rows = []
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            rows.append((match["json"], match["formula"]))
    return rows


def test_docs_have_examples() -> None:
    assert len(doc_examples()) >= 60


@pytest.mark.parametrize(("json_text", "formula"), doc_examples())
def test_docs_examples_round_trip(json_text: str, formula: str) -> None:
    import json

    expr = json.loads(json_text)
    assert parse_formula(formula) == normalize(expr)
    assert parse_formula(to_formula(expr)) == normalize(expr)
