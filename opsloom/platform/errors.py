"""The one error tree of opsloom; services raise these, the API base turns them into problem+json.

Pure: imports nothing from Flask or the database, so engines and jobs can raise them too.

::

    OpsloomError (500)
     +-- BadRequest (400)               malformed input that is not a field error
     |    +-- InvalidCursor (400)       a pagination cursor that was forged or damaged
     +-- AuthenticationRequired (401)   no, expired or revoked credentials
     +-- PermissionDenied (403)
     +-- NotFound (404)                 also "exists, but in another workspace"
     +-- Conflict (409)                 duplicate key, stale version
     +-- ValidationError (422)          ``errors`` maps field keys or JSON pointers to messages
     |    +-- ExprError (422)           expression language; ``path`` is a JSON pointer
     +-- RateLimited (429)
     +-- PluginError (500)              a plugin misbehaved (load failure, bad registration)

Each class carries its HTTP ``status`` and a short ``title``; each instance carries a
``detail`` sentence that says what to do, optional ``errors`` and any context keyword
arguments (object ids, current versions), which the API adds to the problem document.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationRequired",
    "BadRequest",
    "Conflict",
    "ExprError",
    "InvalidCursor",
    "NotFound",
    "OpsloomError",
    "PermissionDenied",
    "PluginError",
    "RateLimited",
    "ValidationError",
]


class OpsloomError(Exception):
    """Root of every error opsloom raises on purpose."""

    status: int = 500
    title: str = "Internal error"
    #: the last segment of the problem ``type`` URI (``/problems/<slug>``)
    slug: str = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, str] | None = None,
        **context: Any,
    ) -> None:
        self.detail = detail or self.title
        self.errors = dict(errors or {})
        self.context = context
        super().__init__(self.detail)

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 body for this error (without ``instance``)."""
        body: dict[str, Any] = {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        for name, value in self.context.items():
            body.setdefault(name, value)
        return body


class BadRequest(OpsloomError):
    status = 400
    title = "Bad request"
    slug = "bad-request"


class InvalidCursor(BadRequest):
    title = "Invalid cursor"
    slug = "invalid-cursor"


class AuthenticationRequired(OpsloomError):
    status = 401
    title = "Authentication required"
    slug = "authentication-required"


class PermissionDenied(OpsloomError):
    status = 403
    title = "Permission denied"
    slug = "permission-denied"


class NotFound(OpsloomError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(OpsloomError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class ValidationError(OpsloomError):
    status = 422
    title = "Validation failed"
    slug = "validation"


class ExprError(ValidationError):
    """An expression could not be parsed, typed or evaluated.

    ``path`` is the JSON pointer of the offending node inside the expression
    (``""`` for the root); callers that embed an expression in a larger document
    prefix it with the expression's own pointer.
    """

    title = "Invalid expression"
    slug = "expression"

    def __init__(self, detail: str | None = None, *, path: str = "", **context: Any) -> None:
        self.path = path
        errors = context.pop("errors", None) or {path or "/": detail or self.title}
        super().__init__(detail, errors=errors, **context)


class RateLimited(OpsloomError):
    status = 429
    title = "Too many requests"
    slug = "rate-limited"


class PluginError(OpsloomError):
    status = 500
    title = "Plugin error"
    slug = "plugin"
