"""The designer's rename endpoint: a new key for a field, every reference to it rewritten, the draft saved.

The rewriting is pure (``renames``); this module loads the bodies, checks the new key,
saves the drafts through the definitions service and reports what it changed. The
other entities of the app that name the old key (a lookup showing the field, a rollup
over it, a path such as ``customer.level``) are listed by default (a dry run for them);
with ``cascade`` their drafts are rewritten too, in the same transaction: all the drafts
are saved, or none.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

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
from .renames import rename_errors, rename_field_references, rename_references_to

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.definitions.kinds import DefinitionKind
    from opsloom.platform.models import App, Definition
    from opsloom.platform.registry import Registries

__all__ = ["RenameField", "rename_field"]


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
    cascade = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Also rewrite the drafts of the app's other entities that use the old key "
            "(a draft is made from the published version where there is none), in the same "
            "transaction. By default they are only listed in `elsewhere`."
        },
    )


class RenameChangeSchema(Schema):
    pointer = fields.String(metadata={"description": "JSON pointer of the place in the new draft."})
    what = fields.String(
        metadata={
            "description": "key, visible_if, required_if, title_field, dedup, indexes, layout, or what "
            "the field's type calls the place: formula, expr, rollup, lookup, display_field, a plugin "
            "type's name."
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
    new = fields.Raw(metadata={"description": "What `cascade` writes there."})


class UpdatedSchema(Schema):
    entity = fields.String(metadata={"description": "The other entity whose draft was rewritten."})
    draft_created = fields.Boolean(
        metadata={"description": "It had no draft: one was made from its published version."}
    )
    checksum = fields.String(metadata={"description": "The checksum of its new draft."})
    changes = fields.List(fields.Nested(RenameChangeSchema))


class RenameResultSchema(Schema):
    draft = fields.Nested(DefinitionSchema, metadata={"description": "The saved draft."})
    changes = fields.List(
        fields.Nested(RenameChangeSchema), metadata={"description": "The places rewritten."}
    )
    cascade = fields.Boolean(metadata={"description": "Whether other entities' drafts were rewritten."})
    elsewhere = fields.List(
        fields.Nested(ElsewhereSchema),
        metadata={
            "description": "Places of other entities that still use the old key (empty with `cascade`, "
            "which rewrote them)."
        },
    )
    updated = fields.List(
        fields.Nested(UpdatedSchema),
        metadata={"description": "With `cascade`: the other entities whose drafts were rewritten."},
    )
    to_publish = fields.List(
        fields.String(),
        metadata={
            "description": "The entities whose drafts carry the rename, in the order to publish them "
            "(this one first): until then the published versions use the old key."
        },
    )
    publish_note = fields.String(metadata={"description": "The same in a sentence."})
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
        layout, rollups, lookups, relations' display fields and plugin types' own
        properties that name the field. The draft is saved as `PUT .../entities/<key>`
        saves it (validation, audit, checksum); 422 names `from` (no such field) or `to`
        (not a valid key, or taken) and changes nothing.

        `elsewhere` lists the places of other entities that still name the old key, with
        what `cascade` would write there. With `"cascade": true` their drafts are rewritten
        as well (made from the published version where there is none), in one
        transaction: if one of them cannot be saved, the 422 names it (`entity`, errors
        under `/entities/<key>/...`) and nothing is changed. `to_publish` lists the drafts
        to publish for the rename to take effect. `from` may name a field this draft has
        already renamed to `to` (its id is the one `from` has in the published version):
        the draft is then left as it is, so the other entities can be updated afterwards.
        """
        actor = require_admin()
        session = request_session()
        app = definitions.get_app(session, actor, app_key)
        registries = get_plugin_host().registries
        kind = definitions.kind_named(registries, "entity")
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
        result = rename_field(
            session,
            app=app,
            kind=kind,
            key=key,
            body={**body, "key": key},
            old=data["old"],
            new=data["new"],
            cascade=data["cascade"],
            actor=actor,
            now=utcnow(),
            registries=registries,
        )
        row = result.pop("row")
        return {
            **result,
            "draft": definition_view(row, app, **definition_state(app, kind, key)),
            "conditions": condition_texts(row.body),
        }


# ---------------------------------------------------------------- the service


def rename_field(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind,
    key: str,
    body: dict[str, Any],
    old: Any,
    new: Any,
    cascade: bool,
    actor: Actor,
    now: datetime,
    registries: Registries,
) -> dict[str, Any]:
    """Rename field ``old`` of entity ``key`` (as in ``body``) to ``new`` and save the draft(s).

    Every rewrite is worked out before anything is written (paths are followed by the
    old names); the writes share a savepoint, so a refused draft leaves the session as it
    was even for a caller that catches the error.

    :returns: ``row`` (the saved draft of ``key``), ``changes``, ``cascade``, ``elsewhere``,
        ``updated``, ``to_publish`` and ``publish_note`` as ``RenameResultSchema`` has them.
    :raises ValidationError: a bad ``from``/``to``; a draft (this one or, with ``cascade``,
        another entity's) that does not validate. :raises Conflict: the app is archived.
    """
    types = dict(registries.field_types.items())
    lookup = definitions.definition_lookup(session, app)
    before = body
    errors = rename_errors(body, old, new)
    if errors:
        before = _renamed_already(session, app, kind, body, old, new)
        if before is None:
            raise ValidationError(
                f"Field {old!r} of entity {key!r} cannot be renamed to {new!r}: "
                f"{next(iter(errors.values()))}.",
                errors=errors,
            )

    def source(kind_name: str, other: str) -> dict[str, Any] | None:
        # this entity as it was before the rename, the others as stored
        return before if kind_name == "entity" and other == key else lookup(kind_name, other)

    if before is body:
        renamed, changes = rename_field_references(body, old, new, lookup=source, types=types)
    else:
        renamed, changes = body, []  # renamed before: this draft stays as it is
    plans = []
    for other in definitions.list_definitions(session, actor, app, kind):
        other_body = lookup("entity", other.key) if other.key != key else None
        if other_body is None:
            continue
        rewritten, places = rename_references_to(
            other_body, entity=key, old_key=old, new_key=new, lookup=source, types=types
        )
        if places:
            plans.append((other.key, rewritten, places))

    updated: list[dict[str, Any]] = []
    with session.begin_nested():
        row = definitions.save_draft(
            session, app=app, kind=kind, key=key, body=renamed, actor=actor, now=now, registries=registries
        )
        for other_key, rewritten, places in plans if cascade else ():
            updated.append(
                _save_other(
                    session,
                    app=app,
                    kind=kind,
                    key=other_key,
                    body=rewritten,
                    changes=places,
                    rename=(key, old, new),
                    actor=actor,
                    now=now,
                    registries=registries,
                )
            )
    elsewhere = (
        [] if cascade else [{"entity": other, **place} for other, _, places in plans for place in places]
    )
    to_publish = [key, *(entry["entity"] for entry in updated)]
    return {
        "row": row,
        "changes": changes,
        "cascade": cascade,
        "elsewhere": elsewhere,
        "updated": updated,
        "to_publish": to_publish,
        "publish_note": _publish_note(key, old, new, to_publish, [other for other, _, _ in plans], cascade),
    }


def _save_other(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind,
    key: str,
    body: dict[str, Any],
    changes: list[dict[str, Any]],
    rename: tuple[str, str, str],
    actor: Actor,
    now: datetime,
    registries: Registries,
) -> dict[str, Any]:
    """Save another entity's rewritten draft; :raises ValidationError: naming it, when it is refused."""
    had_draft = definitions.draft_of(session, app, kind, key) is not None
    try:
        row: Definition = definitions.save_draft(
            session, app=app, kind=kind, key=key, body=body, actor=actor, now=now, registries=registries
        )
    except ValidationError as exc:
        entity, old, new = rename
        raise ValidationError(
            f"Renaming {entity}.{old} to {new} would leave entity {key!r} invalid, so nothing was "
            f"changed; fix {key!r} first, or rename without updating the other entities. {exc.detail}",
            errors={f"/entities/{key}{pointer}": message for pointer, message in exc.errors.items()},
            entity=key,
        ) from exc
    return {"entity": key, "draft_created": not had_draft, "checksum": row.checksum, "changes": changes}


def _renamed_already(
    session: Session, app: App, kind: DefinitionKind, body: Mapping[str, Any], old: Any, new: Any
) -> dict[str, Any] | None:
    """``body`` as it was before ``old`` became ``new``, when it already has (the same field id), else None.

    The field is the same when its id is the one ``old`` has in the published version.
    """
    if not isinstance(old, str) or not isinstance(new, str) or old == new:
        return None
    mine = {f.get("key"): f for f in body.get("fields") or () if isinstance(f, dict)}
    now_field = mine.get(new)
    if old in mine or now_field is None or not now_field.get("id"):
        return None
    published = definitions.latest_published(session, app, kind, str(body.get("key")))
    was = [
        f
        for f in (published.body.get("fields") or () if published is not None else ())
        if isinstance(f, dict) and f.get("key") == old
    ]
    if not was or was[0].get("id") != now_field["id"]:
        return None
    restored = copy.deepcopy(dict(body))
    for field in restored["fields"]:
        if isinstance(field, dict) and field.get("key") == new:
            field["key"] = old
    return restored


def _publish_note(
    key: str, old: str, new: str, to_publish: list[str], using: list[str], cascade: bool
) -> str:
    """What to publish next, in a sentence (English: the designer words its own)."""
    if cascade and len(to_publish) > 1:
        others = ", ".join(to_publish[1:])
        return (
            f"Publish {key} first, then {others}: their drafts use {key}.{new}; "
            f"until they are published, the published versions use {old}."
        )
    if using and not cascade:
        return (
            f"Publish {key} for the new key to take effect; {', '.join(using)} still use "
            f"{key}.{old}: update them (cascade) before publishing {key}."
        )
    return f"Publish {key} for the new key to take effect."
