"""Who may open a page, and the small request helpers every page view shares.

Page views are an edge like the API handlers: they read ``g.actor`` (set by the auth
area), call services with an explicit ``session``/``actor``/``now``, and leave the commit
to ``_finish_request`` (committed on a status below 400, e.g. the 302 of POST-redirect-GET).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from flask import g, redirect, request, url_for
from flask_babel import gettext

from opsloom.platform.db import utcnow

from .errors import html_error

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from opsloom.platform.actor import Actor

__all__ = [
    "admin_required",
    "form_int",
    "form_list",
    "form_text",
    "is_htmx",
    "login_required",
    "now",
    "page_actor",
    "safe_next",
]

F = TypeVar("F", bound="Callable[..., Any]")


def page_actor() -> Actor:
    """The signed-in actor (views behind ``login_required`` only)."""
    return g.actor


def now() -> datetime:
    return utcnow()


def is_htmx() -> bool:
    """True for an htmx request, which wants a fragment rather than a whole page."""
    return request.headers.get("HX-Request") == "true"


def safe_next(value: str | None, default: str | None = None) -> str:
    """A local path to go to after a form, never another site (``//evil`` or ``https://...``)."""
    fallback = default or url_for("web.home")
    if not value:
        return fallback
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return fallback
    return value.rstrip("?") or fallback


def login_required(view: F) -> F:
    """Send anonymous visitors to the sign-in page, coming back here afterwards."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None or g.get("actor") is None:
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("web.login", next=safe_next(target, url_for("web.home"))))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """Workspace administrators (and superusers) only; others get the 403 page."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        actor = g.actor
        if not (actor.is_admin or actor.is_superuser):
            return html_error(
                403, gettext("Only administrators of this workspace may open the administration pages.")
            )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def form_int(name: str) -> int | None:
    """An integer form field, None when empty; a non-number is None too (the service then refuses it)."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def form_text(name: str) -> str:
    """A text form field without surrounding spaces ("" when absent)."""
    return (request.form.get(name) or "").strip()


def form_list(name: str) -> list[str]:
    """A multi-value form field without blanks."""
    return [value.strip() for value in request.form.getlist(name) if value.strip()]
