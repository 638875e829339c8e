"""The outbox relay: committed events become delivery rows and delivery jobs; due retries are re-enqueued.

``dispatch`` claims undispatched events in id order, in batches (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so concurrent workers take disjoint batches; SQLite's write lock
serialises them), adds one ``EventDelivery`` per (event, matching handler), marks the
events dispatched and commits; only then are delivery jobs enqueued (one per chunk of
deliveries, with a deterministic job id), so a job never looks for rows that are not
committed. A job lost after that commit is repaired by ``redeliver_due``, which also
re-enqueues retries whose backoff has passed and claims left by dead workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, insert, literal, or_, select, update

from opsloom.platform.db import get_database
from opsloom.platform.jobs.runtime import get_runtime
from opsloom.platform.models import EventDelivery, OutboxEvent

from .delivery import deliver_job, setting
from .handlers import HandlerSet, handlers_for

if TYPE_CHECKING:
    from datetime import datetime

    from flask import Flask

__all__ = ["DispatchReport", "dispatch", "redeliver_due"]

log = logging.getLogger("opsloom.events")

#: due deliveries re-enqueued per sweep (the next tick takes the rest)
REDELIVER_LIMIT = 1000


@dataclass
class DispatchReport:
    events: int = 0
    deliveries: int = 0
    jobs: list[str] = field(default_factory=list)
    redelivered: int = 0
    dead: int = 0

    def __str__(self) -> str:
        return (
            f"events={self.events} deliveries={self.deliveries} jobs={len(self.jobs)} "
            f"redelivered={self.redelivered} dead={self.dead}"
        )


def dispatch(
    app: Flask,
    *,
    now: datetime,
    handlers: HandlerSet | None = None,
    batch_size: int | None = None,
    max_batches: int = 40,
) -> DispatchReport:
    """Move up to ``max_batches`` batches of committed, undispatched events to the job queue."""
    database = get_database(app)
    runtime = get_runtime(app)
    handlers = handlers or handlers_for(app)
    batch_size = batch_size or int(setting(app, "EVENT_DISPATCH_BATCH"))
    chunk = int(setting(app, "EVENT_DELIVERY_BATCH"))
    report = DispatchReport()
    for _ in range(max_batches):
        with database.session_scope() as session:
            events = session.execute(
                select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.workspace_id)
                .where(OutboxEvent.dispatched_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not events:
                break
            rows = [
                {
                    "event_id": event_id,
                    "workspace_id": workspace_id,
                    "handler": handler.name,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for event_id, event_type, workspace_id in events
                for handler in handlers.matching(event_type)
            ]
            delivery_ids: list[int] = []
            if rows:
                delivery_ids = sorted(
                    session.scalars(insert(EventDelivery).returning(EventDelivery.id), rows).all()
                )
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([e[0] for e in events]))
                .values(dispatched_at=now)
                .execution_options(synchronize_session=False)
            )
        report.events += len(events)
        report.deliveries += len(delivery_ids)
        for start in range(0, len(delivery_ids), chunk):
            part = delivery_ids[start : start + chunk]
            local_id = f"deliver-{part[0]}-{part[-1]}"
            deliver_job.enqueue(runtime, part, job_id=local_id)
            report.jobs.append(local_id)
        if len(events) < batch_size:
            break
    return report


def redeliver_due(app: Flask, *, now: datetime, report: DispatchReport | None = None) -> DispatchReport:
    """Re-enqueue due retries, expired claims and pending rows whose job was lost; bury exhausted ones."""
    database = get_database(app)
    runtime = get_runtime(app)
    report = report or DispatchReport()
    max_attempts = int(setting(app, "EVENT_MAX_ATTEMPTS"))
    lost_before = now - timedelta(seconds=float(setting(app, "EVENT_REQUEUE_AFTER_SECONDS")))
    with database.session_scope() as session:
        # a claim expired after the last allowed attempt: its worker died or hung every time
        buried = session.execute(
            update(EventDelivery)
            .where(
                EventDelivery.status == "running",
                EventDelivery.claimed_until < now,
                EventDelivery.attempts >= max_attempts,
            )
            .values(
                status="dead",
                finished_at=now,
                updated_at=now,
                claimed_by=None,
                claimed_until=None,
                last_error=literal(
                    "the worker running the last attempt stopped or timed out before finishing"
                ),
            )
            .returning(EventDelivery.id, EventDelivery.event_id, EventDelivery.handler)
            .execution_options(synchronize_session=False)
        ).all()
        for delivery_id, event_id, handler in buried:
            log.error("event %s dead-lettered for handler %s (delivery %s): worker lost on the last attempt",
                      event_id, handler, delivery_id)
        due = session.execute(
            select(EventDelivery.id, EventDelivery.attempts, EventDelivery.status)
            .where(
                or_(
                    and_(EventDelivery.status == "retrying", EventDelivery.next_attempt_at <= now),
                    and_(EventDelivery.status == "running", EventDelivery.claimed_until < now),
                    and_(
                        EventDelivery.status == "pending",
                        or_(EventDelivery.next_attempt_at <= now, EventDelivery.created_at <= lost_before),
                    ),
                ),
                EventDelivery.attempts < max_attempts,
            )
            .order_by(EventDelivery.id)
            .limit(REDELIVER_LIMIT)
        ).all()
    report.dead += len(buried)
    for delivery_id, attempts, _status in due:
        local_id = f"redeliver-{delivery_id}-{attempts}"
        if deliver_job.enqueue(runtime, [delivery_id], job_id=local_id) is not None:
            report.redelivered += 1
            report.jobs.append(local_id)
    return report
