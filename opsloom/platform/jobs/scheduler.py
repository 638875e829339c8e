"""Periodic tasks: a registry (interval or cron) and ``tick``, which runs each due slot exactly once.

Every worker ticks about once a second. A task's current *slot* is the latest time it was
due (``every`` seconds aligned to the Unix epoch, or the previous cron match). A worker
runs a slot only after inserting ``SchedulerRun(task, slot)``; the unique constraint lets
exactly one worker win, the others get an ``IntegrityError`` and move on. A slot missed
while no worker ran is run once, late; older missed slots are skipped.

Engines register their scans the same way the platform registers the dispatcher::

    @periodic("rules.date_scan", cron="*/5 * * * *", inline=False)
    def scan(ctx: TaskContext) -> str: ...
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from opsloom.platform.db import get_database
from opsloom.platform.errors import PluginError
from opsloom.platform.models import SchedulerRun

from .decorator import job
from .runtime import get_runtime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from flask import Flask
    from sqlalchemy.orm import Session

    from .decorator import JobContext
    from .runtime import JobRuntime

__all__ = ["Task", "TaskContext", "TaskRegistry", "TickResult", "due_slot", "periodic", "tasks", "tick"]

log = logging.getLogger("opsloom.jobs")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a periodic task receives: the app, its job runtime, the tick's time and the slot."""

    app: Flask
    runtime: JobRuntime
    now: datetime
    slot: datetime


@dataclass(frozen=True, slots=True)
class Task:
    """A periodic task: ``every`` seconds or a ``cron`` expression (UTC).

    ``inline`` tasks run inside the tick (keep them short: the dispatcher); the others are
    enqueued as a job on the ``default`` queue so a long scan does not delay the tick.
    """

    name: str
    fn: Callable[[TaskContext], Any]
    every: float | None = None
    cron: str | None = None
    inline: bool = True

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise PluginError(f"periodic task {self.name!r} needs exactly one of `every` or `cron`")
        if self.every is not None and self.every <= 0:
            raise PluginError(f"periodic task {self.name!r}: `every` must be positive")
        if self.cron is not None:
            from croniter import croniter

            if not croniter.is_valid(self.cron):
                raise PluginError(f"periodic task {self.name!r}: {self.cron!r} is not a cron expression")


class TaskRegistry:
    """Periodic tasks by name (process-wide, like event subscriptions)."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def add(self, task: Task) -> Task:
        with self._lock:
            current = self._tasks.get(task.name)
            if current is not None and current.fn is not task.fn and (
                current.fn.__module__, current.fn.__qualname__) != (task.fn.__module__, task.fn.__qualname__):
                raise PluginError(f"periodic task {task.name!r} is registered twice")
            self._tasks[task.name] = task
        return task

    def remove(self, name: str) -> None:
        with self._lock:
            self._tasks.pop(name, None)

    def get(self, name: str) -> Task | None:
        return self._tasks.get(name)

    def __iter__(self) -> Iterator[Task]:
        return iter(sorted(self._tasks.values(), key=lambda t: t.name))

    def __contains__(self, name: object) -> bool:
        return name in self._tasks


#: the process-wide task registry
tasks = TaskRegistry()


def periodic(
    name: str, *, every: float | None = None, cron: str | None = None, inline: bool = True
) -> Callable[[Callable[[TaskContext], Any]], Callable[[TaskContext], Any]]:
    """Decorator registering ``fn(ctx: TaskContext)`` as a periodic task (see ``Task``)."""

    def decorate(fn: Callable[[TaskContext], Any]) -> Callable[[TaskContext], Any]:
        tasks.add(Task(name=name, fn=fn, every=every, cron=cron, inline=inline))
        return fn

    return decorate


def due_slot(task: Task, now: datetime) -> datetime:
    """The latest time at or before ``now`` at which ``task`` was due (UTC, microseconds dropped)."""
    now = now.astimezone(UTC)
    if task.every is not None:
        elapsed = (now - EPOCH).total_seconds()
        return EPOCH + timedelta(seconds=(elapsed // task.every) * task.every)
    from croniter import croniter

    # croniter's previous match is strictly before its start; start a hair after ``now`` so an exact
    # match counts as due at ``now``
    return croniter(task.cron, now + timedelta(microseconds=1)).get_prev(datetime).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TickResult:
    task: str
    slot: datetime
    outcome: str  # "ran", "enqueued", "failed"
    result: str = ""


def _ensure_builtin_tasks() -> None:
    from . import builtin_tasks  # noqa: F401  (registers the platform's own tasks)


def tick(app: Flask, now: datetime | None = None, *, worker: str = "") -> list[TickResult]:
    """Run (or enqueue) every task whose current slot no worker has claimed yet."""
    _ensure_builtin_tasks()
    runtime = get_runtime(app)
    now = now or runtime.now()
    database = get_database(app)
    results: list[TickResult] = []
    for task in tasks:
        slot = due_slot(task, now)
        with database.session_scope() as session:
            if not _claim_slot(session, task.name, slot, worker or "tick", now):
                continue
        if task.inline:
            results.append(_run_inline(app, task, now, slot))
        else:
            results.append(_enqueue(app, runtime, task, slot))
    return results


def _claim_slot(session: Session, task: str, slot: datetime, worker: str, now: datetime) -> bool:
    """Insert the slot's run row; ``False`` when another worker already has it."""
    exists = session.scalar(
        select(SchedulerRun.id).where(SchedulerRun.task == task, SchedulerRun.slot == slot)
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(SchedulerRun(task=task, slot=slot, claimed_by=worker[:200], started_at=now))
    except IntegrityError:
        return False
    return True


def _enqueue(app: Flask, runtime: JobRuntime, task: Task, slot: datetime) -> TickResult:
    try:
        run_task_job.enqueue(runtime, task.name, slot.isoformat(),
                             job_id=f"task-{task.name}-{int(slot.timestamp())}")
    except Exception as exc:
        # give the slot back so the next tick (maybe another worker's) enqueues it
        log.exception("could not enqueue periodic task %s (slot %s)", task.name, slot.isoformat())
        with get_database(app).session_scope() as session:
            session.execute(
                delete(SchedulerRun)
                .where(SchedulerRun.task == task.name, SchedulerRun.slot == slot)
                .execution_options(synchronize_session=False)
            )
        return TickResult(task.name, slot, "failed", f"error: {exc}"[:2000])
    return TickResult(task.name, slot, "enqueued")


def run_now(app: Flask, name: str, now: datetime | None = None) -> TickResult:
    """Run periodic task ``name`` in this process now, outside its schedule (``opsloom scheduler run``).

    No slot is claimed: the scheduled runs go on as before. :raises KeyError: no such task.
    """
    _ensure_builtin_tasks()
    task = next((t for t in tasks if t.name == name), None)
    if task is None:
        raise KeyError(name)
    runtime = get_runtime(app)
    now = now or runtime.now()
    outcome, result = _call(task, TaskContext(app=app, runtime=runtime, now=now, slot=now))
    return TickResult(task.name, now, outcome, result)


def _run_inline(app: Flask, task: Task, now: datetime, slot: datetime) -> TickResult:
    ctx = TaskContext(app=app, runtime=get_runtime(app), now=now, slot=slot)
    outcome, result = _call(task, ctx)
    _finish(app, task.name, slot, now, result)
    return TickResult(task.name, slot, outcome, result)


def _call(task: Task, ctx: TaskContext) -> tuple[str, str]:
    try:
        value = task.fn(ctx)
    except Exception as exc:
        log.exception("periodic task %s (slot %s) failed", task.name, ctx.slot.isoformat())
        return "failed", f"error: {exc}"[:2000]
    return "ran", "" if value is None else str(value)[:2000]


def _finish(app: Flask, name: str, slot: datetime, now: datetime, result: str) -> None:
    with get_database(app).session_scope() as session:
        session.execute(
            update(SchedulerRun)
            .where(SchedulerRun.task == name, SchedulerRun.slot == slot)
            .values(finished_at=now, result=result)
            .execution_options(synchronize_session=False)
        )


@job("default", timeout=3600, transactional=False)
def run_task_job(ctx: JobContext, name: str, slot_iso: str) -> str:
    """Run one claimed slot of a non-inline periodic task."""
    _ensure_builtin_tasks()
    task = tasks.get(name)
    slot = datetime.fromisoformat(slot_iso)
    if task is None:
        log.error("periodic task %s is not registered in this worker; slot %s skipped", name, slot_iso)
        return "unknown task"
    outcome, result = _call(task, TaskContext(app=ctx.app, runtime=ctx.runtime, now=ctx.now, slot=slot))
    _finish(ctx.app, name, slot, ctx.now, result)
    if outcome == "failed":
        raise RuntimeError(f"periodic task {name} failed: {result}")
    return result
