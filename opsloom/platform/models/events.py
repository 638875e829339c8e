"""Outbox events, their per-handler deliveries, and scheduler runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsloom.platform.db import Base, JSONType, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")
Stamp = DateTime(timezone=True)


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change that caused it.

    ``dispatched_at`` is set when the dispatcher has handed it to the job queue; a lost
    queue is repaired by re-dispatching events whose deliveries never finished.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # not indexed: nothing looks events up by workspace (the monitor counts the pending ones
    # through ix_outbox_pending), and every write of every record would pay for the index
    workspace_id: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(Stamp)
    request_id: Mapped[str | None] = mapped_column(String(64))
    # rule chains: how many events led to this one (cuts loops between rules)
    depth: Mapped[int] = mapped_column(Integer, default=0)


class EventDelivery(Base):
    """The state of one handler's work on one event: the idempotency and dead-letter record."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "handler"),
        Index("ix_event_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    workspace_id: Mapped[int | None] = mapped_column(Integer, index=True)
    handler: Mapped[str] = mapped_column(String(200))
    # pending -> running -> done | retrying -> ... -> dead
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Stamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Stamp)
    # the worker holding it while running; claims expire so a dead worker's work is retried
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(Stamp)


class SchedulerRun(Base):
    """One due slot of a periodic task, claimed by exactly one worker (unique on task+slot)."""

    __tablename__ = "scheduler_runs"
    __table_args__ = (UniqueConstraint("task", "slot"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    slot: Mapped[datetime] = mapped_column(Stamp)
    claimed_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Stamp)
    result: Mapped[str | None] = mapped_column(Text)
