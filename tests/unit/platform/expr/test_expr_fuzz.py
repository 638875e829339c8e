"""Fuzzing: no input, however malformed, raises anything but ``ExprError`` or hangs.

Hypothesis generates arbitrary JSON-ish values biased towards operator calls, arbitrary
data and contexts, and formula-like text; every public entry point must either return
or raise an ``ExprError``. The per-example deadline turns a hang into a failure.
(atheris is not used: it has no wheel for this platform and needs a clang toolchain.)
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table

from opsloom.platform.expr import (
    ExprError,
    Limits,
    default_registry,
    evaluate,
    free_vars,
    infer_type,
    parse_formula,
    to_formula,
    to_sql,
)
from opsloom.platform.expr.interpreter import interpret
from opsloom.platform.expr.sql import TableResolver

OPS = sorted(op.name for op in default_registry())
FUZZ = settings(
    max_examples=300,
    deadline=3000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL = Limits(max_string=2_000, max_list=200, max_iterations=5_000, max_seconds=0.5)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.decimals(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "0",
            "1.5",
            "abc",
            "2024-02-29",
            "2024-02-29T10:00:00Z",
            "P1D",
            "-P1M",
            "PT1H",
            "0x1f",
            "Infinity",
            "1e400",
            "null",
            "d",
            "y",
            "m",
            "^(a+)+$",
            "(?i)x",
            "[",
            "i",
        ]
    ),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
)


def _children(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(st.sampled_from(OPS), st.lists(inner, max_size=4)).map(lambda x: {x[0]: x[1]}),
        st.tuples(st.sampled_from(OPS), inner).map(lambda x: {x[0]: x[1]}),
        st.dictionaries(st.text(max_size=4) | st.sampled_from(OPS), inner, max_size=3),
        st.sampled_from(["a", "b.c", "xs", "", "current", "accumulator", "_now", "0"]).map(
            lambda k: {"var": k}
        ),
    )


values = st.recursive(scalars, _children, max_leaves=20)
data_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "xs", "_changed", "_old", "0"]), inner, max_size=5)
    ),
    max_leaves=15,
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "_now": st.datetimes(timezones=st.just(UTC)) | st.dates() | st.text(max_size=5) | st.integers(),
        "tz": st.sampled_from(["UTC", "Asia/Shanghai", "Nope/Zone", "", "../etc"]) | st.integers(),
        "_changed": data_values,
        "_old": data_values,
        "_user": data_values,
    },
)


@FUZZ
@given(expr=values, data=data_values, context=contexts)
def test_evaluate_raises_only_expr_errors(expr: Any, data: Any, context: dict[str, Any]) -> None:
    for run in (
        lambda: evaluate(expr, data, context=context, limits=SMALL),
        lambda: interpret(expr, data, context=context, limits=SMALL),
    ):
        with contextlib.suppress(ExprError):
            run()


@FUZZ
@given(expr=values)
def test_static_tools_raise_only_expr_errors(expr: Any) -> None:
    free_vars(expr)
    with contextlib.suppress(ExprError):
        infer_type(expr, {"a": "number", "b": "text", "xs": "list", "c": "date"})
    try:
        text = to_formula(expr)
    except ExprError:
        return
    with contextlib.suppress(ExprError):
        parse_formula(text)


formula_text = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                "IF(",
                "AND(",
                ")",
                "(",
                ",",
                "+",
                "-",
                "*",
                "/",
                "&",
                "=",
                "<>",
                "<",
                " IN ",
                " NOT ",
                '"a"',
                '"',
                "[x",
                "]",
                "x",
                "1",
                "1.5e3",
                "TRUE",
                "NULL",
                'LOGIC("{}")',
                "ARRAY(",
                "\\",
                "\n",
                "客户",
                "DATEADD(",
                "VAR(",
                '""',
                ".",
                "e",
                ";",
            ]
        ),
        max_size=25,
    ).map("".join),
)


@FUZZ
@given(text=formula_text)
def test_parse_formula_raises_only_expr_errors(text: str) -> None:
    try:
        expr = parse_formula(text)
    except ExprError:
        return
    with contextlib.suppress(ExprError):
        evaluate(expr, {"x": 1}, limits=SMALL)


_metadata = MetaData()
_table = Table(
    "fuzz", _metadata, Column("a", Integer), Column("b", String), Column("c", Date), Column("d", Boolean)
)
_RESOLVER = TableResolver(_table, {"a": "number", "b": "text", "c": "date", "d": "boolean"})


@FUZZ
@given(expr=values)
@example(expr={"in": [False, [False], {"var": "a"}]})  # found by this test: a constant inside a constant list
@example(expr={"in": [False, [None], {"var": "a"}]})
def test_to_sql_raises_only_expr_errors(expr: Any) -> None:
    with contextlib.suppress(ExprError):
        to_sql(expr, _RESOLVER, context={"_now": datetime(2024, 1, 1, tzinfo=UTC)})


def test_hostile_values_in_data() -> None:
    hostile = {
        "a": Decimal("1e999999"),
        "b": float("inf"),
        "c": "9" * 5000,
        "xs": [[[[]]]] * 50,
        "d": date.max,
        "e": {"__class__": "x"},
    }
    for expr in (
        {"*": [{"var": "a"}, {"var": "a"}]},
        {"+": [{"var": "c"}, 1]},
        {"date_add": [{"var": "d"}, "P1D"]},
        {"cat": [{"var": "xs"}, {"var": "e"}]},
        {"var": "e.__class__"},
        {"%": [{"var": "b"}, 2]},
    ):
        with contextlib.suppress(ExprError):
            evaluate(expr, hostile)
