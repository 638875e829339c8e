"""The job monitor's services: counts, the delivery list (dead letters included), and retrying a dead item.

Shared by the API (``jobs/api.py``) and the admin page. Deliveries are scoped to the
actor's workspace (a platform superuser also sees workspace-less system events); RQ queue
counts describe the whole installation and are shown to superusers only. Never imports
flask and never commits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from opsloom.platform.audit import record
from opsloom.platform.errors import Conflict, NotFound, ValidationError
from opsloom.platform.models import EventDelivery, OutboxEvent
from opsloom.platform.pagination import Page, SortKey, paginate

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .runtime import JobRuntime

__all__ = ["STATUSES", "delivery_view", "list_deliveries", "retry_delivery", "summary"]

STATUSES = ("pending", "running", "retrying", "done", "dead")

_SORT = (
    SortKey("id", EventDelivery.id, descending=True),
)


def _visible(actor: Actor) -> ColumnElement[bool]:
    mine = EventDelivery.workspace_id == actor.workspace_id
    if actor.is_superuser:
        return or_(mine, EventDelivery.workspace_id.is_(None))
    return mine


def summary(session: Session, actor: Actor, *, runtime: JobRuntime | None = None) -> dict[str, Any]:
    """Counts for the monitor: ``outbox`` (undispatched events), ``deliveries`` by status, ``queues``.

    ``queues`` (per RQ queue: queued, started, failed, scheduled, deferred) is included for
    superusers when ``runtime`` is given, else ``None``; an unreachable Redis gives
    ``{"error": ...}`` instead of failing the page.
    """
    by_status = dict.fromkeys(STATUSES, 0)
    rows = session.execute(
        select(EventDelivery.status, func.count()).where(_visible(actor)).group_by(EventDelivery.status)
    ).all()
    for status, count in rows:
        by_status[status] = count
    outbox_scope = OutboxEvent.workspace_id == actor.workspace_id
    if actor.is_superuser:
        outbox_scope = or_(outbox_scope, OutboxEvent.workspace_id.is_(None))
    pending_events = session.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None), outbox_scope)
    )
    queues: dict[str, Any] | None = None
    if actor.is_superuser and runtime is not None:
        try:
            queues = runtime.queue_counts()
        except Exception as exc:  # Redis down: the database side of the monitor still works
            queues = {"error": f"job queue unreachable: {exc}"}
    return {"outbox": {"pending": pending_events or 0}, "deliveries": by_status, "queues": queues}


def _utc(value: datetime | None) -> datetime | None:
    """Stamps as aware UTC (SQLite returns them naive, stored in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def delivery_view(delivery: EventDelivery, event: OutboxEvent) -> dict[str, Any]:
    """One delivery as the monitor shows it."""
    return {
        "id": delivery.id,
        "event_id": event.id,
        "event_type": event.type,
        "handler": delivery.handler,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": _utc(delivery.next_attempt_at),
        "last_error": delivery.last_error,
        "created_at": _utc(delivery.created_at),
        "updated_at": _utc(delivery.updated_at),
        "finished_at": _utc(delivery.finished_at),
        "event_created_at": _utc(event.created_at),
    }


def list_deliveries(
    session: Session,
    actor: Actor,
    *,
    secret: str,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """One page of the actor's deliveries, newest first, optionally of one ``status``.

    ``Page.items`` are ``delivery_view`` dicts. :raises ValidationError: unknown status;
    :raises InvalidCursor: a forged cursor or one from another filter.
    """
    if status is not None and status not in STATUSES:
        raise ValidationError(
            f"`status` must be one of {', '.join(STATUSES)}; got {status!r}.",
            errors={"status": f"must be one of {', '.join(STATUSES)}"},
        )
    stmt = select(EventDelivery).where(_visible(actor))
    if status is not None:
        stmt = stmt.where(EventDelivery.status == status)
    page = paginate(
        session, stmt, _SORT, secret=secret, limit=limit, cursor=cursor,
        scope=f"deliveries|{actor.workspace_id}|{actor.is_superuser}|{status or ''}",
    )
    events = {
        e.id: e
        for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.id.in_({d.event_id for d in page.items}))
        )
    } if page.items else {}
    items = [delivery_view(d, events[d.event_id]) for d in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


def _get_visible(session: Session, actor: Actor, delivery_id: int, *, lock: bool = False) -> EventDelivery:
    stmt = select(EventDelivery).where(EventDelivery.id == delivery_id, _visible(actor))
    if lock:
        stmt = stmt.with_for_update()
    delivery = session.scalar(stmt)
    if delivery is None:
        raise NotFound(f"Delivery {delivery_id} does not exist in this workspace.", id=delivery_id)
    return delivery


def retry_delivery(session: Session, actor: Actor, delivery_id: int, *, now: datetime) -> dict[str, Any]:
    """Put a dead delivery back in line: ``pending`` with 0 attempts, due now; audited.

    The dispatcher's next sweep (within a second in a running worker) enqueues it.
    :raises NotFound: no such delivery in the actor's workspace.
    :raises Conflict: the delivery is not dead (only dead letters are retried by hand).
    """
    delivery = _get_visible(session, actor, delivery_id, lock=True)
    if delivery.status != "dead":
        raise Conflict(
            f"Delivery {delivery_id} is {delivery.status}, not dead; only dead deliveries can be retried.",
            id=delivery_id,
            status=delivery.status,
        )
    before = {"status": delivery.status, "attempts": delivery.attempts, "last_error": delivery.last_error}
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.finished_at = None
    delivery.claimed_by = None
    delivery.claimed_until = None
    delivery.updated_at = now
    session.flush()
    record(
        session, actor, "retry", "event_delivery", delivery.id,
        before=before, after={"status": "pending", "attempts": 0},
        workspace_id=delivery.workspace_id, now=now,
    )
    event = session.get(OutboxEvent, delivery.event_id)
    return delivery_view(delivery, event)  # type: ignore[arg-type]
