"""Payloads of the identity API: what a client may send (``unknown=RAISE``) and what it sees."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from marshmallow import RAISE, Schema, fields, validate

from opsloom.platform.db import utcnow

from ._common import KEY_PATTERN
from .passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from .tokens import token_status

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "DepartmentCreateSchema",
    "DepartmentPageSchema",
    "DepartmentSchema",
    "DepartmentUpdateSchema",
    "MeSchema",
    "MemberCreateSchema",
    "MemberPageSchema",
    "MemberSchema",
    "MemberUpdateSchema",
    "PageArgsSchema",
    "PasswordChangeSchema",
    "PasswordSetSchema",
    "RoleCreateSchema",
    "RolePageSchema",
    "RoleSchema",
    "RoleUpdateSchema",
    "TokenCreateSchema",
    "TokenIssuedSchema",
    "TokenListArgsSchema",
    "TokenPageSchema",
    "TokenRequestSchema",
    "TokenSchema",
    "UserListArgsSchema",
    "WorkspaceCreateSchema",
    "WorkspacePageSchema",
    "WorkspaceSchema",
]

# the message is a format string: braces doubled
_KEY = validate.Regexp(KEY_PATTERN, error="must match ^[a-z][a-z0-9_]{{0,39}}$")
_NAME = validate.Length(min=1, max=200)
_DAYS = validate.Range(min=1, max=3650)


class UtcDateTime(fields.DateTime):
    """ISO 8601 with an offset on every backend (SQLite gives naive UTC stamps back)."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def _id(**kwargs: Any) -> fields.Integer:
    """A JSON integer (``"3"`` and ``3.0`` are refused, ``true`` too)."""
    return fields.Integer(strict=True, validate=validate.Range(min=1), **kwargs)


def _flag(**kwargs: Any) -> fields.Boolean:
    """A JSON boolean only (no ``"yes"``/``1``)."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


# ---------------------------------------------------------------- paging


class PageArgsSchema(StrictSchema):
    limit = fields.Integer(validate=validate.Range(min=1), metadata={"description": "page size"})
    cursor = fields.String(
        validate=validate.Length(max=2000), metadata={"description": "`next_cursor` of the previous page"}
    )


class UserListArgsSchema(PageArgsSchema):
    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "part of a username, display name or e-mail"},
    )


class TokenListArgsSchema(PageArgsSchema):
    all = fields.Boolean(
        load_default=False, metadata={"description": "administrators: every member's tokens"}
    )


# ---------------------------------------------------------------- tokens and me


class TokenRequestSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=MAX_PASSWORD_LENGTH)
    )
    name = fields.String(load_default="api", validate=_NAME, metadata={"description": "to tell tokens apart"})
    expires_in_days = fields.Integer(
        strict=True, validate=_DAYS, metadata={"description": "default: the instance's TOKEN_DEFAULT_DAYS"}
    )
    workspace = fields.String(validate=_KEY, metadata={"description": "workspace key; default: your first"})


class TokenCreateSchema(StrictSchema):
    name = fields.String(required=True, validate=_NAME)
    expires_in_days = fields.Integer(
        strict=True, validate=_DAYS, metadata={"description": "default: the instance's TOKEN_DEFAULT_DAYS"}
    )


class TokenIssuedSchema(StrictSchema):
    id = fields.Integer()
    token = fields.String(metadata={"description": "shown this once; only its hash is kept"})
    name = fields.String()
    prefix = fields.String()
    workspace = fields.String(metadata={"description": "workspace key"})
    expires_at = UtcDateTime(allow_none=True)


class TokenSchema(StrictSchema):
    """An API token as its owner and administrators see it (never the token itself)."""

    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "first characters of the token"})
    user_id = fields.Integer()
    username = fields.String(attribute="user.username")
    status = fields.Function(
        lambda token: token_status(token, utcnow()), metadata={"description": "active, expired or revoked"}
    )
    created_at = UtcDateTime()
    expires_at = UtcDateTime(allow_none=True)
    revoked_at = UtcDateTime(allow_none=True)
    last_used_at = UtcDateTime(allow_none=True, metadata={"description": "to within five minutes"})


class TokenPageSchema(StrictSchema):
    items = fields.List(fields.Nested(TokenSchema))
    next_cursor = fields.String(allow_none=True)


class WorkspaceSchema(StrictSchema):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()
    timezone = fields.String()
    created_at = UtcDateTime()


class WorkspacePageSchema(StrictSchema):
    items = fields.List(fields.Nested(WorkspaceSchema))
    next_cursor = fields.String(allow_none=True)


class WorkspaceCreateSchema(StrictSchema):
    key = fields.String(required=True, validate=_KEY)
    name = fields.String(required=True, validate=_NAME)
    timezone = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "IANA name"})


class MeSchema(StrictSchema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    is_superuser = fields.Boolean()
    is_admin = fields.Boolean(metadata={"description": "administers the current workspace"})
    roles = fields.List(fields.String())
    department = fields.Integer(allow_none=True)
    workspace = fields.Nested(WorkspaceSchema)
    via = fields.String(metadata={"description": "token or session"})
    csrf_token = fields.String(
        metadata={"description": "session sign-ins: send it as X-CSRF-Token on writes"}
    )


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(max=MAX_PASSWORD_LENGTH)
    )
    new_password = fields.String(required=True, load_only=True)


class PasswordSetSchema(StrictSchema):
    """An administrator's new password for someone else (checked against the policy by the service)."""

    password = fields.String(
        required=True,
        load_only=True,
        metadata={
            "description": f"the new password: {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, "
            "not only spaces, not the username"
        },
    )


# ---------------------------------------------------------------- members


class MemberSchema(StrictSchema):
    id = fields.Integer(attribute="user_id", metadata={"description": "user id"})
    username = fields.String(attribute="user.username")
    display_name = fields.String(attribute="user.display_name")
    email = fields.String(attribute="user.email", allow_none=True)
    roles = fields.Function(
        lambda member: sorted(role.key for role in member.roles), metadata={"description": "role keys"}
    )
    department = fields.Integer(attribute="department_id", allow_none=True)
    is_active = fields.Boolean(metadata={"description": "may act in this workspace"})
    joined_at = UtcDateTime(attribute="created_at")
    last_login_at = UtcDateTime(attribute="user.last_login_at", allow_none=True)


class MemberPageSchema(StrictSchema):
    items = fields.List(fields.Nested(MemberSchema))
    next_cursor = fields.String(allow_none=True)


class MemberCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    password = fields.String(
        load_only=True,
        metadata={"description": "creates a new user; omit it to add an existing user by username"},
    )
    display_name = fields.String(load_default="", validate=validate.Length(max=200))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    roles = fields.List(fields.String(validate=_KEY), load_default=lambda: ["staff"])
    department = _id(allow_none=True)


class MemberUpdateSchema(StrictSchema):
    display_name = fields.String(validate=validate.Length(max=200))
    email = fields.String(allow_none=True, validate=validate.Length(max=254))
    roles = fields.List(fields.String(validate=_KEY))
    department = _id(allow_none=True)
    is_active = _flag()


# ---------------------------------------------------------------- roles


class RoleSchema(StrictSchema):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()
    description = fields.String()
    is_admin = fields.Boolean()
    permissions = fields.Dict(keys=fields.String())
    created_at = UtcDateTime()


class RolePageSchema(StrictSchema):
    items = fields.List(fields.Nested(RoleSchema))
    next_cursor = fields.String(allow_none=True)


class RoleCreateSchema(StrictSchema):
    key = fields.String(required=True, validate=_KEY)
    name = fields.String(validate=_NAME, metadata={"description": "default: the key"})
    description = fields.String(load_default="", validate=validate.Length(max=1000))
    is_admin = _flag(load_default=False)
    permissions = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)), load_default=dict)


class RoleUpdateSchema(StrictSchema):
    name = fields.String(validate=_NAME)
    description = fields.String(validate=validate.Length(max=1000))
    is_admin = _flag()
    permissions = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=200)))


# ---------------------------------------------------------------- departments


class DepartmentSchema(StrictSchema):
    id = fields.Integer()
    key = fields.String()
    name = fields.String()
    parent = fields.Integer(attribute="parent_id", allow_none=True)
    head = fields.Integer(attribute="head_user_id", allow_none=True, metadata={"description": "user id"})
    created_at = UtcDateTime()


class DepartmentPageSchema(StrictSchema):
    items = fields.List(fields.Nested(DepartmentSchema))
    next_cursor = fields.String(allow_none=True)


class DepartmentCreateSchema(StrictSchema):
    key = fields.String(required=True, validate=_KEY)
    name = fields.String(required=True, validate=_NAME)
    parent = _id(allow_none=True, load_default=None)
    head = _id(allow_none=True, load_default=None, metadata={"description": "user id of an active member"})


class DepartmentUpdateSchema(StrictSchema):
    key = fields.String(validate=_KEY)
    name = fields.String(validate=_NAME)
    parent = _id(allow_none=True)
    head = _id(allow_none=True)
