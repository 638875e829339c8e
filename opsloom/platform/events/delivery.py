"""Running deliveries: claim, call the handler, record done / retrying / dead — at least once, idempotent.

A delivery row is the unit of idempotency: one per (event, handler). A worker first
*claims* due rows in a short transaction (``status=running``, ``claimed_by``,
``claimed_until``, ``attempts += 1``), so no other worker runs them meanwhile; a claim
whose worker died expires and the row is due again. Then the handlers run, and each
handler's writes commit together with its row's ``done`` mark, or not at all:

* fast path: the whole claimed batch in one transaction (rows still ours are locked, all
  handlers run, one ``UPDATE`` marks them done, one commit);
* if a handler raises, that transaction is rolled back whole and the batch runs again
  with one savepoint per delivery: the failed delivery is set ``retrying`` (exponential
  backoff) or ``dead`` after ``EVENT_MAX_ATTEMPTS`` attempts without being called again,
  the ones after it run for the first time, and the ones before it run again (handlers
  are idempotent by event id, and their first run's database writes were rolled back).

A ``done`` row is never claimed again.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import traceback
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update

from opsloom.platform.actor import SYSTEM
from opsloom.platform.db import get_database
from opsloom.platform.jobs.decorator import job
from opsloom.platform.models import EventDelivery, OutboxEvent

from .handlers import HandlerContext, HandlerSet, handlers_for
from .outbox import Event

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from flask import Flask
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from opsloom.platform.jobs.decorator import JobContext

__all__ = [
    "DeliveryReport",
    "backoff_delay",
    "claim",
    "deliver",
    "deliver_job",
    "due_condition",
    "setting",
    "worker_identity",
]

log = logging.getLogger("opsloom.events")

#: settings read with these defaults when the app's config lacks them
DEFAULTS: dict[str, Any] = {
    "EVENT_MAX_ATTEMPTS": 5,
    "EVENT_BACKOFF_SECONDS": 2.0,
    "EVENT_BACKOFF_MAX_SECONDS": 3600.0,
    # how long a claim protects a running delivery; a worker that dies frees it after this
    "EVENT_CLAIM_SECONDS": 300,
    # events claimed per dispatcher transaction, and deliveries per delivery job
    "EVENT_DISPATCH_BATCH": 500,
    "EVENT_DELIVERY_BATCH": 250,
    # a pending delivery whose job was lost (Redis flushed) is re-enqueued after this
    "EVENT_REQUEUE_AFTER_SECONDS": 300,
}

#: job timeout; shorter than the claim so RQ gives up before another worker may re-claim
DELIVERY_JOB_TIMEOUT = 240


def setting(app: Flask, name: str) -> Any:
    value = app.config.get(name)
    return DEFAULTS[name] if value is None else value


def backoff_delay(attempts: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempts`` (1-based): ``base * 2**(attempts-1)``.

    Capped at ``cap`` and jittered by ±10% so a burst of failures does not retry in lockstep.
    """
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay * (0.9 + 0.2 * rand())


def worker_identity(job_id: str | None = None) -> str:
    """Who holds a claim: host, process, thread and (when known) the job."""
    who = f"{socket.gethostname()}/{os.getpid()}/{threading.get_ident()}"
    return f"{who}/{job_id}" if job_id else who


def due_condition(now: datetime, max_attempts: int) -> ColumnElement[bool]:
    """Deliveries a worker may claim at ``now``."""
    return and_(
        EventDelivery.attempts < max_attempts,
        or_(
            EventDelivery.status == "pending",
            and_(EventDelivery.status == "retrying", EventDelivery.next_attempt_at <= now),
            # a claim that outlived its worker
            and_(EventDelivery.status == "running", EventDelivery.claimed_until < now),
        ),
    )


def claim(
    session: Session,
    delivery_ids: Sequence[int],
    *,
    now: datetime,
    worker: str,
    lease_seconds: float,
    max_attempts: int,
) -> list[int]:
    """Claim the due rows among ``delivery_ids`` for ``worker``; returns the claimed ids.

    On PostgreSQL rows locked by another worker's claim are skipped, not waited for.
    """
    if not delivery_ids:
        return []
    locked = session.scalars(
        select(EventDelivery.id)
        .where(EventDelivery.id.in_(list(delivery_ids)), due_condition(now, max_attempts))
        .order_by(EventDelivery.id)
        .with_for_update(skip_locked=True)
    ).all()
    if not locked:
        return []
    session.execute(
        update(EventDelivery)
        .where(EventDelivery.id.in_(locked))
        .values(
            status="running",
            claimed_by=worker,
            claimed_until=now + timedelta(seconds=lease_seconds),
            attempts=EventDelivery.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return list(locked)


@dataclass
class DeliveryReport:
    done: int = 0
    retrying: int = 0
    dead: int = 0
    skipped: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.done += other.done
        self.retrying += other.retrying
        self.dead += other.dead
        self.skipped += other.skipped


class _LostClaim(Exception):
    """Another worker took the row over (our claim expired); leave it to them."""


class UnknownHandler(Exception):
    """The delivery names a handler that is no longer registered."""


class _HandlerFailed(Exception):
    """A handler raised on the fast path: roll the batch back and redo it delivery by delivery."""

    def __init__(self, delivery_id: int, error: Exception) -> None:
        super().__init__(delivery_id, error)
        self.delivery_id = delivery_id
        self.error = error


_COLUMNS = (
    EventDelivery.id,
    EventDelivery.handler,
    EventDelivery.attempts,
    OutboxEvent.id,
    OutboxEvent.type,
    OutboxEvent.workspace_id,
    OutboxEvent.payload,
    OutboxEvent.created_at,
    OutboxEvent.depth,
)


def deliver(
    app: Flask,
    delivery_ids: Sequence[int],
    *,
    now: datetime,
    worker: str | None = None,
    job_id: str | None = None,
    handlers: HandlerSet | None = None,
) -> DeliveryReport:
    """Claim and run the due deliveries among ``delivery_ids``; safe to call twice (idempotent)."""
    database = get_database(app)
    worker = worker or worker_identity(job_id)
    handlers = handlers or handlers_for(app)
    max_attempts = int(setting(app, "EVENT_MAX_ATTEMPTS"))
    with database.session_scope() as session:
        claimed = claim(
            session,
            delivery_ids,
            now=now,
            worker=worker,
            lease_seconds=float(setting(app, "EVENT_CLAIM_SECONDS")),
            max_attempts=max_attempts,
        )
    report = DeliveryReport(skipped=len(delivery_ids) - len(claimed))
    if not claimed:
        return report
    run = _Runner(app, handlers, now=now, worker=worker, job_id=job_id, max_attempts=max_attempts)
    try:
        try:
            with database.session_scope() as session:
                batch = run.together(session, claimed)
        except _HandlerFailed as failed:
            with database.session_scope() as session:
                batch = run.many(session, claimed, failed={failed.delivery_id: failed.error})
        report.add(batch)
    except Exception:
        # the batch's commit failed (a deferred constraint, a lost connection): nothing of it
        # was kept, so run each delivery alone; handlers are idempotent by event id
        log.warning("delivery batch of %d failed to commit; retrying one by one", len(claimed), exc_info=True)
        for delivery_id in claimed:
            report.add(run.alone(delivery_id))
    return report


class _Runner:
    """Runs claimed deliveries of one job; each handler + its row update share a savepoint."""

    def __init__(
        self, app: Flask, handlers: HandlerSet, *, now: datetime, worker: str, job_id: str | None,
        max_attempts: int,
    ) -> None:
        self.app = app
        self.handlers = handlers
        self.now = now
        self.worker = worker
        self.job_id = job_id
        self.max_attempts = max_attempts
        self.actor = replace(SYSTEM, via="job", request_id=job_id)

    def _rows(self, session: Session, ids: Sequence[int], *, owned: bool = False) -> list[Any]:
        stmt = (
            select(*_COLUMNS)
            .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
            .where(EventDelivery.id.in_(list(ids)))
            .order_by(EventDelivery.event_id, EventDelivery.id)
        )
        if owned:
            # still ours (a claim that expired may have been taken over), and locked until commit
            stmt = stmt.where(
                EventDelivery.status == "running", EventDelivery.claimed_by == self.worker
            ).with_for_update(of=EventDelivery)
        return list(session.execute(stmt).all())

    def _event(self, row: Any) -> Event:
        return Event(id=row[3], type=row[4], workspace_id=row[5], payload=dict(row[6] or {}),
                     created_at=row[7], depth=row[8] or 0)

    def _call(self, session: Session, handler_name: str, event: Event) -> None:
        handler = self.handlers.get(handler_name)
        if handler is None:
            raise UnknownHandler(f"event handler {handler_name!r} is not registered in this process")
        actor = self.actor
        if event.workspace_id is not None:
            actor = actor.in_workspace(event.workspace_id)
        handler(event, HandlerContext(session=session, actor=actor, now=self.now, app=self.app,
                                      job_id=self.job_id))

    def together(self, session: Session, ids: Sequence[int]) -> DeliveryReport:
        """The fast path: every handler in one transaction; :raises _HandlerFailed: one of them raised."""
        rows = self._rows(session, ids, owned=True)
        for row in rows:
            try:
                self._call(session, row[1], self._event(row))
                session.flush()
            except Exception as exc:
                raise _HandlerFailed(row[0], exc) from exc
        if rows:
            session.execute(
                update(EventDelivery)
                .where(EventDelivery.id.in_([row[0] for row in rows]))
                .values(status="done", finished_at=self.now, updated_at=self.now,
                        claimed_by=None, claimed_until=None, last_error=None)
                .execution_options(synchronize_session=False)
            )
        return DeliveryReport(done=len(rows), skipped=len(ids) - len(rows))

    def many(
        self, session: Session, ids: Sequence[int], *, failed: dict[int, Exception] | None = None
    ) -> DeliveryReport:
        """One savepoint per delivery; ``failed`` ones (already tried on the fast path) are only recorded."""
        report = DeliveryReport()
        failed = failed or {}
        for row in self._rows(session, ids):
            if row[0] in failed:
                self._failed(session, row, failed[row[0]], report)
            else:
                self._one(session, row, report)
        return report

    def alone(self, delivery_id: int) -> DeliveryReport:
        report = DeliveryReport()
        database = get_database(self.app)
        try:
            with database.session_scope() as session:
                for row in self._rows(session, [delivery_id]):
                    self._one(session, row, report)
        except Exception as exc:
            with database.session_scope() as session:
                rows = self._rows(session, [delivery_id])
                if rows:
                    self._failed(session, rows[0], exc, report)
        return report

    def _one(self, session: Session, row: Any, report: DeliveryReport) -> None:
        delivery_id, handler_name = row[0], row[1]
        event = self._event(row)
        try:
            with session.begin_nested():
                marked = session.execute(
                    update(EventDelivery)
                    .where(
                        EventDelivery.id == delivery_id,
                        EventDelivery.status == "running",
                        EventDelivery.claimed_by == self.worker,
                    )
                    .values(status="done", finished_at=self.now, updated_at=self.now,
                            claimed_by=None, claimed_until=None, last_error=None)
                    .execution_options(synchronize_session=False)
                )
                if marked.rowcount == 0:
                    raise _LostClaim
                self._call(session, handler_name, event)
        except _LostClaim:
            report.skipped += 1
            return
        except Exception as exc:
            self._failed(session, row, exc, report)
            return
        report.done += 1

    def _failed(self, session: Session, row: Any, exc: BaseException, report: DeliveryReport) -> None:
        delivery_id, handler_name, attempts, event_id, event_type = row[0], row[1], row[2], row[3], row[4]
        error = "".join(traceback.format_exception(exc)).strip()[-4000:]
        if attempts >= self.max_attempts or isinstance(exc, UnknownHandler):
            values: dict[str, Any] = {"status": "dead", "next_attempt_at": None, "finished_at": self.now}
            report.dead += 1
            log.error(
                "event %s (%s) dead-lettered for handler %s after %d attempts: %s",
                event_id, event_type, handler_name, attempts, exc,
            )
        else:
            delay = backoff_delay(
                attempts,
                float(setting(self.app, "EVENT_BACKOFF_SECONDS")),
                float(setting(self.app, "EVENT_BACKOFF_MAX_SECONDS")),
            )
            values = {"status": "retrying", "next_attempt_at": self.now + timedelta(seconds=delay)}
            report.retrying += 1
            log.warning(
                "event %s (%s) failed in handler %s (attempt %d of %d), retrying in %.1fs: %s",
                event_id, event_type, handler_name, attempts, self.max_attempts, delay, exc,
            )
        session.execute(
            update(EventDelivery)
            .where(EventDelivery.id == delivery_id, EventDelivery.claimed_by == self.worker)
            .values(last_error=error, claimed_by=None, claimed_until=None, updated_at=self.now, **values)
            .execution_options(synchronize_session=False)
        )


@job("events", timeout=DELIVERY_JOB_TIMEOUT, transactional=False)
def deliver_job(ctx: JobContext, delivery_ids: list[int]) -> str:
    """The delivery job: run the due deliveries among ``delivery_ids`` (commits in its own steps)."""
    report = deliver(ctx.app, delivery_ids, now=ctx.now, job_id=ctx.job_id)
    return f"done={report.done} retrying={report.retrying} dead={report.dead} skipped={report.skipped}"
