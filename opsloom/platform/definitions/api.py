"""The definitions API under ``/api/v1/apps``: apps, drafts and versions of every kind, app packages.

Thin: parse the request (marshmallow schemas; definition bodies and packages are JSON
documents validated by JSON Schema in the service), call the service, shape the answer.
Reads need a member of the workspace, writes a workspace administrator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from marshmallow import ValidationError as SchemaValidationError

from opsloom.platform.api import current_actor, require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.errors import PermissionDenied, ValidationError
from opsloom.platform.models import App, Definition
from opsloom.platform.pagination import SortKey, paginate
from opsloom.platform.plugin_host import get_plugin_host

from . import packages, service

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.registry import Registries

    from .kinds import DefinitionKind

__all__ = ["blp"]

blp = Blueprint(
    "definitions",
    __name__,
    description="Apps, their definitions (drafts and immutable published versions) and app packages.",
)

_JSON_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}


# ---------------------------------------------------------------- schemas


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class Label(fields.Field):
    """Free text, or one text per locale (``{"zh": "客户", "en": "Customer"}``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) or (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            return value
        raise SchemaValidationError("Expected text or an object of texts per locale.")


class UtcDateTime(fields.DateTime):
    """ISO 8601 with an offset: SQLite hands back naive UTC values, PostgreSQL aware ones."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


_LABEL_DOC = {"oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": {"type": "string"}}]}


class PageQuerySchema(_Strict):
    limit = fields.Integer(
        load_default=50, validate=validate.Range(1, 500), metadata={"description": "Page size (1-500)."}
    )
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})


class AppListQuerySchema(PageQuerySchema):
    include_archived = fields.Boolean(load_default=False, metadata={"description": "List archived apps too."})


class AppSchema(Schema):
    key = fields.String()
    label = fields.Raw(metadata=_LABEL_DOC)
    description = fields.String()
    icon = fields.String()
    archived = fields.Function(lambda app: app.archived_at is not None, dump_only=True)
    archived_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class AppPageSchema(Schema):
    items = fields.List(fields.Nested(AppSchema))
    next_cursor = fields.String(allow_none=True)


class AppCreateSchema(_Strict):
    key = fields.String(required=True, metadata={"description": "Identifier: ^[a-z][a-z0-9_]{0,39}$"})
    label = Label(required=True, metadata=_LABEL_DOC)
    description = fields.String(load_default="")
    icon = fields.String(load_default="")


class AppPatchSchema(_Strict):
    label = Label(metadata=_LABEL_DOC)
    description = fields.String()
    icon = fields.String()


class DefinitionSchema(Schema):
    app = fields.String()
    kind = fields.String()
    key = fields.String()
    version = fields.Integer(metadata={"description": "0 for the draft; 1, 2, ... for published versions."})
    status = fields.String(metadata={"enum": ["draft", "published"]})
    checksum = fields.String()
    body = fields.Dict()
    note = fields.String()
    has_draft = fields.Boolean()
    latest_version = fields.Integer(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    published_at = UtcDateTime(allow_none=True)
    published_by = fields.Integer(allow_none=True)


class DefinitionReadQuerySchema(_Strict):
    version = fields.String(
        metadata={"description": "`draft`, a version number, or nothing for the latest published version."}
    )


class SummarySchema(Schema):
    key = fields.String()
    label = fields.Raw(allow_none=True, metadata=_LABEL_DOC)
    latest_version = fields.Integer(allow_none=True)
    has_draft = fields.Boolean()
    status = fields.String(metadata={"enum": ["draft", "published"]})
    updated_at = UtcDateTime()


class SummaryPageSchema(Schema):
    items = fields.List(fields.Nested(SummarySchema))
    next_cursor = fields.String(allow_none=True)


class VersionSchema(Schema):
    version = fields.Integer()
    checksum = fields.String()
    note = fields.String()
    published_at = UtcDateTime(allow_none=True)
    published_by = fields.Integer(allow_none=True)


class VersionPageSchema(Schema):
    items = fields.List(fields.Nested(VersionSchema))
    next_cursor = fields.String(allow_none=True)
    draft = fields.Nested(DefinitionSchema, allow_none=True, metadata={"description": "The draft, if any."})


class PublishSchema(_Strict):
    note = fields.String(load_default="", validate=validate.Length(max=1000))
    options = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": 'Flags for the kind\'s publish hook, e.g. {"force": true}.'},
    )


class PublishResultSchema(Schema):
    kind = fields.String()
    key = fields.String()
    version = fields.Integer()
    previous_version = fields.Integer(allow_none=True)
    checksum = fields.String()
    note = fields.String()
    report = fields.List(fields.String(), metadata={"description": "What the publish hook did."})


class DiffQuerySchema(_Strict):
    from_ = fields.String(data_key="from", metadata={"description": "Version number or `draft`."})
    to = fields.String(
        metadata={"description": "Version number or `draft` (default: the draft, else latest)."}
    )


class ChangeSchema(Schema):
    op = fields.String(metadata={"enum": ["added", "removed", "changed", "moved"]})
    path = fields.String(metadata={"description": "JSON pointer (into the old document for `removed`)."})
    at = fields.String(
        metadata={"description": "Readable path: keyed list items by key, `fields[phone].type`."}
    )
    old = fields.Raw()
    new = fields.Raw()
    from_ = fields.String(
        data_key="from", attribute="from", metadata={"description": "Old pointer of a moved item."}
    )


class DiffSchema(Schema):
    kind = fields.String()
    key = fields.String()
    from_ = fields.Raw(data_key="from", attribute="from", allow_none=True)
    to = fields.Raw()
    changes = fields.List(fields.Nested(ChangeSchema))


class ExportQuerySchema(_Strict):
    drafts = fields.Boolean(
        load_default=False, metadata={"description": "Include drafts as `version: draft`."}
    )


class PackageSchema(Schema):
    format = fields.String(metadata={"description": f"Always `{packages.PACKAGE_FORMAT}`."})
    app = fields.Dict()
    definitions = fields.List(fields.Dict())


class ImportReportSchema(Schema):
    app = fields.String()
    created = fields.Boolean()
    published = fields.List(
        fields.Dict(), metadata={"description": "{kind, key, version, report} per version."}
    )
    unchanged = fields.List(
        fields.Dict(), metadata={"description": "Definitions equal to their latest version."}
    )
    drafts = fields.List(fields.Dict())
    ignored = fields.List(fields.String(), metadata={"description": "Parts of the package not imported."})


# ---------------------------------------------------------------- helpers


def _reader() -> Actor:
    actor = current_actor()
    if actor.workspace_id is None:
        raise PermissionDenied("Choose a workspace first: apps belong to a workspace.")
    return actor


def _registries() -> Registries:
    return get_plugin_host().registries


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _json_object(what: str) -> dict[str, Any]:
    """The request body, which must be one JSON object (malformed JSON is a 400 from Flask)."""
    data = request.get_json()
    if not isinstance(data, dict):
        raise ValidationError(f"{what} must be a JSON object.", errors={"/": "expected a JSON object"})
    return data


def _administered_app(app_key: str) -> tuple[Actor, Session, App]:
    """The caller, who must administer the workspace, the request's session and the workspace's app ``app_key``.

    :raises PermissionDenied: the caller is no workspace administrator (checked first).
    :raises NotFound: the workspace has no app ``app_key``.
    """
    actor = require_admin()
    session = request_session()
    return actor, session, service.get_app(session, actor, app_key)


def _app_and_kind(actor: Actor, app_key: str, kind_plural: str) -> tuple[App, DefinitionKind]:
    app = service.get_app(request_session(), actor, app_key)
    return app, service.kind_for_url(_registries(), kind_plural)


def definition_view(row: Definition, app: App, **extra: Any) -> dict[str, Any]:
    """A definition row as ``DefinitionSchema`` shows it (engines' endpoints that save drafts answer the same)."""
    return {
        "app": app.key,
        "kind": row.kind,
        "key": row.key,
        "version": row.version,
        "status": row.status,
        "checksum": row.checksum,
        "body": row.body,
        "note": row.note or "",
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "published_at": row.published_at,
        "published_by": row.published_by,
        **extra,
    }


def definition_state(app: App, kind: DefinitionKind, key: str) -> dict[str, Any]:
    """Whether ``key`` has a draft and its latest published version (the extra fields of a definition view)."""
    session = request_session()
    latest = service.latest_published(session, app, kind, key)
    draft = service.draft_of(session, app, kind, key)
    return {"has_draft": draft is not None, "latest_version": latest.version if latest else None}


# ---------------------------------------------------------------- apps


@blp.route("/apps")
class Apps(MethodView):
    @blp.arguments(AppListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, AppPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The workspace's apps by key (archived ones with `include_archived`)."""
        actor = _reader()
        page = paginate(
            request_session(),
            service.apps_select(actor, include_archived=query["include_archived"]),
            [SortKey("key", App.key)],
            secret=_secret(),
            limit=query["limit"],
            cursor=query.get("cursor"),
            scope=f"apps:{actor.workspace_id}:{query['include_archived']}",
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    @blp.arguments(AppCreateSchema)
    @blp.response(201, AppSchema)
    def post(self, data: dict[str, Any]) -> App:
        """Create an app (workspace admins). 409 if the key is taken, 422 for a bad key or label."""
        actor = require_admin()
        return service.create_app_(request_session(), actor=actor, now=utcnow(), **data)


@blp.route("/apps/import")
class ImportApp(MethodView):
    @blp.doc(requestBody={**_JSON_OBJECT, "description": f"An app package (`{packages.PACKAGE_FORMAT}`)."})
    @blp.response(200, ImportReportSchema, description="The app existed and was updated (or left alone).")
    @blp.alt_response(201, schema=ImportReportSchema, description="The app was created.")
    def post(self) -> tuple[dict[str, Any], int]:
        """Import an app package: validated whole first, all-or-nothing, idempotent."""
        actor = require_admin()
        package = _json_object("An app package")
        report = packages.import_package(
            request_session(), package=package, actor=actor, now=utcnow(), registries=_registries()
        )
        return report, 201 if report["created"] else 200


@blp.route("/apps/<string:app_key>")
class AppItem(MethodView):
    @blp.response(200, AppSchema)
    def get(self, app_key: str) -> App:
        """One app (archived ones too)."""
        return service.get_app(request_session(), _reader(), app_key)

    @blp.arguments(AppPatchSchema)
    @blp.response(200, AppSchema)
    def patch(self, changes: dict[str, Any], app_key: str) -> App:
        """Rename the app or change its description or icon (its key never changes)."""
        actor, session, app = _administered_app(app_key)
        return service.update_app(session, app=app, changes=changes, actor=actor, now=utcnow())


@blp.route("/apps/<string:app_key>/archive")
class ArchiveApp(MethodView):
    @blp.response(200, AppSchema)
    def post(self, app_key: str) -> App:
        """Archive the app: hidden from lists and navigation, read-only, restorable."""
        actor, session, app = _administered_app(app_key)
        return service.archive_app(session, app=app, actor=actor, now=utcnow())


@blp.route("/apps/<string:app_key>/restore")
class RestoreApp(MethodView):
    @blp.response(200, AppSchema)
    def post(self, app_key: str) -> App:
        """Bring an archived app back."""
        actor, session, app = _administered_app(app_key)
        return service.restore_app(session, app=app, actor=actor, now=utcnow())


@blp.route("/apps/<string:app_key>/export")
class ExportApp(MethodView):
    @blp.arguments(ExportQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, PackageSchema)
    def get(self, query: dict[str, Any], app_key: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The app package: the latest published version of every definition (drafts with `drafts=1`)."""
        _actor, session, app = _administered_app(app_key)
        package = packages.export_app(
            session, app=app, registries=_registries(), include_drafts=query["drafts"]
        )
        return package, 200, {"Content-Disposition": f'attachment; filename="{app.key}.opsloom.json"'}


# ---------------------------------------------------------------- definitions


@blp.route("/apps/<string:app_key>/<string:kind_plural>")
class DefinitionList(MethodView):
    @blp.arguments(PageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, SummaryPageSchema)
    def get(self, query: dict[str, Any], app_key: str, kind_plural: str) -> dict[str, Any]:
        """The app's definitions of one kind by key: latest published version and whether a draft exists."""
        actor = _reader()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        session = request_session()
        page = paginate(
            session,
            service.definitions_select(app, kind),
            [SortKey("key", Definition.key)],
            secret=_secret(),
            limit=query["limit"],
            cursor=query.get("cursor"),
            scope=f"definitions:{app.id}:{kind.name}",
            scalars=False,
        )
        return {"items": service.summaries(session, app, kind, page.items), "next_cursor": page.next_cursor}


@blp.route("/apps/<string:app_key>/<string:kind_plural>/<string:key>")
class DefinitionItem(MethodView):
    @blp.arguments(DefinitionReadQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, DefinitionSchema)
    def get(self, query: dict[str, Any], app_key: str, kind_plural: str, key: str) -> dict[str, Any]:
        """One version: the latest published (or the draft if never published), `?version=draft` or N."""
        actor = _reader()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        version = service.parse_version(query.get("version"))
        row = service.get_definition(request_session(), app=app, kind=kind, key=key, version=version)
        return definition_view(row, app, **definition_state(app, kind, key))

    @blp.doc(requestBody={**_JSON_OBJECT, "description": "The definition body, valid for its kind's schema."})
    @blp.response(200, DefinitionSchema, description="The saved draft.")
    def put(self, app_key: str, kind_plural: str, key: str) -> dict[str, Any]:
        """Save the draft (422 with JSON pointers when the body breaks the kind's schema)."""
        actor = require_admin()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        body = _json_object(f"A {kind.name} definition")
        row = service.save_draft(
            request_session(),
            app=app,
            kind=kind,
            key=key,
            body=body,
            actor=actor,
            now=utcnow(),
            registries=_registries(),
        )
        return definition_view(row, app, **definition_state(app, kind, key))

    @blp.response(204)
    def delete(self, app_key: str, kind_plural: str, key: str) -> None:
        """Discard the draft (published versions are immutable and stay)."""
        actor = require_admin()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        service.discard_draft(request_session(), app=app, kind=kind, key=key, actor=actor, now=utcnow())


@blp.route("/apps/<string:app_key>/<string:kind_plural>/<string:key>/publish")
class PublishDefinition(MethodView):
    @blp.arguments(PublishSchema, required=False)
    @blp.response(200, PublishResultSchema)
    def post(self, data: dict[str, Any], app_key: str, kind_plural: str, key: str) -> dict[str, Any]:
        """Publish the draft as the next version; the kind's publish hook runs in the same transaction."""
        actor = require_admin()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        result = service.publish(
            request_session(),
            app=app,
            kind=kind,
            key=key,
            actor=actor,
            now=utcnow(),
            registries=_registries(),
            options=data.get("options") or {},
            note=data.get("note") or "",
        )
        return result.as_dict()


@blp.route("/apps/<string:app_key>/<string:kind_plural>/<string:key>/versions")
class DefinitionVersions(MethodView):
    @blp.arguments(PageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, VersionPageSchema)
    def get(self, query: dict[str, Any], app_key: str, kind_plural: str, key: str) -> dict[str, Any]:
        """Published versions, newest first, and the draft if there is one."""
        actor = _reader()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        session = request_session()
        draft = service.draft_of(session, app, kind, key)
        if draft is None and service.latest_published(session, app, kind, key) is None:
            service.get_definition(session, app=app, kind=kind, key=key)  # the 404 naming what is missing
        page = paginate(
            session,
            service.versions_select(app, kind, key),
            [SortKey("version", Definition.version, descending=True)],
            secret=_secret(),
            limit=query["limit"],
            cursor=query.get("cursor"),
            scope=f"versions:{app.id}:{kind.name}:{key}",
        )
        return {
            "items": page.items,
            "next_cursor": page.next_cursor,
            "draft": definition_view(draft, app) if draft is not None else None,
        }


@blp.route("/apps/<string:app_key>/<string:kind_plural>/<string:key>/diff")
class DefinitionDiff(MethodView):
    @blp.arguments(DiffQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, DiffSchema)
    def get(self, query: dict[str, Any], app_key: str, kind_plural: str, key: str) -> dict[str, Any]:
        """What changed between two versions (`from`, `to`: numbers or `draft`), by JSON pointer."""
        actor = _reader()
        app, kind = _app_and_kind(actor, app_key, kind_plural)
        return service.diff_versions(
            request_session(),
            app=app,
            kind=kind,
            key=key,
            from_version=service.parse_version(query.get("from_"), "from"),
            to_version=service.parse_version(query.get("to"), "to"),
        )
