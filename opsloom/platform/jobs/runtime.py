"""The job runtime of one app: its Redis connection (real or fakeredis), queues, clock and embedded worker.

Embedded mode (``REDIS_URL`` unset) keeps one ``fakeredis.FakeServer`` per app, shared by
the web process and its worker thread; production connects to ``REDIS_URL`` and leaves the
work to ``opsloom worker`` processes. The connection is opened on first use, never at
import or in ``create_app``. Queue names and job ids carry ``JOBS_NAMESPACE`` so several
apps (or test runs) can share one Redis without seeing each other's work.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from rq import Queue
from rq.job import Job
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from opsloom.platform.db import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from datetime import datetime

    from flask import Flask
    from redis import Redis

__all__ = ["QUEUES", "JobRuntime", "get_runtime"]

log = logging.getLogger("opsloom.jobs")

#: logical queue names, highest priority first; the Redis names get the namespace prefix
QUEUES = ("events", "default")

# RQ accepts letters, digits, underscores and dashes in job ids
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


class JobRuntime:
    """Connection, queues and clock of one app's jobs (thread-safe; one per app)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.redis_url: str | None = app.config.get("REDIS_URL") or None
        self.mode: str = app.config.get("JOBS_MODE") or ("external" if self.redis_url else "thread")
        self.namespace: str = app.config.get("JOBS_NAMESPACE") or "opsloom"
        self._connection: Redis | None = None
        self._lock = threading.Lock()
        self._clock: Callable[[], datetime] = utcnow
        self._wake = threading.Event()
        self.embedded: Any = None  # the embedded worker thread, once started

    # ------------------------------------------------------------ connection, queues

    @property
    def connection(self) -> Redis:
        if self._connection is None:
            with self._lock:
                if self._connection is None:
                    self._connection = self._connect()
        return self._connection

    def _connect(self) -> Redis:
        if self.redis_url:
            import redis

            return redis.Redis.from_url(self.redis_url)
        import fakeredis

        return fakeredis.FakeRedis(server=fakeredis.FakeServer())

    def queue_name(self, logical: str) -> str:
        return f"{self.namespace}.{logical}"

    @property
    def queue_names(self) -> list[str]:
        return [self.queue_name(q) for q in QUEUES]

    def queue(self, logical: str) -> Queue:
        return Queue(self.queue_name(logical), connection=self.connection)

    def queues(self, logical: Sequence[str] | None = None) -> list[Queue]:
        return [self.queue(q) for q in (logical or QUEUES)]

    def job_id(self, local_id: str) -> str:
        """A job id unique to this namespace (``<namespace>-<local_id>``, in RQ's allowed characters)."""
        return _UNSAFE_ID.sub("_", f"{self.namespace}-{local_id}")

    def job_pending(self, job_id: str) -> bool:
        """Whether a job with ``job_id`` is still in Redis (queued, started or scheduled).

        Jobs are enqueued with ``result_ttl=0``, so a finished job disappears; a failed one
        stays in the failed registry and is not considered pending.
        """
        if not Job.exists(job_id, self.connection):
            return False
        try:
            status = Job.fetch(job_id, connection=self.connection).get_status()
        except Exception:  # vanished between the two calls
            return False
        return status not in ("finished", "failed", "stopped", "canceled")

    def enqueue(
        self,
        logical_queue: str,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        unique: bool = False,
        **options: Any,
    ) -> Job | None:
        """Enqueue ``func(*args)``; with ``unique`` and a ``job_id`` already pending, do nothing."""
        if job_id is not None:
            job_id = self.job_id(job_id)
            if unique and self.job_pending(job_id):
                return None
        job = self.queue(logical_queue).enqueue_call(func, args=args, job_id=job_id, **options)
        self._wake.set()
        return job

    # ------------------------------------------------------------ clock

    def now(self) -> datetime:
        return self._clock()

    @contextlib.contextmanager
    def clock_at(self, now: datetime | None) -> Iterator[None]:
        """Make jobs see ``now`` as the time (tests); ``None`` keeps the real clock."""
        if now is None:
            yield
            return
        previous = self._clock
        self._clock = lambda: now
        try:
            yield
        finally:
            self._clock = previous

    # ------------------------------------------------------------ monitoring

    def queue_counts(self) -> dict[str, dict[str, int]]:
        """Per queue: queued, started, failed, scheduled and deferred job counts."""
        counts: dict[str, dict[str, int]] = {}
        for logical in QUEUES:
            queue = self.queue(logical)
            name = queue.name
            counts[logical] = {
                "queued": queue.count,
                "started": StartedJobRegistry(name, connection=self.connection).count,
                "failed": FailedJobRegistry(name, connection=self.connection).count,
                "scheduled": ScheduledJobRegistry(name, connection=self.connection).count,
                "deferred": DeferredJobRegistry(name, connection=self.connection).count,
            }
        return counts

    # ------------------------------------------------------------ embedded worker

    def wait_for_work(self, timeout: float) -> None:
        """Block until something is enqueued here or ``timeout`` passes (embedded worker)."""
        self._wake.wait(timeout)
        self._wake.clear()

    def start_embedded_worker(self) -> None:
        """Start the worker thread of embedded mode once (first request, ``opsloom serve``)."""
        if self.mode != "thread" or self.embedded is not None:
            return
        with self._lock:
            if self.embedded is not None:
                return
            from .worker import EmbeddedWorker

            self.embedded = EmbeddedWorker(self.app)
            self.embedded.start()

    def stop_embedded_worker(self, timeout: float = 5.0) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self._wake.set()
            self.embedded.join(timeout)
            self.embedded = None


def get_runtime(app: Flask | None = None) -> JobRuntime:
    """The ``JobRuntime`` of ``app`` (or of the current app)."""
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions["opsloom.jobs"]
