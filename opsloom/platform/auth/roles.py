"""Roles of a workspace: CRUD, and the rules that keep a workspace administrable.

The ``admin`` role always exists and always grants administration, and no change may
leave a workspace whose administrators are all gone (the last-admin rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from sqlalchemy import func, select

from opsloom.platform.errors import Conflict, NotFound, ValidationError
from opsloom.platform.models import Membership, Role, membership_roles
from opsloom.platform.pagination import SortKey

from ._common import (
    UNSET,
    Paging,
    check_key,
    check_text,
    list_workspace_rows,
    log_keyed,
    now_or,
    require_admin,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import Page

__all__ = [
    "ADMIN_ROLE",
    "admins_remaining",
    "create_role",
    "delete_role",
    "get_role",
    "list_roles",
    "resolve_roles",
    "update_role",
]

ADMIN_ROLE = "admin"
_KEYS = (SortKey("key", Role.key),)


def role_view(role: Role) -> dict[str, Any]:
    """What the audit log keeps about a role."""
    return {
        "key": role.key,
        "name": role.name,
        "description": role.description,
        "is_admin": role.is_admin,
        "permissions": role.permissions or {},
    }


def _check_permissions(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and 0 < len(k) <= 200 for k in value):
        raise ValidationError(
            '`permissions` must be an object whose keys are grant names (e.g. "entity:customer").',
            errors={"permissions": "must be an object with text keys"},
        )
    return value


def resolve_roles(
    session: Session, workspace_id: int, keys: Iterable[str], *, field: str = "roles"
) -> list[Role]:
    """The roles of ``workspace_id`` named by ``keys``; :raises ValidationError: a key names no role there."""
    wanted = list(dict.fromkeys(keys))
    if not all(isinstance(k, str) for k in wanted):
        raise ValidationError(f"`{field}` must be a list of role keys.", errors={field: "must be role keys"})
    found = (
        {
            role.key: role
            for role in session.scalars(
                select(Role).where(Role.workspace_id == workspace_id, Role.key.in_(wanted))
            )
        }
        if wanted
        else {}
    )
    missing = [k for k in wanted if k not in found]
    if missing:
        names = ", ".join(repr(k) for k in missing)
        raise ValidationError(
            f"No role {names} in this workspace; create it first or pick another.",
            errors={field: f"unknown role {names}"},
        )
    return [found[k] for k in wanted]


def admins_remaining(
    session: Session,
    workspace_id: int,
    *,
    without_membership: int | None = None,
    without_role: int | None = None,
) -> int:
    """How many active members would still administer the workspace without the given membership/role."""
    stmt = (
        select(func.count(func.distinct(Membership.id)))
        .join(membership_roles, membership_roles.c.membership_id == Membership.id)
        .join(Role, Role.id == membership_roles.c.role_id)
        .where(
            Membership.workspace_id == workspace_id, Membership.is_active.is_(True), Role.is_admin.is_(True)
        )
    )
    if without_membership is not None:
        stmt = stmt.where(Membership.id != without_membership)
    if without_role is not None:
        stmt = stmt.where(Role.id != without_role)
    return session.scalar(stmt) or 0


def _has_admins(session: Session, workspace_id: int) -> bool:
    return admins_remaining(session, workspace_id) > 0


def list_roles(session: Session, actor: Actor, **paging: Unpack[Paging]) -> Page:
    """The workspace's roles by key (all of them when ``limit`` is None). Admins only."""
    return list_workspace_rows(session, actor, Role, _KEYS, scope="roles", **paging)


def get_role(session: Session, actor: Actor, key: str) -> Role:
    """:raises NotFound: no role ``key`` in the actor's workspace."""
    workspace_id = require_admin(actor)
    role = session.scalar(select(Role).where(Role.workspace_id == workspace_id, Role.key == key))
    if role is None:
        raise NotFound(f"There is no role {key!r} in this workspace.")
    return role


def create_role(
    session: Session,
    actor: Actor,
    *,
    key: str,
    name: str | None = None,
    description: str = "",
    is_admin: bool = False,
    permissions: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Role:
    """A new role (``name`` defaults to the key).

    :raises ValidationError: bad key, name, description or permissions.
    :raises Conflict: the workspace already has a role ``key``.
    """
    workspace_id = require_admin(actor)
    check_key(key)
    role = Role(
        workspace_id=workspace_id,
        key=key,
        name=check_text(name if name else key, "name", max_length=200),
        description=check_text(description, "description", max_length=1000, required=False),
        is_admin=bool(is_admin),
        permissions=_check_permissions(permissions),
        created_at=now_or(now),
    )
    if session.scalar(select(Role.id).where(Role.workspace_id == workspace_id, Role.key == key)) is not None:
        raise Conflict(f"The role {key!r} already exists in this workspace.", errors={"key": "already taken"})
    session.add(role)
    session.flush()
    log_keyed(
        session, actor, "create", "role", role, audit_id=role.key, after=role_view(role), now=role.created_at
    )
    return role


def update_role(
    session: Session,
    actor: Actor,
    key: str,
    *,
    name: Any = UNSET,
    description: Any = UNSET,
    is_admin: Any = UNSET,
    permissions: Any = UNSET,
    now: datetime | None = None,
) -> Role:
    """Change a role's name, description, admin flag or permissions (the key is its identity).

    :raises NotFound: no such role here.
    :raises ValidationError: a value is invalid.
    :raises Conflict: ``admin`` would lose administration, or no administrator would remain.
    """
    role = get_role(session, actor, key)
    before = role_view(role)
    if name is not UNSET:
        role.name = check_text(name, "name", max_length=200)
    if description is not UNSET:
        role.description = check_text(description, "description", max_length=1000, required=False)
    if permissions is not UNSET:
        role.permissions = _check_permissions(permissions)
    if is_admin is not UNSET and bool(is_admin) != role.is_admin:
        if not is_admin:
            if role.key == ADMIN_ROLE:
                raise Conflict(
                    "The `admin` role always administers its workspace; create another role "
                    "for members who should not.",
                    errors={"is_admin": "admin role keeps it"},
                )
            if _has_admins(session, role.workspace_id) and not admins_remaining(
                session, role.workspace_id, without_role=role.id
            ):
                raise Conflict(
                    "This would leave the workspace without an administrator; give someone the "
                    "`admin` role first.",
                    errors={"is_admin": "last administrator"},
                )
        role.is_admin = bool(is_admin)
    after = role_view(role)
    if after != before:
        session.flush()
        log_keyed(
            session, actor, "update", "role", role, audit_id=role.key, before=before, after=after, now=now
        )
    return role


def delete_role(session: Session, actor: Actor, key: str, *, now: datetime | None = None) -> None:
    """Delete an unused role.

    :raises NotFound: no such role here.
    :raises Conflict: it is ``admin``, or members still hold it.
    """
    role = get_role(session, actor, key)
    if role.key == ADMIN_ROLE:
        raise Conflict("The `admin` role cannot be deleted.", errors={"key": "admin role is permanent"})
    holders = (
        session.scalar(
            select(func.count()).select_from(membership_roles).where(membership_roles.c.role_id == role.id)
        )
        or 0
    )
    if holders:
        raise Conflict(
            f"{holders} member(s) still hold the role {key!r}; take it away from them first.",
            errors={"key": "role in use"},
            members=holders,
        )
    log_keyed(session, actor, "delete", "role", role, audit_id=role.key, before=role_view(role), now=now)
    session.delete(role)
    session.flush()
