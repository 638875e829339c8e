"""The records API: ``/api/v1/apps/{app}/records/{entity}`` (DESIGN §5).

Thin: parse the request, call ``RecordService``, shape the answer. Records are flat JSON
objects whose shape is the published entity's, so bodies are documented per entity in
the OpenAPI document rather than by a marshmallow schema here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import bindparam, select

from opsloom.platform.api import current_actor
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.definitions import service as definitions
from opsloom.platform.definitions.validation import identifier_error
from opsloom.platform.errors import BadRequest, NotFound, PermissionDenied, ValidationError
from opsloom.platform.models import App

from . import permissions
from .models import EntityTable
from .service import RecordService

__all__ = ["blp"]

blp = Blueprint("records", __name__, description="Records of published entities: query, create, read, change, delete.")

_RECORD = {"type": "object", "additionalProperties": True}
_JSON_BODY = {"content": {"application/json": {"schema": _RECORD}}, "required": True}


@dataclass(frozen=True, slots=True)
class AppRef:
    """The app fields a record request needs (the ORM row is not needed to serve records)."""

    id: int
    key: str
    workspace_id: int


@dataclass(frozen=True, slots=True)
class TableRef:
    id: int
    entity_key: str
    version: int
    table_name: str


# one statement per request: the app (in the actor's workspace) and its published entity tables
_APP_AND_TABLES = (
    select(App.id, App.key, App.workspace_id, EntityTable.id.label("t_id"), EntityTable.entity_key,
           EntityTable.version, EntityTable.table_name)
    .select_from(App)
    .outerjoin(EntityTable, EntityTable.app_id == App.id)
    .where(App.workspace_id == bindparam("ws"), App.key == bindparam("key"))
)


#: ``(workspace id, app key)`` -> ``(definitions_version, AppRef, tables)`` of this process
_APPS = "opsloom.record_apps"
_APPS_KEPT = 1024


def _app_and_tables(actor: Any, app_key: str) -> tuple[AppRef, dict[str, TableRef]]:
    """The app and its published entity tables, from this process's cache while they cannot have changed.

    A publish (or a new app) bumps the workspace's ``definitions_version`` in its own
    transaction, and authentication read that number for this request, so a cached
    answer of the same number is exactly what the query would return. Unknown apps are
    never cached.
    """
    version = actor.definitions_version
    cache: dict[tuple[int, str], tuple[int, AppRef, dict[str, TableRef]]] = current_app.extensions.setdefault(
        _APPS, {}
    )
    cache_key = (actor.workspace_id, app_key)
    hit = cache.get(cache_key) if version is not None else None
    if hit is not None and hit[0] == version:
        return hit[1], hit[2]
    session = request_session()
    rows = session.connection().execute(_APP_AND_TABLES, {"ws": actor.workspace_id, "key": app_key}).all()
    if not rows:
        raise NotFound(f"This workspace has no app {app_key!r}.")
    app = AppRef(rows[0].id, rows[0].key, rows[0].workspace_id)
    tables = {
        r.entity_key: TableRef(r.t_id, r.entity_key, r.version, r.table_name) for r in rows if r.t_id is not None
    }
    if version is not None:
        if len(cache) >= _APPS_KEPT:
            cache.clear()
        cache[cache_key] = (version, app, tables)
    return app, tables


def _service(app_key: str, *, preview: bool = False) -> RecordService:
    """The record service for the caller; ``preview`` honours ``?as_role=`` (administrators viewing as a role)."""
    actor = current_actor()
    if actor.workspace_id is None:
        raise PermissionDenied("Choose a workspace first: records belong to a workspace's apps.")
    if identifier_error(app_key, "app key"):
        raise NotFound(f"No such app: {identifier_error(app_key, 'app key')}.")
    app, tables = _app_and_tables(actor, app_key)
    session = request_session()
    as_role = request.args.get("as_role") if preview else None
    if as_role:
        actor = permissions.actor_as_role(session, actor, app.workspace_id, as_role)
    return RecordService(session, actor, app, entity_rows=tables)  # type: ignore[arg-type]


def _body() -> Any:
    return request.get_json()


def _if_match() -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        raise BadRequest("If-Match must carry the record's `_version` (a whole number).",
                         errors={"If-Match": "not a version number"}) from None


def _with_etag(record: dict[str, Any], status: int = 200) -> tuple[dict[str, Any], int, dict[str, str]]:
    return record, status, {"ETag": f'"{record["_version"]}"'}


def _list_arg(name: str) -> list[str] | None:
    return [part.strip() for part in request.args.get(name, "").split(",") if part.strip()] or None


def _filter_arg() -> Any:
    raw = request.args.get("filter")
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("`filter` must be an expression in JSON (e.g. {\"==\": [{\"var\": \"level\"}, \"vip\"]}).",
                         errors={"filter": "malformed JSON"}) from None


@blp.route("/apps/<app_key>/records/<entity>")
class Records(MethodView):
    @blp.doc(parameters=[
        {"name": "filter", "in": "query", "schema": {"type": "string"}, "description": "An expression (JSON)."},
        {"name": "sort", "in": "query", "schema": {"type": "string"}, "description": "`-field,field`"},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Search in text fields."},
        {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "Comma-separated keys."},
        {"name": "expand", "in": "query", "schema": {"type": "string"},
         "description": "Relation fields to return as {id, title} (comma-separated)."},
    ])
    @blp.response(200, description="`{items, next_cursor}`")
    def get(self, app_key: str, entity: str) -> dict[str, Any]:
        """Query records: filter, sort, search, keyset pages."""
        known = {"filter", "sort", "limit", "cursor", "q", "fields", "deleted", "as_role", "expand"}
        unknown = sorted(set(request.args) - known)
        if unknown:
            raise BadRequest(f"Unknown query parameter(s): {', '.join(unknown)}.",
                             errors=dict.fromkeys(unknown, "unknown parameter"))
        fields = [f.strip() for f in request.args.get("fields", "").split(",") if f.strip()] or None
        page = _service(app_key, preview=True).query(
            entity,
            filter=_filter_arg(),
            sort=request.args.get("sort"),
            limit=request.args.get("limit"),
            cursor=request.args.get("cursor"),
            q=request.args.get("q"),
            fields=fields,
            secret=current_app.config["SECRET_KEY"],
            deleted=request.args.get("deleted") in ("1", "true"),
            expand=_list_arg("expand"),
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    @blp.doc(requestBody=_JSON_BODY)
    @blp.response(201, description="The new record.")
    def post(self, app_key: str, entity: str) -> Any:
        """Create a record (422 with field errors; 409 when a unique key is taken)."""
        return _with_etag(_service(app_key).create(entity, _body()), 201)


@blp.route("/apps/<app_key>/records/<entity>/bulk")
class BulkRecords(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": {
        "type": "object", "properties": {"records": {"type": "array", "items": _RECORD},
                                         "skip_invalid": {"type": "boolean"}}}}}, "required": True})
    @blp.response(200, description="`{created: [ids], errors: {\"<row>/<field>\": message}}`")
    def post(self, app_key: str, entity: str) -> dict[str, Any]:
        """Create many records in one transaction: all or nothing, or skipping invalid rows."""
        service = _service(app_key)
        service.model(entity)  # an unknown or foreign entity is a 404 before the body is read
        records, skip = _bulk_body()
        return service.bulk_create(entity, records, skip_invalid=skip)

    @blp.doc(requestBody={"content": {"application/json": {"schema": {
        "type": "object", "properties": {"records": {"type": "array", "items": _RECORD},
                                         "skip_invalid": {"type": "boolean"}}}}}, "required": True})
    @blp.response(200, description="`{updated: [ids], errors: {\"<row>/<field>\": message}}`")
    def patch(self, app_key: str, entity: str) -> dict[str, Any]:
        """Change many records in one transaction; each item carries its `id` and `_version`."""
        service = _service(app_key)
        service.model(entity)
        records, skip = _bulk_body()
        return service.bulk_update(entity, records, skip_invalid=skip)


def _bulk_body() -> tuple[Any, bool]:
    data = _body()
    if not isinstance(data, dict):
        raise ValidationError("Send {\"records\": [...]}.", errors={"/": "expected a JSON object"})
    unknown = sorted(set(data) - {"records", "skip_invalid"})
    if unknown:
        raise ValidationError("Unknown keys.", errors=dict.fromkeys(unknown, "unknown key"))
    skip = data.get("skip_invalid", False)
    if not isinstance(skip, bool):
        raise ValidationError("`skip_invalid` must be true or false.", errors={"skip_invalid": "not a boolean"})
    return data.get("records"), skip


@blp.route("/apps/<app_key>/records/<entity>/<int:record_id>")
class Record(MethodView):
    @blp.response(200, description="The record.")
    def get(self, app_key: str, entity: str, record_id: int) -> Any:
        """One record (404 when deleted; `?deleted=1` shows a deleted one)."""
        deleted = request.args.get("deleted") in ("1", "true")
        return _with_etag(
            _service(app_key, preview=True).get(entity, record_id, deleted=deleted, expand=_list_arg("expand"))
        )

    @blp.doc(requestBody=_JSON_BODY)
    @blp.response(200, description="The changed record.")
    def patch(self, app_key: str, entity: str, record_id: int) -> Any:
        """Change some fields; send `_version` (or If-Match). A stale version is a 409 naming the current one."""
        return _with_etag(_service(app_key).update(entity, record_id, _body(), version=_if_match()))

    @blp.response(200, description="The deleted record (restorable).")
    def delete(self, app_key: str, entity: str, record_id: int) -> Any:
        """Soft-delete a record."""
        return _service(app_key).delete(entity, record_id)


@blp.route("/apps/<app_key>/records/<entity>/<int:record_id>/restore")
class RestoreRecord(MethodView):
    @blp.response(200, description="The restored record.")
    def post(self, app_key: str, entity: str, record_id: int) -> Any:
        """Undo a delete."""
        return _with_etag(_service(app_key).restore(entity, record_id))


@blp.route("/apps/<app_key>/permissions")
class Permissions(MethodView):
    @blp.response(200, description="`{app, entities, roles: [{key, name, is_admin, grants: {entity: {grant, from}}}]}`")
    def get(self, app_key: str) -> dict[str, Any]:
        """The role-by-entity matrix of the app (administrators)."""
        actor = current_actor()
        app = definitions.get_app(request_session(), actor, app_key)
        return permissions.matrix(request_session(), actor, app)


@blp.route("/apps/<app_key>/permissions/<role_key>/<entity>")
class Grant(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": {"type": "object"}}}, "required": True})
    @blp.response(200, description="The saved grant.")
    def put(self, app_key: str, role_key: str, entity: str) -> dict[str, Any]:
        """Set a role's grant on an entity: actions with scopes, and field rules."""
        actor = current_actor()
        app = definitions.get_app(request_session(), actor, app_key)
        grant = _body()
        if not isinstance(grant, dict):
            raise ValidationError("A grant is a JSON object.", errors={"/": "expected a JSON object"})
        return permissions.set_grant(request_session(), actor, app, role_key, entity, grant, now=utcnow())

    @blp.response(200, description="The grant was removed.")
    def delete(self, app_key: str, role_key: str, entity: str) -> dict[str, Any]:
        """Remove a role's grant on an entity (the role then has no access unless a wildcard grant applies)."""
        actor = current_actor()
        app = definitions.get_app(request_session(), actor, app_key)
        return permissions.set_grant(request_session(), actor, app, role_key, entity, None, now=utcnow())
