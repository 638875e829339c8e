"""Turning a record's JSON input into stored values, and stored values into JSON: pure, no database.

The same function serves the API (create, PATCH), bulk writes, imports and the browser
form, so they cannot disagree about what is valid. It works on the published model:
coercion by each field's type, then the visibility and requirement conditions evaluated
on the merged record (a hidden field is neither required nor stored).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from opsloom.platform import expr
from opsloom.platform.expr.values import truthy

from .fields.base import FieldType, FieldValueError
from .model import SYSTEM_FIELDS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from .fields.base import FieldContext
    from .model import EntityModel, RuntimeField

__all__ = ["InputResult", "condition_data", "fields_json", "fields_only", "read_input", "record_json", "row_converter",
           "stamp_json"]


class InputResult:
    """What ``read_input`` found: values to store (column fields and table fields) and errors by field."""

    __slots__ = ("errors", "hidden", "values")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.hidden: set[str] = set()


def stamp_json(value: datetime | None) -> str | None:
    """A system timestamp as ISO 8601 UTC with ``Z`` (SQLite hands naive UTC values back)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.isoformat() + "Z"
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"  # "+00:00" (a list page makes three per record: no replace())


def condition_data(json_values: Mapping[str, Any], ctx: FieldContext, user: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data conditions and formulas see: the record's JSON values plus ``_user``."""
    data = dict(json_values)
    if user is not None:
        data["_user"] = user
    return data


def _expr_context(ctx: FieldContext) -> dict[str, Any]:
    context: dict[str, Any] = {"tz": ctx.timezone}
    if ctx.now is not None:
        context["_now"] = ctx.now
    return context


def _holds(compiled: expr.Compiled, data: Mapping[str, Any], ctx: FieldContext) -> bool:
    try:
        return truthy(compiled(data, context=_expr_context(ctx)))
    except expr.ExprError:
        # a condition that cannot be evaluated on incomplete data does not hold
        return False


class _InputPlan:
    """What ``read_input`` needs of a model, worked out once per published version."""

    __slots__ = ("coercers", "conditional", "defaults", "required", "writable")

    def __init__(self, model: EntityModel) -> None:
        #: the fields a client may write (not computed), in the model's order
        self.writable = {key: f for key, f in model.fields.items() if not f.computed}
        #: each writable field's ``coerce``, made once (``FieldType.coercer``)
        self.coercers = {key: f.type.coercer(f.spec) for key, f in self.writable.items()}
        #: the fields whose value on a new record may not be None when not given
        self.defaults = [f for f in self.writable.values() if _may_default(f)]
        #: whether any field has a visibility or requirement condition
        self.conditional = bool(model.visible_if or model.required_if)
        #: the fields that may be required (always, or by a condition)
        self.required = [f for key, f in self.writable.items() if f.spec.get("required") or key in model.required_if]


def _may_default(f: RuntimeField) -> bool:
    wants_user = getattr(f.type, "wants_current_user", None)
    return (
        f.spec.get("default") is not None
        or type(f.type).default is not FieldType.default
        or (wants_user is not None and bool(wants_user(f.spec)))
    )


def _plan(model: EntityModel) -> _InputPlan:
    plan = model.statements.get("input_plan")
    if plan is None:
        plan = model.statements["input_plan"] = _InputPlan(model)
    return plan


def read_input(
    model: EntityModel,
    raw: Any,
    ctx: FieldContext,
    *,
    existing: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    ignore: frozenset[str] = frozenset(),
) -> InputResult:
    """Validate ``raw`` (the request's JSON object) against ``model``.

    ``existing`` is the current record as JSON for a PATCH (absent fields keep their
    value, and requirement is checked on the merged record); None for a create, where
    absent fields take their default. ``ignore`` names keys the caller handles itself
    (``_version`` on a PATCH). Bulk writes and imports call it per row, so the per-model
    facts come from a plan made once per version and the JSON the conditions read is only
    built when the model has conditions.
    """
    result = InputResult()
    if not isinstance(raw, dict):
        result.errors["/"] = "a record must be a JSON object of field keys and values"
        return result
    plan = _plan(model)
    writable = plan.writable
    values, errors = result.values, result.errors
    for key in raw:
        if key in writable or key in ignore:
            continue
        if key in SYSTEM_FIELDS:
            errors[key] = "is set by the system and cannot be written"
        elif key not in model.fields:
            errors[key] = f"unknown field (the fields of {model.key} are: {', '.join(model.fields)})"
        else:
            errors[key] = "is computed and cannot be set"
    conditional = plan.conditional
    merged_json: dict[str, Any] = dict(existing or {}) if conditional else {}
    coercers = plan.coercers
    for key, f in writable.items():
        if key not in raw:
            continue
        try:
            value = coercers[key](raw[key], ctx)
        except FieldValueError as exc:
            errors[key] = str(exc)
            cells = _cell_errors(f, raw[key], ctx)
            errors.update({f"{key}/{where}": message for where, message in cells.items()})
            continue
        values[key] = value
        if conditional:
            merged_json[key] = f.type.to_json(value, f.spec, ctx)
    if existing is None:
        for f in plan.defaults:
            if f.key in raw:
                continue
            try:
                value = f.type.default(f.spec, ctx)
            except FieldValueError:
                value = None
            wants_user = getattr(f.type, "wants_current_user", None)
            if value is None and user is not None and wants_user is not None and wants_user(f.spec):
                value = user.get("id")
            if value is not None:
                values[f.key] = value
                if conditional:
                    merged_json[f.key] = f.type.to_json(value, f.spec, ctx)
    data: dict[str, Any] = {}
    if conditional:
        data = condition_data(merged_json, ctx, user)
        for key, compiled in model.visible_if.items():
            if not _holds(compiled, data, ctx):
                result.hidden.add(key)
        for key in writable:
            if key in result.hidden and key not in errors and (
                key in values or (existing is not None and existing.get(key) is not None)
            ):
                values[key] = None  # a hidden field is not stored
    for f in plan.required:
        key = f.key
        if key in errors or key in result.hidden:
            continue
        required = bool(f.spec.get("required"))
        condition = model.required_if.get(key)
        if not required and condition is not None:
            required = _holds(condition, data, ctx)
        if required:
            value = values[key] if key in values else (existing or {}).get(key)
            if value is None or f.type.is_empty(value):
                errors[key] = "is required"
    return result


def _cell_errors(f: RuntimeField, value: Any, ctx: FieldContext) -> dict[str, str]:
    """Per-cell errors of a subtable value, when the type can tell them (``row_errors``)."""
    row_errors = getattr(f.type, "row_errors", None)
    if row_errors is None:
        return {}
    try:
        return dict(row_errors(value, f.spec, ctx))
    except Exception:  # a per-cell report is a courtesy; the field error stands
        return {}


def record_json(model: EntityModel, row: Mapping[str, Any], ctx: FieldContext, *, fields: list[str] | None = None) -> dict[str, Any]:
    """A stored row (plus table-stored values under their keys) as the record's flat JSON."""
    out: dict[str, Any] = {"id": row["id"], "_version": row["_version"]}
    get = row.get
    for key, convert, spec in _json_plan(model):
        if fields is not None and key not in fields:
            continue
        value = get(key)
        out[key] = value if value is None or convert is None else convert(value, spec, ctx)
    out["_created_at"] = stamp_json(get("_created_at"))
    out["_created_by"] = get("_created_by")
    out["_updated_at"] = stamp_json(get("_updated_at"))
    out["_updated_by"] = get("_updated_by")
    out["_deleted_at"] = stamp_json(get("_deleted_at"))
    return out


def _json_plan(model: EntityModel) -> list[tuple[str, Any, Mapping[str, Any]]]:
    """Per field: its key, its type's ``to_json`` (None where the stored value is the JSON value) and its spec.

    Built once per published version: a list page converts every field of every row.
    """
    plan = model.statements.get("json_plan")
    if plan is None:
        plan = model.statements["json_plan"] = [
            (key, None if type(f.type).to_json is FieldType.to_json else f.type.to_json, f.spec)
            for key, f in model.fields.items()
        ]
    return plan


def row_converter(model: EntityModel, columns: tuple[str, ...]) -> Callable[[Sequence[Any], FieldContext], dict[str, Any]]:
    """``record_json`` for rows given as value sequences in ``columns`` order, compiled once per version.

    A list page converts every field of every row, and a generic loop over the fields
    costs more than the conversions it makes. Like ``namedtuple`` and ``dataclasses``, this
    writes the function's source, with one dict display whose keys are the fields' keys
    (as ``repr`` literals) and whose converters are bound by generated names, so nothing
    from a definition becomes code. Fields without a column (child tables, links) are
    ``None`` here; the caller fills them as ``record_json`` would from a dict row.
    """
    cache_key = ("row_converter", columns)
    found = model.statements.get(cache_key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    position = {name: i for i, name in enumerate(columns)}
    namespace: dict[str, Any] = {"stamp": stamp_json}
    items = [f"'id': row[{position['id']}]", f"'_version': row[{position['_version']}]"]
    for n, (key, convert, spec) in enumerate(_json_plan(model)):
        if key not in position:
            items.append(f"{key!r}: None")
        elif convert is None:
            items.append(f"{key!r}: row[{position[key]}]")
        else:
            namespace[f"c{n}"], namespace[f"s{n}"] = convert, spec
            items.append(f"{key!r}: None if (v := row[{position[key]}]) is None else c{n}(v, s{n}, ctx)")
    for key in ("_created_at", "_created_by", "_updated_at", "_updated_by", "_deleted_at"):
        value = f"row[{position[key]}]" if key in position else "None"
        items.append(f"{key!r}: stamp({value})" if key.endswith("_at") else f"{key!r}: {value}")
    source = "def convert(row, ctx):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, f"<record json of {model.key} v{model.version}>", "exec"), namespace)
    converter = model.statements[cache_key] = namespace["convert"]
    return converter  # type: ignore[no-any-return]


def fields_json(model: EntityModel, values: Mapping[str, Any], ctx: FieldContext, record_id: int, version: int) -> dict[str, Any]:
    """What ``fields_only(record_json(...))`` gives for a record being written, without the stamps.

    The bulk write builds it per record for the audit row and the event.
    """
    out: dict[str, Any] = {"id": record_id, "_version": version}
    for key, f in model.fields.items():
        value = values.get(key)
        out[key] = None if value is None else f.type.to_json(value, f.spec, ctx)
    return out


def fields_only(record: Mapping[str, Any]) -> dict[str, Any]:
    """The field values and ``_version`` of a record's JSON (what audit rows and events keep)."""
    return {k: v for k, v in record.items() if not k.startswith("_") or k == "_version"}
