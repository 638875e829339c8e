"""The saved-views API: ``/api/v1/apps/{app}/views/{entity}`` (list, save) and ``.../{id}`` (delete).

Thin: the schema decides what a client may send, ``SavedViews`` checks the body
against the published entity. The record list page calls the same routes from the
browser (session cookie plus the CSRF header).
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, validate
from marshmallow import ValidationError as SchemaError
from marshmallow import fields as ma

from opsloom.platform.api import current_actor
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import PermissionDenied, ValidationError

from .saved_views import SavedViews
from .service import RecordService

__all__ = ["blp"]

blp = Blueprint(
    "saved_views", __name__, description="Saved list views of an entity: filter, sort, columns, search."
)


class ViewBodySchema(Schema):
    class Meta:
        unknown = RAISE

    filter = ma.Raw(allow_none=True, metadata={"description": "An expression (JSON)."})
    sort = ma.String(allow_none=True, metadata={"description": "`-field,field`"})
    # "fields" is the Schema's own attribute: declare the column list under another name
    columns = ma.List(ma.String(), allow_none=True, data_key="fields", attribute="fields")
    q = ma.String(allow_none=True)


class ViewCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    name = ma.String(required=True, validate=validate.Length(min=1, max=200))
    shared = ma.Boolean(load_default=False)
    body = ma.Nested(ViewBodySchema, load_default=dict)


class ViewSchema(Schema):
    id = ma.Integer(dump_only=True)
    name = ma.String(dump_only=True)
    shared = ma.Boolean(dump_only=True)
    mine = ma.Boolean(dump_only=True, metadata={"description": "the reader owns it (and may delete it)"})
    body = ma.Dict(dump_only=True)


class ViewListSchema(Schema):
    items = ma.List(ma.Nested(ViewSchema), dump_only=True)


def _views(app_key: str) -> SavedViews:
    actor = current_actor()
    if actor.workspace_id is None:
        raise PermissionDenied("Choose a workspace first: views belong to a workspace's apps.")
    session = request_session()
    app = definitions.get_app(session, actor, app_key)
    return SavedViews(RecordService(session, actor, app))


@blp.route("/apps/<app_key>/views/<entity>")
class Views(MethodView):
    @blp.response(200, ViewListSchema)
    def get(self, app_key: str, entity: str) -> dict[str, Any]:
        """Your views of the entity, then the ones others shared."""
        return {"items": _views(app_key).list(entity)}

    @blp.doc(requestBody={"content": {"application/json": {"schema": ViewCreateSchema}}, "required": True})
    @blp.response(201, ViewSchema)
    def post(self, app_key: str, entity: str) -> dict[str, Any]:
        """Save a view (422 when the filter does not compile or names unknown fields)."""
        views = _views(app_key)
        views.records.model(entity)  # an unknown or foreign entity is a 404 before the body is read
        try:
            payload = ViewCreateSchema().load(request.get_json())
        except SchemaError as exc:
            errors = {key: " ".join(map(str, value)) if isinstance(value, list) else str(value)
                      for key, value in exc.normalized_messages().items()}
            raise ValidationError("The view is invalid.", errors=errors) from None
        return views.create(
            entity, name=payload["name"], shared=payload["shared"], body=payload["body"], now=utcnow()
        )


@blp.route("/apps/<app_key>/views/<entity>/<int:view_id>")
class View(MethodView):
    @blp.response(200, ViewSchema)
    def get(self, app_key: str, entity: str, view_id: int) -> dict[str, Any]:
        """One view (404 for another user's private view)."""
        return _views(app_key).get(entity, view_id)

    @blp.response(204)
    def delete(self, app_key: str, entity: str, view_id: int) -> None:
        """Delete your view (404 for another user's private view; 403 for another user's shared one)."""
        _views(app_key).delete(entity, view_id)
