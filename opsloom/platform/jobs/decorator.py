"""The one job decorator: queue, timeout, retries and failure TTL in one place; jobs take ids, not objects.

A decorated function ``fn(ctx, session, *ids)`` becomes an RQ-callable ``fn(*ids)`` that
runs inside an app context with ``g.job_id`` set (so every log line carries the job id)
and one ``session_scope``: the job edge commits once. Jobs that must commit in steps
(the event delivery job claims, then works) declare ``transactional=False`` and receive
no session. ``fn.enqueue(runtime, *ids, job_id=...)`` puts a call on the job's queue.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rq import Retry

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from flask import Flask
    from rq.job import Job

    from .runtime import JobRuntime

__all__ = ["JobContext", "JobOptions", "job"]

DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job body receives besides its ids and session."""

    app: Flask
    runtime: JobRuntime
    job_id: str | None
    now: datetime


@dataclass(frozen=True, slots=True)
class JobOptions:
    queue: str
    timeout: int
    retries: int
    retry_intervals: tuple[int, ...]
    failure_ttl: int
    transactional: bool


_process_app: Flask | None = None
_process_app_lock = threading.Lock()


def _app_for_job() -> Flask:
    """The app a job runs in: the current one (our workers push it), else one built from the environment.

    The fallback lets a plain ``rq worker`` run opsloom jobs: the app is created once per
    process from ``OPSLOOM_*`` variables.
    """
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    global _process_app
    with _process_app_lock:
        if _process_app is None:
            from opsloom import create_app

            _process_app = create_app()
        return _process_app


def job(
    queue: str = "default",
    *,
    timeout: int = 180,
    retries: int = 0,
    retry_intervals: tuple[int, ...] = (10, 60, 300),
    failure_ttl: int = 7 * DAY,
    transactional: bool = True,
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a job: its queue (``events``/``default``), timeout, RQ retries and failure TTL.

    Successful jobs leave no result in Redis (``result_ttl=0``): results belong in the
    database. Failed jobs stay in RQ's failed registry for ``failure_ttl`` seconds.
    """
    options = JobOptions(queue, timeout, retries, tuple(retry_intervals), failure_ttl, transactional)

    def decorate(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def run(*args: Any) -> Any:
            app = _app_for_job()
            from flask import g, has_app_context

            if has_app_context():
                return _perform(fn, app, options, args, g)
            with app.app_context():
                return _perform(fn, app, options, args, g)

        def enqueue(
            runtime: JobRuntime, *args: Any, job_id: str | None = None, unique: bool = True
        ) -> Job | None:
            return runtime.enqueue(
                options.queue,
                run,
                *args,
                job_id=job_id,
                unique=unique,
                timeout=options.timeout,
                result_ttl=0,
                failure_ttl=options.failure_ttl,
                retry=Retry(max=options.retries, interval=list(options.retry_intervals))
                if options.retries
                else None,
            )

        run.enqueue = enqueue  # type: ignore[attr-defined]
        run.options = options  # type: ignore[attr-defined]
        return run

    return decorate


def _perform(fn: Callable[..., Any], app: Flask, options: JobOptions, args: tuple[Any, ...], g: Any) -> Any:
    from rq import get_current_job

    from opsloom.platform.db import get_database

    from .runtime import get_runtime

    current = get_current_job()
    job_id = current.id if current is not None else None
    g.job_id = job_id
    runtime = get_runtime(app)
    ctx = JobContext(app=app, runtime=runtime, job_id=job_id, now=runtime.now())
    if not options.transactional:
        return fn(ctx, *args)
    with get_database(app).session_scope() as session:
        return fn(ctx, session, *args)
