"""Helper endpoints of the entity designer: the field palette, live formula checks, publish warnings.

The designer saves and publishes through the definitions API like any client; these
routes answer questions the page asks while an administrator edits: which field types
exist (with their labels and option schemas), whether a formula or a condition reads
well against the fields on screen (with line and column), what publishing the draft
would destroy, which fields another entity of the app has (for the rollup and lookup
editors), and which fields the preview's conditions hide and require for what was typed
into it. One route writes: renaming a field key rewrites every reference to it in the
draft (``renames``) and saves the draft through the definitions service. ``palette``,
``check_expression``, ``publish_warnings``, ``field_summaries``, ``condition_texts`` and
``preview_rules`` are pure (no Flask, no session) so the page views and tests share them.
"""

from __future__ import annotations

import copy
import json
import re
from typing import TYPE_CHECKING, Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy.exc import ArgumentError
from werkzeug.datastructures import MultiDict

from opsloom.platform import expr
from opsloom.platform.api import require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import ValidationError
from opsloom.platform.plugin_host import get_plugin_host

from .access import Access
from .definition import RESERVED_KEYS, schema_context
from .fields.base import FieldContext
from .fields.refs import IDENTIFIER, field_expr_type
from .model import build_model
from .record_forms import form_conditions, form_fields, read_form
from .renames import references_elsewhere, rename_errors, rename_field_references

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
    "preview_rules",
    "publish_warnings",
]

blp = Blueprint(
    "form-designer",
    __name__,
    description="Helpers of the entity designer page: field palette, formula checks, publish warnings.",
)

#: palette groups in the order the designer shows them (unknown plugin groups follow, by name)
GROUP_ORDER = ("basic", "number", "choice", "date", "people", "relation", "media", "advanced", "computed")
#: the key a condition is checked under: a throw-away formula field appended to the entity
_PROBE_KEY = "zz_designer_probe"
_KEY = re.compile(IDENTIFIER)


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


def _preview_body(body: Any, types: Mapping[str, FieldType]) -> dict[str, Any]:
    """The part of a body on screen a form can be built from: complete fields, conditions that compile.

    Half-typed fields (no key yet, a key typed twice, an unknown type) are left out, and
    every field gets a throw-away id: the preview stores nothing.
    """
    body = copy.deepcopy(body) if isinstance(body, dict) else {}
    kept: list[dict[str, Any]] = []
    for field in body.get("fields") if isinstance(body.get("fields"), list) else []:
        if (
            not isinstance(field, dict)
            or not isinstance(field.get("type"), str)
            or field["type"] not in types
        ):
            continue
        key = field.get("key")
        if (
            not isinstance(key, str)
            or not _KEY.match(key)
            or key in RESERVED_KEYS
            or any(f["key"] == key for f in kept)
        ):
            continue
        if isinstance(field.get("fields"), list):  # a subtable: the same for its columns
            field["fields"] = [
                sub
                for sub in field["fields"]
                if isinstance(sub, dict)
                and isinstance(sub.get("key"), str)
                and isinstance(sub.get("type"), str)
                and sub["type"] in types
            ]
        kept.append({**field, "id": f"fpreview{len(kept)}"})
    keys = {f["key"] for f in kept}
    out: dict[str, Any] = {"key": str(body.get("key") or "preview"), "fields": kept}
    for name in ("visible_if", "required_if"):
        conditions = body.get(name) if isinstance(body.get(name), dict) else {}
        out[name] = {}
        for key, condition in conditions.items():
            if key not in keys or condition is None:
                continue
            try:
                expr.compile(condition)
            except expr.ExprError:
                continue  # still being typed: the property panel says what is wrong
            out[name][key] = condition
    return out


def preview_rules(
    body: Any,
    values: Mapping[str, list[str]],
    *,
    types: Mapping[str, FieldType],
    lookup: Callable[[str, str], dict[str, Any] | None],
    ctx: FieldContext,
    user: Mapping[str, Any] | None,
    app_key: str = "",
) -> dict[str, list[str]]:
    """Which fields of the entity on screen its conditions hide and require, for the preview's inputs.

    The same reading and the same conditions as the record form (``read_form``,
    ``form_conditions``), on a model built from the draft instead of a published version.

    :param values: input name -> the texts the preview's inputs hold (as a form posts them).
    :returns: ``{"hidden": [keys], "required": [keys]}``.
    """
    draft = _preview_body(body, types)
    try:
        model = build_model(
            app_id=0,
            app_key=app_key,
            body=draft,
            version=0,
            entity_table_id=0,
            table_name="preview",
            types=types,
            lookup=lookup,
        )
    except (KeyError, TypeError, ValueError, ArgumentError, expr.ExprError):
        # a property still being typed that a type cannot read yet (a length of "1x"): nothing is conditional
        required = [f["key"] for f in draft["fields"] if f.get("required")]
        return {"hidden": [], "required": sorted(required)}
    items = form_fields(model, Access(admin=True), creating=True, label=lambda _text, default: default)
    form: MultiDict[str, str] = MultiDict()
    for name, texts in values.items():
        for text in texts:
            form.add(name, text)
    parsed = read_form(items, form, ctx)
    unreadable = {key.split("/")[0] for key in parsed.errors}
    raw = {key: value for key, value in parsed.raw.items() if key not in unreadable}
    hidden, required = form_conditions(model, raw, ctx, user=user)
    return {"hidden": sorted(hidden), "required": sorted(required)}


# ---------------------------------------------------------------- schemas


class _Strict(Schema):
    class Meta:
        unknown = RAISE


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


class PaletteSchema(Schema):
    groups = fields.List(fields.String())
    items = fields.List(fields.Nested(FieldTypeSchema))


class CheckRequestSchema(_Strict):
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


class PreviewRequestSchema(_Strict):
    entity = fields.Dict(
        load_default=dict, metadata={"description": "The entity body on screen (may be a draft in progress)."}
    )
    key = fields.String(load_default="", metadata={"description": "The entity's key."})
    values = fields.Dict(
        keys=fields.String(),
        values=fields.List(
            fields.String(validate=validate.Length(max=10_000)), validate=validate.Length(max=100)
        ),
        load_default=dict,
        validate=validate.Length(max=300),
        metadata={"description": "Input name -> the texts the preview's inputs hold, as a form posts them."},
    )


class PreviewRulesSchema(Schema):
    hidden = fields.List(
        fields.String(), metadata={"description": "Fields visible_if hides for these values."}
    )
    required = fields.List(fields.String(), metadata={"description": "Fields required for these values."})


class RenameRequestSchema(_Strict):
    # required, but checked by the route: a foreign or missing app is a 404 whatever the body
    old = fields.String(
        load_default=None, data_key="from", metadata={"description": "The field's current key."}
    )
    new = fields.String(load_default=None, data_key="to", metadata={"description": "Its new key."})
    body = fields.Dict(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "The entity body to rename in (the designer's screen); "
            "by default the saved draft, else the published version."
        },
    )


class RenameChangeSchema(Schema):
    pointer = fields.String(metadata={"description": "JSON pointer of the place in the new draft."})
    what = fields.String(
        metadata={
            "description": "key, formula, expr, visible_if, required_if, title_field, dedup, indexes, "
            "layout, rollup, lookup or display_field."
        }
    )
    field = fields.String(
        allow_none=True, metadata={"description": "The field holding the place (None: the entity)."}
    )
    old = fields.Raw()
    new = fields.Raw()


class ElsewhereSchema(Schema):
    entity = fields.String(
        metadata={"description": "The other entity (its newest body: draft, else published)."}
    )
    pointer = fields.String()
    what = fields.String()
    field = fields.String(allow_none=True)
    old = fields.Raw()


class DraftSchema(Schema):
    key = fields.String()
    version = fields.Integer()
    status = fields.String()
    checksum = fields.String()
    body = fields.Dict()
    latest_version = fields.Integer(allow_none=True)


class RenameResultSchema(Schema):
    draft = fields.Nested(DraftSchema, metadata={"description": "The saved draft."})
    changes = fields.List(
        fields.Nested(RenameChangeSchema), metadata={"description": "The places rewritten."}
    )
    elsewhere = fields.List(
        fields.Nested(ElsewhereSchema),
        metadata={
            "description": "Places of other entities that still use the old key: update them yourself."
        },
    )
    conditions = fields.Dict(
        metadata={"description": "visible_if/required_if of the new draft as formula text, for the designer."}
    )


# ---------------------------------------------------------------- routes


def _types() -> dict[str, FieldType]:
    return dict(get_plugin_host().registries.field_types.items())


@blp.route("/designer/field-types")
class FieldTypes(MethodView):
    @blp.response(200, PaletteSchema)
    def get(self) -> dict[str, Any]:
        """The field palette: every registered type with its labels, group, widget and options schema."""
        require_admin()
        items = palette(_types())
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
            types=_types(),
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
        warnings = publish_warnings(latest.body if latest else None, draft.body, _types()) if draft else []
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
        return field_summaries(row.body, _types(), definitions.definition_lookup(session, app))


@blp.route("/designer/apps/<app_key>/preview-rules")
class PreviewRules(MethodView):
    @blp.arguments(PreviewRequestSchema)
    @blp.response(200, PreviewRulesSchema)
    def post(self, data: dict[str, Any], app_key: str) -> dict[str, Any]:
        """Which fields the on-screen entity's conditions hide and require for what the preview holds.

        The record form's rules, for a draft: inputs that cannot be read yet count as empty.
        """
        actor = require_admin()
        session = request_session()
        app = definitions.get_app(session, actor, app_key)
        types = _types()
        entity = {**data["entity"], "key": data["key"] or str(data["entity"].get("key") or "")}
        ctx = FieldContext(
            timezone=actor.timezone or "UTC", now=utcnow(), locale=actor.locale or "en", types=types
        )
        return preview_rules(
            entity,
            data["values"],
            types=types,
            lookup=definitions.definition_lookup(session, app),
            ctx=ctx,
            user=actor.as_expr_user(),
            app_key=app.key,
        )


@blp.route("/apps/<app_key>/entities/<key>/draft/rename-field")
class RenameField(MethodView):
    @blp.arguments(RenameRequestSchema)
    @blp.response(200, RenameResultSchema)
    def post(self, data: dict[str, Any], app_key: str, key: str) -> dict[str, Any]:
        """Rename a field key and rewrite every reference to it in the draft, then save the draft.

        References are the formulas, conditions, title field, duplicate keys, indexes,
        layout, rollups, lookups and relations' display fields that name the field. The
        draft is saved as `PUT .../entities/<key>` saves it (validation, audit, checksum);
        422 names `from` (no such field) or `to` (not a valid key, or taken) and changes
        nothing. `elsewhere` lists the places of other entities that still name the old key.
        """
        actor = require_admin()
        session = request_session()
        app = definitions.get_app(session, actor, app_key)
        registries = get_plugin_host().registries
        kind = definitions.kind_named(registries, "entity")
        lookup = definitions.definition_lookup(session, app)
        body = data["body"]
        if body is None:
            row = definitions.draft_of(session, app, kind, key) or definitions.latest_published(
                session, app, kind, key
            )
            # none: the 404 that names what is missing
            body = (row or definitions.get_definition(session, app=app, kind=kind, key=key)).body
        elif body.get("key", key) != key:
            raise ValidationError(
                f"The body is entity {body.get('key')!r}, not {key!r}.",
                errors={"/body/key": f"expected {key!r}"},
            )
        body = {**body, "key": key}
        old, new = data["old"], data["new"]
        errors = rename_errors(body, old, new)
        if errors:
            raise ValidationError(
                f"Field {old!r} of entity {key!r} cannot be renamed to {new!r}: "
                f"{next(iter(errors.values()))}.",
                errors=errors,
            )
        renamed, changes = rename_field_references(body, old, new, lookup=lookup)
        row = definitions.save_draft(
            session,
            app=app,
            kind=kind,
            key=key,
            body=renamed,
            actor=actor,
            now=utcnow(),
            registries=registries,
        )
        elsewhere = []
        for other in definitions.list_definitions(session, actor, app, kind):
            other_body = lookup("entity", other.key) if other.key != key else None
            for place in references_elsewhere(other_body or {}, entity=key, old_key=old, lookup=lookup):
                elsewhere.append({"entity": other.key, **place})
        latest = definitions.latest_published(session, app, kind, key)
        return {
            "draft": {
                "key": row.key,
                "version": row.version,
                "status": row.status,
                "checksum": row.checksum,
                "body": row.body,
                "latest_version": latest.version if latest else None,
            },
            "changes": changes,
            "elsewhere": elsewhere,
            "conditions": condition_texts(row.body),
        }
