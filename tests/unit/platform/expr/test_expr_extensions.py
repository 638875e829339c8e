"""Extensions beyond JSON Logic: dates, text, numbers, Decimal, context, relation paths, errors.

Every evaluation goes through ``check``, which also runs the reference interpreter and
asserts that compiled and interpreted results agree.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opsloom.platform.expr import (
    ExprError,
    ExprEvalError,
    ExprLimitError,
    ExprTypeError,
    ExprUnknownOperatorError,
    Limits,
    evaluate,
)
from opsloom.platform.expr import compile as compile_expr
from opsloom.platform.expr.interpreter import interpret

NOW = datetime(2024, 2, 28, 23, 30, tzinfo=UTC)  # already 29 Feb in Shanghai
CTX = {"_now": NOW, "tz": "Asia/Shanghai"}


def check(expr: Any, data: Any = None, **kwargs: Any) -> Any:
    compiled = evaluate(expr, data, **kwargs)
    reference = interpret(expr, data, **kwargs)
    if isinstance(compiled, float) and math.isnan(compiled):
        assert isinstance(reference, float)
        assert math.isnan(reference)
    else:
        assert compiled == reference
        assert type(compiled) is type(reference)
    return compiled


# ------------------------------------------------------------------ dates


def test_today_and_now_use_context_and_time_zone() -> None:
    assert check({"today": []}, context=CTX) == date(2024, 2, 29)
    assert check({"now": []}, context=CTX) == NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    assert check({"today": []}, context={"_now": NOW}) == date(2024, 2, 28)  # UTC by default


def test_now_without_context_reads_the_clock_once() -> None:
    before = datetime.now(UTC)
    value = evaluate({"now": []})
    assert before <= value <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"date_add": ["2024-01-31", "P1M"]}, date(2024, 2, 29)),
        ({"date_add": ["2024-01-31", "P30D"]}, date(2024, 3, 1)),
        ({"date_add": ["2024-03-01", "-P1D"]}, date(2024, 2, 29)),
        ({"date_add": ["2024-01-01", "P1Y2M3W4D"]}, date(2025, 3, 26)),
        ({"date_add": ["2024-01-01", "PT36H"]}, datetime(2024, 1, 2, 12, 0)),
        ({"date_add": ["2024-01-01", 2, "w"]}, date(2024, 1, 15)),
        ({"date_add": ["2024-01-01", 10]}, date(2024, 1, 11)),
        ({"date_add": [None, "P1D"]}, None),
        ({"date_diff": ["2024-01-01", "2024-03-01", "d"]}, 60),
        ({"date_diff": ["2024-03-01", "2024-01-01", "d"]}, -60),
        ({"date_diff": ["2000-02-29", "2024-02-28", "y"]}, 23),
        ({"date_diff": ["2024-01-31", "2024-02-29", "m"]}, 1),  # a month as date_add counts it
        ({"date_diff": ["2024-01-15", "2024-03-20", "m"]}, 2),
        ({"date_diff": ["2024-01-01T00:00:00", "2024-01-01T05:59:00", "h"]}, 5),
        ({"year": "2024-05-06"}, 2024),
        ({"month": "2024-05-06"}, 5),
        ({"day": "2024-05-06"}, 6),
        ({"quarter": "2024-05-06"}, 2),
        ({"weekday": "2024-05-06"}, 1),
        ({"year": None}, None),
        ({"date": ["2024-02-30"]}, None),
        ({"date": [2024, 2, 29]}, date(2024, 2, 29)),
        ({"date": "2024-02-29T10:00:00+08:00"}, date(2024, 2, 29)),
        ({">": [{"date": "2024-03-01"}, "2024-02-29"]}, True),
        ({"<": [{"date": "2024-03-01"}, None]}, False),
        ({"==": [{"date": "2024-03-01"}, "2024-03-01"]}, True),
    ],
)
def test_date_functions(expr: Any, expected: Any) -> None:
    assert check(expr, context=CTX) == expected


@pytest.mark.parametrize(
    ("birthday", "expected"),
    [
        ("1992-02-29", 0),  # 29 Feb in a leap year is today (Shanghai)
        ("1990-03-01", 1),
        ("1990-02-28", 365),  # just passed: next year
        (date(1985, 12, 25), 300),
    ],
)
def test_days_until_anniversary(birthday: Any, expected: int) -> None:
    assert (
        check({"days_until": [{"var": "b"}, {"anniversary": True}]}, {"b": birthday}, context=CTX) == expected
    )
    assert check({"days_until": [{"var": "b"}, True]}, {"b": birthday}, context=CTX) == expected


def test_days_until_anniversary_of_29_february_in_a_common_year() -> None:
    ctx = {"_now": datetime(2023, 2, 1, tzinfo=UTC)}
    assert check({"days_until": ["2000-02-29", {"anniversary": True}]}, context=ctx) == 27  # 28 Feb 2023


def test_days_until_plain() -> None:
    assert check({"days_until": "2024-03-10"}, context=CTX) == 10


def test_bad_duration_is_an_expression_error_at_compile_time() -> None:
    with pytest.raises(ExprEvalError, match="ISO 8601 duration"):
        compile_expr({"date_add": ["2024-01-01", "30 days"]})
    with pytest.raises(ExprEvalError) as info:
        evaluate(
            {"and": [True, {"date_add": [{"var": "d"}, {"var": "x"}]}]}, {"d": "2024-01-01", "x": "bogus"}
        )
    assert info.value.path == "/and/1"


# ------------------------------------------------------------------ text


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"lower": "ÄbC"}, "äbc"),
        ({"upper": "abc"}, "ABC"),
        ({"trim": "  a b \n"}, "a b"),
        ({"length": "中文"}, 2),
        ({"length": [[1, 2, 3]]}, 3),
        ({"length": None}, 0),
        ({"left": ["abcdef", 2]}, "ab"),
        ({"right": ["abcdef", 2]}, "ef"),
        ({"right": ["abcdef", 0]}, ""),
        ({"mid": ["abcdef", 2, 3]}, "bcd"),
        ({"contains": ["hello", "ell"]}, True),
        ({"contains": [["a", "b"], "b"]}, True),
        ({"contains": [None, "b"]}, False),
        ({"starts_with": ["hello", "he"]}, True),
        ({"ends_with": ["hello", "lo"]}, True),
        ({"regex_match": ["ORDER-123", "^ORDER-\\d+$"]}, True),
        ({"regex_match": ["order-123", "^ORDER", "i"]}, True),
        ({"regex_match": [None, "x"]}, False),
        ({"cat": ["a", None, 1.5, True]}, "a1.5true"),
        ({"cat": [1e21, 0.000001, 1e-7, 100.0]}, "1e+210.0000011e-7100"),
    ],
)
def test_text_functions(expr: Any, expected: Any) -> None:
    assert check(expr) == expected


def test_regex_is_linear_time() -> None:
    # Catastrophic for backtracking engines; RE2 answers at once.
    assert check({"regex_match": ["a" * 5000 + "!", "^(a+)+$"]}) is False


def test_regex_errors_are_expression_errors() -> None:
    with pytest.raises(ExprEvalError, match="not a valid regular expression"):
        evaluate({"regex_match": [{"var": "x"}, "(?<=a)b"]}, {"x": "ab"})
    with pytest.raises(ExprEvalError, match="limited"):
        evaluate({"regex_match": [{"var": "x"}, "a" * 2000]}, {"x": "a"})
    with pytest.raises(ExprEvalError, match="limited to 5"):
        evaluate({"regex_match": ["aaaaaa", "a{6,9}"]}, limits=Limits(max_regex_length=5))


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ({"round": [2.5]}, 3),
        ({"round": [-2.5]}, -3),
        ({"round": [2.675, 2]}, 2.68),
        ({"round": [1234, -2]}, 1200),
        ({"floor": [-1.5]}, -2),
        ({"ceil": [1.2]}, 2),
        ({"abs": [-3]}, 3),
        ({"avg": [1, 2, None, [3, 6]]}, 3),
        ({"avg": []}, None),
        ({"coalesce": [None, 0, 5]}, 0),
        ({"is_empty": [""]}, True),
        ({"is_empty": [[]]}, True),
        ({"is_empty": [0]}, False),
        ({"between": [5, 1, 5]}, True),
        ({"between": [6, 1, 5]}, False),
        ({"/": [1, 0]}, None),
        ({"%": [-7, 3]}, -1),
        ({"%": [7.5, 2]}, 1.5),
        ({"+": [2**53, 2**53]}, float(2**54)),
        ({"*": ["3", "4"]}, 12),
        ({"-": [None, 1]}, -1),
        ({"+": [None, 1]}, None),  # parseFloat(null) is NaN, returned as null
        ({"max": []}, None),
    ],
)
def test_number_functions(expr: Any, expected: Any) -> None:
    assert check(expr) == expected


def test_decimal_stays_exact() -> None:
    data = {"a": Decimal("0.1"), "b": Decimal("0.2")}
    total = check({"+": [{"var": "a"}, {"var": "b"}]}, data)
    assert total == Decimal("0.3")
    assert type(total) is Decimal
    assert check({"==": [{"+": [{"var": "a"}, {"var": "b"}]}, Decimal("0.3")]}, data) is True
    assert check({"*": [{"var": "a"}, 3]}, data) == Decimal("0.3")
    assert check({"/": [{"var": "a"}, 3]}, data) == Decimal("0.1") / 3
    assert check({"round": [Decimal("2.345"), 2]}) == Decimal("2.35")
    assert check({">": [{"var": "a"}, 0.05]}, data) is True
    assert evaluate({"+": [0.1, 0.2]}) != 0.3  # plain floats keep JSON Logic (JavaScript) semantics


# ------------------------------------------------------------------ context, resolver, changed


def test_context_variables() -> None:
    ctx = {"_user": {"id": 7, "roles": ["admin"]}, "_old": {"status": "open"}}
    assert check({"==": [{"var": "owner"}, {"var": "_user.id"}]}, {"owner": 7}, context=ctx) is True
    assert check({"in": ["admin", {"var": "_user.roles"}]}, {}, context=ctx) is True
    assert check({"var": "_old.status"}, {"status": "closed"}, context=ctx) == "open"


def test_changed() -> None:
    assert check({"changed": "status"}, {"status": "x"}, context={"_changed": ["status"]}) is True
    assert check({"changed": ["owner", "status"]}, {"_changed": ["status"]}) is True
    assert check({"changed": "owner"}, {"status": "x"}, context={"_changed": ["status"]}) is False
    assert check({"changed": "status"}, {"status": "b"}, context={"_old": {"status": "a"}}) is True
    assert check({"changed": "status"}, {"status": "a"}, context={"_old": {"status": "a"}}) is False
    assert check({"changed": []}, {"status": "a"}) is False


class Customers:
    def resolve(self, path: str, record: Any) -> Any:
        if path == "customer.level":
            return {1: "vip", 2: "normal"}.get(record.get("customer"))
        raise LookupError(path)


def test_relation_paths_through_a_resolver() -> None:
    expr = {"==": [{"var": "customer.level"}, "vip"]}
    assert check(expr, {"customer": 1}, resolver=Customers()) is True
    assert check(expr, {"customer": 2}, resolver=Customers()) is False
    assert check({"var": ["customer.tier", "none"]}, {"customer": 1}, resolver=Customers()) == "none"
    # An expanded relation needs no resolver.
    assert check(expr, {"customer": {"level": "vip"}}) is True
    # A plain callable works too.
    assert evaluate(expr, {"customer": 1}, resolver=lambda path, record: "vip") is True


def test_log_collects_without_io() -> None:
    sink: list[Any] = []
    assert evaluate({"log": [{"var": "a"}]}, {"a": 3}, context={"_log": sink}) == 3
    assert sink == [3]


# ------------------------------------------------------------------ errors and limits


def test_unknown_operator_has_a_path() -> None:
    with pytest.raises(ExprUnknownOperatorError) as info:
        compile_expr({"and": [True, {"frobnicate": [1]}]})
    assert info.value.path == "/and/1"
    assert info.value.operator == "frobnicate"
    assert info.value.errors == {"/and/1": "unknown operator `frobnicate`"}


def test_arity_is_checked() -> None:
    with pytest.raises(ExprTypeError, match="takes 2 to 3 arguments"):
        compile_expr({"date_add": ["2024-01-01"]})


def test_depth_limit() -> None:
    expr: Any = 1
    for _ in range(100):
        expr = {"!": [expr]}
    with pytest.raises(ExprLimitError, match="nested deeper"):
        compile_expr(expr)
    compile_expr(expr, limits=Limits(max_depth=200))


def test_node_limit() -> None:
    with pytest.raises(ExprLimitError, match="parts"):
        compile_expr({"+": list(range(100))}, limits=Limits(max_nodes=50))


def test_string_and_list_limits() -> None:
    limits = Limits(max_string=10, max_list=5)
    with pytest.raises(ExprLimitError):
        compile_expr("x" * 11, limits=limits)
    with pytest.raises(ExprLimitError):
        evaluate({"cat": [{"var": "a"}, {"var": "a"}]}, {"a": "123456"}, limits=limits)
    with pytest.raises(ExprLimitError):
        evaluate({"merge": [{"var": "a"}, {"var": "a"}]}, {"a": [1, 2, 3]}, limits=limits)


def test_exponential_growth_is_stopped() -> None:
    doubling = {"reduce": [{"var": "xs"}, {"merge": [{"var": "accumulator"}, {"var": "accumulator"}]}, [1]]}
    with pytest.raises(ExprLimitError):
        evaluate(doubling, {"xs": list(range(64))})
    squaring = {"reduce": [{"var": "xs"}, {"*": [{"var": "accumulator"}, {"var": "accumulator"}]}, 3]}
    assert evaluate(squaring, {"xs": list(range(64))}) is None  # overflows to Infinity -> null, no big ints


def test_iteration_limit() -> None:
    nested = {"map": [{"var": "xs"}, {"map": [[1] * 1000, 1]}]}
    with pytest.raises(ExprLimitError, match="loop steps"):
        evaluate(nested, {"xs": [0] * 1000}, limits=Limits(max_iterations=10_000))


def test_time_limit() -> None:
    slow = {"map": [{"var": "xs"}, {"regex_match": [{"var": ""}, "(a|b|c)*d"]}]}
    with pytest.raises(ExprLimitError, match="longer than"):
        evaluate(slow, {"xs": ["abc" * 3000] * 90_000}, limits=Limits(max_seconds=0.05, max_iterations=10**9))


def test_non_json_values_are_refused() -> None:
    with pytest.raises(ExprTypeError):
        compile_expr({"==": [{1, 2}, 1]})
    with pytest.raises(ExprTypeError):
        compile_expr(float("nan"))


def test_results_are_copies_of_constants() -> None:
    compiled = compile_expr({"merge": [[1], [2]]})
    first = compiled()
    first.append(99)
    assert compiled() == [1, 2]


def test_errors_are_opsloom_errors() -> None:
    with pytest.raises(ExprError) as info:
        evaluate({"today": []}, context={"tz": "Mars/Base"})
    assert info.value.status == 422
