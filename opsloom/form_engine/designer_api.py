"""Helper endpoints of the entity designer: the field palette, live formula checks, publish warnings.

The designer saves and publishes through the definitions API like any client; these
routes answer questions the page asks while an administrator edits: which field types
exist (with their labels and option schemas), whether a formula or a condition reads
well against the fields on screen (with line and column), what publishing the draft
would destroy and which fields another entity of the app has (for the rollup and lookup
editors). The preview's conditions live in ``designer_preview`` and the field rename in
``designer_rename_api``, on the same blueprint (``designer_blueprint``). ``palette``,
``check_expression``, ``publish_warnings``, ``field_summaries`` and ``condition_texts``
are pure (no Flask, no session) so the page views and tests share them.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from opsloom.platform import expr
from opsloom.platform.api import require_admin
from opsloom.platform.db import request_session
from opsloom.platform.definitions import service as definitions

from .definition import schema_context
from .designer_blueprint import StrictSchema, blp, field_types
from .fields.refs import field_expr_type

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .fields.base import FieldType

__all__ = [
    "GROUP_ORDER",
    "blp",
    "check_expression",
    "condition_texts",
    "field_summaries",
    "palette",
    "publish_warnings",
]

#: palette groups in the order the designer shows them (unknown plugin groups follow, by name)
GROUP_ORDER = ("basic", "number", "choice", "date", "people", "relation", "media", "advanced", "computed")
#: the key a condition is checked under: a throw-away formula field appended to the entity
_PROBE_KEY = "zz_designer_probe"


# ---------------------------------------------------------------- pure helpers


def palette(types: Mapping[str, FieldType]) -> list[dict[str, Any]]:
    """Every registered field type as the designer shows it, grouped in ``GROUP_ORDER`` then by group name.

    Registration order is kept inside a group (the built-ins register in palette order).
    """
    rank = {group: i for i, group in enumerate(GROUP_ORDER)}
    items = [
        {
            "name": ftype.name,
            "label": dict(ftype.label) or {"en": ftype.name},
            "group": ftype.group,
            "widget": ftype.widget,
            "computed": ftype.computed,
            "sortable": ftype.sortable,
            "masks": list(ftype.masks),
            "options_schema": ftype.options_schema,
            # what the designer's condition builder (a rollup's filter) offers for fields of this type
            "filter_operators": list(ftype.filter_operators),
        }
        for ftype in types.values()
    ]
    order = {item["name"]: i for i, item in enumerate(items)}
    return sorted(items, key=lambda t: (rank.get(t["group"], len(rank)), t["group"], order[t["name"]]))


def _clean_body(body: Any, key: str) -> dict[str, Any]:
    """A designer body trimmed to what the checks can read: fields with a text key and type only.

    The page sends what is on screen, half-typed fields included; the checks index
    ``field["key"]`` and ``field["type"]`` directly, so those fields are left out here.
    """
    body = copy.deepcopy(body) if isinstance(body, dict) else {}
    raw_fields = body.get("fields") if isinstance(body.get("fields"), list) else []
    body["fields"] = [
        f
        for f in raw_fields
        if isinstance(f, dict) and isinstance(f.get("key"), str) and isinstance(f.get("type"), str)
    ]
    body["key"] = key
    return body


def _parse(text: str) -> Any:
    """Formula text, or a JSON expression when the text is one (conditions saved by other tools).

    :raises expr.ExprError: the text does not parse (``ExprParseError`` has line and column).
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return expr.normalize(json.loads(stripped))
        except ValueError:
            pass  # not JSON after all: let the formula parser say where it breaks
    return expr.parse_formula(text)


def _error(exc: expr.ExprError) -> dict[str, Any]:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    message = getattr(exc, "reason", None) or exc.detail
    return {"message": message, "line": line, "column": column, "excerpt": getattr(exc, "excerpt", "")}


def check_expression(
    text: str,
    *,
    body: Any,
    entity_key: str,
    types: Mapping[str, FieldType],
    lookup: Callable[[str, str], dict[str, Any] | None],
    field_index: int | None = None,
    purpose: str = "formula",
) -> dict[str, Any]:
    """Check formula text against the entity on screen, as publishing would.

    :param body: the designer's current entity body (may be incomplete).
    :param field_index: for ``purpose="formula"``, the formula field being edited (its
        ``formula`` is replaced by ``text``, so a cycle through it is found); conditions
        are checked as a formula field added to the entity.
    :returns: ``{ok, expr, formula, result_type, depends_on, errors}``; each error has a
        ``message`` and, for syntax errors, ``line`` and ``column`` (1-based).
    """
    answer: dict[str, Any] = {
        "ok": False,
        "expr": None,
        "formula": text,
        "result_type": None,
        "depends_on": [],
    }
    if not text.strip():
        answer["errors"] = [{"message": "write a formula", "line": None, "column": None, "excerpt": ""}]
        return answer
    try:
        parsed = _parse(text)
        expr.compile(parsed)
    except expr.ExprError as exc:
        answer["errors"] = [_error(exc)]
        return answer
    answer["expr"] = parsed
    answer["depends_on"] = sorted(expr.free_vars(parsed))
    try:
        answer["formula"] = expr.to_formula(parsed)
    except expr.ExprError:
        answer["formula"] = text
    entity = _clean_body(body, entity_key)
    formula_type = types.get("formula")
    if formula_type is None:  # no formula type registered: the syntax check is all there is
        answer["ok"] = True
        return answer
    # JSON text is checked as ``expr`` (the formula type reads either, never both)
    source = {"expr": parsed} if text.strip().startswith("{") else {"formula": text}
    probe: dict[str, Any] = {"key": _PROBE_KEY, "type": "formula", **source}
    raw_fields = body.get("fields") if isinstance(body, dict) else None
    target = (
        raw_fields[field_index]
        if purpose == "formula"
        and isinstance(raw_fields, list)
        and field_index is not None
        and 0 <= field_index < len(raw_fields)
        else None
    )
    if isinstance(target, dict) and target in entity["fields"]:
        position = entity["fields"].index(target)
        probe = {key: value for key, value in target.items() if key not in ("formula", "expr")}
        probe.update(source)
        entity["fields"][position] = probe
    else:
        entity["fields"].append(probe)
    ctx = schema_context(entity, types, lookup)
    problems = list(formula_type.check(probe, ctx))
    if problems:
        answer["errors"] = [
            {"message": message, "line": None, "column": None, "excerpt": ""} for _p, message in problems
        ]
        return answer
    answer["result_type"] = formula_type.resolve(probe, ctx).get("result_type")
    answer["ok"] = True
    answer["errors"] = []
    return answer


def _by_id(body: Mapping[str, Any] | None) -> dict[str, tuple[int, Mapping[str, Any]]]:
    out: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for i, field in enumerate((body or {}).get("fields") or []):
        if isinstance(field, dict) and isinstance(field.get("id"), str):
            out[field["id"]] = (i, field)
    return out


def publish_warnings(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], types: Mapping[str, FieldType]
) -> list[dict[str, Any]]:
    """What publishing ``new`` over the published ``old`` does to stored data, field by field (by id).

    Codes: ``removed`` (the column is tombstoned, data kept), ``type_changed`` and
    ``narrowed`` (values are converted: needs force), ``storage_changed`` (refused: add a
    new field instead), ``unique_added`` (refused with 409 while duplicates exist),
    ``renamed`` (data kept). ``force`` says whether publishing needs the force flag.
    """
    if not old:
        return []
    before, after = _by_id(old), _by_id(new)
    warnings: list[dict[str, Any]] = []

    def add(code: str, field: Mapping[str, Any], pointer: str, *, force: bool = False, **more: Any) -> None:
        warnings.append({"code": code, "field": field.get("key"), "pointer": pointer, "force": force, **more})

    for fid, (i, old_field) in before.items():
        if fid not in after:
            add("removed", old_field, f"/fields/{i}")
    for fid, (i, new_field) in after.items():
        if fid not in before:
            continue
        _j, old_field = before[fid]
        pointer = f"/fields/{i}"
        if old_field.get("key") != new_field.get("key"):
            add("renamed", new_field, pointer, old_key=old_field.get("key"))
        old_type, new_type = types.get(str(old_field.get("type"))), types.get(str(new_field.get("type")))
        if old_type is None or new_type is None:
            continue
        if old_type is not new_type:
            if old_type.storage_for(old_field) != new_type.storage_for(new_field):
                add("storage_changed", new_field, pointer, old_type=old_type.name, new_type=new_type.name)
            elif not (old_type.computed and new_type.computed):
                add(
                    "type_changed",
                    new_field,
                    pointer,
                    force=True,
                    old_type=old_type.name,
                    new_type=new_type.name,
                )
        elif not new_type.computed and new_type.type_change(old_field, new_field) == "narrow":
            add("narrowed", new_field, pointer, force=True)
        if new_field.get("unique") and not old_field.get("unique"):
            add("unique_added", new_field, pointer)
    return warnings


def field_summaries(
    body: Mapping[str, Any],
    types: Mapping[str, FieldType],
    lookup: Callable[[str, str], dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """The fields of an entity body as the rollup and lookup editors choose among them.

    Each: ``key``, ``type``, ``label``, ``value_type`` (the expression type: what a rollup
    may aggregate; a computed field's resolved ``result_type``) and, for relations,
    ``target`` and ``many``; ``storage`` says where values live ("column" for a single
    value, the only kind a lookup copies). Fields of unknown types are listed with ``value_type`` "any".
    """
    ctx = schema_context(body, types, lookup)
    out: list[dict[str, Any]] = []
    for field in body.get("fields") or ():
        if not isinstance(field, dict) or not isinstance(field.get("key"), str):
            continue
        ftype = types.get(str(field.get("type")))
        if ftype is None:
            value_type = "any"
        elif ftype.computed:
            value_type = str(ftype.resolve(field, ctx).get("result_type") or ftype.expr_type)
        else:
            value_type = field_expr_type(ftype, field)
        label = field.get("label")
        item: dict[str, Any] = {
            "key": field["key"],
            "type": str(field.get("type")),
            "label": label if isinstance(label, dict) else {"en": label} if isinstance(label, str) else {},
            "value_type": value_type,
            "storage": ftype.storage_for(field) if ftype is not None else "column",
        }
        if field.get("type") == "relation":
            item["target"] = field.get("target")
            item["many"] = bool(field.get("many"))
        out.append(item)
    return out


def condition_texts(body: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """visible_if/required_if as formula text for the editor (JSON text when no formula says it)."""
    texts: dict[str, dict[str, str]] = {}
    for name in ("visible_if", "required_if"):
        texts[name] = {}
        conditions = body.get(name)
        for field_key, condition in (conditions if isinstance(conditions, dict) else {}).items():
            try:
                texts[name][field_key] = expr.to_formula(condition)
            except (expr.ExprError, TypeError, ValueError):
                texts[name][field_key] = json.dumps(condition, ensure_ascii=False)
    return texts


# ---------------------------------------------------------------- schemas


class FieldTypeSchema(Schema):
    name = fields.String()
    label = fields.Dict(keys=fields.String(), values=fields.String())
    group = fields.String()
    widget = fields.String()
    computed = fields.Boolean()
    sortable = fields.Boolean()
    masks = fields.List(fields.String())
    options_schema = fields.Dict(
        metadata={"description": "JSON Schema properties of the type's own options."}
    )
    filter_operators = fields.List(
        fields.String(), metadata={"description": "The operators a filter on a field of this type may use."}
    )


class PaletteSchema(Schema):
    groups = fields.List(fields.String())
    items = fields.List(fields.Nested(FieldTypeSchema))


class CheckRequestSchema(StrictSchema):
    # optional, so that a foreign or missing app is a 404 whatever the body (empty text: "write a formula")
    text = fields.String(load_default="", validate=validate.Length(max=10_000))
    entity = fields.Dict(
        load_default=dict, metadata={"description": "The entity body on screen (may be a draft in progress)."}
    )
    key = fields.String(load_default="", metadata={"description": "The entity's key."})
    field = fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "Index of the formula field edited."}
    )
    purpose = fields.String(load_default="formula", validate=validate.OneOf(["formula", "condition"]))


class CheckErrorSchema(Schema):
    message = fields.String()
    line = fields.Integer(allow_none=True)
    column = fields.Integer(allow_none=True)
    excerpt = fields.String()


class CheckResultSchema(Schema):
    ok = fields.Boolean()
    expr = fields.Raw(allow_none=True, metadata={"description": "The expression as JSON."})
    formula = fields.String(metadata={"description": "The formula as the designer writes it back."})
    result_type = fields.String(allow_none=True)
    depends_on = fields.List(fields.String())
    errors = fields.List(fields.Nested(CheckErrorSchema))


class WarningSchema(Schema):
    code = fields.String()
    field = fields.String(allow_none=True)
    pointer = fields.String()
    force = fields.Boolean()
    old_type = fields.String()
    new_type = fields.String()
    old_key = fields.String()


class FieldSummarySchema(Schema):
    key = fields.String()
    type = fields.String()
    label = fields.Dict(keys=fields.String(), values=fields.String())
    value_type = fields.String(metadata={"description": "The expression type of the field's values."})
    target = fields.String(allow_none=True, metadata={"description": "Relations: the linked entity."})
    many = fields.Boolean(metadata={"description": "Relations: links several records."})
    storage = fields.String(metadata={"description": "column, child_table, link_table or none."})


class PublishCheckSchema(Schema):
    has_draft = fields.Boolean()
    latest_version = fields.Integer(allow_none=True)
    needs_force = fields.Boolean()
    warnings = fields.List(fields.Nested(WarningSchema))


# ---------------------------------------------------------------- routes


@blp.route("/designer/field-types")
class FieldTypes(MethodView):
    @blp.response(200, PaletteSchema)
    def get(self) -> dict[str, Any]:
        """The field palette: every registered type with its labels, group, widget and options schema."""
        require_admin()
        items = palette(field_types())
        groups = list(dict.fromkeys(item["group"] for item in items))
        return {"groups": groups, "items": items}


@blp.route("/designer/apps/<app_key>/check-formula")
class CheckFormula(MethodView):
    @blp.arguments(CheckRequestSchema)
    @blp.response(200, CheckResultSchema)
    def post(self, data: dict[str, Any], app_key: str) -> dict[str, Any]:
        """Check formula text (a formula field or a visible_if/required_if condition) against the entity on screen.

        Always 200: a formula that does not read is an answer (`ok: false`, errors with line and column).
        """
        actor = require_admin()
        session = request_session()
        app = definitions.get_app(session, actor, app_key)
        return check_expression(
            data["text"],
            body=data["entity"],
            entity_key=data["key"] or str(data["entity"].get("key") or ""),
            types=field_types(),
            lookup=definitions.definition_lookup(session, app),
            field_index=data["field"],
            purpose=data["purpose"],
        )


@blp.route("/designer/apps/<app_key>/entities/<key>/publish-check")
class PublishCheck(MethodView):
    @blp.response(200, PublishCheckSchema)
    def get(self, app_key: str, key: str) -> dict[str, Any]:
        """What publishing the saved draft would do to stored data (removed fields, conversions needing force)."""
        actor = require_admin()
        session = request_session()
        app = definitions.get_app(session, actor, app_key)
        draft = definitions.draft_of(session, app, "entity", key)
        latest = definitions.latest_published(session, app, "entity", key)
        if draft is None and latest is None:
            # the 404 that names what is missing
            definitions.get_definition(session, app=app, kind="entity", key=key)
        warnings = (
            publish_warnings(latest.body if latest else None, draft.body, field_types()) if draft else []
        )
        return {
            "has_draft": draft is not None,
            "latest_version": latest.version if latest else None,
            "needs_force": any(w["force"] for w in warnings),
            "warnings": warnings,
        }


@blp.route("/designer/apps/<app_key>/entities/<key>/fields")
class EntityFields(MethodView):
    @blp.response(200, FieldSummarySchema(many=True))
    def get(self, app_key: str, key: str) -> list[dict[str, Any]]:
        """The fields of an entity's newest body (draft, else published), for the rollup and lookup editors."""
        actor = require_admin()
        session = request_session()
        app = definitions.get_app(session, actor, app_key)
        row = definitions.draft_of(session, app, "entity", key) or definitions.latest_published(
            session, app, "entity", key
        )
        # none: the 404 that names what is missing
        row = row or definitions.get_definition(session, app=app, kind="entity", key=key)
        return field_summaries(row.body, field_types(), definitions.definition_lookup(session, app))
