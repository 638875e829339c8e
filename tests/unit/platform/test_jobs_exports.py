"""The public faces of ``opsloom.platform.jobs`` and ``opsloom.platform.events`` (what others import)."""

from __future__ import annotations

import opsloom.platform.events as events
import opsloom.platform.jobs as jobs


def test_jobs_exports() -> None:
    assert sorted(jobs.__all__) == [
        "JobContext", "JobRuntime", "Task", "TaskContext", "TickResult", "drain", "get_runtime",
        "init_app", "job", "periodic", "run_jobs", "run_worker", "tasks", "tick",
    ]
    assert all(hasattr(jobs, name) for name in jobs.__all__)
    assert isinstance(jobs.tasks, jobs.scheduler.TaskRegistry)  # not shadowed by a submodule


def test_events_exports() -> None:
    assert sorted(events.__all__) == [
        "Event", "Handler", "HandlerContext", "emit", "emit_many", "event_rows", "event_values", "subscribe",
        "subscriptions",
    ]
    assert all(hasattr(events, name) for name in events.__all__)


def test_importing_opens_no_connection() -> None:
    from flask import Flask

    app = Flask("probe")
    app.config.update(REDIS_URL=None, JOBS_MODE="off")
    jobs.init_app(app)
    runtime = jobs.get_runtime(app)
    assert runtime._connection is None  # opened on first use only
    assert runtime.embedded is None
