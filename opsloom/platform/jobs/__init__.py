"""Jobs: RQ queues (Redis or embedded fakeredis), the job decorator, workers, the scheduler and the monitor.

``init_app`` only records the runtime; nothing connects or starts until used. In embedded
mode (``JOBS_MODE="thread"``) the worker thread starts with the first request; with
``"external"`` the ``opsloom worker`` processes do the work; ``"off"`` (tests) runs jobs
only when ``run_jobs(app)`` is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .decorator import JobContext, job
from .runtime import JobRuntime, get_runtime
from .scheduler import Task, TaskContext, TickResult, periodic, tasks, tick
from .worker import drain, run_jobs, run_worker

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "JobContext",
    "JobRuntime",
    "Task",
    "TaskContext",
    "TickResult",
    "drain",
    "get_runtime",
    "init_app",
    "job",
    "periodic",
    "run_jobs",
    "run_worker",
    "tasks",
    "tick",
]


def init_app(app: Flask) -> None:
    """Attach the job runtime; in embedded thread mode, start the worker thread on the first request."""
    runtime = JobRuntime(app)
    app.extensions["opsloom.jobs"] = runtime
    if runtime.mode == "thread":

        @app.before_request
        def _start_embedded_worker() -> None:
            if runtime.embedded is None:
                runtime.start_embedded_worker()
