"""The one audit helper every service calls; it adds an ``AuditEntry`` to the caller's transaction.

The log is append-only: a flush listener refuses to update or delete ``AuditEntry`` rows
through the ORM, so a bug cannot rewrite history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from .bulk_insert import JSONText, RowWriter, json_text
from .db import utcnow
from .models import AuditEntry

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from .actor import Actor

__all__ = ["audit_rows", "audit_values", "record", "record_batch", "record_many"]


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    workspace_id: int | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Add one audit row for ``action`` on ``object_type``/``object_id`` (flushed with the change).

    ``workspace_id`` defaults to the actor's workspace. ``before``/``after`` must be JSON-able.
    """
    entry = AuditEntry(
        workspace_id=workspace_id if workspace_id is not None else actor.workspace_id,
        at=now or utcnow(),
        actor_id=actor.user_id,
        actor_name=actor.display_name or actor.username,
        object_type=object_type,
        object_id=str(object_id),
        action=action,
        before=before,
        after=after,
        request_id=actor.request_id,
        address=actor.address,
    )
    session.add(entry)
    return entry


def audit_values(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    workspace_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One audit row as column values, for ``record_many``."""
    return {
        "workspace_id": workspace_id if workspace_id is not None else actor.workspace_id,
        "at": now or utcnow(),
        "actor_id": actor.user_id,
        "actor_name": actor.display_name or actor.username,
        "object_type": object_type,
        "object_id": str(object_id),
        "action": action,
        "before": before,
        "after": after,
        "request_id": actor.request_id,
        "address": actor.address,
    }


_COLUMNS = ("workspace_id", "at", "actor_id", "actor_name", "object_type", "object_id", "action",
            "before", "after", "request_id", "address")
_WRITER = RowWriter(AuditEntry.__table__, _COLUMNS, encoded=("before", "after"))


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write many audit rows (``audit_values``) at once: the bulk paths of the engines.

    Runs at once in the caller's transaction (no ORM flush), in order. ``before`` and
    ``after`` may also be given as ``JSONText`` already (``bulk_insert.json_text``), which is
    how a bulk write shares one encoding of a record between its audit row and its event.
    """
    _WRITER.write(session, audit_rows(rows)[1])


def audit_rows(rows: list[dict[str, Any]]) -> tuple[RowWriter, list[tuple[Any, ...]]]:
    """``rows`` (``audit_values``) ready for ``bulk_insert.write_together``.

    A record write sends its audit row and its event together: one round trip on PostgreSQL.
    """
    return _WRITER, [tuple(_encoded(row[c]) if c in ("before", "after") else row[c] for c in _COLUMNS)
                     for row in rows]


def record_batch(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    entries: Iterable[tuple[object, Any, Any]],
    *,
    workspace_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """``record_many`` for one action of one actor on many objects: ``entries`` of (object_id, before, after).

    The parts every row shares are worked out once, which is what a bulk write of
    thousands of records needs.
    """
    workspace = workspace_id if workspace_id is not None else actor.workspace_id
    at, name = now or utcnow(), actor.display_name or actor.username
    _WRITER.write(session, [
        (workspace, at, actor.user_id, name, object_type, str(object_id), action,
         _encoded(before), _encoded(after), actor.request_id, actor.address)
        for object_id, before, after in entries
    ])


_NULL = json_text(None)


def _encoded(value: Any) -> JSONText:
    if value is None:
        return _NULL
    return value if isinstance(value, JSONText) else json_text(value)


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, _ctx: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("the audit log is append-only; AuditEntry rows cannot change")
