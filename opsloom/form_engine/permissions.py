"""Managing entity grants on roles: the role-by-entity matrix of an app, and "view as this role".

Grants live in the platform's ``Role.permissions`` (see ``access``); this module reads
and writes the app's part of them through the platform's role service, so every change
is validated, audited and evented like any role change.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from opsloom.platform.auth.roles import get_role, update_role
from opsloom.platform.errors import NotFound, PermissionDenied, ValidationError
from opsloom.platform.models import Role

from .access import grant_errors, grant_key
from .models import EntityTable
from .registry import get_model

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App

__all__ = ["actor_as_role", "matrix", "set_grant"]


def _require_admin(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_superuser):
        raise PermissionDenied("Only workspace administrators manage permissions.")


def matrix(session: Session, actor: Actor, app: App) -> dict[str, Any]:
    """Every role of the workspace with its grants on each published entity of ``app``."""
    _require_admin(actor)
    entities = sorted(session.scalars(select(EntityTable.entity_key).where(EntityTable.app_id == app.id)))
    roles = session.scalars(select(Role).where(Role.workspace_id == app.workspace_id).order_by(Role.key))
    rows = []
    for role in roles:
        permissions = role.permissions or {}
        grants = {}
        for entity in entities:
            for key in (grant_key(app.key, entity), f"entity:{app.key}.*", "entity:*"):
                if key in permissions:
                    grants[entity] = {"grant": permissions[key], "from": key}
                    break
        rows.append({"key": role.key, "name": role.name, "is_admin": role.is_admin, "grants": grants})
    return {"app": app.key, "entities": entities, "roles": rows}


def set_grant(
    session: Session, actor: Actor, app: App, role_key: str, entity: str, grant: Any, *, now: datetime
) -> dict[str, Any]:
    """Replace (``grant`` a dict) or remove (``grant`` None) the role's grant on ``entity``.

    :raises ValidationError: (422) the grant is invalid, errors keyed by JSON pointer.
    :raises NotFound: no such role or published entity.
    """
    _require_admin(actor)
    model = get_model(session, app, entity)
    role = get_role(session, actor, role_key)
    if grant is not None:
        errors = grant_errors(grant, model)
        if errors:
            raise ValidationError(
                f"The grant of role {role_key!r} on {entity} is invalid.",
                errors={pointer or "/": message for pointer, message in errors.items()},
            )
    permissions = copy.deepcopy(role.permissions or {})
    key = grant_key(app.key, entity)
    if grant is None:
        permissions.pop(key, None)
    else:
        permissions[key] = grant
    update_role(session, actor, role_key, permissions=permissions, now=now)
    return {"role": role_key, "entity": entity, "grant": grant}


def actor_as_role(session: Session, actor: Actor, workspace_id: int, role_key: str) -> Actor:
    """The administrator ``actor`` seen through the eyes of ``role_key`` alone (for "view as this role").

    The result reads only: it keeps the administrator's identity for the audit log but
    has exactly the role's rights.
    """
    _require_admin(actor)
    role = session.scalar(select(Role).where(Role.workspace_id == workspace_id, Role.key == role_key))
    if role is None:
        raise NotFound(f"There is no role {role_key!r} in this workspace.")
    return replace(
        actor,
        role_ids=frozenset({role.id}),
        role_keys=frozenset({role.key}),
        is_admin=role.is_admin,
        is_superuser=False,
    )
