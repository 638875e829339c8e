"""The shell's own pages: home, sign-in/out, workspace and language switches, app overview, API reference."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext, refresh

from opsloom.platform.db import request_session
from opsloom.platform.errors import AuthenticationRequired, NotFound, RateLimited
from opsloom.platform.plugin_host import get_plugin_host

from .blueprint import bp
from .errors import html_error
from .guards import form_int, login_required, now, page_actor, safe_next
from .i18n import supported_locales

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

__all__ = ["bp"]


@bp.get("/")
@login_required
def home() -> ResponseReturnValue:
    from .context import nav_apps

    return render_template("platform/home.html", apps=nav_apps(), nav_active="home")


# ---------------------------------------------------------------- sign-in


def _login_form(error: str = "", status: int = 200) -> ResponseReturnValue:
    return (
        render_template(
            "platform/login.html",
            error=error,
            username=request.form.get("username", ""),
            next_url=safe_next(request.values.get("next")),
        ),
        status,
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(safe_next(request.args.get("next")))
        return _login_form()

    from opsloom.platform.auth import login_user
    from opsloom.platform.auth.service import authenticate_password, login_limits, workspaces_of

    db = request_session()
    try:
        user = authenticate_password(
            db,
            username=(request.form.get("username") or "").strip(),
            password=request.form.get("password") or "",
            address=request.remote_addr or "unknown",
            now=now(),
            **login_limits(current_app.config),
        )
    except RateLimited as exc:
        minutes = max(1, math.ceil(float(exc.context.get("retry_after", 60)) / 60))
        message = gettext(
            "Too many failed sign-ins. Wait %(minutes)s minutes and try again.", minutes=minutes
        )
        response = current_app.make_response(_login_form(message, 429))
        response.headers["Retry-After"] = str(int(exc.context.get("retry_after", 60)))
        return response
    except AuthenticationRequired:
        return _login_form(gettext("The username or password is not right."), 401)

    workspaces = list(workspaces_of(db, user))
    if not workspaces:
        return _login_form(
            gettext("Your account does not belong to any workspace yet. Ask an administrator."), 403
        )
    remembered = session.get("last_workspace_id")
    workspace = next((ws for ws in workspaces if ws.id == remembered), workspaces[0])
    login_user(user, workspace)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    from opsloom.platform.auth import logout_user

    logout_user()  # keeps the language and the last workspace
    flash(gettext("You have signed out."), "info")
    return redirect(url_for("web.login"))


# ---------------------------------------------------------------- switches


@bp.post("/workspace")
@login_required
def switch_workspace() -> ResponseReturnValue:
    from opsloom.platform.auth import switch_workspace as switch

    workspace_id = form_int("workspace_id")
    if workspace_id is None:
        return html_error(400, gettext("Choose a workspace from the list."))
    try:
        switch(workspace_id)
    except NotFound:
        return html_error(404, gettext("You are not a member of that workspace."))
    session["last_workspace_id"] = workspace_id
    # pages of the old workspace (an app, a user) mean nothing in the new one: go home
    return redirect(url_for("web.home"))


@bp.post("/language")
def set_language() -> ResponseReturnValue:
    code = request.form.get("locale", "")
    if code not in supported_locales():
        return html_error(400, gettext("That language is not available."))
    session["locale"] = code
    user = g.get("user")
    if user is not None:
        from opsloom.platform.auth.service import set_user_locale

        set_user_locale(request_session(), page_actor(), user.id, code, now=now())
    refresh()
    return redirect(safe_next(request.form.get("next")))


# ---------------------------------------------------------------- apps


def _kinds() -> list[Any]:
    registry = get_plugin_host().registries.definition_kinds
    return sorted(registry.values(), key=lambda kind: (kind.order, kind.name))


@bp.get("/apps/<app_key>")
@login_required
def app_overview(app_key: str) -> ResponseReturnValue:
    from opsloom.platform.definitions.service import get_app, list_definitions

    db = request_session()
    actor = page_actor()
    app = get_app(db, actor, app_key)
    sections = []
    for kind in _kinds():
        if kind.name == "app":
            continue
        sections.append((kind, list(list_definitions(db, actor, app, kind.name))))
    from .sections import app_sections

    # what the engines offer here (records to open, flows to start), without importing them
    extras = app_sections(current_app, db, actor, app)
    return render_template(
        "platform/app.html", app=app, sections=sections, app_sections=extras, nav_active=f"app:{app.key}"
    )


# ---------------------------------------------------------------- API reference


@bp.get("/api/docs")
@login_required
def api_docs() -> ResponseReturnValue:
    spec_url = url_for("api-docs.openapi_json")
    return render_template("platform/api_docs.html", spec_url=spec_url, nav_active="web.api_docs")
