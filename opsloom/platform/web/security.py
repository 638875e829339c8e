"""Browser-facing protections: security headers on every response and CSRF on every page form post.

The Content-Security-Policy allows scripts and styles from our own origin only: no
inline ``<script>``, no ``eval`` (Alpine runs its CSP build, htmx has eval off), no
inline ``<style>`` (htmx's indicator styles are turned off and live in our CSS). Front-end
code sets styles only through the CSSOM (``el.style.x = ...``), which the policy allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request

if TYPE_CHECKING:
    from flask import Flask, Response

__all__ = ["CSP", "CSRF_EXEMPT_PREFIXES", "csrf_is_valid", "init_security"]

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # data: for the small SVG icons Swagger UI and tom-select embed in their CSS
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

#: page paths whose posts are not browser forms: the API checks its own CSRF header for
#: session-authenticated writes, inbound webhooks are HMAC-signed
CSRF_EXEMPT_PREFIXES = ("/api/", "/hooks/", "/static/")
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def csrf_is_valid() -> bool:
    """True when the post carries the session's CSRF token (form field or ``X-CSRF-Token`` header)."""
    from opsloom.platform.auth.csrf import validate_csrf

    value = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    return bool(validate_csrf(value))


def _enforce_csrf() -> tuple[str, int] | Response | None:
    if request.method in _SAFE_METHODS or request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return None
    if csrf_is_valid():
        return None
    from flask_babel import gettext

    from .errors import html_error

    return html_error(
        400,
        gettext(
            "This form has expired or did not come from this site, so nothing was changed. "
            "Reload the page and try again."
        ),
    )


#: the headers every response carries unless its view set its own
_SECURE_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def _secure_headers(response: Response) -> Response:
    headers = response.headers
    # one pass over the response's headers (each ``setdefault`` would scan them all again)
    present = {key.lower() for key, _value in headers}
    wanted = list(_SECURE_HEADERS)
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        wanted.append(_HSTS)
    # pages show personal data: never keep them in shared caches or the back-forward cache
    if response.mimetype == "text/html":
        wanted.append(("Cache-Control", "no-store"))
    headers.extend([(key, value) for key, value in wanted if key.lower() not in present])
    return response


def init_security(app: Flask) -> None:
    if app.config.get("SESSION_COOKIE_NAME") in (None, "session"):  # Flask's generic default
        app.config["SESSION_COOKIE_NAME"] = "opsloom_session"
    # scripts never need the session cookie; cross-site posts never get it
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.before_request(_enforce_csrf)
    app.after_request(_secure_headers)
