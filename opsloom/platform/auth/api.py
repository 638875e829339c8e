"""The identity JSON API: sign-in for tokens, me, workspaces, and the administration of members,
roles, departments and API tokens (mounted under ``/api/v1`` by the platform's built-in plugin).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app, g, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from opsloom.platform.api import current_actor, require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.errors import NotFound, PermissionDenied
from opsloom.platform.models import Workspace
from opsloom.platform.pagination import parse_limit

from . import service
from .csrf import csrf_token
from .edge import current_user
from .schemas import (
    DepartmentCreateSchema,
    DepartmentPageSchema,
    DepartmentSchema,
    DepartmentUpdateSchema,
    MemberCreateSchema,
    MemberPageSchema,
    MemberSchema,
    MemberUpdateSchema,
    MeSchema,
    PageArgsSchema,
    PasswordChangeSchema,
    RoleCreateSchema,
    RolePageSchema,
    RoleSchema,
    RoleUpdateSchema,
    TokenCreateSchema,
    TokenIssuedSchema,
    TokenListArgsSchema,
    TokenPageSchema,
    TokenRequestSchema,
    UserListArgsSchema,
    WorkspaceCreateSchema,
    WorkspacePageSchema,
    WorkspaceSchema,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import ApiToken

__all__ = ["blp"]

blp = Blueprint(
    "auth",
    __name__,
    description="Sign-in for API tokens, the current user, workspaces, and the administration of members, "
    "roles, departments and tokens. Administration routes need a workspace administrator.",
)


# ---------------------------------------------------------------- edge helpers


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """401 before anything else (body parsing included) when nobody is signed in."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_actor()
        return view(*args, **kwargs)

    return wrapper


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """401/403 before anything else when the caller does not administer the workspace."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        require_admin()
        return view(*args, **kwargs)

    return wrapper


def _page_args(args: dict[str, Any]) -> dict[str, Any]:
    config = current_app.config
    return {
        "limit": parse_limit(
            args.get("limit"), default=config["PAGE_SIZE_DEFAULT"], maximum=config["PAGE_SIZE_MAX"]
        ),
        "cursor": args.get("cursor"),
        "secret": config["SECRET_KEY"],
    }


def _expiry(days: int | None, now: datetime) -> datetime | None:
    days = days or current_app.config.get("TOKEN_DEFAULT_DAYS")
    return now + timedelta(days=int(days)) if days else None


def _issued(token: ApiToken, plaintext: str, workspace: Workspace) -> dict[str, Any]:
    return {
        "id": token.id,
        "token": plaintext,
        "name": token.name,
        "prefix": token.prefix,
        "workspace": workspace.key,
        "expires_at": token.expires_at,
    }


def _changes(payload: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Service keyword arguments for the payload keys the client sent (absent keys stay UNSET)."""
    return {arg: payload[key] for key, arg in names.items() if key in payload}


# ---------------------------------------------------------------- sign-in, me


@blp.post("/auth/token")
@blp.arguments(TokenRequestSchema)
@blp.response(201, TokenIssuedSchema)
def create_token_with_password(payload: dict[str, Any]) -> dict[str, Any]:
    """Sign in with username and password; answers a new API token (shown once).

    Failed sign-ins are throttled per account and per address (429 with Retry-After).
    """
    config = current_app.config
    db = request_session()
    now = utcnow()
    user = service.authenticate_password(
        db,
        username=payload["username"],
        password=payload["password"],
        address=request.remote_addr or "unknown",
        now=now,
        max_per_account=config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        max_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        window_seconds=config["LOGIN_WINDOW_SECONDS"],
    )
    if payload.get("workspace"):
        workspace = service.get_workspace_for(db, user, payload["workspace"])
    else:
        workspace = service.default_workspace(db, user)
        if workspace is None:
            raise PermissionDenied("Your account does not belong to any workspace yet; ask an administrator.")
    actor = service.actor_for(
        db, user, workspace, via="password", request_id=g.get("request_id"), address=request.remote_addr
    )
    token, plaintext = service.issue_token(
        db,
        user=user,
        workspace=workspace,
        name=payload["name"],
        expires_at=_expiry(payload.get("expires_in_days"), now),
        actor=actor,
        now=now,
    )
    return _issued(token, plaintext, workspace)


@blp.get("/me")
@signed_in
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """Who you are in the current workspace."""
    actor = current_actor()
    user = current_user()
    body: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "locale": user.locale,
        "is_superuser": user.is_superuser,
        "is_admin": actor.is_admin,
        "roles": sorted(actor.role_keys),
        "department": actor.department_id,
        "workspace": request_session().get(Workspace, actor.workspace_id),
        "via": actor.via,
    }
    if actor.via == "session":
        body["csrf_token"] = csrf_token()
    return body


@blp.post("/me/password")
@signed_in
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def change_my_password(payload: dict[str, Any]) -> None:
    """Change your password; your other browser sessions end. API tokens stay valid (revoke them apart)."""
    service.change_password(
        request_session(),
        user=current_user(),
        current_password=payload["current_password"],
        new_password=payload["new_password"],
        actor=current_actor(),
        now=utcnow(),
    )


# ---------------------------------------------------------------- workspaces


@blp.get("/workspaces")
@signed_in
@blp.arguments(PageArgsSchema, location="query", unknown=RAISE)
@blp.response(200, WorkspacePageSchema)
def list_my_workspaces(args: dict[str, Any]) -> dict[str, Any]:
    """The workspaces you may act in (every workspace, for a platform superuser)."""
    page = service.list_workspaces(request_session(), current_user(), **_page_args(args))
    return {"items": page.items, "next_cursor": page.next_cursor}


@blp.post("/workspaces")
@signed_in
@blp.arguments(WorkspaceCreateSchema)
@blp.response(201, WorkspaceSchema)
def create_workspace(payload: dict[str, Any]) -> Workspace:
    """Create a workspace with the roles `admin` and `staff`; you become its administrator.

    Platform superusers only.
    """
    return service.create_workspace(
        request_session(),
        key=payload["key"],
        name=payload["name"],
        timezone=payload.get("timezone"),
        actor=current_actor(),
        now=utcnow(),
    )


# ---------------------------------------------------------------- members


@blp.get("/users")
@admin_only
@blp.arguments(UserListArgsSchema, location="query", unknown=RAISE)
@blp.response(200, MemberPageSchema)
def list_users(args: dict[str, Any]) -> dict[str, Any]:
    """The members of this workspace, oldest first."""
    page = service.list_members(request_session(), current_actor(), search=args.get("q"), **_page_args(args))
    return {"items": page.items, "next_cursor": page.next_cursor}


@blp.post("/users")
@admin_only
@blp.arguments(MemberCreateSchema)
@blp.response(201, MemberSchema)
def create_user(payload: dict[str, Any]) -> Any:
    """Add a member: a new user when `password` is given, else an existing user by `username`."""
    return service.create_member(
        request_session(),
        current_actor(),
        username=payload["username"],
        password=payload.get("password"),
        display_name=payload.get("display_name", ""),
        email=payload.get("email"),
        role_keys=payload["roles"],
        department_id=payload.get("department"),
        now=utcnow(),
    )


@blp.get("/users/<int:user_id>")
@admin_only
@blp.response(200, MemberSchema)
def get_user(user_id: int) -> Any:
    """One member of this workspace."""
    return service.get_member(request_session(), current_actor(), user_id)


@blp.patch("/users/<int:user_id>")
@admin_only
@blp.arguments(MemberUpdateSchema)
@blp.response(200, MemberSchema)
def update_user(payload: dict[str, Any], user_id: int) -> Any:
    """Change a member's roles, department or access (`is_active`), or their name and e-mail."""
    changes = _changes(
        payload,
        {
            "display_name": "display_name",
            "email": "email",
            "roles": "role_keys",
            "department": "department_id",
            "is_active": "is_active",
        },
    )
    return service.update_member(request_session(), current_actor(), user_id, now=utcnow(), **changes)


# ---------------------------------------------------------------- roles


@blp.get("/roles")
@admin_only
@blp.arguments(PageArgsSchema, location="query", unknown=RAISE)
@blp.response(200, RolePageSchema)
def list_roles(args: dict[str, Any]) -> dict[str, Any]:
    """This workspace's roles by key."""
    page = service.list_roles(request_session(), current_actor(), **_page_args(args))
    return {"items": page.items, "next_cursor": page.next_cursor}


@blp.post("/roles")
@admin_only
@blp.arguments(RoleCreateSchema)
@blp.response(201, RoleSchema)
def create_role(payload: dict[str, Any]) -> Any:
    """Create a role."""
    return service.create_role(request_session(), current_actor(), now=utcnow(), **payload)


@blp.get("/roles/<string:key>")
@admin_only
@blp.response(200, RoleSchema)
def get_role(key: str) -> Any:
    """One role."""
    return service.get_role(request_session(), current_actor(), key)


@blp.patch("/roles/<string:key>")
@admin_only
@blp.arguments(RoleUpdateSchema)
@blp.response(200, RoleSchema)
def update_role(payload: dict[str, Any], key: str) -> Any:
    """Change a role's name, description, admin flag or permissions (`admin` always stays an admin role)."""
    return service.update_role(request_session(), current_actor(), key, now=utcnow(), **payload)


@blp.delete("/roles/<string:key>")
@admin_only
@blp.response(204)
def delete_role(key: str) -> None:
    """Delete a role nobody holds (`admin` cannot be deleted)."""
    service.delete_role(request_session(), current_actor(), key, now=utcnow())


# ---------------------------------------------------------------- departments


_DEPARTMENT_ARGS = {"key": "key", "name": "name", "parent": "parent_id", "head": "head_user_id"}


@blp.get("/departments")
@admin_only
@blp.arguments(PageArgsSchema, location="query", unknown=RAISE)
@blp.response(200, DepartmentPageSchema)
def list_departments(args: dict[str, Any]) -> dict[str, Any]:
    """This workspace's departments by id; `parent` links them into a tree."""
    page = service.list_departments(request_session(), current_actor(), **_page_args(args))
    return {"items": page.items, "next_cursor": page.next_cursor}


@blp.post("/departments")
@admin_only
@blp.arguments(DepartmentCreateSchema)
@blp.response(201, DepartmentSchema)
def create_department(payload: dict[str, Any]) -> Any:
    """Create a department (under `parent`, with `head`, both optional)."""
    return service.create_department(
        request_session(), current_actor(), now=utcnow(), **_changes(payload, _DEPARTMENT_ARGS)
    )


@blp.get("/departments/<int:department_id>")
@admin_only
@blp.response(200, DepartmentSchema)
def get_department(department_id: int) -> Any:
    """One department."""
    return service.get_department(request_session(), current_actor(), department_id)


@blp.patch("/departments/<int:department_id>")
@admin_only
@blp.arguments(DepartmentUpdateSchema)
@blp.response(200, DepartmentSchema)
def update_department(payload: dict[str, Any], department_id: int) -> Any:
    """Rename, re-key, move (no cycles) or change the head of a department."""
    return service.update_department(
        request_session(), current_actor(), department_id, now=utcnow(), **_changes(payload, _DEPARTMENT_ARGS)
    )


@blp.delete("/departments/<int:department_id>")
@admin_only
@blp.response(204)
def delete_department(department_id: int) -> None:
    """Delete a department without sub-departments or members."""
    service.delete_department(request_session(), current_actor(), department_id, now=utcnow())


# ---------------------------------------------------------------- tokens


@blp.get("/tokens")
@signed_in
@blp.arguments(TokenListArgsSchema, location="query", unknown=RAISE)
@blp.response(200, TokenPageSchema)
def list_tokens(args: dict[str, Any]) -> dict[str, Any]:
    """Your API tokens in this workspace, newest first; administrators may ask for everyone's (`all=1`)."""
    page = service.list_tokens(request_session(), current_actor(), all_users=args["all"], **_page_args(args))
    return {"items": page.items, "next_cursor": page.next_cursor}


@blp.post("/tokens")
@signed_in
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenIssuedSchema)
def create_token(payload: dict[str, Any]) -> dict[str, Any]:
    """A new API token for you in this workspace (shown once)."""
    actor: Actor = current_actor()
    db = request_session()
    workspace = db.get(Workspace, actor.workspace_id)
    if workspace is None:
        raise NotFound("The workspace no longer exists.")
    now = utcnow()
    token, plaintext = service.issue_token(
        db,
        user=current_user(),
        workspace=workspace,
        name=payload["name"],
        expires_at=_expiry(payload.get("expires_in_days"), now),
        actor=actor,
        now=now,
    )
    return _issued(token, plaintext, workspace)


@blp.delete("/tokens/<int:token_id>")
@signed_in
@blp.response(204)
def revoke_token(token_id: int) -> None:
    """Revoke a token of yours (administrators: any token of the workspace). Repeating it is harmless."""
    service.revoke_token(request_session(), current_actor(), token_id, now=utcnow())
