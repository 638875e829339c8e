"""The scheduler: due slots, exactly one run per slot across workers, enqueued tasks, housekeeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from opsloom.platform.errors import PluginError
from opsloom.platform.events import emit, subscribe, subscriptions
from opsloom.platform.jobs import Task, drain, run_jobs, tasks, tick
from opsloom.platform.jobs.builtin_tasks import purge
from opsloom.platform.jobs.scheduler import due_slot, periodic
from opsloom.platform.models import EventDelivery, LoginAttempt, OutboxEvent, SchedulerRun

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

    from opsloom.platform.db import Database
    from opsloom.platform.jobs import TaskContext

T0 = datetime(2030, 1, 1, 9, 0, 30, 250000, tzinfo=UTC)


class Counter:
    def __init__(self) -> None:
        self.slots: list[datetime] = []
        self.lock = threading.Lock()

    def __call__(self, ctx: TaskContext) -> str:
        with self.lock:
            self.slots.append(ctx.slot)
        return f"slot {ctx.slot:%H:%M:%S}"


@pytest.fixture
def counter() -> Iterator[Counter]:
    counting = Counter()
    periodic("tests.every_minute", every=60)(counting)
    yield counting
    tasks.remove("tests.every_minute")


def test_interval_slots_align_to_the_epoch() -> None:
    task = Task("t", fn=lambda ctx: None, every=60)
    assert due_slot(task, T0) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert due_slot(task, T0 + timedelta(seconds=29)) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert due_slot(task, T0 + timedelta(seconds=30)) == datetime(2030, 1, 1, 9, 1, tzinfo=UTC)


def test_cron_slots_are_the_previous_match() -> None:
    task = Task("t", fn=lambda ctx: None, cron="*/15 * * * *")
    assert due_slot(task, T0) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert due_slot(task, datetime(2030, 1, 1, 9, 15, tzinfo=UTC)) == datetime(2030, 1, 1, 9, 15, tzinfo=UTC)
    just_before = datetime(2030, 1, 1, 9, 14, 59, tzinfo=UTC)
    assert due_slot(task, just_before) == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def test_a_task_needs_one_valid_schedule() -> None:
    with pytest.raises(PluginError):
        Task("t", fn=lambda ctx: None)
    with pytest.raises(PluginError):
        Task("t", fn=lambda ctx: None, every=5, cron="* * * * *")
    with pytest.raises(PluginError, match="not a cron"):
        Task("t", fn=lambda ctx: None, cron="every tuesday")


def test_a_second_tick_in_the_same_slot_runs_nothing(app: Flask, counter: Counter) -> None:
    first = tick(app, T0)
    assert {r.task for r in first} >= {"tests.every_minute", "events.dispatch", "jobs.housekeeping"}
    assert tick(app, T0) == []  # every slot is taken
    assert {r.task for r in tick(app, T0 + timedelta(seconds=20))} == {"events.dispatch"}  # a new second
    again = tick(app, T0 + timedelta(seconds=40))  # a new minute, a new second, same hour
    assert {r.task for r in again} == {"tests.every_minute", "events.dispatch"}
    assert counter.slots == [datetime(2030, 1, 1, 9, 0, tzinfo=UTC), datetime(2030, 1, 1, 9, 1, tzinfo=UTC)]


def test_concurrent_ticks_run_each_slot_exactly_once(app: Flask, counter: Counter) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def one_worker(index: int) -> None:
        try:
            barrier.wait()
            for step in range(3):
                tick(app, T0 + timedelta(minutes=step), worker=f"w{index}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(counter.slots) == [datetime(2030, 1, 1, 9, m, tzinfo=UTC) for m in range(3)]
    with app.extensions["opsloom.db"].session_scope() as session:
        runs = session.scalars(select(SchedulerRun).where(SchedulerRun.task == "tests.every_minute")).all()
        assert len(runs) == 3
        assert all(r.finished_at is not None and r.result.startswith("slot") for r in runs)


def test_a_failing_task_does_not_stop_the_others(app: Flask, counter: Counter) -> None:
    def broken(ctx: TaskContext) -> None:
        raise ValueError("boom")

    periodic("tests.broken", every=60)(broken)
    try:
        results = {r.task: r for r in tick(app, T0)}
    finally:
        tasks.remove("tests.broken")
    assert results["tests.broken"].outcome == "failed"
    assert "boom" in results["tests.broken"].result
    assert results["tests.every_minute"].outcome == "ran"


def test_non_inline_tasks_run_as_jobs(app: Flask) -> None:
    counting = Counter()
    periodic("tests.background", every=300, inline=False)(counting)
    try:
        results = {r.task: r for r in tick(app, T0)}
        assert results["tests.background"].outcome == "enqueued"
        assert counting.slots == []
        assert drain(app) >= 1
    finally:
        tasks.remove("tests.background")
    assert counting.slots == [datetime(2030, 1, 1, 9, 0, tzinfo=UTC)]
    with app.extensions["opsloom.db"].session_scope() as session:
        run = session.scalar(select(SchedulerRun).where(SchedulerRun.task == "tests.background"))
        assert run.result == "slot 09:00:00"


def test_the_dispatch_task_relays_the_outbox(app: Flask, db: Database) -> None:
    calls: list[int] = []
    subscribe("sched.*", "tests.sched")(lambda event, ctx: calls.append(event.id))
    try:
        with db.session_scope() as session:
            emit(session, "sched.ping", payload={}, workspace_id=1)
        results = {r.task: r for r in tick(app, T0)}
        assert results["events.dispatch"].result.startswith("events=1 deliveries=1 jobs=1")
        drain(app)
    finally:
        subscriptions.remove("tests.sched")
    assert len(calls) == 1


def test_task_names_are_taken_once() -> None:
    periodic("tests.unique", every=10)(lambda ctx: None)
    try:
        with pytest.raises(PluginError, match="registered twice"):
            tasks.add(Task("tests.unique", fn=print, every=10))
    finally:
        tasks.remove("tests.unique")


def test_housekeeping_purges_only_old_finished_work(app: Flask, db: Database) -> None:
    old = T0 - timedelta(days=10)
    with db.session_scope() as session:
        for status in ("done", "dead", "retrying"):
            event = OutboxEvent(type=f"old.{status}", payload={}, workspace_id=1, created_at=old,
                                dispatched_at=old)
            session.add(event)
            session.flush()
            session.add(EventDelivery(event_id=event.id, workspace_id=1, handler="h", status=status,
                                      attempts=1, created_at=old, updated_at=old, finished_at=old))
        fresh = OutboxEvent(type="fresh", payload={}, workspace_id=1, created_at=T0, dispatched_at=T0)
        session.add(fresh)
        session.flush()
        session.add(EventDelivery(event_id=fresh.id, workspace_id=1, handler="h", status="done", attempts=1,
                                  created_at=T0, updated_at=T0, finished_at=T0))
        session.add(LoginAttempt(username="x", address="1.2.3.4", at=old - timedelta(days=30)))
        session.add(SchedulerRun(task="t", slot=T0 - timedelta(days=2), claimed_by="w"))
    with db.session_scope() as session:
        counts = purge(session, now=T0)
    assert counts == {"deliveries": 1, "events": 1, "scheduler_runs": 1, "login_attempts": 1}
    with db.session_scope() as session:
        left = sorted(session.scalars(select(OutboxEvent.type)))
        assert left == ["fresh", "old.dead", "old.retrying"]


def test_run_jobs_runs_the_housekeeping_job_a_tick_enqueued(app: Flask) -> None:
    results = {r.task: r for r in tick(app, T0)}
    assert results["jobs.housekeeping"].outcome == "enqueued"
    assert run_jobs(app, now=T0) >= 1
    with app.extensions["opsloom.db"].session_scope() as session:
        run = session.scalar(select(SchedulerRun).where(SchedulerRun.task == "jobs.housekeeping"))
        assert run.finished_at is not None
        assert "deliveries=0" in run.result
