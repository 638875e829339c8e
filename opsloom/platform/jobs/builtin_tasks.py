"""The platform's own periodic tasks: the outbox dispatcher (every second) and hourly housekeeping."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, select

from opsloom.platform.db import get_database
from opsloom.platform.models import EventDelivery, LoginAttempt, OutboxEvent, SchedulerRun

from .scheduler import periodic

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from .scheduler import TaskContext

__all__ = ["dispatch_events", "housekeeping", "purge"]

RETENTION_DEFAULTS = {
    # finished (done) deliveries and their fully delivered events
    "EVENT_RETENTION_DAYS": 7,
    # scheduler slot rows (one per task per slot: the dispatcher writes one a second)
    "SCHEDULER_RETENTION_HOURS": 24,
    "LOGIN_ATTEMPT_RETENTION_DAYS": 30,
}


@periodic("events.dispatch", every=1)
def dispatch_events(ctx: TaskContext) -> str:
    """Relay committed outbox events to delivery jobs and re-enqueue due retries."""
    from opsloom.platform.events.dispatcher import dispatch, redeliver_due

    report = dispatch(ctx.app, now=ctx.now)
    redeliver_due(ctx.app, now=ctx.now, report=report)
    return str(report)


@periodic("jobs.housekeeping", every=3600, inline=False)
def housekeeping(ctx: TaskContext) -> str:
    """Purge old done deliveries, delivered events, scheduler slots and login attempts."""
    settings = {name: ctx.app.config.get(name) or default for name, default in RETENTION_DEFAULTS.items()}
    with get_database(ctx.app).session_scope() as session:
        counts = purge(session, now=ctx.now, **{k.lower(): v for k, v in settings.items()})
    return " ".join(f"{name}={count}" for name, count in counts.items())


def purge(
    session: Session,
    *,
    now: datetime,
    event_retention_days: float = 7,
    scheduler_retention_hours: float = 24,
    login_attempt_retention_days: float = 30,
) -> dict[str, int]:
    """Delete what is old and finished; dead and retrying deliveries (and their events) are kept."""
    event_cutoff = now - timedelta(days=event_retention_days)
    counts = {}
    counts["deliveries"] = session.execute(
        delete(EventDelivery)
        .where(EventDelivery.status == "done", EventDelivery.finished_at < event_cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
    open_delivery = exists(select(EventDelivery.id).where(EventDelivery.event_id == OutboxEvent.id))
    counts["events"] = session.execute(
        delete(OutboxEvent)
        .where(OutboxEvent.dispatched_at < event_cutoff, ~open_delivery)
        .execution_options(synchronize_session=False)
    ).rowcount
    counts["scheduler_runs"] = session.execute(
        delete(SchedulerRun)
        .where(SchedulerRun.slot < now - timedelta(hours=scheduler_retention_hours))
        .execution_options(synchronize_session=False)
    ).rowcount
    counts["login_attempts"] = session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.at < now - timedelta(days=login_attempt_retention_days))
        .execution_options(synchronize_session=False)
    ).rowcount
    return counts
