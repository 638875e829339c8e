"""Administration pages about the running platform: audit log, job monitor, plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

import opsloom
from opsloom.platform.db import request_session
from opsloom.platform.errors import Conflict, InvalidCursor, NotFound
from opsloom.platform.models import Membership, User
from opsloom.platform.plugin_host import get_plugin_host

from .blueprint import bp
from .errors import html_error
from .guards import admin_required, is_htmx, now, page_actor

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import Page

__all__ = ["bp"]

AUDIT_PAGE_SIZE = 50
DELIVERY_LIST_SIZE = 50


# ---------------------------------------------------------------- audit log


@dataclass
class AuditFilters:
    object_type: str = ""
    object_id: str = ""
    user: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, Any]:
        """The filters as URL parameters (for the next-page link)."""
        params: dict[str, Any] = {}
        if self.object_type:
            params["object_type"] = self.object_type
        if self.object_id:
            params["object_id"] = self.object_id
        if self.user is not None:
            params["user"] = self.user
        return params


def _audit_filters() -> AuditFilters:
    filters = AuditFilters(
        object_type=(request.args.get("object_type") or "").strip()[:80],
        object_id=(request.args.get("object_id") or "").strip()[:200],
    )
    raw_user = (request.args.get("user") or "").strip()
    if raw_user:
        if raw_user.isdigit():
            filters.user = int(raw_user)
        else:
            filters.errors["user"] = gettext("Choose a user from the list.")
    return filters


def _audit_page(db: Session, actor: Actor, filters: AuditFilters, cursor: str | None) -> Page:
    """Newest first, this workspace only (``audit_api.search_audit``: the same query as the API)."""
    from opsloom.platform.audit_api import search_audit

    return search_audit(
        db,
        actor,
        secret=current_app.config["SECRET_KEY"],
        limit=AUDIT_PAGE_SIZE,
        cursor=cursor,
        object_type=filters.object_type or None,
        object_id=filters.object_id or None,
        actor_id=filters.user,
    )


def _workspace_users(db: Session, actor: Actor) -> list[tuple[int, str]]:
    stmt = (
        select(User.id, User.username, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == actor.workspace_id)
        .order_by(User.username)
    )
    return [(row.id, row.display_name or row.username) for row in db.execute(stmt)]


@bp.get("/admin/audit")
@admin_required
def admin_audit() -> ResponseReturnValue:
    db = request_session()
    actor = page_actor()
    filters = _audit_filters()
    cursor = request.args.get("cursor") or None
    status = 200
    try:
        page = _audit_page(db, actor, filters, cursor)
    except InvalidCursor:
        filters.errors["cursor"] = gettext("That page link is no longer valid; showing the newest entries.")
        page, cursor, status = _audit_page(db, actor, filters, None), None, 400
    context = {"page": page, "filters": filters, "errors": filters.errors, "cursor": cursor}
    if is_htmx() and cursor:
        return render_template("platform/admin/_audit_rows.html", **context), status
    users = _workspace_users(db, actor)
    return render_template("platform/admin/audit.html", users=users, **context), status


# ---------------------------------------------------------------- job monitor


def _counters() -> list[tuple[str, str, str]]:
    return [
        ("outbox_pending", gettext("events waiting"), ""),
        ("pending", gettext("pending"), ""),
        ("running", gettext("running"), ""),
        ("retrying", gettext("retrying"), "warn"),
        ("done", gettext("done"), ""),
        ("dead", gettext("dead"), "bad"),
    ]


def _status_names() -> dict[str, str]:
    return {
        "pending": gettext("pending"),
        "running": gettext("running"),
        "retrying": gettext("retrying"),
        "done": gettext("done"),
        "dead": gettext("dead"),
    }


def _queue_names() -> dict[str, str]:
    return {
        "queued": gettext("queued"),
        "started": gettext("started"),
        "failed": gettext("failed"),
        "scheduled": gettext("scheduled"),
        "deferred": gettext("deferred"),
    }


def _runtime() -> Any:
    from opsloom.platform.jobs.runtime import get_runtime

    return current_app.extensions.get("opsloom.jobs") and get_runtime()


@bp.get("/admin/jobs")
@admin_required
def admin_jobs() -> ResponseReturnValue:
    from opsloom.platform.jobs import monitor

    db = request_session()
    actor = page_actor()
    summary = monitor.summary(db, actor, runtime=_runtime())
    counts = dict(summary.get("deliveries") or {})
    counts["outbox_pending"] = (summary.get("outbox") or {}).get("pending", 0)
    queues = summary.get("queues") or {}
    lists = [
        (
            status,
            title,
            monitor.list_deliveries(
                db, actor, status=status, limit=DELIVERY_LIST_SIZE, secret=current_app.config["SECRET_KEY"]
            ).items,
        )
        for status, title in (("dead", gettext("Dead letters")), ("retrying", gettext("Retrying")))
    ]
    return render_template(
        "platform/admin/jobs.html",
        counts=counts,
        counters=_counters(),
        queue_error=queues.get("error") if isinstance(queues.get("error"), str) else None,
        queues={name: value for name, value in queues.items() if isinstance(value, dict)},
        queue_names=_queue_names(),
        status_names=_status_names(),
        lists=lists,
    )


@bp.post("/admin/jobs/deliveries/<int:delivery_id>/retry")
@admin_required
def admin_job_retry(delivery_id: int) -> ResponseReturnValue:
    from opsloom.platform.jobs import monitor

    db = request_session()
    try:
        delivery = monitor.retry_delivery(db, page_actor(), delivery_id, now=now())
    except NotFound:
        db.rollback()
        return html_error(404, gettext("There is no such delivery in this workspace."))
    except Conflict:
        db.rollback()
        return html_error(409, gettext("Only a dead delivery can be retried; this one is not dead."))
    if is_htmx():
        return render_template(
            "platform/admin/_delivery_row.html", delivery=delivery, status_names=_status_names()
        )
    flash(gettext("Delivery %(id)s will be tried again.", id=delivery_id), "ok")
    return redirect(url_for("web.admin_jobs"))


# ---------------------------------------------------------------- plugins


def _source_text(source: str) -> str:
    if source == "builtin":
        return gettext("built in")
    if source == "config":
        return gettext("configuration")
    if source.startswith("entry point "):
        return gettext("package %(name)s", name=source.removeprefix("entry point "))
    return source


def _registry_names() -> dict[str, str]:
    return {
        "definition_kinds": gettext("definition kinds"),
        "field_types": gettext("field types"),
        "actions": gettext("actions"),
        "triggers": gettext("triggers"),
        "metric_functions": gettext("metric functions"),
        "widgets": gettext("widgets"),
        "channels": gettext("channels"),
        "expr_operators": gettext("expression operators"),
        "timeline_sources": gettext("timeline sources"),
    }


@bp.get("/admin/plugins")
@admin_required
def admin_plugins() -> ResponseReturnValue:
    statuses = get_plugin_host().statuses
    return render_template(
        "platform/admin/plugins.html",
        loaded=[s for s in statuses if s.ok],
        failed=[s for s in statuses if not s.ok],
        source_text=_source_text,
        registry_names=_registry_names(),
        platform_version=opsloom.__version__,
    )
