"""Languages of the pages: flask-babel set-up, the locale and timezone choice, per-locale labels.

The locale is, in order: the signed-in user's saved choice (``users.locale``), the
choice kept in the session (anonymous visitors), the browser's ``Accept-Language``
best match, ``DEFAULT_LOCALE``. Times show in the current workspace's timezone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale
from flask import current_app, g, request, session
from flask_babel import Babel, get_locale

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["LANGUAGE_NAMES", "init_i18n", "label_text", "locale_code", "supported_locales"]

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

#: how each language names itself in the language switch (never translated)
LANGUAGE_NAMES = {"en": "English", "zh_CN": "中文"}


def supported_locales() -> list[str]:
    return list(current_app.config.get("LOCALES") or ["en"])


def _normalise(value: str | None) -> str | None:
    """``zh-cn`` / ``zh_CN`` -> ``zh_CN`` when supported, else None."""
    if not value:
        return None
    wanted = value.replace("-", "_").lower()
    for code in supported_locales():
        if code.lower() == wanted:
            return code
    return None


def select_locale() -> str:
    # the user row when loaded (a page may just have changed it), else the actor (bearer calls)
    who = g.get("user") or g.get("actor")
    chosen = _normalise(getattr(who, "locale", None)) if who is not None else None
    if chosen is None:
        chosen = _normalise(session.get("locale"))
    if chosen is None:
        best = request.accept_languages.best_match(supported_locales()) if request else None
        chosen = _normalise(best)
    return chosen or current_app.config.get("DEFAULT_LOCALE", "en")


def select_timezone() -> str:
    from .context import current_workspace

    workspace = current_workspace()
    if workspace is not None and workspace.timezone:
        return workspace.timezone
    return current_app.config.get("DEFAULT_TIMEZONE", "UTC")


def locale_code() -> str:
    """The current locale as configured (``en`` / ``zh_CN``).

    Babel names ``zh_CN`` ``zh_Hans_CN`` (its CLDR identifier, also the catalog folder's
    name); pages and settings use the configured short code.
    """
    locale = get_locale()
    if locale is None:
        return current_app.config.get("DEFAULT_LOCALE", "en")
    for code in supported_locales():
        if Locale.parse(code) == locale:
            return code
    return str(locale)


def label_text(label: Any, fallback: str = "") -> str:
    """Pick the current language's text from ``"text"`` or ``{"zh": ..., "en": ...}`` labels."""
    if isinstance(label, str):
        return label or fallback
    if not isinstance(label, dict) or not label:
        return fallback
    code = locale_code()
    for key in (code, code.split("_")[0], code.replace("_", "-"), "en", "zh"):
        value = label.get(key)
        if isinstance(value, str) and value:
            return value
    first = next((v for v in label.values() if isinstance(v, str) and v), None)
    return first or fallback


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config.get("DEFAULT_LOCALE", "en"))
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config.get("DEFAULT_TIMEZONE", "UTC"))
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["label"] = label_text
    # {% trans %} blocks and _() in templates; autoescape stays on for everything
    app.jinja_env.policies["ext.i18n.trimmed"] = True
