"""Turning a signed-in user and a workspace into the ``Actor`` every service receives.

Every authenticated request needs an actor before its view runs, so this is the hottest
query of the platform. It is one Core statement, built once at import time: the
workspace, the membership and its roles come back as one row per role (LEFT JOINs, so a
superuser without a membership still gets a row). Bearer tokens add the token and the
user to the same statement (see ``tokens.authenticate_bearer``), so an API call costs a
single round trip before the view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, select

from opsloom.platform.actor import Actor
from opsloom.platform.errors import NotFound
from opsloom.platform.models import Membership, Role, Workspace, membership_roles

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement, Row, Select
    from sqlalchemy.orm import Session

    from opsloom.platform.models import User

__all__ = ["ACTOR_COLUMNS", "actor_for", "actor_from_rows", "join_membership"]

# the columns ``actor_from_rows`` reads, labelled so they cannot clash with a caller's own
ACTOR_COLUMNS = (
    Workspace.id.label("ws_id"),
    Workspace.timezone.label("ws_timezone"),
    Workspace.archived_at.label("ws_archived_at"),
    Workspace.definitions_version.label("ws_definitions_version"),
    Membership.id.label("m_id"),
    Membership.is_active.label("m_active"),
    Membership.department_id.label("m_department_id"),
    Role.id.label("r_id"),
    Role.key.label("r_key"),
    Role.is_admin.label("r_admin"),
)


def join_membership(query: Select[Any], user_id: ColumnElement[Any]) -> Select[Any]:
    """``query`` (which already has ``workspaces``) plus the user's membership and its roles."""
    return (
        query.outerjoin(
            Membership, and_(Membership.workspace_id == Workspace.id, Membership.user_id == user_id)
        )
        .outerjoin(membership_roles, membership_roles.c.membership_id == Membership.id)
        .outerjoin(Role, Role.id == membership_roles.c.role_id)
    )


_ACTOR_QUERY = join_membership(select(*ACTOR_COLUMNS).select_from(Workspace), bindparam("user_id")).where(
    Workspace.id == bindparam("workspace_id")
)


def actor_from_rows(
    rows: Sequence[Row[Any]],
    *,
    user_id: int,
    username: str,
    display_name: str,
    is_active: bool,
    is_superuser: bool,
    locale: str | None,
    workspace_id: int,
    via: str,
    request_id: str | None,
    address: str | None,
) -> Actor:
    """The actor from the rows of a query over ``ACTOR_COLUMNS`` (one per role; none: no workspace).

    :raises NotFound: the workspace does not exist, is archived, or the user is not an
        active member of it (one answer, so workspaces cannot be probed).
    """
    first = rows[0] if rows else None
    member_active = first is not None and first.m_id is not None and bool(first.m_active)
    usable = first is not None and first.ws_archived_at is None and is_active
    if first is None or not usable or not (is_superuser or member_active):
        raise NotFound(f"You are not a member of workspace {workspace_id}.")
    roles = [row for row in rows if row.r_id is not None] if member_active else []
    return Actor(
        user_id=user_id,
        username=username,
        workspace_id=first.ws_id,
        display_name=display_name or username,
        membership_id=first.m_id if member_active else None,
        role_ids=frozenset(row.r_id for row in roles),
        role_keys=frozenset(row.r_key for row in roles),
        department_id=first.m_department_id if member_active else None,
        is_admin=is_superuser or any(row.r_admin for row in roles),
        is_superuser=is_superuser,
        locale=locale,
        timezone=first.ws_timezone,
        definitions_version=first.ws_definitions_version,
        request_id=request_id,
        address=address,
        via=via,
    )


def actor_for(
    session: Session,
    user: User,
    workspace: Workspace | int,
    *,
    via: str,
    request_id: str | None = None,
    address: str | None = None,
) -> Actor:
    """``user`` acting in ``workspace``: their roles, admin flag, department and the workspace's timezone.

    Platform superusers may act in any workspace, as administrators, member or not.

    :raises NotFound: the workspace does not exist, is archived, or ``user`` is not an
        active member of it (one answer, so workspaces cannot be probed).
    """
    workspace_id = workspace.id if isinstance(workspace, Workspace) else workspace
    rows = session.execute(_ACTOR_QUERY, {"user_id": user.id, "workspace_id": workspace_id}).all()
    return actor_from_rows(
        rows,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        is_active=user.is_active,
        is_superuser=user.is_superuser,
        locale=user.locale,
        workspace_id=workspace_id,
        via=via,
        request_id=request_id,
        address=address,
    )
