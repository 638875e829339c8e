"""Turning a signed-in user and a workspace into the ``Actor`` every service receives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from opsloom.platform.actor import Actor
from opsloom.platform.errors import NotFound
from opsloom.platform.models import Membership, Workspace

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from opsloom.platform.models import User

__all__ = ["actor_for"]


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
    member = session.scalar(
        select(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user.id)
        .options(selectinload(Membership.roles), joinedload(Membership.workspace))
    )
    ws = (
        member.workspace
        if member is not None
        else (workspace if isinstance(workspace, Workspace) else session.get(Workspace, workspace_id))
    )
    usable = ws is not None and ws.archived_at is None and user.is_active
    if not usable or not (user.is_superuser or (member is not None and member.is_active)):
        raise NotFound(f"You are not a member of workspace {workspace_id}.")
    active_member = member if member is not None and member.is_active else None
    roles = active_member.roles if active_member is not None else []
    return Actor(
        user_id=user.id,
        username=user.username,
        workspace_id=ws.id,
        display_name=user.display_name or user.username,
        membership_id=active_member.id if active_member is not None else None,
        role_ids=frozenset(role.id for role in roles),
        role_keys=frozenset(role.key for role in roles),
        department_id=active_member.department_id if active_member is not None else None,
        is_admin=user.is_superuser or any(role.is_admin for role in roles),
        is_superuser=user.is_superuser,
        locale=user.locale,
        timezone=ws.timezone,
        request_id=request_id,
        address=address,
        via=via,
    )
