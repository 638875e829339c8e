"""CSRF tokens for cookie-authenticated writes: page forms and session-authenticated API calls.

One random token per browser session, kept in the signed, HttpOnly session cookie; a
form carries it as ``csrf_token``, script calls send it as ``X-CSRF-Token``. Another site
can make the browser send the cookie but cannot read the page to learn the token.
Bearer-token API calls need no CSRF token (browsers never attach them on their own).
"""

from __future__ import annotations

import hmac
import secrets

from flask import session

__all__ = ["CSRF_HEADER", "csrf_token", "rotate_csrf", "validate_csrf"]

CSRF_HEADER = "X-CSRF-Token"
_SESSION_KEY = "_csrf"


def csrf_token() -> str:
    """The session's CSRF token (made on first use); templates put it in every form."""
    token = session.get(_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = rotate_csrf()
    return token


def rotate_csrf() -> str:
    """A fresh token (at sign-in and sign-out, so a token seen before cannot be reused)."""
    token = secrets.token_urlsafe(32)
    session[_SESSION_KEY] = token
    return token


def validate_csrf(value: str | None) -> bool:
    """True when ``value`` (a form field or header) is this session's token; compared in constant time."""
    expected = session.get(_SESSION_KEY)
    if not isinstance(expected, str) or not expected or not isinstance(value, str) or not value:
        return False
    return hmac.compare_digest(expected.encode(), value.encode("utf-8", "surrogatepass"))
