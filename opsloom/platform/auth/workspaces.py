"""Workspaces (tenants): creating them with their default roles, and which ones a user may enter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from opsloom.platform.actor import SYSTEM
from opsloom.platform.audit import record
from opsloom.platform.errors import Conflict, NotFound, PermissionDenied, ValidationError
from opsloom.platform.events import emit
from opsloom.platform.models import Membership, Role, User, Workspace
from opsloom.platform.pagination import SortKey

from ._common import check_key, check_text, list_page, now_or
from .users import add_member

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import Page

__all__ = [
    "DEFAULT_ROLES",
    "create_workspace",
    "default_workspace",
    "ensure_workspace",
    "get_workspace_for",
    "list_workspaces",
    "workspaces_of",
]

#: roles every new workspace starts with: (key, name, is_admin)
DEFAULT_ROLES = (("admin", "Administrator", True), ("staff", "Staff", False))
DEFAULT_TIMEZONE = "Asia/Shanghai"
_KEYS = (SortKey("name", Workspace.name), SortKey("id", Workspace.id))


def _check_timezone(value: object) -> str:
    if value is None:
        return DEFAULT_TIMEZONE
    if not isinstance(value, str) or not value or len(value) > 64:
        raise ValidationError(
            "`timezone` must be an IANA name such as Asia/Shanghai.", errors={"timezone": "unknown time zone"}
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"Unknown time zone {value!r}; use an IANA name such as Asia/Shanghai or Europe/Berlin.",
            errors={"timezone": "unknown time zone"},
        ) from None
    return value


def _workspace_view(workspace: Workspace) -> dict[str, object]:
    return {"key": workspace.key, "name": workspace.name, "timezone": workspace.timezone}


def _create(
    session: Session, *, key: str, name: str, timezone: str, actor: Actor, now: datetime
) -> Workspace:
    workspace = Workspace(key=key, name=name, timezone=timezone, created_at=now)
    session.add(workspace)
    session.flush()
    for role_key, role_name, is_admin in DEFAULT_ROLES:
        session.add(
            Role(
                workspace_id=workspace.id,
                key=role_key,
                name=role_name,
                is_admin=is_admin,
                permissions={},
                created_at=now,
            )
        )
    session.flush()
    record(
        session,
        actor,
        "create",
        "workspace",
        workspace.id,
        after=_workspace_view(workspace),
        workspace_id=workspace.id,
        now=now,
    )
    emit(
        session,
        "workspace.created",
        payload={"id": workspace.id, "key": workspace.key},
        workspace_id=workspace.id,
        actor=actor,
        now=now,
    )
    return workspace


def ensure_workspace(
    session: Session, *, key: str, name: str, actor: Actor = SYSTEM, now: datetime | None = None
) -> Workspace:
    """The workspace ``key``, created (with the ``admin`` and ``staff`` roles) when missing.

    For set-up paths (``opsloom init``, the demo, tests); an existing workspace is returned
    unchanged. :raises ValidationError: ``key`` or ``name`` is invalid.
    """
    check_key(key)
    name = check_text(name, "name", max_length=200)
    existing = session.scalar(select(Workspace).where(Workspace.key == key))
    if existing is not None:
        return existing
    return _create(session, key=key, name=name, timezone=DEFAULT_TIMEZONE, actor=actor, now=now_or(now))


def create_workspace(
    session: Session,
    *,
    key: str,
    name: str,
    timezone: str | None = None,
    actor: Actor,
    now: datetime | None = None,
) -> Workspace:
    """A new workspace with its default roles; the creating user becomes its administrator.

    :raises PermissionDenied: the actor is not a platform superuser (or the system).
    :raises ValidationError: bad ``key``, ``name`` or ``timezone``.
    :raises Conflict: the key is taken.
    """
    if not (actor.is_superuser or actor.is_system):
        raise PermissionDenied("Only platform superusers may create workspaces.")
    errors: dict[str, str] = {}
    for check in (
        lambda: check_key(key),
        lambda: check_text(name, "name", max_length=200),
        lambda: _check_timezone(timezone),
    ):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationError(
            "The workspace is invalid: " + "; ".join(f"{k}: {v}" for k, v in errors.items()), errors=errors
        )
    if session.scalar(select(Workspace.id).where(Workspace.key == key)) is not None:
        raise Conflict(
            f"A workspace with key {key!r} already exists; choose another key.",
            errors={"key": "already taken"},
        )
    now = now_or(now)
    workspace = _create(
        session, key=key, name=name.strip(), timezone=_check_timezone(timezone), actor=actor, now=now
    )
    if actor.user_id is not None:
        creator = session.get(User, actor.user_id)
        if creator is not None:
            add_member(session, workspace, creator, role_keys=["admin"], actor=actor, now=now)
    return workspace


def _workspaces_stmt(user: User) -> Select[Any]:
    stmt = select(Workspace).where(Workspace.archived_at.is_(None))
    if not user.is_superuser:
        stmt = stmt.join(Membership, Membership.workspace_id == Workspace.id).where(
            Membership.user_id == user.id, Membership.is_active.is_(True)
        )
    return stmt


def workspaces_of(session: Session, user: User) -> list[Workspace]:
    """The workspaces ``user`` may act in, by name: active memberships; every one for a superuser."""
    return list(list_workspaces(session, user).items)


def list_workspaces(
    session: Session, user: User, *, limit: int | None = None, cursor: str | None = None, secret: str = ""
) -> Page:
    """``workspaces_of`` a page at a time (all when ``limit`` is None)."""
    return list_page(
        session,
        _workspaces_stmt(user),
        _KEYS,
        limit=limit,
        cursor=cursor,
        secret=secret,
        scope=f"workspaces|{user.id}",
    )


def default_workspace(session: Session, user: User) -> Workspace | None:
    """Where a sign-in lands without a choice: the user's oldest active membership, else any allowed."""
    stmt = (
        select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id, Membership.is_active.is_(True), Workspace.archived_at.is_(None))
        .order_by(Membership.id)
        .limit(1)
    )
    workspace = session.scalar(stmt)
    if workspace is None and user.is_superuser:
        found = workspaces_of(session, user)
        workspace = found[0] if found else None
    return workspace


def get_workspace_for(session: Session, user: User, key: str) -> Workspace:
    """Workspace ``key`` if ``user`` may act in it; :raises NotFound: unknown or not theirs (same answer)."""
    workspace = session.scalar(select(Workspace).where(Workspace.key == key, Workspace.archived_at.is_(None)))
    if workspace is not None and not user.is_superuser:
        member = session.scalar(
            select(Membership.id).where(
                Membership.workspace_id == workspace.id,
                Membership.user_id == user.id,
                Membership.is_active.is_(True),
            )
        )
        if member is None:
            workspace = None
    if workspace is None:
        raise NotFound(
            f"You are not a member of a workspace {key!r}.", errors={"workspace": "not one of yours"}
        )
    return workspace
