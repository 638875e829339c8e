"""What every page template sees: the signed-in user, the workspace, the switcher and the navigation.

Values are computed once per request on first use (``g``), so a page that never shows
the navigation never queries it, and error pages can render without touching the database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import current_app, g, url_for

from opsloom.platform.db import request_session

from .i18n import LANGUAGE_NAMES, label_text, locale_code

if TYPE_CHECKING:
    from flask import Flask

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import Workspace

__all__ = ["current_workspace", "init_context", "is_workspace_admin", "my_workspaces", "nav_apps"]

log = logging.getLogger("opsloom.web")


def _signed_in_actor() -> Actor | None:
    """The actor of this request, or None for an anonymous visitor."""
    return g.get("actor")


def is_workspace_admin() -> bool:
    actor = _signed_in_actor()
    return bool(actor is not None and (actor.is_admin or actor.is_superuser))


def current_workspace() -> Workspace | None:
    """The workspace the signed-in user is acting in (cached on ``g``)."""
    if "_web_workspace" not in g:
        actor = _signed_in_actor()
        workspace = None
        if actor is not None and actor.workspace_id is not None:
            from opsloom.platform.models import Workspace

            workspace = request_session().get(Workspace, actor.workspace_id)
        g._web_workspace = workspace
    return g._web_workspace


def my_workspaces() -> list[Any]:
    """The workspaces the signed-in user belongs to, for the switcher."""
    if "_web_workspaces" not in g:
        user = g.get("user")
        items: list[Any] = []
        if user is not None:
            from opsloom.platform.auth.service import workspaces_of

            items = list(workspaces_of(request_session(), user))
        g._web_workspaces = items
    return g._web_workspaces


def nav_apps() -> list[Any]:
    """The current workspace's apps (archived ones left out), for the left navigation."""
    if "_web_nav_apps" not in g:
        actor = _signed_in_actor()
        items: list[Any] = []
        if actor is not None and actor.workspace_id is not None:
            from opsloom.platform.definitions.service import list_apps

            items = list(list_apps(request_session(), actor))
        g._web_nav_apps = items
    return g._web_nav_apps


def _csrf_token() -> str:
    from opsloom.platform.auth.csrf import csrf_token

    return csrf_token()


def _vendor(path: str) -> str:
    return url_for("static", filename=f"vendor/{path}")


def _template_context() -> dict[str, Any]:
    return {
        "current_user": g.get("user"),
        "current_actor": _signed_in_actor(),
        "current_workspace": current_workspace,
        "my_workspaces": my_workspaces,
        "nav_apps": nav_apps,
        "is_workspace_admin": is_workspace_admin,
        "csrf_token": _csrf_token,
        "vendor": _vendor,
        "languages": LANGUAGE_NAMES,
        "current_locale": locale_code,
        "label": label_text,
        "product_name": current_app.config.get("PRODUCT_NAME", "opsloom"),
    }


def init_context(app: Flask) -> None:
    app.context_processor(_template_context)
