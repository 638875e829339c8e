"""Computed field types: ``auto_number``, ``formula``, ``rollup`` and ``lookup`` (never taken from input).

Pure: no Flask, no session, no clock, no I/O (SQLAlchemy only for column types). The
engine fills these values: ``render``/``period_key`` give auto numbers (the service
keeps the counters), ``compute`` evaluates formulas, the service runs rollups as SQL
aggregates and copies lookups from the linked record.

Typing is static and happens when a version is published: ``resolve`` infers a
formula's ``result_type`` from its siblings (resolving computed siblings in turn,
across entities for lookups and rollups) and ``check`` reports what cannot work,
including cycles ("formulas a -> b -> a depend on each other"). Values of computed
fields are derived, so changing their type loses nothing: ``type_change`` says
``widen`` whenever the column type changes and the publisher recomputes the column.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.types import JSON, Boolean, Date, DateTime, Float, String, Text

from opsloom.platform.expr import (
    ExprError,
    ExprParseError,
    default_registry,
    free_vars,
    infer_type,
    normalize,
    parse_formula,
)
from opsloom.platform.expr import compile as compile_expression

from .base import FieldReference, FieldType, FieldValueError, SchemaContext
from .refs import IDENTIFIER, entity_by_key, field_expr_type, find_field, nullable
from .text import cell_text, describe_value

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.types import TypeEngine

    from opsloom.platform.expr import Compiled, OperatorRegistry

    from .base import FieldContext, TypeChange

__all__ = [
    "FIELD_TYPES",
    "AutoNumberType",
    "FormulaType",
    "LookupType",
    "PatternError",
    "RollupType",
    "compute",
    "period_key",
    "render",
]

#: system fields every record has, as the expression language types them
_SYSTEM_TYPES = {
    "id": "number",
    "_version": "number",
    "_created_at": "datetime",
    "_updated_at": "datetime",
    "_created_by": "user",
    "_updated_by": "user",
}
_ARTICLE = {
    "number": "a number",
    "text": "text",
    "boolean": "a boolean",
    "date": "a date",
    "datetime": "a date-time",
    "list": "a list",
    "any": "of no fixed type",
}


# ---------------------------------------------------------------------- shared by the computed types


def _column_for(result_type: Any) -> TypeEngine[Any]:
    """The column holding values of an expression type (lists and mixed values as JSON)."""
    if result_type == "number":
        return Float()
    if result_type == "text":
        return Text()
    if result_type == "boolean":
        return Boolean()
    if result_type == "date":
        return Date()
    if result_type == "datetime":
        return DateTime(timezone=True)
    return JSON()


def _schema_for(result_type: Any) -> dict[str, Any]:
    """The read-only JSON Schema of values of an expression type."""
    schema: dict[str, Any] = {
        "number": {"type": "number"},
        "text": {"type": "string"},
        "boolean": {"type": "boolean"},
        "date": {"type": "string", "format": "date"},
        "datetime": {"type": "string", "format": "date-time"},
        "list": {"type": "array"},
    }.get(result_type, {})
    return {**(nullable(schema) if schema else {}), "readOnly": True}


def _change(old: Any, new: Any) -> TypeChange:
    """Compare the columns of two result types; derived values are recomputed, so a change only widens."""
    return "same" if type(_column_for(old)) is type(_column_for(new)) else "widen"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return value


def _text(value: Any) -> str:
    if isinstance(value, list | tuple | Mapping):
        return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return cell_text(value)  # the same rendering as exported cells of the plain types


class _Computed(FieldType):
    """What every computed type shares: no input, no default, plain JSON output."""

    computed = True
    group = "computed"
    widget = "computed"

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        raise FieldValueError("is computed and cannot be set")

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        raise FieldValueError("is computed and cannot be set")

    def default(self, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return None

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return _jsonable(value)

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return _text(value)


# ---------------------------------------------------------------------- resolution across fields

_Node = tuple[str, str]  # (entity key, field key)


class _Cycle(Exception):
    """Computed fields that depend on each other; raised up to the first frame outside the cycle."""

    def __init__(self, nodes: tuple[_Node, ...], kinds: Mapping[_Node, str]) -> None:
        super().__init__(nodes)
        self.nodes = nodes
        self.kinds = {node: kinds.get(node, "") for node in nodes}

    def sentence(self, home: Any) -> str:
        names = [key if entity == home else f"{entity}.{key}" for entity, key in self.nodes]
        what = "formulas" if all(kind == "formula" for kind in self.kinds.values()) else "computed fields"
        return f"{what} {' -> '.join(names)} depend on each other"


@dataclass
class _Walk:
    """One resolution: the fields being resolved (for cycles) and those already done (shared work)."""

    stack: list[_Node] = dataclass_field(default_factory=list)
    memo: dict[_Node, Mapping[str, Any]] = dataclass_field(default_factory=dict)
    kinds: dict[_Node, str] = dataclass_field(default_factory=dict)


class _Derived(_Computed, ABC):
    """A computed type whose facts depend on other fields (formula, rollup, lookup).

    Subclasses implement ``_analyse`` (facts and problems) and ``fallback`` (the facts
    when the definition cannot be resolved); ``check`` and ``resolve`` share it.
    """

    @abstractmethod
    def _analyse(
        self, field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The facts of ``field`` (``result_type``, ...) and the problems found (pointer, message)."""

    def fallback(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"result_type": self.expr_type}

    def cycle_pointer(self, field: Mapping[str, Any]) -> str:
        return ""

    def analyse(
        self, field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk
    ) -> tuple[Mapping[str, Any], list[tuple[str, str]]]:
        """Facts and problems of ``field``; :raises _Cycle: it depends on itself through ``walk.stack``."""
        node = (str(ctx.entity.get("key", "")), str(field.get("key", "")))
        if node in walk.memo:
            return walk.memo[node], []
        if node in walk.stack:
            raise _Cycle((*walk.stack[walk.stack.index(node) :], node), walk.kinds)
        walk.stack.append(node)
        walk.kinds[node] = self.name
        try:
            facts, problems = self._analyse(field, ctx, walk)
        finally:
            walk.stack.pop()
        # Sound to share: a field whose resolution finished met no cycle through the fields above it.
        walk.memo[node] = facts
        return facts, problems

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
        try:
            _, problems = self.analyse(field, ctx, _Walk())
        except _Cycle as cycle:
            yield self.cycle_pointer(field), cycle.sentence(ctx.entity.get("key"))
            return
        yield from problems

    def resolve(self, field: Mapping[str, Any], ctx: SchemaContext) -> Mapping[str, Any]:
        """The facts; never raises (publishing has refused what ``check`` reports), falling back when it must."""
        try:
            return dict(self.analyse(field, ctx, _Walk())[0])
        except _Cycle:
            return self.fallback(field)

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return _column_for(field.get("result_type", self.expr_type))

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        return _change(old.get("result_type", self.expr_type), new.get("result_type", self.expr_type))

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return _schema_for(field.get("result_type", self.expr_type))


def _facts_of(field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk) -> Mapping[str, Any]:
    """What another field's type resolves it to, within ``walk`` (cycles through the caller propagate)."""
    ftype = ctx.types.get(field.get("type"))
    if ftype is None:
        return {}
    if isinstance(ftype, _Derived):
        try:
            return ftype.analyse(field, ctx, walk)[0]
        except _Cycle as cycle:
            if walk.stack and walk.stack[-1] in cycle.nodes:
                raise
            # A cycle further down that the caller is not part of: that field's own check reports it.
            return ftype.fallback(field)
    return ftype.resolve(field, ctx)


def _type_of(field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk) -> str:
    """The expression type of another field (a computed one's resolved ``result_type``)."""
    ftype = ctx.types.get(field.get("type"))
    if ftype is None:
        return "any"
    return str(_facts_of(field, ctx, walk).get("result_type") or field_expr_type(ftype, field))


def _in(body: Mapping[str, Any], ctx: SchemaContext) -> SchemaContext:
    """The context of another entity of the same app."""
    return SchemaContext(entity=body, types=ctx.types, lookup_entity=ctx.lookup_entity)


class _Checked(NamedTuple):
    expr: Any  # None when it could not be read
    depends_on: list[str]
    result_type: str
    problems: list[tuple[str, str]]


def _check_expression(
    source: Any, *, text: bool, pointer: str, what: str, where: str, ctx: SchemaContext, walk: _Walk
) -> _Checked:
    """Read an expression over the fields of ``ctx.entity`` and type it.

    :param text: ``source`` is formula text (errors point at ``pointer``), else JSON
        (errors point inside it).
    :param what: the expression's name in messages ("formula", "filter").
    :param where: the entity in messages ("this entity", "order").
    """
    try:
        expr = parse_formula(source) if text else normalize(source)
        compile_expression(expr)  # unknown operators, arity and size limits
    except ExprError as exc:
        return _Checked(None, [], "any", [(_at(pointer, exc, text), _reason(exc))])
    depends_on = sorted(free_vars(expr))
    fields = {
        f["key"]: f
        for f in ctx.entity.get("fields") or ()
        if isinstance(f, Mapping) and isinstance(f.get("key"), str)
    }
    unknown = [
        name
        for name in depends_on
        if not name.startswith("_") and name.split(".")[0] not in fields and name not in _SYSTEM_TYPES
    ]
    if unknown:
        problems = [(pointer, f"{what} uses '{name}', which is not a field of {where}") for name in unknown]
        return _Checked(expr, depends_on, "any", problems)
    read = {name.split(".")[0] for name in depends_on}
    types = dict(_SYSTEM_TYPES)
    for key, sibling in fields.items():
        ftype = ctx.types.get(sibling.get("type"))
        if key in read:
            types[key] = _type_of(sibling, ctx, walk)
        else:  # not read: not worth resolving
            types[key] = "any" if ftype is None or ftype.computed else field_expr_type(ftype, sibling)
    try:
        result = infer_type(expr, types)
    except ExprError as exc:
        return _Checked(expr, depends_on, "any", [(_at(pointer, exc, text), _reason(exc))])
    return _Checked(expr, depends_on, "any" if result == "null" else result, [])


def _at(pointer: str, exc: ExprError, text: bool) -> str:
    return pointer if text else pointer + (exc.path or "")


def _reason(exc: ExprError) -> str:
    if isinstance(exc, ExprParseError):  # one line: the excerpt with its caret belongs to an editor
        return f"{exc.reason} (line {exc.line}, column {exc.column})"
    return exc.detail


# ---------------------------------------------------------------------- auto_number

AUTO_NUMBER_LENGTH = 64
_DEFAULT_PATTERN = "{seq:6}"
_PIECE = re.compile(r"\{(YYYY|YY|MM|DD)\}|\{seq:(\d+)\}|([A-Za-z0-9_./-]+)")
_TOKENS_HELP = "use {YYYY}, {YY}, {MM}, {DD}, {seq:N} and letters, digits, - _ / ."
_DATE_WIDTH = {"YYYY": 4, "YY": 2, "MM": 2, "DD": 2}


class PatternError(ValueError):
    """An auto-number pattern that cannot make numbers; the message says what fits."""


@functools.lru_cache(maxsize=256)
def _pieces(pattern: str) -> tuple[tuple[str, Any], ...]:
    """``pattern`` as ``("text", "C")``, ``("date", "YYYY")`` and ``("seq", 6)`` pieces.

    :raises PatternError: unknown tokens, other characters, not exactly one ``{seq:N}``,
        N outside 1..12, or numbers longer than the column.
    """
    pieces: list[tuple[str, Any]] = []
    position = 0
    while position < len(pattern):
        match = _PIECE.match(pattern, position)
        if match is None:
            end = pattern.find("}", position) if pattern[position] == "{" else position
            bad = pattern[position : end + 1] if end >= position else pattern[position:]
            raise PatternError(f"unexpected '{bad}' at position {position + 1}; {_TOKENS_HELP}")
        token, width, literal = match.groups()
        if token:
            pieces.append(("date", token))
        elif width is not None:
            if not 1 <= int(width) <= 12:
                raise PatternError(f"{{seq:N}} takes N from 1 to 12; got {int(width)}")
            pieces.append(("seq", int(width)))
        else:
            pieces.append(("text", literal))
        position = match.end()
    sequences = sum(1 for kind, _ in pieces if kind == "seq")
    if sequences != 1:
        raise PatternError(
            "the pattern needs a {seq:N} token (such as {seq:6})"
            if not sequences
            else f"the pattern has {sequences} {{seq:N}} tokens; it needs exactly one"
        )
    length = sum(
        len(arg) if kind == "text" else _DATE_WIDTH[arg] if kind == "date" else arg for kind, arg in pieces
    )
    if length > AUTO_NUMBER_LENGTH:
        raise PatternError(
            f"numbers from this pattern are {length} characters long; at most {AUTO_NUMBER_LENGTH} fit"
        )
    return tuple(pieces)


def _date_text(token: str, when: date) -> str:
    if token == "YYYY":
        return f"{when.year:04d}"
    if token == "YY":
        return f"{when.year % 100:02d}"
    return f"{when.month:02d}" if token == "MM" else f"{when.day:02d}"


def period_key(pattern: str, now_local: date) -> str:
    """The period a number falls in: the date text the pattern shows, year first ("", "2026", "202611").

    The service keeps one counter per (field, period key) and starts a new one at 1 when
    the key is new. Because the key is exactly the date the number shows, numbers never
    repeat: a pattern with ``{MM}`` and no year comes back to key "11" every November and
    continues that counter instead of restarting it.

    :param now_local: the creation time in the workspace's time zone.
    :raises PatternError: the pattern is invalid.
    """
    shown = {arg for kind, arg in _pieces(pattern) if kind == "date"}
    year = "YYYY" if "YYYY" in shown else "YY" if "YY" in shown else None
    return "".join(_date_text(token, now_local) for token in (year, "MM", "DD") if token in shown)


def render(pattern: str, now_local: date, seq: int) -> str:
    """The number for counter value ``seq``: ``render("C{YYYY}{seq:6}", 2026-…, 42) == "C2026000042"``.

    A ``seq`` wider than N keeps all its digits (the number grows rather than repeats).

    :raises PatternError: the pattern is invalid.
    :raises ValueError: ``seq`` is negative.
    """
    if seq < 0:
        raise ValueError(f"an auto-number counter cannot be negative; got {seq}")
    out = []
    for kind, arg in _pieces(pattern):
        if kind == "text":
            out.append(arg)
        elif kind == "date":
            out.append(_date_text(arg, now_local))
        else:
            out.append(f"{seq:0{arg}d}")
    return "".join(out)


class AutoNumberType(_Computed):
    """A readable, unique number given at creation ("C2026000042"), from a counter the service keeps."""

    name = "auto_number"
    label = {"en": "Auto number", "zh": "自动编号"}
    expr_type = "text"
    searchable = True
    filter_operators = ("==", "!=", "in", "starts_with", "contains", "missing")
    options_schema = {"pattern": {"type": "string", "minLength": 1, "maxLength": AUTO_NUMBER_LENGTH * 4}}

    @staticmethod
    def pattern(field: Mapping[str, Any]) -> str:
        return str(field.get("pattern") or _DEFAULT_PATTERN)

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
        try:
            _pieces(self.pattern(field))
        except PatternError as exc:
            yield "/pattern", str(exc)

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return String(AUTO_NUMBER_LENGTH)

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {**nullable({"type": "string", "maxLength": AUTO_NUMBER_LENGTH}), "readOnly": True}


# ---------------------------------------------------------------------- formula


class FormulaType(_Derived):
    """A value computed from the record: Excel-like ``formula`` text or a JSON Logic ``expr`` (exactly one).

    ``resolve`` gives ``{"result_type", "expr", "depends_on"}``; the runtime evaluates
    ``expr`` with ``compute`` whenever one of ``depends_on`` changes.
    """

    name = "formula"
    label = {"en": "Formula", "zh": "公式"}
    expr_type = "any"  # the runtime uses the resolved result_type
    filter_operators = ("==", "!=", "<", "<=", ">", ">=", "in", "missing")
    options_schema = {"formula": {"type": "string", "minLength": 1, "maxLength": 10_000}, "expr": {}}

    def fallback(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"result_type": "any", "expr": None, "depends_on": []}

    def cycle_pointer(self, field: Mapping[str, Any]) -> str:
        return "/expr" if field.get("expr") is not None and not field.get("formula") else "/formula"

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
        """The formula text, or the JSON ``expr``: both read this entity's fields."""
        text = field.get("formula")
        if isinstance(text, str) and text:
            yield FieldReference("/formula", text, kind="formula")
        if field.get("expr") is not None:
            yield FieldReference("/expr", field["expr"], kind="expr", what="expr")

    def _analyse(
        self, field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        text, raw = field.get("formula"), field.get("expr")
        has_text, has_expr = text not in (None, ""), raw is not None
        if has_text and has_expr:
            return self.fallback(field), [("/expr", "give either formula (text) or expr (JSON), not both")]
        if not has_text and not has_expr:
            return self.fallback(field), [("/formula", "a formula field needs a formula (or an expr)")]
        checked = _check_expression(
            text if has_text else raw,
            text=has_text,
            pointer="/formula" if has_text else "/expr",
            what="formula",
            where="this entity",
            ctx=ctx,
            walk=walk,
        )
        facts = {"result_type": checked.result_type, "expr": checked.expr, "depends_on": checked.depends_on}
        return facts, checked.problems


@functools.lru_cache(maxsize=2048)
def _compiled(key: str, registry: OperatorRegistry) -> Compiled:
    return compile_expression(json.loads(key), registry=registry)


def compute(
    field: Mapping[str, Any],
    values: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    *,
    resolver: Any = None,
    registry: OperatorRegistry | None = None,
) -> Any:
    """A formula's value for one record, fitted to its ``result_type``.

    :param field: the resolved formula field (with ``expr`` and ``result_type``).
    :param values: the record (field keys and ``_`` system fields).
    :param context: ``_now``, ``tz``, ``_user``... as the expression language takes them.
    :param resolver: answers relation paths (``customer.level``) the record lacks.
    :param registry: the app's operator registry (plugin operators); the built-ins by default.

    Any evaluation error gives ``None``: a formula over incomplete data (a missing
    amount, a date not set yet) is empty, not a failed save. So is a result that does
    not fit the column (text where a number was inferred).
    """
    expr = field.get("expr")
    if expr is None:
        return None
    registry = registry or default_registry()
    try:
        if registry.frozen:  # a registry that can still change must not share compiled closures
            compiled = _compiled(json.dumps(expr, sort_keys=True, separators=(",", ":")), registry)
        else:
            compiled = compile_expression(expr, registry=registry)
        result = compiled(values, resolver, context=context)
    except (ExprError, TypeError, ValueError):
        return None
    return _fit(result, field.get("result_type", "any"))


def _fit(value: Any, result_type: Any) -> Any:
    """``value`` as the column of ``result_type`` holds it, or ``None`` when it does not fit."""
    if value is None:
        return None
    if result_type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return None
        if isinstance(value, int):
            return value
        number = float(value)
        return number if math.isfinite(number) else None
    if result_type == "text":
        return value if isinstance(value, str) else _text(value)
    if result_type == "boolean":
        return value if isinstance(value, bool) else None
    if result_type in ("date", "datetime"):
        if isinstance(value, str):
            try:
                value = (
                    datetime.fromisoformat(value) if result_type == "datetime" else date.fromisoformat(value)
                )
            except ValueError:
                return None
        if result_type == "date":
            return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None
        return value if isinstance(value, datetime) else None
    if result_type == "list":
        return _jsonable(value) if isinstance(value, list) else None
    return _jsonable(value)


# ---------------------------------------------------------------------- rollup

_FNS = ("sum", "count", "avg", "min", "max")


class RollupType(_Derived):
    """An aggregate over the records of another entity that link here (a customer's total order amount).

    ``source``: ``entity``, ``link`` (the relation field there pointing at this entity),
    ``field`` (not needed by ``count``), ``fn`` and an optional ``filter`` expression
    over the source entity. The service computes it in SQL.
    """

    name = "rollup"
    label = {"en": "Rollup", "zh": "汇总"}
    expr_type = "number"
    filter_operators = ("==", "!=", "<", "<=", ">", ">=", "between", "missing")
    options_schema = {
        "source": {
            "type": "object",
            "properties": {
                "entity": {"type": "string", "pattern": IDENTIFIER},
                "link": {"type": "string", "pattern": IDENTIFIER},
                "field": {"type": "string", "pattern": IDENTIFIER},
                "fn": {"enum": list(_FNS)},
                "filter": {},
            },
            "required": ["entity", "link", "fn"],
            "additionalProperties": False,
        }
    }

    def cycle_pointer(self, field: Mapping[str, Any]) -> str:
        return "/source/field"

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
        """``link``, ``field`` and the ``filter``: all name fields of the aggregated entity."""
        source = field.get("source")
        entity = source.get("entity") if isinstance(source, Mapping) else None
        if not isinstance(source, Mapping) or not isinstance(entity, str) or not entity:
            return
        for name in ("link", "field"):
            if isinstance(source.get(name), str):
                yield FieldReference(f"/source/{name}", source[name], entity=entity)
        if source.get("filter") is not None:
            yield FieldReference("/source/filter", source["filter"], kind="expr", entity=entity)

    def _analyse(
        self, field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        source = field.get("source")
        source = source if isinstance(source, Mapping) else {}
        problems: list[tuple[str, str]] = []
        fn = source.get("fn")
        if fn not in _FNS:
            problems.append(("/source/fn", f"fn must be one of {', '.join(_FNS)}; got {describe_value(fn)}"))
        entity_key, link, key = source.get("entity"), source.get("link"), source.get("field")
        body = entity_by_key(ctx, entity_key)
        if body is None:
            problems.append(
                ("/source/entity", f"there is no entity {describe_value(entity_key)} in this app")
            )
            return self.fallback(field), problems
        here = ctx.entity.get("key")
        link_field = find_field(body, link)
        if link_field is None:
            problems.append(("/source/link", f"{entity_key} has no field {describe_value(link)}"))
        elif link_field.get("type") != "relation":
            problems.append(
                ("/source/link", f"{entity_key}.{link} is a {link_field.get('type')} field, not a relation")
            )
        elif link_field.get("target") != here:
            problems.append(
                (
                    "/source/link",
                    f"{entity_key}.{link} links to '{link_field.get('target')}', not to '{here}'",
                )
            )
        inner = _in(body, ctx)
        result = "number"
        if key is not None or fn != "count":
            measured = find_field(body, key)
            if key is None:
                problems.append(("/source/field", f"{fn} needs a field of {entity_key} to aggregate"))
            elif measured is None:
                problems.append(("/source/field", f"{entity_key} has no field {describe_value(key)}"))
            else:
                kind = _type_of(measured, inner, walk)
                ordered = fn in ("min", "max")
                if kind == "number" or fn == "count":
                    pass
                elif ordered and kind in ("date", "datetime"):
                    result = kind
                else:
                    wanted = "a number, a date or a date-time" if ordered else "a number"
                    problems.append(
                        (
                            "/source/field",
                            f"{entity_key}.{key} is {_ARTICLE.get(kind, kind)}; {fn} needs {wanted}",
                        )
                    )
        if source.get("filter") is not None:
            checked = _check_expression(
                source["filter"],
                text=False,
                pointer="/source/filter",
                what="filter",
                where=str(entity_key),
                ctx=inner,
                walk=walk,
            )
            problems.extend(checked.problems)
        return {"result_type": result}, problems


# ---------------------------------------------------------------------- lookup


class LookupType(_Derived):
    """A copy of one field of the record a one relation points at (an order's customer level).

    ``resolve`` gives ``{"result_type", "target_type", "target_field", "value_schema"}``;
    values are converted for output by the target's type. The column is chosen by
    ``result_type``: ``column_type`` gets no registry, so it cannot ask the target's type.
    """

    name = "lookup"
    label = {"en": "Lookup", "zh": "引用字段"}
    expr_type = "any"
    filter_operators = ("==", "!=", "in", "missing")
    options_schema = {
        "relation": {"type": "string", "pattern": IDENTIFIER},
        "field": {"type": "string", "pattern": IDENTIFIER},
    }

    def fallback(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"result_type": "any"}

    def cycle_pointer(self, field: Mapping[str, Any]) -> str:
        return "/field"

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
        """The relation (a field here) and, through it, the field shown (a field of its target)."""
        relation_key, key = field.get("relation"), field.get("field")
        if not isinstance(relation_key, str) or not relation_key:
            return
        yield FieldReference("/relation", relation_key)
        relation = find_field(ctx.entity, relation_key)
        target = (
            relation.get("target") if relation is not None and relation.get("type") == "relation" else None
        )
        if isinstance(target, str) and target and isinstance(key, str) and key:
            yield FieldReference("/field", key, entity=target)

    def _analyse(
        self, field: Mapping[str, Any], ctx: SchemaContext, walk: _Walk
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        fail = self.fallback(field)
        relation_key, key = field.get("relation"), field.get("field")
        if not relation_key:
            return fail, [("/relation", "a lookup needs the relation field it reads through")]
        relation = find_field(ctx.entity, relation_key)
        if relation is None:
            return fail, [("/relation", f"there is no field {describe_value(relation_key)} in this entity")]
        if relation.get("type") != "relation":
            return fail, [
                (
                    "/relation",
                    f"'{relation_key}' is a {relation.get('type')} field; a lookup needs a relation",
                )
            ]
        if relation.get("many"):
            return fail, [
                ("/relation", f"'{relation_key}' links many records; a lookup needs a relation to one record")
            ]
        target = relation.get("target")
        body = entity_by_key(ctx, target)
        if body is None:
            return fail, [
                (
                    "/relation",
                    f"'{relation_key}' links to {describe_value(target)}, which is not an entity of this app",
                )
            ]
        if not key:
            return fail, [("/field", f"a lookup needs the field of {target} to show")]
        target_field = find_field(body, key)
        if target_field is None:
            return fail, [("/field", f"{target} has no field {describe_value(key)}")]
        target_type = ctx.types.get(target_field.get("type"))
        if target_type is None:
            return fail, [
                ("/field", f"{target}.{key} has an unknown type {describe_value(target_field.get('type'))}")
            ]
        storage = target_type.storage_for(target_field)
        if storage != "column":
            where = {"child_table": "rows of a subtable", "link_table": "links to many records"}.get(
                storage, "no value"
            )
            return fail, [("/field", f"{target}.{key} holds {where}; a lookup copies a single value")]
        inner = _in(body, ctx)
        facts = _facts_of(target_field, inner, walk)
        resolved = copy.deepcopy({**target_field, **facts})
        result = str(facts.get("result_type") or field_expr_type(target_type, target_field))
        return {
            "result_type": result,
            "target_type": target_field.get("type"),
            "target_field": resolved,
            "value_schema": {**target_type.json_schema(resolved), "readOnly": True},
        }, []

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        if "value_schema" in field:
            return dict(field["value_schema"])
        return super().json_schema(field)

    def _target(self, field: Mapping[str, Any], ctx: FieldContext) -> FieldType | None:
        return ctx.types.get(field.get("target_type")) if "target_field" in field else None

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        target = self._target(field, ctx)
        return (
            super().to_json(value, field, ctx)
            if target is None
            else target.to_json(value, field["target_field"], ctx)
        )

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        target = self._target(field, ctx)
        return (
            super().to_text(value, field, ctx)
            if target is None
            else target.to_text(value, field["target_field"], ctx)
        )


FIELD_TYPES: tuple[FieldType, ...] = (AutoNumberType(), FormulaType(), RollupType(), LookupType())
