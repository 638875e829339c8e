"""The identity JSON API: sign-in for tokens, me, workspaces, and the administration of members,
roles, departments and API tokens (mounted under ``/api/v1`` by the platform's built-in plugin).

Every route is declared by ``endpoint``: who may call it (checked before anything is
parsed, so a stranger learns nothing about the body), what it reads and what it answers.
The views only call the identity services.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app, g, request, session
from flask_smorest import Blueprint
from marshmallow import RAISE

from opsloom.platform.api import current_actor, require_admin
from opsloom.platform.db import request_session, utcnow
from opsloom.platform.errors import NotFound, PermissionDenied
from opsloom.platform.models import Workspace
from opsloom.platform.pagination import Page, parse_limit

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
    PasswordSetSchema,
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
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from marshmallow import Schema
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import User

    View = Callable[..., Any]
    Guard = Callable[[View], View]

__all__ = ["blp"]

blp = Blueprint(
    "auth",
    __name__,
    description="Sign-in for API tokens, the current user, workspaces, and the administration of members, "
    "roles, departments and tokens. Administration routes need a workspace administrator.",
)


# ---------------------------------------------------------------- edge helpers


def before_parsing(check: Callable[..., object]) -> Guard:
    """A guard that runs ``check(**path_arguments)`` before the request is parsed; its error is the answer."""

    def guard(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(**kwargs)
            return view(*args, **kwargs)

        return wrapper

    return guard


def _someone(**_path: Any) -> None:
    current_actor()


def _administrator(**_path: Any) -> None:
    require_admin()


def _may_set_password(user_id: int, **_path: Any) -> None:
    service.password_target(request_session(), current_actor(), user_id)


#: 401 before anything else (body parsing included) when nobody is signed in
signed_in = before_parsing(_someone)
#: 401/403 before anything else when the caller does not administer the workspace
admin_only = before_parsing(_administrator)
#: 403/404 for the path's ``user_id`` before the body is read: someone who may not set that
#: password learns nothing, not even what the body should hold
password_target_first = before_parsing(_may_set_password)


def endpoint(
    method: str,
    rule: str,
    *,
    guards: Sequence[Guard] = (admin_only,),
    body: type[Schema] | None = None,
    query: type[Schema] | None = None,
    status: int = 200,
    answer: type[Schema] | None = None,
) -> Callable[[View], View]:
    """Declare one route of this API.

    ``guards`` run first, in order, before anything is parsed (401/403/404); then the JSON
    ``body`` or the ``query`` string is loaded by its schema (an unknown query argument is a
    422 too); the view's result is dumped by ``answer`` with ``status`` (no body without one).
    """

    def decorate(view: View) -> View:
        wrapped = blp.response(status, answer)(view) if answer is not None else blp.response(status)(view)
        if body is not None:
            wrapped = blp.arguments(body)(wrapped)
        if query is not None:
            wrapped = blp.arguments(query, location="query", unknown=RAISE)(wrapped)
        for guard in reversed(guards):
            wrapped = guard(wrapped)
        return blp.route(rule, methods=[method])(wrapped)

    return decorate


def _page_args(args: dict[str, Any]) -> dict[str, Any]:
    """The service's paging arguments for a list request (the page size bounded by the settings)."""
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


def _issue(
    db: Session, *, user: User, workspace: Workspace, actor: Actor, payload: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Issue the token ``payload`` asks for (name, lifetime) and answer it with its plaintext, this once."""
    token, plaintext = service.issue_token(
        db,
        user=user,
        workspace=workspace,
        name=payload["name"],
        expires_at=_expiry(payload.get("expires_in_days"), now),
        actor=actor,
        now=now,
    )
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


@endpoint("POST", "/auth/token", guards=(), body=TokenRequestSchema, status=201, answer=TokenIssuedSchema)
def create_token_with_password(payload: dict[str, Any]) -> dict[str, Any]:
    """Sign in with username and password; answers a new API token (shown once).

    Failed sign-ins are throttled per account and per address (429 with Retry-After).
    """
    db = request_session()
    now = utcnow()
    user = service.authenticate_password(
        db,
        username=payload["username"],
        password=payload["password"],
        address=request.remote_addr or "unknown",
        now=now,
        **service.login_limits(current_app.config),
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
    return _issue(db, user=user, workspace=workspace, actor=actor, payload=payload, now=now)


@endpoint("GET", "/me", guards=(signed_in,), answer=MeSchema)
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


@endpoint("POST", "/me/password", guards=(signed_in,), body=PasswordChangeSchema, status=204)
def change_my_password(payload: dict[str, Any]) -> None:
    """Change your password; your other browser sessions end. API tokens stay valid (revoke them apart).

    A wrong `current_password` (422) counts as a failed sign-in of your account and address:
    after too many, every try gets 429 with Retry-After until the window has passed.
    """
    actor = current_actor()
    user = service.change_password(
        request_session(),
        user=current_user(),
        current_password=payload["current_password"],
        new_password=payload["new_password"],
        actor=actor,
        address=request.remote_addr or "unknown",
        now=utcnow(),
        **service.login_limits(current_app.config),
    )
    if actor.via == "session":
        # the new auth epoch ends every older session; this one carries on with it
        session["auth_epoch"] = user.auth_epoch


# ---------------------------------------------------------------- workspaces


@endpoint("GET", "/workspaces", guards=(signed_in,), query=PageArgsSchema, answer=WorkspacePageSchema)
def list_my_workspaces(args: dict[str, Any]) -> Page:
    """The workspaces you may act in (every workspace, for a platform superuser)."""
    return service.list_workspaces(request_session(), current_user(), **_page_args(args))


@endpoint(
    "POST", "/workspaces", guards=(signed_in,), body=WorkspaceCreateSchema, status=201, answer=WorkspaceSchema
)
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


@endpoint("GET", "/users", query=UserListArgsSchema, answer=MemberPageSchema)
def list_users(args: dict[str, Any]) -> Page:
    """The members of this workspace, oldest first."""
    return service.list_members(request_session(), current_actor(), search=args.get("q"), **_page_args(args))


@endpoint("POST", "/users", body=MemberCreateSchema, status=201, answer=MemberSchema)
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


@endpoint("GET", "/users/<int:user_id>", answer=MemberSchema)
def get_user(user_id: int) -> Any:
    """One member of this workspace."""
    return service.get_member(request_session(), current_actor(), user_id)


_MEMBER_ARGS = {
    "display_name": "display_name",
    "email": "email",
    "roles": "role_keys",
    "department": "department_id",
    "is_active": "is_active",
}


@endpoint("PATCH", "/users/<int:user_id>", body=MemberUpdateSchema, answer=MemberSchema)
def update_user(payload: dict[str, Any], user_id: int) -> Any:
    """Change a member's roles, department or access (`is_active`), or their name and e-mail."""
    changes = _changes(payload, _MEMBER_ARGS)
    return service.update_member(request_session(), current_actor(), user_id, now=utcnow(), **changes)


@endpoint(
    "POST",
    "/users/<int:user_id>/password",
    guards=(admin_only, password_target_first),
    body=PasswordSetSchema,
    status=204,
)
def set_user_password(payload: dict[str, Any], user_id: int) -> None:
    """Set a new password for a member (platform superusers: for any user); all their browser sessions end.

    For someone who forgot theirs. The password meets the sign-up policy (422 otherwise) and
    is never shown again, not even in the audit log. Their API tokens stay valid (revoke
    them apart). 404 for a user outside this workspace; 403 for your own password (use
    `POST /me/password`), a platform superuser's or that of a member other workspaces share.
    """
    service.set_password(request_session(), current_actor(), user_id, payload["password"], now=utcnow())


# ---------------------------------------------------------------- roles


@endpoint("GET", "/roles", query=PageArgsSchema, answer=RolePageSchema)
def list_roles(args: dict[str, Any]) -> Page:
    """This workspace's roles by key."""
    return service.list_roles(request_session(), current_actor(), **_page_args(args))


@endpoint("POST", "/roles", body=RoleCreateSchema, status=201, answer=RoleSchema)
def create_role(payload: dict[str, Any]) -> Any:
    """Create a role."""
    return service.create_role(request_session(), current_actor(), now=utcnow(), **payload)


@endpoint("GET", "/roles/<string:key>", answer=RoleSchema)
def get_role(key: str) -> Any:
    """One role."""
    return service.get_role(request_session(), current_actor(), key)


@endpoint("PATCH", "/roles/<string:key>", body=RoleUpdateSchema, answer=RoleSchema)
def update_role(payload: dict[str, Any], key: str) -> Any:
    """Change a role's name, description, admin flag or permissions (`admin` always stays an admin role)."""
    return service.update_role(request_session(), current_actor(), key, now=utcnow(), **payload)


@endpoint("DELETE", "/roles/<string:key>", status=204)
def delete_role(key: str) -> None:
    """Delete a role nobody holds (`admin` cannot be deleted)."""
    service.delete_role(request_session(), current_actor(), key, now=utcnow())


# ---------------------------------------------------------------- departments


_DEPARTMENT_ARGS = {"key": "key", "name": "name", "parent": "parent_id", "head": "head_user_id"}


@endpoint("GET", "/departments", query=PageArgsSchema, answer=DepartmentPageSchema)
def list_departments(args: dict[str, Any]) -> Page:
    """This workspace's departments by id; `parent` links them into a tree."""
    return service.list_departments(request_session(), current_actor(), **_page_args(args))


@endpoint("POST", "/departments", body=DepartmentCreateSchema, status=201, answer=DepartmentSchema)
def create_department(payload: dict[str, Any]) -> Any:
    """Create a department (under `parent`, with `head`, both optional)."""
    return service.create_department(
        request_session(), current_actor(), now=utcnow(), **_changes(payload, _DEPARTMENT_ARGS)
    )


@endpoint("GET", "/departments/<int:department_id>", answer=DepartmentSchema)
def get_department(department_id: int) -> Any:
    """One department."""
    return service.get_department(request_session(), current_actor(), department_id)


@endpoint("PATCH", "/departments/<int:department_id>", body=DepartmentUpdateSchema, answer=DepartmentSchema)
def update_department(payload: dict[str, Any], department_id: int) -> Any:
    """Rename, re-key, move (no cycles) or change the head of a department."""
    return service.update_department(
        request_session(), current_actor(), department_id, now=utcnow(), **_changes(payload, _DEPARTMENT_ARGS)
    )


@endpoint("DELETE", "/departments/<int:department_id>", status=204)
def delete_department(department_id: int) -> None:
    """Delete a department without sub-departments or members."""
    service.delete_department(request_session(), current_actor(), department_id, now=utcnow())


# ---------------------------------------------------------------- tokens


@endpoint("GET", "/tokens", guards=(signed_in,), query=TokenListArgsSchema, answer=TokenPageSchema)
def list_tokens(args: dict[str, Any]) -> Page:
    """Your API tokens in this workspace, newest first; administrators may ask for everyone's (`all=1`)."""
    return service.list_tokens(request_session(), current_actor(), all_users=args["all"], **_page_args(args))


@endpoint(
    "POST", "/tokens", guards=(signed_in,), body=TokenCreateSchema, status=201, answer=TokenIssuedSchema
)
def create_token(payload: dict[str, Any]) -> dict[str, Any]:
    """A new API token for you in this workspace (shown once)."""
    actor = current_actor()
    db = request_session()
    workspace = db.get(Workspace, actor.workspace_id)
    if workspace is None:
        raise NotFound("The workspace no longer exists.")
    return _issue(db, user=current_user(), workspace=workspace, actor=actor, payload=payload, now=utcnow())


@endpoint("DELETE", "/tokens/<int:token_id>", guards=(signed_in,), status=204)
def revoke_token(token_id: int) -> None:
    """Revoke a token of yours (administrators: any token of the workspace). Repeating it is harmless."""
    service.revoke_token(request_session(), current_actor(), token_id, now=utcnow())
