"""Workers: the RQ worker that runs opsloom jobs in an app context, the scheduler loop, and ``run_jobs``.

* ``opsloom worker`` (production): an ``OpsloomWorker`` in the main thread plus a
  ``SchedulerLoop`` thread ticking the scheduler (which dispatches the outbox) every second.
  Any number of these may run against one database and one Redis.
* Embedded mode: one ``EmbeddedWorker`` thread in the web process ticks and drains the
  fakeredis queues, woken early whenever something is enqueued.
* ``run_jobs(app)``: tests and scripts dispatch and drain everything due, synchronously.

The worker is RQ's ``SimpleWorker`` (no fork per job): jobs are short, share the
process's database pool, and a fork would have to rebuild both.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from .runtime import get_runtime
from .scheduler import tick

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from flask import Flask
    from rq.executions import Execution
    from rq.job import Job
    from rq.queue import Queue

__all__ = ["EmbeddedWorker", "OpsloomWorker", "SchedulerLoop", "drain", "run_jobs", "run_worker"]

log = logging.getLogger("opsloom.jobs")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class OpsloomWorker(SimpleWorker):
    """RQ's in-process worker, running each job inside ``app``'s context with ``g.job_id`` set.

    Off the main thread it uses timer-based job timeouts and installs no signal handlers
    (Python allows signals only in the main thread). ``pubsub=False`` skips RQ's control
    channel (used by ``rq`` commands), which short burst drains do not need.
    """

    def __init__(self, queues: Sequence[Queue], *, app: Flask, pubsub: bool = True, **kwargs: Any) -> None:
        runtime = get_runtime(app)
        kwargs.setdefault("connection", runtime.connection)
        kwargs.setdefault(
            "name", f"{runtime.namespace}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        )
        super().__init__(list(queues), **kwargs)
        self.app = app
        self.performed = 0
        self._pubsub = pubsub
        if not _in_main_thread():
            self.death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        if _in_main_thread():
            super()._install_signal_handlers()

    def subscribe(self) -> None:
        if self._pubsub:
            super().subscribe()

    def unsubscribe(self) -> None:
        if self._pubsub:
            super().unsubscribe()

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        from flask import g

        self.performed += 1
        with self.app.app_context():
            g.job_id = job.id
            return super().perform_job(job, queue, execution)


def drain(app: Flask, queues: Sequence[str] | None = None) -> int:
    """Run every job queued now (burst) in this thread; returns how many jobs ran."""
    runtime = get_runtime(app)
    worker = OpsloomWorker(runtime.queues(queues), app=app, pubsub=False)
    worker.work(burst=True, logging_level="WARNING")
    return worker.performed


def run_jobs(app: Flask, *, now: datetime | None = None, max_rounds: int = 50) -> int:
    """Dispatch committed outbox events and run every due job until nothing is left; returns jobs run.

    For tests and scripts: synchronous, in the calling thread, whatever ``JOBS_MODE`` is.
    ``now`` makes the dispatcher, the delivery jobs and the backoff see that time (e.g. a
    minute later, to make retries due). Events emitted by handlers are dispatched in the
    next round, up to ``max_rounds`` rounds. The scheduler is not ticked (call ``tick``).
    """
    from opsloom.platform.events.dispatcher import dispatch, redeliver_due

    runtime = get_runtime(app)
    performed = 0
    with runtime.clock_at(now):
        for _ in range(max_rounds):
            moment = runtime.now()
            report = dispatch(app, now=moment)
            redeliver_due(app, now=moment, report=report)
            ran = drain(app)
            performed += ran
            if ran == 0 and not report.jobs:
                break
    return performed


class SchedulerLoop(threading.Thread):
    """Ticks the scheduler every ``interval`` seconds until stopped (one per worker process)."""

    def __init__(self, app: Flask, *, interval: float = 1.0, name: str = "") -> None:
        super().__init__(name="opsloom-scheduler", daemon=True)
        self.app = app
        self.interval = interval
        self.worker_name = name or f"{socket.gethostname()}/{os.getpid()}"
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                tick(self.app, worker=self.worker_name)
            except Exception:
                log.exception("scheduler tick failed; trying again in %.0fs", self.interval)
            self._stop_event.wait(self.interval)


class EmbeddedWorker(threading.Thread):
    """Embedded mode's worker thread: tick, drain, sleep until woken or a second passes."""

    def __init__(self, app: Flask, *, interval: float = 1.0) -> None:
        super().__init__(name="opsloom-embedded-worker", daemon=True)
        self.app = app
        self.interval = interval
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        runtime = get_runtime(self.app)
        name = f"embedded/{socket.gethostname()}/{os.getpid()}"
        while not self._stop_event.is_set():
            try:
                tick(self.app, worker=name)
                drain(self.app)
            except Exception:
                log.exception("embedded worker round failed; trying again in %.0fs", self.interval)
            runtime.wait_for_work(self.interval)


def run_worker(app: Flask, *, burst: bool = False, queues: Sequence[str] | None = None) -> int:
    """``opsloom worker``: run jobs (and the scheduler) until stopped, or until idle with ``burst``.

    Returns the number of jobs run.
    """
    runtime = get_runtime(app)
    if burst:
        # one tick for the due periodic tasks, then dispatch and drain until idle (the
        # dispatcher's one-second slot would otherwise make follow-up events wait)
        tick(app, worker=f"burst/{socket.gethostname()}/{os.getpid()}")
        return run_jobs(app, max_rounds=1000) if not queues else drain(app, queues)
    loop = SchedulerLoop(app)
    loop.start()
    worker = OpsloomWorker(runtime.queues(queues), app=app)
    try:
        worker.work(burst=False, logging_level=app.config.get("LOG_LEVEL") or "INFO")
    finally:
        loop.stop()
        loop.join(5)
    return worker.performed

