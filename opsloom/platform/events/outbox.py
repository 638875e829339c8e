"""Writing domain events: ``emit`` adds an outbox row to the caller's transaction.

Nothing is sent here: the dispatcher (``dispatcher.py``) moves committed rows to the job
queue, so an event exists if and only if the change that caused it was committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opsloom.platform.bulk_insert import JSONText, RowWriter, json_text
from opsloom.platform.db import utcnow
from opsloom.platform.models import OutboxEvent

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

__all__ = ["Event", "emit", "emit_many", "event_rows", "event_values"]


@dataclass(frozen=True, slots=True)
class Event:
    """What a handler receives: a delivered outbox row, detached from any session."""

    id: int
    type: str
    workspace_id: int | None
    payload: dict[str, Any]
    created_at: datetime
    depth: int = 0

    @classmethod
    def from_row(cls, row: OutboxEvent) -> Event:
        return cls(
            id=row.id,
            type=row.type,
            workspace_id=row.workspace_id,
            payload=dict(row.payload or {}),
            created_at=row.created_at,
            depth=row.depth,
        )


def emit(
    session: Session,
    event_type: str,
    *,
    payload: dict[str, Any],
    workspace_id: int | None = None,
    actor: Actor | None = None,
    depth: int = 0,
    now: datetime | None = None,
) -> OutboxEvent:
    """Record ``event_type`` with a JSON-able ``payload`` in the caller's transaction.

    ``workspace_id`` defaults to the actor's; the actor's id and request id are added to the
    payload (``_actor``) so handlers can attribute follow-up changes.
    """
    if actor is not None:
        payload = {**payload, "_actor": {"id": actor.user_id, "username": actor.username}}
        if workspace_id is None:
            workspace_id = actor.workspace_id
    row = OutboxEvent(
        workspace_id=workspace_id,
        type=event_type,
        payload=payload,
        created_at=now or utcnow(),
        request_id=actor.request_id if actor else None,
        depth=depth,
    )
    session.add(row)
    return row


def event_values(
    event_type: str,
    *,
    payload: dict[str, Any],
    workspace_id: int | None = None,
    actor: Actor | None = None,
    depth: int = 0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One outbox row as column values (what ``emit`` would add), for ``emit_many``."""
    if actor is not None:
        payload = {**payload, "_actor": {"id": actor.user_id, "username": actor.username}}
        if workspace_id is None:
            workspace_id = actor.workspace_id
    return {
        "workspace_id": workspace_id,
        "type": event_type,
        "payload": payload,
        "created_at": now or utcnow(),
        "request_id": actor.request_id if actor else None,
        "depth": depth,
    }


_COLUMNS = ("workspace_id", "type", "payload", "created_at", "request_id", "depth")
_WRITER = RowWriter(OutboxEvent.__table__, _COLUMNS, encoded=("payload",))


def emit_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record many events (``event_values``) in the caller's transaction at once.

    A payload may be given as ``JSONText`` already (``bulk_insert.json_text``, with its
    ``_actor``), which is how a bulk write shares one encoding of a record between its
    audit row and its event.
    """
    _WRITER.write(session, event_rows(rows)[1])


def event_rows(rows: list[dict[str, Any]]) -> tuple[RowWriter, list[tuple[Any, ...]]]:
    """``rows`` (``event_values``) ready for ``bulk_insert.write_together``."""
    return _WRITER, [
        (row["workspace_id"], row["type"],
         row["payload"] if isinstance(row["payload"], JSONText) else json_text(row["payload"]),
         row["created_at"], row["request_id"], row["depth"])
        for row in rows
    ]
