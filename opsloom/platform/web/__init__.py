"""The web shell: layout, login, workspace switcher, languages, security headers, CSRF and admin pages.

``init_app`` wires the browser-facing parts into the app; the pages themselves are the
``web.views.bp`` blueprint, mounted by the platform's built-in plugin like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import init_context
from .i18n import init_i18n
from .security import init_security

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    """Wire languages, security headers, CSRF and the template context into ``app``."""
    init_i18n(app)
    init_security(app)
    init_context(app)
