"""Departments of a workspace: a tree (no cycles) with an optional head who is a member."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Unpack

from sqlalchemy import func, select

from opsloom.platform.errors import Conflict, NotFound, ValidationError
from opsloom.platform.models import Department, Membership
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
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import Page

__all__ = [
    "as_tree",
    "create_department",
    "delete_department",
    "get_department",
    "list_departments",
    "update_department",
]

_KEYS = (SortKey("id", Department.id),)
#: deeper trees than this are almost surely a mistake (and keep the cycle walk bounded)
MAX_DEPTH = 32


def department_view(dept: Department) -> dict[str, Any]:
    """What the audit log keeps about a department."""
    return {
        "key": dept.key,
        "name": dept.name,
        "parent_id": dept.parent_id,
        "head_user_id": dept.head_user_id,
    }


def as_tree(departments: Sequence[Department]) -> list[tuple[Department, int]]:
    """``(department, depth)`` in depth-first order, siblings by name: ready to indent in a page."""
    children: dict[int | None, list[Department]] = {}
    known = {d.id for d in departments}
    for dept in departments:
        parent = dept.parent_id if dept.parent_id in known else None
        children.setdefault(parent, []).append(dept)
    out: list[tuple[Department, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for dept in sorted(children.get(parent, []), key=lambda d: (d.name.lower(), d.id)):
            out.append((dept, depth))
            walk(dept.id, depth + 1)

    walk(None, 0)
    return out


def list_departments(session: Session, actor: Actor, **paging: Unpack[Paging]) -> Page:
    """The workspace's departments by id (all when ``limit`` is None; see ``as_tree``). Admins only."""
    return list_workspace_rows(session, actor, Department, _KEYS, scope="departments", **paging)


def get_department(session: Session, actor: Actor, department_id: int) -> Department:
    """:raises NotFound: no department ``department_id`` in the actor's workspace."""
    workspace_id = require_admin(actor)
    dept = session.get(Department, department_id)
    if dept is None or dept.workspace_id != workspace_id:
        raise NotFound(f"There is no department {department_id} in this workspace.")
    return dept


def _parent(
    session: Session, workspace_id: int, parent_id: object, *, moving: Department | None
) -> int | None:
    """Check ``parent_id`` lies in the workspace and that ``moving`` would not end up inside itself."""
    if parent_id is None:
        return None
    if not isinstance(parent_id, int) or isinstance(parent_id, bool):
        raise ValidationError("`parent` must be a department id.", errors={"parent": "must be an id"})
    parent = session.get(Department, parent_id)
    if parent is None or parent.workspace_id != workspace_id:
        raise ValidationError(
            f"There is no department {parent_id} in this workspace.", errors={"parent": "unknown department"}
        )
    node: Department | None = parent
    for _ in range(MAX_DEPTH):
        if node is None:
            return parent_id
        if moving is not None and node.id == moving.id:
            raise ValidationError(
                f"{moving.name!r} cannot move under {parent.name!r}: that department is inside it "
                "(a department tree has no cycles).",
                errors={"parent": "would create a cycle"},
            )
        node = session.get(Department, node.parent_id) if node.parent_id is not None else None
    raise ValidationError(
        f"Departments nest at most {MAX_DEPTH} levels deep.",
        errors={"parent": f"deeper than {MAX_DEPTH} levels"},
    )


def _head(session: Session, workspace_id: int, head_user_id: object) -> int | None:
    if head_user_id is None:
        return None
    if not isinstance(head_user_id, int) or isinstance(head_user_id, bool):
        raise ValidationError("`head` must be a user id.", errors={"head": "must be a user id"})
    member = session.scalar(
        select(Membership.id).where(
            Membership.workspace_id == workspace_id,
            Membership.user_id == head_user_id,
            Membership.is_active.is_(True),
        )
    )
    if member is None:
        raise ValidationError(
            f"User {head_user_id} is not an active member of this workspace.",
            errors={"head": "not an active member"},
        )
    return head_user_id


def _key_free(session: Session, workspace_id: int, key: str, *, other_than: int | None = None) -> None:
    stmt = select(Department.id).where(Department.workspace_id == workspace_id, Department.key == key)
    if other_than is not None:
        stmt = stmt.where(Department.id != other_than)
    if session.scalar(stmt) is not None:
        raise Conflict(
            f"The department key {key!r} is taken in this workspace.", errors={"key": "already taken"}
        )


def create_department(
    session: Session,
    actor: Actor,
    *,
    key: str,
    name: str,
    parent_id: int | None = None,
    head_user_id: int | None = None,
    now: datetime | None = None,
) -> Department:
    """A new department under ``parent_id`` (None = top level).

    :raises ValidationError: bad key/name, unknown parent, head not a member.
    :raises Conflict: the key is taken.
    """
    workspace_id = require_admin(actor)
    check_key(key)
    name = check_text(name, "name", max_length=200)
    parent = _parent(session, workspace_id, parent_id, moving=None)
    head = _head(session, workspace_id, head_user_id)
    _key_free(session, workspace_id, key)
    now = now_or(now)
    dept = Department(
        workspace_id=workspace_id, key=key, name=name, parent_id=parent, head_user_id=head, created_at=now
    )
    session.add(dept)
    session.flush()
    log_keyed(
        session, actor, "create", "department", dept, audit_id=dept.id, after=department_view(dept), now=now
    )
    return dept


def update_department(
    session: Session,
    actor: Actor,
    department_id: int,
    *,
    key: Any = UNSET,
    name: Any = UNSET,
    parent_id: Any = UNSET,
    head_user_id: Any = UNSET,
    now: datetime | None = None,
) -> Department:
    """Rename, re-key, move or change the head of a department.

    :raises NotFound: no such department here.
    :raises ValidationError: bad values, a move that makes a cycle, head not a member.
    :raises Conflict: the new key is taken.
    """
    dept = get_department(session, actor, department_id)
    before = department_view(dept)
    if key is not UNSET:
        check_key(key)
        _key_free(session, dept.workspace_id, key, other_than=dept.id)
        dept.key = key
    if name is not UNSET:
        dept.name = check_text(name, "name", max_length=200)
    if parent_id is not UNSET:
        dept.parent_id = _parent(session, dept.workspace_id, parent_id, moving=dept)
    if head_user_id is not UNSET:
        dept.head_user_id = _head(session, dept.workspace_id, head_user_id)
    after = department_view(dept)
    if after != before:
        session.flush()
        log_keyed(
            session,
            actor,
            "update",
            "department",
            dept,
            audit_id=dept.id,
            before=before,
            after=after,
            now=now,
        )
    return dept


def delete_department(
    session: Session, actor: Actor, department_id: int, *, now: datetime | None = None
) -> None:
    """Delete an empty department.

    :raises NotFound: no such department here.
    :raises Conflict: it still has sub-departments or members.
    """
    dept = get_department(session, actor, department_id)
    children = session.scalar(select(func.count()).where(Department.parent_id == dept.id)) or 0
    members = session.scalar(select(func.count()).where(Membership.department_id == dept.id)) or 0
    if children or members:
        parts = []
        if children:
            parts.append(f"{children} sub-department(s)")
        if members:
            parts.append(f"{members} member(s)")
        raise Conflict(
            f"{dept.name!r} still has {' and '.join(parts)}; move them elsewhere first.",
            errors={"department": "not empty"},
            children=children,
            members=members,
        )
    log_keyed(
        session, actor, "delete", "department", dept, audit_id=dept.id, before=department_view(dept), now=now
    )
    session.delete(dept)
    session.flush()
