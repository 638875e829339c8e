"""Administration pages about people: users, roles, departments and API tokens.

Every change goes through the identity services (``opsloom.platform.auth.service``),
which check the actor's rights and workspace, validate, audit and emit events. A
refused change re-renders its form with the service's field errors and a 4xx status,
so the edge rolls the transaction back and nothing is changed (``_submit``).
"""

from __future__ import annotations

import functools
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from opsloom.platform.auth import service as identity
from opsloom.platform.db import request_session
from opsloom.platform.errors import OpsloomError, PermissionDenied
from opsloom.platform.models import User, Workspace

from .blueprint import bp
from .errors import html_error
from .guards import admin_required, form_int, form_list, form_text, login_required, now, page_actor
from .messages import form_errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask.typing import ResponseReturnValue

__all__ = ["bp"]

USERS_PAGE_SIZE = 50

T = TypeVar("T")


def _refused(exc: OpsloomError) -> tuple[dict[str, str], int]:
    """The field errors and HTTP status for a refused change; the half-done work is undone first."""
    request_session().rollback()
    return form_errors(exc), exc.status


def _submit(
    change: Callable[[], T],
    *,
    again: Callable[[dict[str, str], int], ResponseReturnValue],
    done: Callable[[T], str],
    to: str,
    missing: str | None = None,
) -> ResponseReturnValue:
    """Make one change a form posted, and answer the way every administration form does.

    Refused: the half-done change is undone and ``again(errors, status)`` answers, usually
    the form once more with its field errors (with ``missing``, a vanished object gets the
    404 page saying so instead). Done: ``done(result)`` is flashed and the browser is sent
    to ``to``, so reloading the next page posts nothing twice.
    """
    try:
        result = change()
    except OpsloomError as exc:
        errors, status = _refused(exc)
        if status == 404 and missing is not None:
            return html_error(404, missing)
        return again(errors, status)
    flash(done(result), "ok")
    return redirect(to)


def _page(template: str, errors: dict[str, str] | None, status: int, **context: Any) -> ResponseReturnValue:
    """``template`` with the field errors of its form, answered with ``status`` (a refusal's 4xx, or 200)."""
    return render_template(template, errors=errors or {}, **context), status


def _flag(name: str) -> bool:
    """A checkbox (with its hidden ``0`` companion): checked when any value is ``1``."""
    return "1" in request.form.getlist(name)


# ---------------------------------------------------------------- choices for forms


def _role_choices() -> list[tuple[str, str]]:
    roles = identity.list_roles(request_session(), page_actor()).items
    return [(role.key, role.name or role.key) for role in sorted(roles, key=lambda r: r.key)]


def _department_choices(exclude: int | None = None) -> list[tuple[int, str]]:
    departments = identity.list_departments(request_session(), page_actor()).items
    return [
        (dept.id, "\u2003" * depth + dept.name)
        for dept, depth in identity.as_tree(departments)
        if dept.id != exclude
    ]


def _member_choices() -> list[tuple[int, str]]:
    members = identity.list_members(request_session(), page_actor()).items
    return [
        (m.user_id, m.user.display_name or m.user.username)
        for m in members
        if m.is_active and m.user.is_active
    ]


# ---------------------------------------------------------------- users


def _users_page(
    errors: dict[str, str] | None = None, status: int = 200, form: dict[str, Any] | None = None
) -> ResponseReturnValue:
    search = (request.args.get("q") or "").strip()[:100]
    page = identity.list_members(
        request_session(),
        page_actor(),
        search=search or None,
        limit=USERS_PAGE_SIZE,
        cursor=request.args.get("cursor") or None,
        secret=current_app.config["SECRET_KEY"],
    )
    departments = _department_choices()
    return _page(
        "platform/admin/users.html",
        errors,
        status,
        page=page,
        search=search,
        roles=_role_choices(),
        departments=departments,
        department_names=dict(departments),
        form=form or {"roles": ["staff"]},
    )


@bp.get("/admin/users")
@admin_required
def admin_users() -> ResponseReturnValue:
    return _users_page()


@bp.post("/admin/users")
@admin_required
def admin_user_create() -> ResponseReturnValue:
    form = {
        "username": form_text("username"),
        "display_name": form_text("display_name"),
        "email": form_text("email"),
        "roles": form_list("roles"),
        "department": form_int("department"),
    }
    password = request.form.get("password") or ""
    return _submit(
        lambda: identity.create_member(
            request_session(),
            page_actor(),
            username=form["username"],
            password=password or None,
            display_name=form["display_name"],
            email=form["email"] or None,
            role_keys=form["roles"],
            department_id=form["department"],
            now=now(),
        ),
        again=lambda errors, status: _users_page(errors, status, form),
        done=lambda member: gettext("%(name)s was added to the workspace.", name=member.user.username),
        to=url_for("web.admin_users"),
    )


def _password_refusal(user_id: int) -> str | None:
    """Why the actor may not set this user's password (shown instead of the form), or None when they may."""
    try:
        identity.password_target(request_session(), page_actor(), user_id)
    except PermissionDenied as exc:
        return form_errors(exc).get("password") or exc.detail
    return None


def _user_form(
    user_id: int,
    errors: dict[str, str] | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
    password_errors: dict[str, str] | None = None,
) -> ResponseReturnValue:
    """The member's page: their profile and membership form, and the form for a new password."""
    member = identity.get_member(request_session(), page_actor(), user_id)
    values = form or {
        "display_name": member.user.display_name,
        "email": member.user.email or "",
        "roles": [role.key for role in member.roles],
        "department": member.department_id,
        "is_active": member.is_active,
    }
    return _page(
        "platform/admin/user_edit.html",
        errors,
        status,
        member=member,
        form=values,
        roles=_role_choices(),
        departments=_department_choices(),
        password_errors=password_errors or {},
        password_refusal=_password_refusal(user_id),
    )


@bp.get("/admin/users/<int:user_id>")
@admin_required
def admin_user_edit(user_id: int) -> ResponseReturnValue:
    return _user_form(user_id)


@bp.post("/admin/users/<int:user_id>")
@admin_required
def admin_user_update(user_id: int) -> ResponseReturnValue:
    db = request_session()
    member = identity.get_member(db, page_actor(), user_id)
    form = {
        "display_name": form_text("display_name"),
        "email": form_text("email"),
        "roles": form_list("roles"),
        "department": form_int("department"),
        "is_active": _flag("is_active"),
    }
    changes: dict[str, Any] = {
        "role_keys": form["roles"],
        "department_id": form["department"],
        "is_active": form["is_active"],
    }
    # profile fields are sent only when changed: a user shared with other workspaces keeps
    # their own name and e-mail, and an untouched field must not trip that rule
    if form["display_name"] != (member.user.display_name or ""):
        changes["display_name"] = form["display_name"]
    if form["email"] != (member.user.email or ""):
        changes["email"] = form["email"] or None
    name = member.user.username
    return _submit(
        lambda: identity.update_member(db, page_actor(), user_id, now=now(), **changes),
        again=lambda errors, status: _user_form(user_id, errors, status, form),
        done=lambda _member: gettext("The changes to %(name)s were saved.", name=name),
        to=url_for("web.admin_users"),
    )


@bp.post("/admin/users/<int:user_id>/password")
@admin_required
def admin_user_set_password(user_id: int) -> ResponseReturnValue:
    """Set a new password for a member who forgot theirs; all their browser sessions end."""
    name = identity.get_member(request_session(), page_actor(), user_id).user.username
    password = request.form.get("password") or ""
    if password != (request.form.get("password_confirm") or ""):
        differ = {"password_confirm": gettext("The two passwords differ.")}
        return _user_form(user_id, status=422, password_errors=differ)
    return _submit(
        lambda: identity.set_password(request_session(), page_actor(), user_id, password, now=now()),
        again=lambda errors, status: _user_form(user_id, status=status, password_errors=errors),
        done=lambda _user: gettext(
            "%(name)s has a new password; their browser sessions have ended.", name=name
        ),
        to=url_for("web.admin_user_edit", user_id=user_id),
    )


# ---------------------------------------------------------------- roles


def _roles_page(
    errors: dict[str, str] | None = None, status: int = 200, form: dict[str, Any] | None = None
) -> ResponseReturnValue:
    roles = identity.list_roles(request_session(), page_actor()).items
    return _page(
        "platform/admin/roles.html", errors, status, roles=sorted(roles, key=lambda r: r.key), form=form or {}
    )


@bp.get("/admin/roles")
@admin_required
def admin_roles() -> ResponseReturnValue:
    return _roles_page()


@bp.post("/admin/roles")
@admin_required
def admin_role_create() -> ResponseReturnValue:
    form = {
        "key": form_text("key"),
        "name": form_text("name"),
        "description": form_text("description"),
        "is_admin": _flag("is_admin"),
    }
    return _submit(
        lambda: identity.create_role(request_session(), page_actor(), now=now(), **form),
        again=lambda errors, status: _roles_page(errors, status, form),
        done=lambda role: gettext("The role %(key)s was created.", key=role.key),
        to=url_for("web.admin_roles"),
    )


def _role_form(
    key: str, errors: dict[str, str] | None = None, status: int = 200, form: dict[str, Any] | None = None
) -> ResponseReturnValue:
    role = identity.get_role(request_session(), page_actor(), key)
    values = form or {
        "name": role.name,
        "description": role.description,
        "is_admin": role.is_admin,
        "permissions": json.dumps(role.permissions or {}, indent=2, ensure_ascii=False, sort_keys=True),
    }
    return _page("platform/admin/role_edit.html", errors, status, role=role, form=values)


@bp.get("/admin/roles/<key>")
@admin_required
def admin_role_edit(key: str) -> ResponseReturnValue:
    return _role_form(key)


@bp.post("/admin/roles/<key>")
@admin_required
def admin_role_update(key: str) -> ResponseReturnValue:
    form = {
        "name": form_text("name"),
        "description": form_text("description"),
        "is_admin": _flag("is_admin"),
        "permissions": request.form.get("permissions") or "{}",
    }
    try:
        permissions = json.loads(form["permissions"] or "{}")
    except ValueError:
        return _role_form(key, {"permissions": gettext("This is not valid JSON.")}, 422, form)
    return _submit(
        lambda: identity.update_role(
            request_session(),
            page_actor(),
            key,
            name=form["name"],
            description=form["description"],
            is_admin=form["is_admin"],
            permissions=permissions,
            now=now(),
        ),
        again=lambda errors, status: _role_form(key, errors, status, form),
        done=lambda _role: gettext("The role %(key)s was saved.", key=key),
        to=url_for("web.admin_roles"),
    )


@bp.post("/admin/roles/<key>/delete")
@admin_required
def admin_role_delete(key: str) -> ResponseReturnValue:
    return _submit(
        lambda: identity.delete_role(request_session(), page_actor(), key, now=now()),
        again=lambda errors, status: _role_form(key, errors, status),
        done=lambda _none: gettext("The role %(key)s was deleted.", key=key),
        to=url_for("web.admin_roles"),
        missing=gettext("There is no such role in this workspace."),
    )


# ---------------------------------------------------------------- departments


def _departments_page(
    errors: dict[str, str] | None = None, status: int = 200, form: dict[str, Any] | None = None
) -> ResponseReturnValue:
    departments = identity.list_departments(request_session(), page_actor()).items
    members = dict(_member_choices())
    return _page(
        "platform/admin/departments.html",
        errors,
        status,
        tree=identity.as_tree(departments),
        parents=_department_choices(),
        members=list(members.items()),
        member_names=members,
        form=form or {},
    )


def _department_fields() -> dict[str, Any]:
    return {
        "key": form_text("key"),
        "name": form_text("name"),
        "parent": form_int("parent"),
        "head": form_int("head"),
    }


def _department_changes(form: dict[str, Any]) -> dict[str, Any]:
    """The service's keyword arguments for the posted department form."""
    return {
        "key": form["key"],
        "name": form["name"],
        "parent_id": form["parent"],
        "head_user_id": form["head"],
    }


@bp.get("/admin/departments")
@admin_required
def admin_departments() -> ResponseReturnValue:
    return _departments_page()


@bp.post("/admin/departments")
@admin_required
def admin_department_create() -> ResponseReturnValue:
    form = _department_fields()
    return _submit(
        lambda: identity.create_department(
            request_session(), page_actor(), now=now(), **_department_changes(form)
        ),
        again=lambda errors, status: _departments_page(errors, status, form),
        done=lambda dept: gettext("The department %(name)s was created.", name=dept.name),
        to=url_for("web.admin_departments"),
    )


def _department_form(
    department_id: int,
    errors: dict[str, str] | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> ResponseReturnValue:
    dept = identity.get_department(request_session(), page_actor(), department_id)
    values = form or {"key": dept.key, "name": dept.name, "parent": dept.parent_id, "head": dept.head_user_id}
    return _page(
        "platform/admin/department_edit.html",
        errors,
        status,
        dept=dept,
        form=values,
        parents=_department_choices(exclude=dept.id),
        members=_member_choices(),
    )


@bp.get("/admin/departments/<int:department_id>")
@admin_required
def admin_department_edit(department_id: int) -> ResponseReturnValue:
    return _department_form(department_id)


@bp.post("/admin/departments/<int:department_id>")
@admin_required
def admin_department_update(department_id: int) -> ResponseReturnValue:
    form = _department_fields()
    return _submit(
        lambda: identity.update_department(
            request_session(), page_actor(), department_id, now=now(), **_department_changes(form)
        ),
        again=lambda errors, status: _department_form(department_id, errors, status, form),
        done=lambda _dept: gettext("The department %(name)s was saved.", name=form["name"]),
        to=url_for("web.admin_departments"),
    )


@bp.post("/admin/departments/<int:department_id>/delete")
@admin_required
def admin_department_delete(department_id: int) -> ResponseReturnValue:
    return _submit(
        lambda: identity.delete_department(request_session(), page_actor(), department_id, now=now()),
        again=lambda errors, status: _department_form(department_id, errors, status),
        done=lambda _none: gettext("The department was deleted."),
        to=url_for("web.admin_departments"),
        missing=gettext("There is no such department in this workspace."),
    )


# ---------------------------------------------------------------- API tokens


def _tokens_page(
    errors: dict[str, str] | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
    created: tuple[Any, str] | None = None,
) -> ResponseReturnValue:
    actor = page_actor()
    show_all = bool(request.values.get("all")) and (actor.is_admin or actor.is_superuser)
    tokens = identity.list_tokens(request_session(), actor, all_users=show_all).items
    return _page(
        "platform/admin/tokens.html",
        errors,
        status,
        tokens=tokens,
        show_all=show_all,
        form=form or {"days": current_app.config.get("TOKEN_DEFAULT_DAYS", 90)},
        created=created,
        status_of=functools.partial(_token_status, moment=now()),
    )


def _token_status(token: Any, moment: Any) -> str:
    return identity.token_status(token, moment)


@bp.get("/admin/tokens")
@login_required
def admin_tokens() -> ResponseReturnValue:
    return _tokens_page()


@bp.post("/admin/tokens")
@login_required
def admin_token_create() -> ResponseReturnValue:
    form = {"name": form_text("name"), "days": form_text("days")}
    days: int | None = None
    if form["days"]:
        days = form_int("days")
        if days is None or not 1 <= days <= 3650:
            return _tokens_page({"days": gettext("Give a number of days from 1 to 3650.")}, 422, form)
    actor = page_actor()
    db = request_session()
    try:
        token, plaintext = identity.issue_token(
            db,
            user=db.get(User, actor.user_id),
            workspace=db.get(Workspace, actor.workspace_id),
            name=form["name"],
            expires_at=now() + timedelta(days=days) if days else None,
            actor=actor,
            now=now(),
        )
    except OpsloomError as exc:
        errors, status = _refused(exc)
        return _tokens_page(errors, status, form)
    # the plaintext exists only in this response: it is never stored and never shown again
    return _tokens_page(status=201, created=(token, plaintext))


@bp.post("/admin/tokens/<int:token_id>/revoke")
@login_required
def admin_token_revoke(token_id: int) -> ResponseReturnValue:
    return _submit(
        lambda: identity.revoke_token(request_session(), page_actor(), token_id, now=now()),
        # no form to show again: the refusal's own sentence is the page
        again=lambda errors, status: html_error(status, errors["_form"]),
        done=lambda _token: gettext("The token was revoked; programs using it can no longer sign in."),
        to=url_for("web.admin_tokens", all=request.form.get("all") or None),
        missing=gettext("There is no such token, or it is not yours to revoke."),
    )
