"""The official JSON Logic shared test suite (jsonlogic.com/tests.json), committed as data.

Every case runs three ways: ``evaluate`` (cached compile), a fresh ``compile``, and the
reference interpreter; all must give the expected value with the expected JSON type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opsloom.platform.expr import compile as compile_expr
from opsloom.platform.expr import evaluate
from opsloom.platform.expr.interpreter import interpret

SUITE = Path(__file__).with_name("jsonlogic_tests.json")
CASES = [case for case in json.loads(SUITE.read_text(encoding="utf-8")) if not isinstance(case, str)]


def same_json(got: Any, expected: Any) -> bool:
    """Equal as JSON values: booleans are not numbers, 2 equals 2.0, lists compare item by item."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(same_json(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, (int, float)):
        return isinstance(got, (int, float)) and got == expected
    return type(got) is type(expected) and got == expected


def test_the_suite_is_complete() -> None:
    assert len(CASES) >= 270


@pytest.mark.parametrize(("rule", "data", "expected"), CASES, ids=[json.dumps(c[0])[:60] for c in CASES])
def test_shared_suite(rule: Any, data: Any, expected: Any) -> None:
    assert same_json(evaluate(rule, data), expected)
    assert same_json(compile_expr(rule)(data), expected)
    assert same_json(interpret(rule, data), expected)
