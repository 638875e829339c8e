"""The designer's live preview rules: which fields the on-screen conditions hide and require.

``preview_rules`` is pure (no Flask, no session): it builds a throw-away model from the
draft on screen and runs the record form's own reading and conditions (``read_form``,
``form_conditions``) over what was typed into the preview. The route adds the actor's
context and the app's definitions.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate
from sqlalchemy.exc import ArgumentError
from werkzeug.datastructures import MultiDict

from opsloom.platform import expr
from opsloom.platform.api import require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.definitions import service as definitions

from .access import Access
from .definition import RESERVED_KEYS
from .designer_blueprint import StrictSchema, blp, field_types
from .fields.base import FieldContext
from .fields.refs import IDENTIFIER
from .model import build_model
from .record_forms import form_conditions, form_fields, read_form

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .fields.base import FieldType

__all__ = ["PreviewRules", "preview_rules"]

_KEY = re.compile(IDENTIFIER)


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


class PreviewRequestSchema(StrictSchema):
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


# ---------------------------------------------------------------- routes


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
        types = field_types()
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
