"""Several workers on one database and one real Redis: each event handled once, each slot run once."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from opsloom.platform.db import utcnow
from opsloom.platform.events import emit, subscribe, subscriptions
from opsloom.platform.events.dispatcher import dispatch, redeliver_due
from opsloom.platform.jobs import drain, get_runtime, periodic, tasks, tick
from opsloom.platform.models import EventDelivery

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

REDIS_URL = os.environ.get("OPSLOOM_TEST_REDIS_URL", "")

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_apps(app_config: dict[str, Any]) -> Iterator[tuple[Flask, Flask]]:
    """Two apps (as two worker processes would have) sharing the database, Redis and a fresh namespace."""
    if not REDIS_URL:
        from tests.conftest import missing_service

        missing_service("the multi-worker test needs a real Redis in OPSLOOM_TEST_REDIS_URL")
    from opsloom import create_app

    namespace = f"t{uuid.uuid4().hex[:10]}"
    app_config.update(REDIS_URL=REDIS_URL, JOBS_NAMESPACE=namespace, JOBS_MODE="external",
                      EVENT_DELIVERY_BATCH=7, EVENT_DISPATCH_BATCH=25)
    first, second = create_app(app_config), create_app(app_config)
    yield first, second
    connection = get_runtime(first).connection
    keys = list(connection.scan_iter(f"*{namespace}*", count=1000))
    if keys:
        connection.delete(*keys)
    for application in (first, second):
        application.extensions["opsloom.db"].dispose()


def test_two_workers_never_double_process(redis_apps: tuple[Flask, Flask]) -> None:
    first, second = redis_apps
    handled: list[int] = []
    slots: list[str] = []
    lock = threading.Lock()

    def record_event(event: Any, ctx: Any) -> None:
        time.sleep(0.001)  # widen the window in which two workers could collide
        with lock:
            handled.append(event.id)

    def record_slot(ctx: Any) -> None:
        with lock:
            slots.append(ctx.slot.isoformat())

    subscribe("conc.*", "tests.concurrent")(record_event)
    periodic("tests.concurrent_tick", every=1)(record_slot)
    total = 240
    producing = threading.Event()
    producing.set()
    errors: list[BaseException] = []

    def produce() -> None:
        database = first.extensions["opsloom.db"]
        try:
            for start in range(0, total, 20):
                with database.session_scope() as session:
                    for i in range(start, start + 20):
                        emit(session, "conc.made", payload={"i": i}, workspace_id=1)
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            producing.clear()

    def work(application: Flask, name: str) -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                now = utcnow()
                tick(application, now, worker=name)
                report = dispatch(application, now=now)
                redeliver_due(application, now=now, report=report)
                ran = drain(application)
                with lock:
                    finished = len(handled) >= total
                if not producing.is_set() and ran == 0 and not report.jobs and finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=produce)] + [
        threading.Thread(target=work, args=(application, f"worker-{i}"))
        for i, application in enumerate((first, second))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    finally:
        subscriptions.remove("tests.concurrent")
        tasks.remove("tests.concurrent_tick")

    assert errors == []
    assert len(handled) == total
    assert len(set(handled)) == total, "an event was handled twice"
    assert len(slots) == len(set(slots)), "a scheduler slot ran twice"
    with first.extensions["opsloom.db"].session_scope() as session:
        statuses = dict(
            session.execute(select(EventDelivery.status, func.count()).group_by(EventDelivery.status)).all()
        )
    assert statuses == {"done": total}
    counts = get_runtime(first).queue_counts()
    assert all(q["queued"] == 0 and q["started"] == 0 and q["failed"] == 0 for q in counts.values())
