"""Translate an expression into a SQLAlchemy WHERE condition matching exactly the rows ``evaluate`` accepts.

``to_sql(expr, resolver)`` returns a boolean ``ColumnElement`` that is true for a row
exactly when the expression's JSON Logic result is truthy for that row, on SQLite and
PostgreSQL alike. Three ideas make that exact:

* **Typed translation.** Every sub-expression carries its static type (from the
  resolver's field types), so JavaScript coercions are resolved at translation time:
  ``amount > "1000"`` compares numbers, ``name < "M"`` compares text in code-point
  order (``COLLATE "C"`` on PostgreSQL), a date field compares with a parsed date.
* **Two kinds of NULL.** A NULL column is JSON ``null`` (which JavaScript turns into 0
  in ``<``, ``-`` and ``/``: we emit ``COALESCE(col, 0)``); a NULL produced by
  arithmetic stands for NaN (``+`` uses ``parseFloat``, so ``null + 1`` is NaN), and NaN
  makes every comparison false. Each translated value remembers which kind it has.
* **Two-valued conditions.** Truth tests and comparisons never yield SQL NULL
  (``col IS NOT NULL AND col <> 0``), so ``NOT`` stays exact.

Sub-expressions that read no field (``today()``, ``date_add(today(), "P30D")``) are
evaluated in Python once and bound as parameters. What has no exact SQL form (loops,
``regex_match``, text compared with numbers...) raises ``ExprError`` naming the operator,
so a publish fails instead of a filter silently disagreeing with ``evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from .builtins import default_registry
from .compiler import compile_expr
from .dates import parse_duration
from .errors import ExprError, ExprEvalError, ExprTypeError
from .nodes import arg_path, as_call
from .runtime import MISSING
from .strings import TRIM_CHARS
from .types import FIELD_TYPE_ALIASES
from .values import (
    compare,
    is_nan,
    js_string,
    loose_eq,
    parse_float,
    strict_eq,
    to_date_like,
    to_number,
    truthy,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import ColumnElement, Table

    from .limits import Limits
    from .operators import OperatorRegistry

__all__ = ["SqlResolver", "TableResolver", "to_sql"]


class SqlResolver(Protocol):
    """What ``to_sql`` needs from the caller: columns and their field types.

    ``resolve(path)`` returns the column (or scalar subquery) for a field key or a
    relation path such as ``customer.level``, adding whatever joins it needs on its side;
    ``field_type(path)`` returns the field's type (``number``, ``text``, ``boolean``,
    ``date``, ``datetime``, or a platform type such as ``currency`` or ``select``).
    Both raise ``LookupError`` (or ``ExprError``) for an unknown path.
    """

    def resolve(self, path: str) -> ColumnElement[Any]: ...

    def field_type(self, path: str) -> str: ...


class TableResolver:
    """A ready resolver for one table; relation paths become correlated scalar subqueries.

    :param table: the entity's table.
    :param field_types: field key -> type.
    :param relations: field key of a relation -> ``(TableResolver of the target, target key column)``;
        ``customer.level`` then reads ``level`` of the row whose key equals ``customer``.
    """

    def __init__(
        self,
        table: Table,
        field_types: Mapping[str, str],
        relations: Mapping[str, tuple[TableResolver, str]] | None = None,
    ) -> None:
        self.table = table
        self.field_types = dict(field_types)
        self.relations = dict(relations or {})

    def resolve(self, path: str) -> ColumnElement[Any]:
        head, _, rest = path.partition(".")
        if rest:
            if head not in self.relations:
                raise LookupError(path)
            target, key = self.relations[head]
            column = target.resolve(rest)
            return select(column).where(target.table.c[key] == self.table.c[head]).scalar_subquery()
        if path not in self.field_types or path not in self.table.c:
            raise LookupError(path)
        return self.table.c[path]

    def field_type(self, path: str) -> str:
        head, _, rest = path.partition(".")
        if rest:
            if head not in self.relations:
                raise LookupError(path)
            return self.relations[head][0].field_type(rest)
        return self.field_types[path]


# ------------------------------------------------------------------ dialect-specific constructs


class _StrPos(FunctionElement[Any]):
    """1-based position of ``needle`` in ``haystack`` (0 when absent); case-sensitive on both databases."""

    type = Integer()
    inherit_cache = True
    name = "opsloom_strpos"


@compiles(_StrPos)
def _strpos_default(element: _StrPos, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"instr({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


@compiles(_StrPos, "postgresql")
def _strpos_pg(element: _StrPos, compiler: Any, **kw: Any) -> str:
    haystack, needle = list(element.clauses)
    return f"strpos({compiler.process(haystack, **kw)}, {compiler.process(needle, **kw)})"


class _Binary(FunctionElement[Any]):
    """Text in code-point order, as JavaScript and Python order it: SQLite default, ``COLLATE "C"`` on PG."""

    type = String()
    inherit_cache = True
    name = "opsloom_binary"


@compiles(_Binary)
def _binary_default(element: _Binary, compiler: Any, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(_Binary, "postgresql")
def _binary_pg(element: _Binary, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(next(iter(element.clauses)), **kw)}) COLLATE "C"'


class _Greatest(FunctionElement[Any]):
    inherit_cache = True
    name = "opsloom_greatest"


class _Least(FunctionElement[Any]):
    inherit_cache = True
    name = "opsloom_least"


@compiles(_Greatest)
def _greatest_default(element: _Greatest, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(_Greatest, "postgresql")
def _greatest_pg(element: _Greatest, compiler: Any, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(_Least)
def _least_default(element: _Least, compiler: Any, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(_Least, "postgresql")
def _least_pg(element: _Least, compiler: Any, **kw: Any) -> str:
    return f"least({compiler.process(element.clauses, **kw)})"


class _Round(FunctionElement[Any]):
    """Half away from zero on both databases (PostgreSQL's ``round(double)`` rounds half to even)."""

    type = Float()
    inherit_cache = True
    name = "opsloom_round"


@compiles(_Round)
def _round_default(element: _Round, compiler: Any, **kw: Any) -> str:
    value, digits = list(element.clauses)
    return f"round({compiler.process(value, **kw)}, {compiler.process(digits, **kw)})"


@compiles(_Round, "postgresql")
def _round_pg(element: _Round, compiler: Any, **kw: Any) -> str:
    value, digits = list(element.clauses)
    return f"round(CAST({compiler.process(value, **kw)} AS NUMERIC), {compiler.process(digits, **kw)})"


class _Trim(FunctionElement[Any]):
    type = String()
    inherit_cache = True
    name = "opsloom_trim"


@compiles(_Trim)
def _trim_default(element: _Trim, compiler: Any, **kw: Any) -> str:
    value, chars = list(element.clauses)
    return f"trim({compiler.process(value, **kw)}, {compiler.process(chars, **kw)})"


@compiles(_Trim, "postgresql")
def _trim_pg(element: _Trim, compiler: Any, **kw: Any) -> str:
    value, chars = list(element.clauses)
    return f"btrim({compiler.process(value, **kw)}, {compiler.process(chars, **kw)})"


class _AddDays(FunctionElement[Any]):
    type = Date()
    inherit_cache = True
    name = "opsloom_add_days"


@compiles(_AddDays)
def _add_days_default(element: _AddDays, compiler: Any, **kw: Any) -> str:
    value, modifier, _days = list(element.clauses)
    return f"date({compiler.process(value, **kw)}, {compiler.process(modifier, **kw)})"


@compiles(_AddDays, "postgresql")
def _add_days_pg(element: _AddDays, compiler: Any, **kw: Any) -> str:
    value, _modifier, days = list(element.clauses)
    return f"({compiler.process(value, **kw)} + {compiler.process(days, **kw)})"


class _DaysBetween(FunctionElement[Any]):
    """Whole days from the first date to the second."""

    type = Integer()
    inherit_cache = True
    name = "opsloom_days_between"


@compiles(_DaysBetween)
def _days_between_default(element: _DaysBetween, compiler: Any, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)})"
        " AS INTEGER)"
    )


@compiles(_DaysBetween, "postgresql")
def _days_between_pg(element: _DaysBetween, compiler: Any, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"(CAST({compiler.process(end, **kw)} AS DATE) - CAST({compiler.process(start, **kw)} AS DATE))"


class _IsoWeekday(FunctionElement[Any]):
    type = Integer()
    inherit_cache = True
    name = "opsloom_isoweekday"


@compiles(_IsoWeekday)
def _isoweekday_default(element: _IsoWeekday, compiler: Any, **kw: Any) -> str:
    value = compiler.process(next(iter(element.clauses)), **kw)
    return f"((CAST(strftime('%w', {value}) AS INTEGER) + 6) % 7 + 1)"


@compiles(_IsoWeekday, "postgresql")
def _isoweekday_pg(element: _IsoWeekday, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(ISODOW FROM {compiler.process(next(iter(element.clauses)), **kw)}) AS INTEGER)"


# ------------------------------------------------------------------ translation


@dataclass(frozen=True)
class _V:
    """A translated value: an SQL expression (or a Python constant) with its type and NULL meaning."""

    expr: Any
    type: str
    const: Any = MISSING
    nan: bool = False  # SQL NULL here means NaN (from arithmetic), not JSON null
    nonnull: bool = False  # never NULL

    @property
    def is_const(self) -> bool:
        return self.const is not MISSING


_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_TEMPORAL = ("date", "datetime")


def _const_type(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) in (int, float, Decimal):
        return "number"
    if type(value) is str:
        return "text"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if type(value) is list:
        return "list"
    return "any"


def _sql_literal(value: Any) -> Any:
    if value is None:
        return null()
    if type(value) is bool:
        return true() if value else false()
    if type(value) is int:
        return literal(value, Integer())
    if type(value) is float:
        return literal(value, Float())
    if type(value) is Decimal:
        return literal(value, Numeric())
    if type(value) is str:
        return literal(value, String())
    if isinstance(value, datetime):
        return literal(value, DateTime(timezone=value.tzinfo is not None))
    if isinstance(value, date):
        return literal(value, Date())
    raise ExprTypeError(f"{type(value).__name__} values have no SQL form")


def _is_integer_sql(value: _V) -> bool:
    if value.is_const:
        return type(value.const) is int
    return isinstance(getattr(value.expr, "type", None), Integer)


def _reads_data(node: Any) -> bool:
    if type(node) is list:
        return any(_reads_data(item) for item in node)
    call = as_call(node)
    if call is None:
        return False
    op, args, _ = call
    if op in ("var", "missing", "missing_some", "changed", "log"):
        return True
    return any(_reads_data(arg) for arg in args)


def to_sql(
    expr: Any,
    resolver: SqlResolver,
    *,
    context: Mapping[str, Any] | None = None,
    registry: OperatorRegistry | None = None,
    limits: Limits | None = None,
) -> ColumnElement[bool]:
    """The condition "``expr`` is truthy" as a boolean SQL expression (never NULL).

    :param resolver: maps field keys and relation paths to columns (see ``SqlResolver``).
    :param context: ``_now`` and ``tz`` for ``today()``/``now()``, evaluated once here.
    :raises ExprEvalError: an operator has no SQL form (the message names it).
    :raises ExprTypeError: operand types that SQL cannot compare exactly as ``evaluate`` does.
    :raises ExprError: the expression itself is invalid (unknown operator, limits).
    """
    registry = registry or default_registry()
    compile_expr(expr, registry=registry, limits=limits)  # validates names, arity and limits once
    return _Translator(resolver, context or {}, registry, limits).truth(expr, "", positive=True)


class _Translator:
    def __init__(
        self,
        resolver: SqlResolver,
        context: Mapping[str, Any],
        registry: OperatorRegistry,
        limits: Limits | None,
    ) -> None:
        self.resolver = resolver
        self.context = context
        self.registry = registry
        self.limits = limits
        self.relaxed = False

    # ------------------------------------------------------------ helpers

    def no_sql(self, op: str, path: str, why: str = "") -> ExprEvalError:
        reason = f" ({why})" if why else ""
        return ExprEvalError(
            f"`{op}` has no SQL form{reason}; it cannot be used in a database filter", path=path
        )

    def const(self, node: Any, path: str) -> _V:
        value = compile_expr(node, registry=self.registry, limits=self.limits)(None, context=self.context)
        return _V(None, _const_type(value), const=value)

    def sql(self, value: _V) -> Any:
        return _sql_literal(value.const) if value.is_const else value.expr

    # ------------------------------------------------------------ truth

    def truth(self, node: Any, path: str, positive: bool = False) -> Any:
        """Two-valued truth of ``node``; ``positive``: only ever ANDed/ORed up to the WHERE clause.

        In a positive position SQL's NULL already acts as false (``NULL AND x`` and ``NULL OR
        x`` select the same rows as with false), so the ``IS NOT NULL`` guards are left out and
        the condition reads like hand-written SQL. Under ``NOT`` and inside ``CASE`` every part
        stays exactly two-valued.
        """
        if not _reads_data(node):
            return true() if truthy(self.const(node, path).const) else false()
        call = as_call(node, path)
        if call is not None:
            op, args, listed = call
            if op in ("and", "or"):
                parts = [
                    self.truth(arg, arg_path(path, op, i, listed), positive) for i, arg in enumerate(args)
                ]
                if not parts:
                    return false()
                return and_(*parts) if op == "and" else or_(*parts)
            if op == "!":
                return not_(self.truth(args[0], arg_path(path, op, 0, listed))) if args else true()
            if op == "!!":
                return self.truth(args[0], arg_path(path, op, 0, listed), positive) if args else false()
            if op in ("if", "?:"):
                whens = []
                i = 0
                while i < len(args) - 1:
                    whens.append(
                        (
                            self.truth(args[i], arg_path(path, op, i, listed)),
                            self.truth(args[i + 1], arg_path(path, op, i + 1, listed)),
                        )
                    )
                    i += 2
                otherwise = self.truth(args[i], arg_path(path, op, i, listed)) if i < len(args) else false()
                return case(*whens, else_=otherwise) if whens else otherwise
        return self.truth_of(self.value(node, path, relaxed=positive), path, relaxed=positive)

    def truth_of(self, value: _V, path: str, relaxed: bool = False) -> Any:
        if value.is_const:
            return true() if truthy(value.const) else false()
        e = value.expr
        if value.type == "boolean":
            return e if value.nonnull else e.is_(true())
        if value.type == "number":
            return e != 0 if value.nonnull or relaxed else and_(e.is_not(None), e != 0)
        if value.type == "text":
            return e != "" if value.nonnull or relaxed else and_(e.is_not(None), e != "")
        if value.type in _TEMPORAL:
            return true() if value.nonnull else e.is_not(None)
        raise ExprTypeError(f"a value of type {value.type} has no SQL truth test", path=path)

    # ------------------------------------------------------------ values

    def value(self, node: Any, path: str, relaxed: bool = False) -> _V:
        if not _reads_data(node):
            return self.const(node, path)
        if type(node) is list:
            raise self.no_sql("list", path, "lists of fields cannot be built in SQL")
        call = as_call(node, path)
        assert call is not None
        op_name, args, listed = call
        if op_name == "var":
            return self.var(args, path, listed)
        method = getattr(self, "op_" + _METHODS.get(op_name, "_none"), None)
        if method is not None:
            self.relaxed = relaxed and op_name in _RELAXABLE  # read by the handler before its arguments
            return method(op_name, args, listed, path)
        op = self.registry.lookup(op_name, path)
        if op.sql is not None and not op.special:
            values = [self.value(arg, arg_path(path, op_name, i, listed)) for i, arg in enumerate(args)]
            try:
                expr = op.sql(*[self.sql(value) for value in values])
            except ExprError:
                raise
            except Exception as exc:
                raise ExprEvalError(f"the SQL form of `{op_name}` failed: {exc}", path=path) from exc
            return _V(expr, op.returns)
        raise self.no_sql(op_name, path)

    def var(self, args: list[Any], path: str, listed: bool) -> _V:
        if not args or type(args[0]) is not str or args[0] == "":
            raise self.no_sql("var", path, "only field keys and relation paths can be read in SQL")
        key = args[0]
        if len(args) > 1:
            default = args[1]
            if _reads_data(default) or self.const(default, path).const is not None:
                raise self.no_sql("var", path, "a default value other than null")
        try:
            column = self.resolver.resolve(key)
            kind = self.resolver.field_type(key)
        except LookupError:
            raise ExprTypeError(f"`{key}` is not a field this filter can read", path=path) from None
        kind = FIELD_TYPE_ALIASES.get(kind, kind)
        if kind not in ("number", "text", "boolean", "date", "datetime"):
            raise ExprTypeError(
                f"`{key}` is {kind}; SQL filters read numbers, text, booleans and dates", path=path
            )
        return _V(column, kind)

    def args(self, op: str, args: list[Any], listed: bool, path: str) -> list[_V]:
        return [self.value(arg, arg_path(path, op, i, listed)) for i, arg in enumerate(args)]

    def boolean(self, expr: Any) -> _V:
        return _V(expr, "boolean", nonnull=True)

    # --- logic in value position

    def op_logic(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        if op in ("!", "!!"):
            return self.boolean(self.truth({op: args}, path))
        values = self.args(op, args, listed, path)
        if values and all(v.type == "boolean" and (v.nonnull or v.is_const) for v in values):
            return self.boolean(self.truth({op: args}, path))
        raise self.no_sql(op, path, "as a value it returns one of its operands; use it as a condition")

    def op_if(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        whens, results = [], []
        i = 0
        while i < len(args) - 1:
            condition = self.truth(args[i], arg_path(path, op, i, listed))
            results.append(self.value(args[i + 1], arg_path(path, op, i + 1, listed)))
            whens.append(condition)
            i += 2
        otherwise = (
            self.value(args[i], arg_path(path, op, i, listed)) if i < len(args) else _V(None, "null", None)
        )
        branches = [*results, otherwise]
        kinds = {v.type for v in branches if not (v.is_const and v.const is None)}
        if len(kinds) > 1:
            raise ExprTypeError(
                f"`{op}` branches mix {', '.join(sorted(kinds))}; SQL needs one type", path=path
            )
        nan = any(v.nan for v in branches)
        if nan and any(
            not v.nan and not v.nonnull and not (v.is_const and v.const is not None) for v in branches
        ):
            raise self.no_sql(op, path, "branches mix null and NaN")
        if not whens:
            return otherwise
        expr = case(
            *[(w, self.sql(v)) for w, v in zip(whens, results, strict=True)], else_=self.sql(otherwise)
        )
        return _V(
            expr,
            kinds.pop() if kinds else "null",
            nan=nan,
            nonnull=all(v.nonnull or (v.is_const and v.const is not None) for v in branches),
        )

    # --- equality and ordering

    def op_equality(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        relaxed, self.relaxed = self.relaxed and op in ("==", "==="), False
        values = self.args(op, args[:2], listed, path)
        while len(values) < 2:
            values.append(_V(None, "null", None))
        a, b = values
        strict = op in ("===", "!==")
        result = self.equal(a, b, strict, path, op, relaxed)
        return self.boolean(not_(result) if op in ("!=", "!==") else result)

    def equal(self, a: _V, b: _V, strict: bool, path: str, op: str, relaxed: bool = False) -> Any:
        if a.is_const and b.is_const:
            same = strict_eq(a.const, b.const) if strict else loose_eq(a.const, b.const)
            return true() if same else false()
        if a.is_const:
            a, b = b, a
        e = a.expr
        if b.is_const:
            c = b.const
            if c is None:
                return false() if (a.nan or a.nonnull) else e.is_(None)
            guard = (lambda cond: cond) if a.nonnull or relaxed else (lambda cond: and_(e.is_not(None), cond))
            if a.type == "number":
                if strict:
                    return guard(e == c) if type(c) in (int, float, Decimal) and not is_nan(c) else false()
                number = to_number(c) if type(c) is not dict else float("nan")
                return false() if is_nan(number) else guard(e == number)
            if a.type == "text":
                # equality needs no code-point collation: under PostgreSQL's deterministic
                # collations equal text is equal bytes, and the plain column keeps its indexes
                if type(c) is str:
                    return guard(e == c)
                if strict:
                    return false()
                if type(c) is list:
                    return guard(e == js_string(c))
                raise ExprTypeError(
                    f"comparing text with {_const_type(c)} needs a number conversion SQL cannot do "
                    f"exactly; compare with text instead",
                    path=path,
                )
            if a.type == "boolean":
                if type(c) is bool:
                    return guard(e == c) if not a.nonnull else (e if c else not_(e))
                if strict:
                    return false()
                number = to_number(c) if type(c) is not dict else float("nan")
                if number == 1:
                    return guard(e == True) if not a.nonnull else e  # noqa: E712 - SQL comparison
                if number == 0:
                    return guard(e == False) if not a.nonnull else not_(e)  # noqa: E712 - SQL comparison
                return false()
            if a.type in _TEMPORAL:
                if strict and not isinstance(c, date):
                    return false()
                moment = to_date_like(c)
                if moment is None:
                    return false()
                if isinstance(moment, datetime) != (a.type == "datetime"):
                    raise ExprTypeError(f"`{op}` compares a {a.type} with a {_const_type(moment)}", path=path)
                return guard(e == moment)
            raise ExprTypeError(f"`{op}` on {a.type} values has no SQL form", path=path)
        if a.type == b.type and a.type in ("number", "text", "boolean", "date", "datetime"):
            x, y = a.expr, b.expr  # text equality: see above, no collation needed
            if a.nonnull and b.nonnull:
                return x == y
            if a.nan or b.nan:
                return and_(a.expr.is_not(None), b.expr.is_not(None), x == y)
            return x.is_not_distinct_from(y)
        if strict:
            if a.nonnull or b.nonnull or a.nan or b.nan:
                return false()
            return and_(a.expr.is_(None), b.expr.is_(None))
        raise ExprTypeError(f"`{op}` between {a.type} and {b.type} fields has no exact SQL form", path=path)

    def op_ordering(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        relaxed, self.relaxed = self.relaxed, False
        if op == "between":
            value, low, high = self.args(op, args, listed, path)
            return self.boolean(
                and_(
                    self.order("<=", low, value, path, relaxed), self.order("<=", value, high, path, relaxed)
                )
            )
        values = self.args(op, args, listed, path)
        while len(values) < 2:
            values.append(_V(None, "null", None))
        if len(values) >= 3 and op in ("<", "<="):
            a, b, c = values[:3]
            return self.boolean(
                and_(self.order(op, a, b, path, relaxed), self.order(op, b, c, path, relaxed))
            )
        return self.boolean(self.order(op, values[0], values[1], path, relaxed))

    def order(self, op: str, a: _V, b: _V, path: str, relaxed: bool = False) -> Any:
        if a.is_const and b.is_const:
            return true() if compare(op, a.const, b.const) else false()
        if a.is_const:
            a, b, op = b, a, _MIRROR[op]
        e = a.expr
        compare_fn = {
            "<": lambda x, y: x < y,
            "<=": lambda x, y: x <= y,
            ">": lambda x, y: x > y,
            ">=": lambda x, y: x >= y,
        }[op]
        if a.type in _TEMPORAL or b.type in _TEMPORAL:
            if b.is_const:
                moment = to_date_like(b.const) if not isinstance(b.const, (int, float, bool)) else None
                if moment is None:
                    return false()
                if a.type in ("number", "boolean"):
                    return false()  # a number is never before or after a date
                if isinstance(moment, datetime) != (a.type == "datetime") or a.type not in _TEMPORAL:
                    raise ExprTypeError(f"`{op}` compares a {a.type} with a {_const_type(moment)}", path=path)
                if a.nonnull or relaxed:
                    return compare_fn(e, moment)
                return and_(e.is_not(None), compare_fn(e, moment))
            if (
                {a.type, b.type} <= {"number", "boolean", "date", "datetime"}
                and a.type != b.type
                and not (a.type in _TEMPORAL and b.type in _TEMPORAL)
            ):
                return false()  # a number is never before or after a date
            if a.type != b.type:
                raise ExprTypeError(f"`{op}` compares a {a.type} with a {b.type}", path=path)
            both = (
                compare_fn(e, b.expr)
                if relaxed
                else and_(e.is_not(None), b.expr.is_not(None), compare_fn(e, b.expr))
            )
            if op in ("<=", ">=") and not (a.nonnull or b.nonnull):
                return or_(and_(e.is_(None), b.expr.is_(None)), both)  # null <= null: 0 <= 0 in JavaScript
            return both
        if a.type == "text":
            if b.is_const and type(b.const) is str:
                when_null = compare(op, None, b.const)
                binary = compare_fn(_Binary(e), b.const)
                if a.nonnull:
                    return binary
                return case((e.is_(None), true() if when_null else false()), else_=binary)
            if b.type == "text" and a.nonnull and b.nonnull:
                return compare_fn(_Binary(e), _Binary(b.expr))
            raise ExprTypeError(
                f"`{op}` between text and {b.type} needs a text-to-number conversion SQL cannot do "
                "exactly; compare text with a text literal",
                path=path,
            )
        if b.type == "text" and not b.is_const:
            raise ExprTypeError(f"`{op}` between {a.type} and text has no exact SQL form", path=path)
        if a.type == "number" and not (a.nan or a.nonnull) and b.is_const and type(b.const) is not dict:
            # Index-friendly form of COALESCE(col, 0) <op> n: decide the NULL case here.
            bound = to_number(b.const)
            if is_nan(bound):
                return false()
            if compare(op, 0, bound):
                return or_(e.is_(None), compare_fn(e, bound))
            return compare_fn(e, bound) if relaxed else and_(e.is_not(None), compare_fn(e, bound))
        x, y = self.number(a, path, op), self.number(b, path, op)
        if x.is_const or y.is_const:
            constant = x.const if x.is_const else y.const
            if is_nan(constant):
                return false()
        cond = compare_fn(self.sql(x), self.sql(y))
        guards = [] if relaxed else [v.expr.is_not(None) for v in (x, y) if not v.is_const and v.nan]
        return and_(*guards, cond) if guards else cond

    # --- numbers

    def number(self, value: _V, path: str, op: str) -> _V:
        """JavaScript ``Number(value)``: null -> 0, booleans -> 0/1; NaN stays SQL NULL (``nan``)."""
        if value.is_const:
            return _V(
                None,
                "number",
                const=to_number(value.const) if type(value.const) is not dict else float("nan"),
            )
        if value.type == "number":
            if value.nan or value.nonnull:
                return value
            return _V(func.coalesce(value.expr, 0), "number", nonnull=True)
        if value.type == "boolean":
            return _V(case((value.expr.is_(true()), 1), else_=0), "number", nonnull=True)
        raise ExprTypeError(
            f"`{op}` needs a number; a {value.type} field has no exact SQL conversion", path=path
        )

    def float_parse(self, value: _V, path: str, op: str) -> _V:
        """JavaScript ``parseFloat(String(value))``: null and booleans give NaN."""
        if value.is_const:
            return _V(None, "number", const=parse_float(value.const))
        if value.type == "number":
            return value if value.nonnull else replace(value, nan=True)
        if value.type == "boolean":
            return _V(None, "number", const=float("nan"))
        raise ExprTypeError(
            f"`{op}` needs numbers; a {value.type} field has no exact SQL conversion", path=path
        )

    def numeric_result(self, expr: Any, parts: list[_V]) -> _V:
        nan = any(p.nan and not p.is_const for p in parts)
        return _V(expr, "number", nan=nan, nonnull=not nan)

    def op_add_mul(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args, listed, path)
        if op == "*" and len(values) == 1:
            return values[0]
        parts = [self.float_parse(v, path, op) for v in values]
        if any(p.is_const and is_nan(p.const) for p in parts):
            return _V(None, "number", const=float("nan"))
        expr = self.sql(parts[0]) if parts else literal(0)
        for part in parts[1:]:
            expr = expr + self.sql(part) if op == "+" else expr * self.sql(part)
        return self.numeric_result(expr, parts)

    def op_sub_div(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args[:2], listed, path)
        while len(values) < 2 and op != "-":
            values.append(_V(None, "null", None))
        parts = [self.number(v, path, op) for v in values]
        if any(p.is_const and is_nan(p.const) for p in parts):
            return _V(None, "number", const=float("nan"))
        if op == "-" and len(parts) == 1:
            return replace(parts[0], expr=-self.sql(parts[0]))
        x, y = parts
        if op == "-":
            return self.numeric_result(self.sql(x) - self.sql(y), parts)
        if op == "/":
            divisor = cast(self.sql(y), Float())
            return _V(cast(self.sql(x), Float()) / func.nullif(divisor, 0.0), "number", nan=True)
        if not (_is_integer_sql(x) and _is_integer_sql(y)):
            raise self.no_sql(op, path, "the remainder of non-integers differs between databases")
        return _V(self.sql(x) % func.nullif(self.sql(y), 0), "number", nan=True)

    def op_extreme(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        parts = [self.number(v, path, op) for v in self.args(op, args, listed, path)]
        if any(p.is_const and is_nan(p.const) for p in parts):
            return _V(None, "number", const=float("nan"))
        if len(parts) == 1:
            return parts[0]
        construct = _Greatest if op == "max" else _Least
        expr = construct(*[self.sql(p) for p in parts])
        nullable = [p.expr for p in parts if not p.is_const and p.nan]
        if nullable:
            expr = case((or_(*[n.is_(None) for n in nullable]), null()), else_=expr)
        return self.numeric_result(expr, parts)

    def op_unary_number(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args, listed, path)
        x = self.number(values[0], path, op)
        if op == "abs":
            return replace(x, expr=func.abs(x.expr))
        if op == "round":
            digits = values[1].const if len(values) > 1 else 0
            if len(values) > 1 and (not values[1].is_const or type(digits) is not int or digits < 0):
                raise self.no_sql(op, path, "the number of digits must be a whole number >= 0")
            return replace(x, expr=_Round(x.expr, literal(digits, Integer())))
        return replace(x, expr=func.floor(x.expr) if op == "floor" else func.ceil(x.expr))

    # --- membership and text

    def op_in(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        relaxed, self.relaxed = self.relaxed, False
        a, b = (self.args(op, args[:2], listed, path) + [_V(None, "null", None)] * 2)[:2]
        if a.is_const and b.is_const and not isinstance(a.const, dict):
            # both sides known: answer now, exactly as ``evaluate`` would
            folded = compile_expr({"in": [a.const, b.const]}, registry=self.registry)(None, context=self.context)
            return self.boolean(true() if truthy(folded) else false())
        if b.is_const and type(b.const) is list:
            items = b.const
            if a.type in ("number",):
                wanted = [v for v in items if type(v) in (int, float, Decimal) and not is_nan(v)]
            elif a.type == "text":
                wanted = [v for v in items if type(v) is str]
            elif a.type == "boolean":
                wanted = [v for v in items if type(v) is bool]
            elif a.type in _TEMPORAL:
                wanted = [
                    v
                    for v in items
                    if isinstance(v, date) and isinstance(v, datetime) == (a.type == "datetime")
                ]
            else:
                raise self.no_sql(op, path, f"membership of a {a.type}")
            e = a.expr  # membership is equality: an index on the column serves it
            if not wanted:
                cond = false()
            else:
                cond = e.in_(wanted) if relaxed else and_(a.expr.is_not(None), e.in_(wanted))
            if any(v is None for v in items) and not a.nan and not a.nonnull:
                cond = or_(cond, a.expr.is_(None))
            return self.boolean(cond)
        if b.is_const and type(b.const) is str:
            if not b.const:
                return self.boolean(false())
            if a.type == "text":
                needle = func.coalesce(a.expr, "null")
                return self.boolean(_StrPos(literal(b.const, String()), needle) > 0)
            raise self.no_sql(op, path, f"a {a.type} field inside a text")
        if b.type == "text" and not b.is_const:
            haystack = b.expr
            if a.is_const:
                needle: Any = literal(js_string(a.const), String())
            elif a.type == "text":
                needle = func.coalesce(a.expr, "null")
            else:
                raise self.no_sql(op, path, f"a {a.type} field inside a text")
            return self.boolean(and_(haystack.is_not(None), haystack != "", _StrPos(haystack, needle) > 0))
        if b.is_const:
            return self.boolean(false())
        raise self.no_sql(op, path, f"membership in a {b.type}")

    def text(self, value: _V, path: str, op: str, null_as: str | None) -> Any:
        if value.is_const:
            return literal("" if value.const is None and null_as == "" else js_string(value.const), String())
        e = value.expr
        if value.type == "text":
            return func.coalesce(e, null_as) if null_as is not None else e
        if value.type == "number" and _is_integer_sql(value):
            text = cast(e, String())
            if value.nan:
                return func.coalesce(text, "NaN")
            return func.coalesce(text, null_as) if null_as is not None else text
        if value.type == "boolean":
            return case((e.is_(true()), "true"), (e.is_(false()), "false"), else_=null_as)
        if value.type == "date":
            return func.coalesce(cast(e, String()), null_as) if null_as is not None else cast(e, String())
        raise self.no_sql(op, path, f"text from a {value.type} value")

    def op_cat(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args, listed, path)
        expr: Any = literal("", String())
        for value in values:
            expr = expr.concat(self.text(value, path, op, ""))
        return _V(expr, "text", nonnull=True)

    def op_text_fn(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        (value,) = self.args(op, args, listed, path)
        if value.type != "text":
            raise self.no_sql(op, path, f"on a {value.type} field")
        e = value.expr
        if op == "length":
            return _V(func.coalesce(func.length(e), 0), "number", nonnull=True)
        if op == "trim":
            return _V(_Trim(e, literal(TRIM_CHARS, String())), "text", nonnull=value.nonnull)
        return _V(func.lower(e) if op == "lower" else func.upper(e), "text", nonnull=value.nonnull)

    def op_affix(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        relaxed, self.relaxed = self.relaxed, False
        subject, affix = self.args(op, args, listed, path)
        if op == "contains" and subject.is_const and type(subject.const) is str and affix.type == "text":
            return self.boolean(
                _StrPos(literal(subject.const, String()), func.coalesce(affix.expr, "null")) > 0
            )
        if subject.type != "text" or subject.is_const or not affix.is_const:
            raise self.no_sql(op, path, "only a text field against a literal")
        if affix.const is None and op != "contains":
            return self.boolean(false())
        needle = js_string(affix.const)
        e = subject.expr
        if op == "contains":
            cond = _StrPos(e, literal(needle, String())) > 0
        elif op == "starts_with":
            cond = func.substr(e, 1, len(needle)) == needle
        else:
            cond = and_(
                func.length(e) >= len(needle), func.substr(e, func.length(e) - len(needle) + 1) == needle
            )
        return self.boolean(cond if subject.nonnull or relaxed else and_(e.is_not(None), cond))

    def op_coalesce(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args, listed, path)
        kept: list[_V] = []
        for value in values:
            if value.is_const and value.const is None:
                continue
            kept.append(value)
            if value.nonnull or value.is_const:
                break
        if not kept:
            return _V(None, "null", None)
        kinds = {v.type for v in kept}
        if len(kinds) > 1 or any(v.nan for v in kept):
            raise self.no_sql(op, path, "arguments must share one type and not come from arithmetic")
        if len(kept) == 1:
            return kept[0]
        return _V(
            func.coalesce(*[self.sql(v) for v in kept]),
            kinds.pop(),
            nonnull=kept[-1].nonnull or kept[-1].is_const,
        )

    def op_is_empty(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        (value,) = self.args(op, args, listed, path)
        if value.nan or (value.nonnull and value.type != "text"):
            return self.boolean(false())
        e = value.expr
        if value.type == "text":
            return self.boolean(e == "" if value.nonnull else or_(e.is_(None), e == ""))
        return self.boolean(e.is_(None))

    # --- dates

    def date_value(self, value: _V, path: str, op: str) -> _V:
        if value.type == "date" and not value.is_const:
            return value
        raise self.no_sql(op, path, f"on a {value.type} value; SQL date functions take date fields")

    def op_date_part(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        (value,) = self.args(op, args, listed, path)
        if value.type not in _TEMPORAL or value.is_const:
            raise self.no_sql(op, path, f"on a {value.type} value")
        e = value.expr
        if op == "weekday":
            expr: Any = _IsoWeekday(e)
        elif op == "quarter":
            expr = (cast(extract("month", e), Integer()) - 1) // 3 + 1
        else:
            expr = cast(extract(op, e), Integer())
        return _V(expr, "number", nonnull=value.nonnull)

    def op_date_add(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args, listed, path)
        start = self.date_value(values[0], path, op)
        if not all(v.is_const for v in values[1:]):
            raise self.no_sql(op, path, "the amount must be a literal")
        amount = values[1].const
        unit = values[2].const if len(values) > 2 else None
        if unit is None and type(amount) is str:
            delta = parse_duration(amount)
            if (
                delta.years
                or delta.months
                or delta.hours
                or delta.minutes
                or delta.seconds
                or delta.microseconds
            ):
                raise self.no_sql(
                    op,
                    path,
                    "months, years and times on a field differ between databases; "
                    "move the duration to the other side: date_add(today(), ...)",
                )
            days = delta.days
        else:
            number = to_number(amount)
            unit_name = js_string(unit).lower() if unit is not None else "d"
            if (
                is_nan(number)
                or number != int(number)
                or unit_name not in ("d", "day", "days", "w", "week", "weeks")
            ):
                raise self.no_sql(op, path, "only whole days and weeks on a field")
            days = int(number) * (7 if unit_name.startswith("w") else 1)
        modifier = f"{days:+d} days"
        return _V(
            _AddDays(start.expr, literal(modifier, String()), literal(days, Integer())),
            "date",
            nonnull=start.nonnull,
        )

    def op_date_diff(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        values = self.args(op, args, listed, path)
        unit = values[2].const if len(values) > 2 else "d"
        if (len(values) > 2 and not values[2].is_const) or js_string(unit).lower() not in (
            "d",
            "day",
            "days",
        ):
            raise self.no_sql(op, path, 'only the unit "d"')
        a, b = values[0], values[1]
        for v in (a, b):
            if not v.is_const and v.type != "date":
                raise self.no_sql(op, path, f"on a {v.type} value")
        start = a if not a.is_const else self.const_date(a, path, op)
        end = b if not b.is_const else self.const_date(b, path, op)
        if (start.is_const and start.const is None) or (end.is_const and end.const is None):
            return _V(None, "null", None)
        nonnull = (start.nonnull or start.is_const) and (end.nonnull or end.is_const)
        return _V(_DaysBetween(self.sql(start), self.sql(end)), "number", nonnull=nonnull)

    def const_date(self, value: _V, path: str, op: str) -> _V:
        moment = to_date_like(value.const)
        if isinstance(moment, datetime):
            raise self.no_sql(op, path, "with a date-time")
        return _V(None, "date" if moment else "null", const=moment)

    def op_days_until(self, op: str, args: list[Any], listed: bool, path: str) -> _V:
        if len(args) > 1 and (
            args[1] is True or (type(args[1]) is dict and args[1].get("anniversary") is True)
        ):
            raise self.no_sql(op, path, "anniversaries; filter on month and day instead")
        (value,) = self.args(op, args[:1], listed, path)
        start = self.date_value(value, path, op)
        today = compile_expr({"today": []}, registry=self.registry)(None, context=self.context)
        return _V(_DaysBetween(literal(today, Date()), start.expr), "number", nonnull=start.nonnull)


#: Handlers that may leave out NULL guards in a positive position (they read ``self.relaxed``).
_RELAXABLE = frozenset(
    {"==", "===", "<", "<=", ">", ">=", "between", "in", "contains", "starts_with", "ends_with"}
)

_METHODS = {
    "!": "logic",
    "!!": "logic",
    "and": "logic",
    "or": "logic",
    "if": "if",
    "?:": "if",
    "==": "equality",
    "!=": "equality",
    "===": "equality",
    "!==": "equality",
    "<": "ordering",
    "<=": "ordering",
    ">": "ordering",
    ">=": "ordering",
    "between": "ordering",
    "+": "add_mul",
    "*": "add_mul",
    "-": "sub_div",
    "/": "sub_div",
    "%": "sub_div",
    "max": "extreme",
    "min": "extreme",
    "abs": "unary_number",
    "round": "unary_number",
    "floor": "unary_number",
    "ceil": "unary_number",
    "in": "in",
    "cat": "cat",
    "lower": "text_fn",
    "upper": "text_fn",
    "trim": "text_fn",
    "length": "text_fn",
    "contains": "affix",
    "starts_with": "affix",
    "ends_with": "affix",
    "coalesce": "coalesce",
    "is_empty": "is_empty",
    "year": "date_part",
    "month": "date_part",
    "day": "date_part",
    "weekday": "date_part",
    "quarter": "date_part",
    "date_add": "date_add",
    "date_diff": "date_diff",
    "days_until": "days_until",
}
