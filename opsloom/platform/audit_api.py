"""The audit log API (``GET /api/v1/audit``): workspace admins search who changed what, newest first.

``audit_select`` is the one query (the admin page uses it too); the view only parses filters
and pages through it with a keyset cursor.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaValidationError
from sqlalchemy import select

from .api import require_admin
from .db import request_session
from .definitions.api import UtcDateTime
from .models import AuditEntry
from .pagination import Page, SortKey, paginate

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from .actor import Actor

__all__ = ["AUDIT_FILTERS", "audit_select", "blp", "search_audit"]

#: the filters ``audit_select`` understands
AUDIT_FILTERS = ("object_type", "object_id", "actor_id", "action", "since", "until")

blp = Blueprint(
    "audit",
    __name__,
    description="The append-only audit log: who did what to which object, when and from where.",
)


def audit_select(workspace_id: int, **filters: Any) -> Select[Any]:
    """Audit entries of one workspace matching ``filters`` (see ``AUDIT_FILTERS``; None = any).

    ``since`` is inclusive, ``until`` exclusive; both are aware datetimes.
    """
    stmt = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    for name in ("object_type", "object_id", "action", "actor_id"):
        value = filters.get(name)
        if value is not None:
            stmt = stmt.where(getattr(AuditEntry, name) == value)
    if filters.get("since") is not None:
        stmt = stmt.where(AuditEntry.at >= _utc(filters["since"]))
    if filters.get("until") is not None:
        stmt = stmt.where(AuditEntry.at < _utc(filters["until"]))
    return stmt


def _utc(value: datetime) -> datetime:
    # stored as UTC; SQLite compares the text form, so the parameter must be UTC too
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


_NEWEST_FIRST = [SortKey("id", AuditEntry.id, descending=True)]


def search_audit(
    session: Session, actor: Actor, *, secret: str, limit: int = 50, cursor: str | None = None, **filters: Any
) -> Page:
    """One page of the actor's workspace's audit log, newest first (the caller checks admin rights)."""
    used = {name: filters.get(name) for name in AUDIT_FILTERS if filters.get(name) is not None}
    scope = f"audit:{actor.workspace_id}:{sorted((k, str(v)) for k, v in used.items())}"
    return paginate(
        session,
        audit_select(actor.workspace_id or 0, **used),
        _NEWEST_FIRST,
        secret=secret,
        limit=limit,
        cursor=cursor,
        scope=scope,
    )


class AuditQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    object_type = fields.String(metadata={"description": "`app`, `definition`, `user`, ..."})
    object_id = fields.String(metadata={"description": "e.g. `crm` or `crm/entity/customer`."})
    actor_id = fields.Integer(metadata={"description": "Changes made by this user id."})
    action = fields.String(metadata={"description": "`create`, `update`, `publish`, ..."})
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "From (inclusive)."})
    until = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "Before (exclusive)."})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})

    @validates_schema
    def _window(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise SchemaValidationError("must be later than `since`", "until")


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = UtcDateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    action = fields.String()
    before = fields.Raw(allow_none=True, metadata={"description": "The object before the change (JSON)."})
    after = fields.Raw(allow_none=True, metadata={"description": "The object after the change (JSON)."})
    request_id = fields.String(allow_none=True)
    address = fields.String(allow_none=True)


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


@blp.route("/audit")
class AuditLog(MethodView):
    @blp.arguments(AuditQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, AuditPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Search the workspace's audit log (workspace admins), newest first, with a keyset cursor."""
        actor = require_admin()
        limit = query.pop("limit")
        cursor = query.pop("cursor", None)
        secret = current_app.config["SECRET_KEY"]
        page = search_audit(request_session(), actor, secret=secret, limit=limit, cursor=cursor, **query)
        return {"items": page.items, "next_cursor": page.next_cursor}
