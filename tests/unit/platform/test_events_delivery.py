"""Outbox delivery: dispatch, at-least-once delivery, idempotency, backoff, dead letters and claim expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from opsloom.platform.events import emit, subscribe, subscriptions
from opsloom.platform.events.delivery import backoff_delay, claim, deliver
from opsloom.platform.events.dispatcher import dispatch, redeliver_due
from opsloom.platform.jobs import get_runtime, run_jobs
from opsloom.platform.models import EventDelivery, OutboxEvent

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

    from opsloom.platform.db import Database
    from opsloom.platform.events import Event, HandlerContext

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive (they are stored in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class Recorder:
    """A handler that records calls and fails while ``failures`` is positive (or forever with -1)."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[int] = []
        self.failures = failures
        self.follow_up = False

    def __call__(self, event: Event, ctx: HandlerContext) -> None:
        self.calls.append(event.id)
        if self.follow_up:
            emit(ctx.session, "followup.created", payload={"of": event.id}, workspace_id=event.workspace_id)
        if self.failures:
            self.failures -= 1
            raise RuntimeError(f"handler broke on event {event.id}")


@pytest.fixture
def handler() -> Iterator[Recorder]:
    recorder = Recorder()
    subscribe("test.*", "tests.recorder")(recorder)
    yield recorder
    subscriptions.remove("tests.recorder")


def emit_committed(
    db: Database, event_type: str = "test.happened", n: int = 1, workspace_id: int = 1
) -> list[int]:
    ids = []
    with db.session_scope() as session:
        for i in range(n):
            row = emit(session, event_type, payload={"n": i}, workspace_id=workspace_id)
            session.flush()
            ids.append(row.id)
    return ids


def deliveries(db: Database) -> list[EventDelivery]:
    with db.session_scope() as session:
        return list(session.scalars(select(EventDelivery).order_by(EventDelivery.id)))


def test_backoff_doubles_is_capped_and_jittered() -> None:
    middle = lambda: 0.5  # noqa: E731 - no jitter at the midpoint
    assert backoff_delay(1, 2.0, 3600, middle) == pytest.approx(2.0)
    assert backoff_delay(2, 2.0, 3600, middle) == pytest.approx(4.0)
    assert backoff_delay(4, 2.0, 3600, middle) == pytest.approx(16.0)
    assert backoff_delay(30, 2.0, 60, middle) == pytest.approx(60.0)
    assert backoff_delay(3, 2.0, 3600, lambda: 0.0) == pytest.approx(7.2)
    assert backoff_delay(3, 2.0, 3600, lambda: 1.0) == pytest.approx(8.8)


def test_committed_event_is_delivered_once(app: Flask, db: Database, handler: Recorder) -> None:
    ids = emit_committed(db, n=3)
    assert run_jobs(app, now=T0) >= 1
    assert sorted(handler.calls) == ids
    rows = deliveries(db)
    assert [(r.status, r.attempts, r.handler) for r in rows] == [("done", 1, "tests.recorder")] * 3
    assert all(r.claimed_by is None for r in rows)
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).where(OutboxEvent.dispatched_at.is_(None))) == 0
    # nothing left: a second run does no work and calls nobody again
    assert run_jobs(app, now=T0 + timedelta(hours=1)) == 0
    assert sorted(handler.calls) == ids


def test_uncommitted_event_is_never_delivered(app: Flask, db: Database, handler: Recorder) -> None:
    session = db.sessions()
    emit(session, "test.happened", payload={}, workspace_id=1)
    session.flush()
    session.rollback()  # the change failed
    session.close()
    assert run_jobs(app, now=T0) == 0
    assert handler.calls == []


def test_only_matching_handlers_get_deliveries(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db, "test.matched")
    emit_committed(db, "other.thing")
    run_jobs(app, now=T0)
    assert len(handler.calls) == 1
    assert len(deliveries(db)) == 1
    with db.session_scope() as session:  # the unmatched event is dispatched too, with no delivery
        assert session.scalar(select(func.count()).where(OutboxEvent.dispatched_at.is_(None))) == 0


def test_running_a_delivery_twice_runs_the_handler_once(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db)
    report = dispatch(app, now=T0)
    assert report.events == 1
    assert report.deliveries == 1
    ids = [d.id for d in deliveries(db)]
    first = deliver(app, ids, now=T0, worker="w1")
    second = deliver(app, ids, now=T0, worker="w2")
    later = deliver(app, ids, now=T0 + timedelta(days=1), worker="w3")
    assert (first.done, second.done, later.done) == (1, 0, 0)
    assert second.skipped == 1
    assert len(handler.calls) == 1
    # the queued job from dispatch finds it done as well
    run_jobs(app, now=T0)
    assert len(handler.calls) == 1


def test_dispatch_twice_does_not_duplicate(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db, n=2)
    assert dispatch(app, now=T0).deliveries == 2
    assert dispatch(app, now=T0).deliveries == 0
    assert len(deliveries(db)) == 2


def test_failures_back_off_then_dead_letter(app: Flask, db: Database, handler: Recorder) -> None:
    app.config.update(EVENT_MAX_ATTEMPTS=3, EVENT_BACKOFF_SECONDS=2.0)
    handler.failures = -1
    emit_committed(db)

    run_jobs(app, now=T0)
    (row,) = deliveries(db)
    assert (row.status, row.attempts) == ("retrying", 1)
    assert "handler broke" in row.last_error
    assert T0 + timedelta(seconds=1.8) <= aware(row.next_attempt_at) <= T0 + timedelta(seconds=2.2)

    run_jobs(app, now=T0 + timedelta(seconds=1))  # not due yet
    assert len(handler.calls) == 1

    run_jobs(app, now=T0 + timedelta(seconds=3))
    (row,) = deliveries(db)
    assert (row.status, row.attempts) == ("retrying", 2)
    t1 = T0 + timedelta(seconds=3)
    assert t1 + timedelta(seconds=3.6) <= aware(row.next_attempt_at) <= t1 + timedelta(seconds=4.4)

    run_jobs(app, now=T0 + timedelta(seconds=60))
    (row,) = deliveries(db)
    assert (row.status, row.attempts) == ("dead", 3)
    assert "RuntimeError: handler broke" in row.last_error
    assert row.next_attempt_at is None

    run_jobs(app, now=T0 + timedelta(days=1))  # dead letters stay dead
    assert len(handler.calls) == 3


def test_a_retry_succeeds_and_clears_the_error(app: Flask, db: Database, handler: Recorder) -> None:
    handler.failures = 1
    emit_committed(db)
    run_jobs(app, now=T0)
    run_jobs(app, now=T0 + timedelta(minutes=1))
    (row,) = deliveries(db)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)
    assert len(handler.calls) == 2


def test_handler_writes_commit_only_with_success(app: Flask, db: Database, handler: Recorder) -> None:
    handler.failures = 1
    handler.follow_up = True
    (event_id,) = emit_committed(db)
    run_jobs(app, now=T0)
    with db.session_scope() as session:
        followups = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "followup.created")).all()
        assert followups == []  # the failed attempt's write was rolled back with it
    run_jobs(app, now=T0 + timedelta(minutes=1))
    with db.session_scope() as session:
        followups = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "followup.created")).all()
        assert [f.payload["of"] for f in followups] == [event_id]
        assert followups[0].dispatched_at is not None  # relayed in the next round of run_jobs


def test_stale_claim_expires_and_is_retried(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db)
    dispatch(app, now=T0)
    ids = [d.id for d in deliveries(db)]
    with db.session_scope() as session:  # a worker claims, then dies without finishing
        assert claim(session, ids, now=T0, worker="dead-worker", lease_seconds=300, max_attempts=5) == ids
    assert deliver(app, ids, now=T0 + timedelta(seconds=10), worker="w2").skipped == 1
    assert handler.calls == []
    run_jobs(app, now=T0 + timedelta(seconds=10))
    assert handler.calls == []
    run_jobs(app, now=T0 + timedelta(seconds=301))
    assert len(handler.calls) == 1
    (row,) = deliveries(db)
    assert (row.status, row.attempts, row.claimed_by) == ("done", 2, None)


def test_an_expired_claim_can_be_taken_over(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db)
    dispatch(app, now=T0)
    ids = [d.id for d in deliveries(db)]
    with db.session_scope() as session:
        claim(session, ids, now=T0, worker="slow", lease_seconds=1, max_attempts=5)
    with db.session_scope() as session:
        claim(session, ids, now=T0 + timedelta(seconds=5), worker="fresh", lease_seconds=300, max_attempts=5)
    (row,) = deliveries(db)
    assert row.claimed_by == "fresh"
    assert row.attempts == 2


def test_exhausted_stale_claim_is_dead_lettered(app: Flask, db: Database, handler: Recorder) -> None:
    app.config["EVENT_MAX_ATTEMPTS"] = 1
    emit_committed(db)
    dispatch(app, now=T0)
    ids = [d.id for d in deliveries(db)]
    with db.session_scope() as session:
        claim(session, ids, now=T0, worker="dead-worker", lease_seconds=60, max_attempts=1)
    report = redeliver_due(app, now=T0 + timedelta(seconds=61))
    assert report.dead == 1
    (row,) = deliveries(db)
    assert row.status == "dead"
    assert "stopped or timed out" in row.last_error
    assert handler.calls == []


def test_unknown_handler_is_dead_at_once(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db)
    dispatch(app, now=T0)
    subscriptions.remove("tests.recorder")  # e.g. the plugin was uninstalled meanwhile
    run_jobs(app, now=T0)
    (row,) = deliveries(db)
    assert row.status == "dead"
    assert "not registered" in row.last_error


def test_a_lost_job_is_re_enqueued(app: Flask, db: Database, handler: Recorder) -> None:
    emit_committed(db)
    dispatch(app, now=T0)
    runtime = get_runtime(app)
    lost = list(runtime.connection.scan_iter(f"*{runtime.namespace}*"))
    runtime.connection.delete(*lost)  # Redis lost the queued job (only this app's keys)
    run_jobs(app, now=T0 + timedelta(seconds=5))
    assert handler.calls == []  # too early to call it lost
    run_jobs(app, now=T0 + timedelta(seconds=301))
    assert len(handler.calls) == 1


def test_plugin_on_event_hooks_get_deliveries(app_config: dict[str, Any]) -> None:
    from opsloom import create_app
    from opsloom.plugins import hookimpl

    seen: list[str] = []

    class Listener:
        __name__ = "tests.listener"

        @hookimpl
        def opsloom_on_event(self, event: Event) -> None:
            seen.append(event.type)

    app_config["PLUGINS"] = [Listener()]
    application = create_app(app_config)
    try:
        database = application.extensions["opsloom.db"]
        emit_committed(database, "anything.at_all")
        run_jobs(application, now=T0)
        assert seen == ["anything.at_all"]
        assert [d.handler for d in deliveries(database)] == ["plugin:tests.listener"]
    finally:
        application.extensions["opsloom.db"].dispose()


def test_handler_context_binds_the_events_workspace(app: Flask, db: Database) -> None:
    seen: list[tuple[int | None, str, str | None]] = []

    def remember(event: Event, ctx: HandlerContext) -> None:
        seen.append((ctx.actor.workspace_id, ctx.actor.via, ctx.job_id))

    subscribe("ctx.*", "tests.ctx")(remember)
    try:
        emit_committed(db, "ctx.check", workspace_id=7)
        run_jobs(app, now=T0)
    finally:
        subscriptions.remove("tests.ctx")
    ((workspace_id, via, job_id),) = seen
    assert workspace_id == 7
    assert via == "job"
    assert job_id
    assert job_id.startswith(get_runtime(app).namespace + "-deliver-")


def test_one_bad_event_in_a_batch_fails_alone(app: Flask, db: Database) -> None:
    calls: list[int] = []
    ids = emit_committed(db, "batch.item", n=3)
    bad = ids[1]

    def picky(event: Event, ctx: HandlerContext) -> None:
        calls.append(event.id)
        emit(ctx.session, "batch.done", payload={"of": event.id}, workspace_id=1)
        if event.id == bad:
            raise ValueError("not this one")

    subscribe("batch.item", "tests.picky")(picky)
    try:
        report = dispatch(app, now=T0)
        assert len(report.jobs) == 1  # the three deliveries travel in one job
        run_jobs(app, now=T0)
    finally:
        subscriptions.remove("tests.picky")
    assert calls.count(bad) == 1  # the failing handler is not called twice in one attempt
    assert calls.count(ids[2]) == 1
    statuses = {d.event_id: d.status for d in deliveries(db)}
    assert statuses == {ids[0]: "done", bad: "retrying", ids[2]: "done"}
    with db.session_scope() as session:
        done_for = sorted(e.payload["of"] for e in session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "batch.done")))
    assert done_for == [ids[0], ids[2]]  # the failed delivery's write was rolled back, the others kept once
