"""The one audit helper every service calls; it adds an ``AuditEntry`` to the caller's transaction.

The log is append-only: a flush listener refuses to update or delete ``AuditEntry`` rows
through the ORM, so a bug cannot rewrite history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from .db import utcnow
from .models import AuditEntry

if TYPE_CHECKING:
    from datetime import datetime

    from .actor import Actor

__all__ = ["record"]


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


_INSERT = insert(AuditEntry.__table__)


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write many audit rows (``audit_values``) in one statement: the bulk paths of the engines.

    A Core insert, so it runs at once in the caller's transaction (no ORM flush), in order.
    """
    if rows:
        session.execute(_INSERT, rows)


@event.listens_for(Session, "before_flush")
def _refuse_audit_rewrites(session: Session, _ctx: object, _instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("the audit log is append-only; AuditEntry rows cannot change")
