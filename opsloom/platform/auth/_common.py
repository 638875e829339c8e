"""What the identity services share: identifier checks, the clock, tenancy and admin guards, listing
the rows of a workspace, and the audit row plus event every change writes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from sqlalchemy import select

from opsloom.platform.audit import record
from opsloom.platform.db import utcnow
from opsloom.platform.errors import PermissionDenied, ValidationError
from opsloom.platform.events import emit
from opsloom.platform.pagination import Page, paginate

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import SortKey

__all__ = [
    "KEY_PATTERN",
    "UNSET",
    "Paging",
    "aware",
    "check_key",
    "check_text",
    "exists",
    "iso",
    "list_page",
    "list_workspace_rows",
    "log_change",
    "log_keyed",
    "now_or",
    "require_admin",
    "workspace_id_of",
]

#: identifiers of workspaces, roles and departments (DESIGN §4)
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Unset:
    """Marks an update argument the caller did not pass (``None`` is a real value: "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


class Paging(TypedDict, total=False):
    """The paging keyword arguments of a list service (``limit`` None: every row at once)."""

    limit: int | None
    cursor: str | None
    secret: str


def now_or(now: datetime | None) -> datetime:
    return now if now is not None else utcnow()


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stamp we store is UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """A stamp for audit images and events (JSON-able)."""
    value = aware(value)
    return value.isoformat() if value is not None else None


def check_key(value: object, field: str = "key") -> str:
    """:raises ValidationError: ``value`` is not an identifier (``^[a-z][a-z0-9_]{0,39}$``)."""
    if not isinstance(value, str) or not KEY_PATTERN.match(value):
        raise ValidationError(
            f"`{field}` must start with a lower-case letter and use only a-z, 0-9 and _ "
            f"(at most 40 characters); got {value!r}.",
            errors={field: "must match ^[a-z][a-z0-9_]{0,39}$"},
        )
    return value


def check_text(value: object, field: str, *, max_length: int, required: bool = True) -> str:
    """Stripped free text; :raises ValidationError: missing (when required), not text, or too long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(f"`{field}` must be text.", errors={field: "must be a string"})
    text = value.strip()
    if required and not text:
        raise ValidationError(f"`{field}` must not be empty.", errors={field: "must not be empty"})
    if len(text) > max_length:
        raise ValidationError(
            f"`{field}` must be at most {max_length} characters long.",
            errors={field: f"must be at most {max_length} characters"},
        )
    return text


def workspace_id_of(actor: Actor) -> int:
    """The workspace the actor acts in; :raises PermissionDenied: the actor is bound to none."""
    if actor.workspace_id is None:
        raise PermissionDenied("This needs a workspace: act as a member of one (or pick one first).")
    return actor.workspace_id


def require_admin(actor: Actor) -> int:
    """The actor's workspace id, when the actor administers it (the system actor does).

    :raises PermissionDenied: the actor is not an administrator of its workspace.
    """
    workspace_id = workspace_id_of(actor)
    if not (actor.is_admin or actor.is_superuser):
        raise PermissionDenied("Only workspace administrators may do this.")
    return workspace_id


def list_page(
    session: Session,
    stmt: Select[Any],
    keys: Sequence[SortKey],
    *,
    limit: int | None,
    cursor: str | None,
    secret: str,
    scope: str,
) -> Page:
    """One page of ``stmt`` (keyset, signed cursor), or every row when ``limit`` is None."""
    if limit is None:
        ordered = stmt.order_by(*[k.column.desc() if k.descending else k.column.asc() for k in keys])
        return Page(items=list(session.scalars(ordered)), next_cursor=None)
    return paginate(session, stmt, keys, secret=secret, limit=limit, cursor=cursor, scope=scope)


def list_workspace_rows(
    session: Session,
    actor: Actor,
    model: Any,
    keys: Sequence[SortKey],
    *,
    scope: str,
    limit: int | None = None,
    cursor: str | None = None,
    secret: str = "",
) -> Page:
    """One page of the ``model`` rows (roles, departments) of the actor's workspace. Admins only.

    ``scope`` names the list in its cursors (with the workspace id), so a cursor of one list
    or workspace is refused by another.

    :raises PermissionDenied: the actor does not administer its workspace.
    """
    workspace_id = require_admin(actor)
    stmt = select(model).where(model.workspace_id == workspace_id)
    return list_page(
        session, stmt, keys, limit=limit, cursor=cursor, secret=secret, scope=f"{scope}|{workspace_id}"
    )


def log_change(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    *,
    event: str,
    payload: dict[str, Any],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Write the audit row and the domain event of one change, both in the caller's transaction.

    Every identity change leaves this pair (STYLE habit 8); one helper keeps the two from
    drifting apart, e.g. an audit row whose event was forgotten.
    """
    now = now_or(now)
    record(session, actor, action, object_type, object_id, before=before, after=after, now=now)
    emit(session, event, payload=payload, actor=actor, now=now)


_PAST = {"create": "created", "update": "updated", "delete": "deleted"}


def log_keyed(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    obj: Any,
    *,
    audit_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """``log_change`` for a workspace object known by ``id`` and ``key`` (a role, a department).

    ``action`` is ``create``, ``update`` or ``delete``; the event is ``<object_type>.created``
    (``updated``, ``deleted``) carrying both identifiers, the audit row names ``audit_id``.
    """
    log_change(
        session,
        actor,
        action,
        object_type,
        audit_id,
        event=f"{object_type}.{_PAST[action]}",
        payload={"id": obj.id, "key": obj.key},
        before=before,
        after=after,
        now=now,
    )


def exists(session: Session, stmt: Select[Any]) -> bool:
    """True when ``stmt`` finds at least one row."""
    return session.scalar(select(stmt.exists())) or False
