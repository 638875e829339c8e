"""The 360° timeline over HTTP: ``GET /api/v1/apps/{app}/records/{entity}/{id}/timeline`` (DESIGN §5).

Thin: parse the query, collect the app's timeline sources, call ``timeline.timeline_page``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from opsloom.platform.pagination import parse_limit
from opsloom.platform.plugin_host import get_plugin_host

from .api import _service
from .timeline import parse_kinds, timeline_page
from .timeline_sources import BUILTIN_SOURCE_NAMES, app_sources

__all__ = ["blp"]

#: entries per page unless ``limit`` says otherwise, and the most one page may hold
DEFAULT_LIMIT = 20
MAX_LIMIT = 200

blp = Blueprint(
    "record_timeline",
    __name__,
    description="A record's 360° view: its changes, related records and other engines' entries.",
)


class TimelineArgsSchema(Schema):
    class Meta:
        unknown = RAISE

    limit = fields.Integer(
        metadata={"description": f"entries per page (1-{MAX_LIMIT}, default {DEFAULT_LIMIT})"}
    )
    cursor = fields.String(
        validate=validate.Length(max=2000), metadata={"description": "`next_cursor` of the previous page"}
    )
    kinds = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "comma-separated kinds to show (`change,related`); default all"},
    )
    deleted = fields.Boolean(metadata={"description": "the timeline of a deleted record"})
    as_role = fields.String(metadata={"description": "administrators: view as this role"})


@blp.route("/apps/<app_key>/records/<entity>/<int:record_id>/timeline")
class RecordTimeline(MethodView):
    @blp.arguments(TimelineArgsSchema, location="query", unknown=RAISE)
    @blp.response(
        200,
        description="`{items: [{id, at, kind, source, title, actor, data, link}], next_cursor}`, newest first",
    )
    def get(self, args: dict[str, Any], app_key: str, entity: str, record_id: int) -> dict[str, Any]:
        """The record's timeline: 404 when the record is not yours to read, 400 for a bad cursor or kind."""
        service = _service(app_key, preview=True)
        sources = app_sources(get_plugin_host().registries.timeline_sources)
        page = timeline_page(
            service,
            entity,
            record_id,
            sources,
            secret=current_app.config["SECRET_KEY"],
            limit=parse_limit(args.get("limit"), default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
            cursor=args.get("cursor"),
            kinds=parse_kinds(args.get("kinds"), sources),
            deleted=bool(args.get("deleted")),
            builtin=BUILTIN_SOURCE_NAMES,
        )
        return {"items": page.items, "next_cursor": page.next_cursor}
