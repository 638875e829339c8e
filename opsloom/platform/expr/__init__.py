"""opsloom's one expression language: a JSON Logic superset, Excel-like formulas, compiled evaluation, SQL.

Pure: this package imports only the standard library, lark, re2, dateutil, sqlalchemy
(in ``sql.py`` only) and ``opsloom.platform.errors``; never Flask, never I/O, no clock
deep inside (``today``/``now`` come from the context). A test walks the imports.

Public face::

    evaluate(expr, data, context=..., resolver=...)      one-shot, cached compile
    compile(expr) -> Compiled; compiled(data)            compile once, call many times
    parse_formula(text) -> expr; to_formula(expr) -> text
    free_vars(expr); infer_type(expr, field_types)       static checks for publishing
    to_sql(expr, resolver) -> ColumnElement              the same condition in the database
    Operator, OperatorRegistry, build_registry           plugin operators
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .analysis import free_vars
from .builtins import build_registry, default_registry
from .compiler import Compiled, compile_expr
from .errors import (
    ExprError,
    ExprEvalError,
    ExprLimitError,
    ExprParseError,
    ExprTypeError,
    ExprUnknownOperatorError,
)
from .formula import parse_formula
from .limits import DEFAULT_LIMITS, Limits
from .nodes import canonical_json, normalize
from .operators import Operator, OperatorRegistry
from .printer import to_formula
from .runtime import ValueResolver
from .sql import SqlResolver, to_sql
from .types import infer_type

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_LIMITS",
    "Compiled",
    "ExprError",
    "ExprEvalError",
    "ExprLimitError",
    "ExprParseError",
    "ExprTypeError",
    "ExprUnknownOperatorError",
    "Limits",
    "Operator",
    "OperatorRegistry",
    "SqlResolver",
    "ValueResolver",
    "build_registry",
    "compile",
    "default_registry",
    "evaluate",
    "free_vars",
    "infer_type",
    "normalize",
    "parse_formula",
    "to_formula",
    "to_sql",
]


def compile(  # noqa: A001 - the contract names it ``compile``; it shadows the builtin only in this namespace
    expr: Any, *, registry: OperatorRegistry | None = None, limits: Limits | None = None
) -> Compiled:
    """Compile ``expr`` once; the result is called as ``compiled(data, resolver=None, context=None)``.

    :raises ExprError: unknown operator, wrong arity, limits exceeded (with a JSON pointer ``path``).
    """
    return compile_expr(expr, registry=registry, limits=limits)


@functools.lru_cache(maxsize=2048)
def _cached(key: str, registry: OperatorRegistry, limits: Limits) -> Compiled:
    import json

    return compile_expr(json.loads(key), registry=registry, limits=limits)


def evaluate(
    expr: Any,
    data: Any = None,
    *,
    resolver: Any = None,
    context: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
    registry: OperatorRegistry | None = None,
) -> Any:
    """Evaluate ``expr`` against ``data`` (the record), compiling through an LRU cache.

    :param resolver: answers relation paths the record lacks (see ``ValueResolver``).
    :param context: ``_now``, ``tz`` (IANA name), ``_user``, ``_old``, ``_changed``...
    :raises ExprError: the expression is invalid or its evaluation failed.
    """
    registry = registry or default_registry()
    limits = limits or DEFAULT_LIMITS
    compiled: Compiled | None = None
    if registry.frozen:
        try:
            key = canonical_json(expr)
        except (TypeError, ValueError, RecursionError):
            key = None
        if key is not None:
            compiled = _cached(key, registry, limits)
    if compiled is None:
        compiled = compile_expr(expr, registry=registry, limits=limits)
    return compiled(data, resolver, context=context)
