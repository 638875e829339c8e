"""The designer's rename endpoint: a new key for a field, every reference to it rewritten, the draft saved.

The rewriting is pure (``renames``); this module loads the body, checks the new key,
saves the draft through the definitions service and lists the places of other entities
that still name the old key.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from opsloom.platform.api import require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.definitions import service as definitions
from opsloom.platform.definitions.api import DefinitionSchema, definition_state, definition_view
from opsloom.platform.errors import ValidationError
from opsloom.platform.plugin_host import get_plugin_host

from .designer_api import condition_texts
from .designer_blueprint import StrictSchema, blp
from .renames import references_elsewhere, rename_errors, rename_field_references

__all__ = ["RenameField"]


# ---------------------------------------------------------------- schemas


class RenameRequestSchema(StrictSchema):
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


class RenameResultSchema(Schema):
    draft = fields.Nested(DefinitionSchema, metadata={"description": "The saved draft."})
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
        return {
            "draft": definition_view(row, app, **definition_state(app, kind, key)),
            "changes": changes,
            "elsewhere": elsewhere,
            "conditions": condition_texts(row.body),
        }
