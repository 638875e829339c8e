"""The job monitor API (admins only): counts, deliveries by status, and retrying a dead delivery."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from opsloom.platform.api import require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.pagination import parse_limit

from . import monitor
from .runtime import get_runtime

__all__ = ["blp"]

# full paths in the routes rather than ``url_prefix``: ``register_api_blueprint`` mounts under
# ``/api/v1`` and smorest's ``url_prefix`` argument there replaces the blueprint's own
blp = Blueprint(
    "jobs", __name__,
    description="Job monitor: outbox, event deliveries (dead letters included) and queues.",
)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class JobDeliveryQuerySchema(_Strict):
    status = fields.String(
        validate=validate.OneOf(monitor.STATUSES),
        metadata={"description": "Only deliveries in this status (`dead` is the dead-letter list)."},
    )
    limit = fields.String(metadata={"description": "Page size (1-500, default 50)."})
    cursor = fields.String(metadata={"description": "`next_cursor` of the previous page."})


class JobDeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.Integer()
    event_type = fields.String()
    handler = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    event_created_at = fields.DateTime()


class JobDeliveryPageSchema(Schema):
    items = fields.List(fields.Nested(JobDeliverySchema))
    next_cursor = fields.String(allow_none=True)


class JobSummarySchema(Schema):
    outbox = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "`pending`: events not yet handed to the queue."})
    deliveries = fields.Dict(keys=fields.String(), values=fields.Integer(),
                             metadata={"description": "Deliveries of this workspace by status."})
    queues = fields.Raw(allow_none=True,
                        metadata={"description": "RQ counts per queue (superusers only; otherwise null)."})


@blp.route("/jobs")
class JobSummary(MethodView):
    @blp.response(200, JobSummarySchema)
    def get(self) -> dict[str, Any]:
        """Counts: undispatched events, deliveries by status, and (superusers) RQ queues."""
        actor = require_admin()
        return monitor.summary(request_session(), actor, runtime=get_runtime())


@blp.route("/jobs/deliveries")
class DeliveryList(MethodView):
    @blp.arguments(JobDeliveryQuerySchema, location="query", as_kwargs=True, unknown=RAISE)
    @blp.response(200, JobDeliveryPageSchema)
    def get(self, status: str | None = None, limit: str | None = None, cursor: str | None = None) -> Any:
        """Deliveries of this workspace, newest first; `status=dead` lists the dead letters."""
        actor = require_admin()
        config = current_app.config
        page = monitor.list_deliveries(
            request_session(), actor, secret=config["SECRET_KEY"], status=status, cursor=cursor,
            limit=parse_limit(limit, config.get("PAGE_SIZE_DEFAULT", 50), config.get("PAGE_SIZE_MAX", 500)),
        )
        return {"items": page.items, "next_cursor": page.next_cursor}


@blp.route("/jobs/deliveries/<int:delivery_id>/retry")
class DeliveryRetry(MethodView):
    @blp.response(200, JobDeliverySchema)
    def post(self, delivery_id: int) -> dict[str, Any]:
        """Put a dead delivery back in line (pending, 0 attempts); 409 when it is not dead."""
        actor = require_admin()
        return monitor.retry_delivery(request_session(), actor, delivery_id, now=utcnow())

