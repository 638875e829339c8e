"""API tokens: issued once in plaintext, stored as SHA-256, named, expiring, revocable.

A token is ``olt_`` plus 43 URL-safe characters (256 random bits): the prefix makes a
leaked token easy to recognise (and to search for), the hash means a database dump holds
nothing a client could send. SHA-256 without salt is right here: the secret is random,
not a guessable password, and the hash must be looked up by equality.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import selectinload

from opsloom.platform.actor import SYSTEM
from opsloom.platform.audit import record
from opsloom.platform.errors import AuthenticationRequired, NotFound, PermissionDenied, ValidationError
from opsloom.platform.events import emit
from opsloom.platform.hot_query import HotQuery
from opsloom.platform.models import ApiToken, Membership, User, Workspace
from opsloom.platform.pagination import SortKey

from ._common import aware, check_text, iso, list_page, now_or, workspace_id_of
from .actors import ACTOR_COLUMNS, actor_from_rows, join_membership

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.pagination import Page

__all__ = [
    "TOKEN_PREFIX",
    "authenticate_bearer",
    "authenticate_token",
    "hash_token",
    "issue_token",
    "list_tokens",
    "revoke_token",
    "token_status",
]

TOKEN_PREFIX = "olt_"
_SECRET_BYTES = 32
# characters of the plaintext kept for lists ("olt_AbCdEfGh…")
_SHOWN = 12
# last_used_at is a hint, not a log: write it at most this often per token
_TOUCH_EVERY = timedelta(minutes=5)
_KEYS = (SortKey("id", ApiToken.id, descending=True),)


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def token_view(token: ApiToken) -> dict[str, Any]:
    """What the audit log keeps about a token (never its hash)."""
    return {
        "name": token.name,
        "prefix": token.prefix,
        "user_id": token.user_id,
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
    }


def token_status(token: ApiToken, now: datetime) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if token.revoked_at is not None:
        return "revoked"
    expires = aware(token.expires_at)
    if expires is not None and expires <= now:
        return "expired"
    return "active"


def issue_token(
    session: Session,
    *,
    user: User,
    workspace: Workspace,
    name: str,
    expires_at: datetime | None = None,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``user`` acting in ``workspace``; the plaintext is returned here and never again.

    ``expires_at`` None means the token does not expire (callers pass the configured
    default, ``TOKEN_DEFAULT_DAYS``).

    :raises ValidationError: bad name, or an expiry that is not in the future.
    :raises PermissionDenied: the user is inactive or not an active member of ``workspace``.
    """
    now = now_or(now)
    name = check_text(name, "name", max_length=200)
    if expires_at is not None and aware(expires_at) <= now:
        raise ValidationError(
            "A token's expiry must lie in the future.", errors={"expires_at": "in the past"}
        )
    if not user.is_active:
        raise PermissionDenied(f"{user.username!r} is deactivated and cannot get tokens.")
    if not user.is_superuser:
        member = session.scalar(
            select(Membership.id).where(
                Membership.user_id == user.id,
                Membership.workspace_id == workspace.id,
                Membership.is_active.is_(True),
            )
        )
        if member is None:
            raise PermissionDenied(
                f"{user.username!r} is not an active member of workspace {workspace.key!r}."
            )
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    token = ApiToken(
        workspace_id=workspace.id,
        user_id=user.id,
        name=name,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:_SHOWN],
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    record(
        session,
        actor,
        "create",
        "api_token",
        token.id,
        after=token_view(token),
        workspace_id=workspace.id,
        now=now,
    )
    emit(
        session,
        "token.issued",
        payload={"id": token.id, "user_id": user.id},
        workspace_id=workspace.id,
        actor=actor,
        now=now,
    )
    return token, plaintext


_BEARER_QUERY = join_membership(
    select(
        ApiToken.id.label("t_id"),
        ApiToken.prefix.label("t_prefix"),
        ApiToken.workspace_id.label("t_workspace_id"),
        ApiToken.expires_at.label("t_expires_at"),
        ApiToken.revoked_at.label("t_revoked_at"),
        ApiToken.last_used_at.label("t_last_used_at"),
        User.id.label("u_id"),
        User.username.label("u_username"),
        User.display_name.label("u_display_name"),
        User.is_active.label("u_active"),
        User.is_superuser.label("u_superuser"),
        User.locale.label("u_locale"),
        *ACTOR_COLUMNS,
    )
    .select_from(ApiToken)
    .join(User, User.id == ApiToken.user_id)
    .join(Workspace, Workspace.id == ApiToken.workspace_id),
    User.id,
).where(ApiToken.token_hash == bindparam("token_hash"))


_BEARER_ROWS = HotQuery(_BEARER_QUERY)


def _check_usable(
    prefix: str, revoked_at: datetime | None, expires_at: datetime | None, now: datetime
) -> None:
    if revoked_at is not None:
        raise AuthenticationRequired(
            f"The API token {prefix}… was revoked on {iso(revoked_at)}; create a new one."
        )
    expires = aware(expires_at)
    if expires is not None and expires <= now:
        raise AuthenticationRequired(
            f"The API token {prefix}… expired on {iso(expires_at)}; create a new one."
        )


def _check_format(plaintext: str) -> None:
    if not plaintext.startswith(TOKEN_PREFIX) or not 20 <= len(plaintext) <= 200:
        raise AuthenticationRequired("This is not an opsloom API token (they start with `olt_`).")


_NOT_VALID = "The API token is not valid; create a new one (POST /api/v1/auth/token)."


def authenticate_token(session: Session, plaintext: str, now: datetime) -> tuple[ApiToken, User]:
    """The token and its user for a bearer ``plaintext``.

    :raises AuthenticationRequired: unknown, revoked or expired token, or a deactivated
        user; the detail says which, so a client knows whether to ask for a new token.
    """
    _check_format(plaintext)
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(plaintext))
    ).first()
    if row is None:
        raise AuthenticationRequired(_NOT_VALID)
    token, user = row
    _check_usable(token.prefix, token.revoked_at, token.expires_at, now)
    if not user.is_active:
        raise AuthenticationRequired("The account of this API token is deactivated.")
    last = aware(token.last_used_at)
    if last is None or now - last >= _TOUCH_EVERY:
        token.last_used_at = now
    return token, user


def authenticate_bearer(
    session: Session, plaintext: str, now: datetime, *, request_id: str | None, address: str | None
) -> Actor:
    """The actor a bearer ``plaintext`` stands for, in one query (token, user, workspace, roles).

    The request edge calls this on every API request; ``authenticate_token`` answers the
    same questions with ORM objects for callers that need them.

    :raises AuthenticationRequired: unknown, revoked or expired token, a deactivated user,
        or a user who is no longer an active member of the token's workspace.
    """
    _check_format(plaintext)
    # on the driver's cursor (``HotQuery``): SQLAlchemy's execution layer costs more than the
    # query itself, and every API request runs it
    rows = _BEARER_ROWS.all(session, token_hash=hash_token(plaintext))
    if not rows:
        raise AuthenticationRequired(_NOT_VALID)
    first = rows[0]
    _check_usable(first.t_prefix, first.t_revoked_at, first.t_expires_at, now)
    if not first.u_active:
        raise AuthenticationRequired("The account of this API token is deactivated.")
    try:
        actor = actor_from_rows(
            rows,
            user_id=first.u_id,
            username=first.u_username,
            display_name=first.u_display_name,
            is_active=first.u_active,
            is_superuser=first.u_superuser,
            locale=first.u_locale,
            workspace_id=first.t_workspace_id,
            via="token",
            request_id=request_id,
            address=address,
        )
    except NotFound:
        raise AuthenticationRequired(
            "The user of this API token is no longer an active member of its workspace."
        ) from None
    last = aware(first.t_last_used_at)
    if last is None or now - last >= _TOUCH_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == first.t_id).values(last_used_at=now))
    return actor


def _visible(session: Session, actor: Actor, token_id: int) -> ApiToken:
    workspace_id = workspace_id_of(actor)
    token = session.get(ApiToken, token_id)
    admin = actor.is_admin or actor.is_superuser
    if token is None or token.workspace_id != workspace_id or (token.user_id != actor.user_id and not admin):
        raise NotFound(f"There is no API token {token_id} of yours.")
    return token


def revoke_token(session: Session, actor: Actor, token_id: int, *, now: datetime | None = None) -> ApiToken:
    """Revoke one of the actor's tokens (administrators: any token of the workspace); repeating is harmless.

    :raises NotFound: no such token visible to the actor.
    """
    token = _visible(session, actor, token_id)
    if token.revoked_at is None:
        now = now_or(now)
        before = token_view(token)
        token.revoked_at = now
        session.flush()
        record(
            session, actor, "revoke", "api_token", token.id, before=before, after=token_view(token), now=now
        )
        emit(
            session, "token.revoked", payload={"id": token.id, "user_id": token.user_id}, actor=actor, now=now
        )
    return token


def list_tokens(
    session: Session,
    actor: Actor,
    *,
    all_users: bool = False,
    limit: int | None = None,
    cursor: str | None = None,
    secret: str = "",
) -> Page:
    """The actor's tokens in this workspace, newest first; ``all_users`` (administrators) lists everyone's.

    :raises PermissionDenied: ``all_users`` by someone who does not administer the workspace.
    """
    workspace_id = workspace_id_of(actor)
    stmt = select(ApiToken).where(ApiToken.workspace_id == workspace_id).options(selectinload(ApiToken.user))
    if all_users:
        if not (actor.is_admin or actor.is_superuser):
            raise PermissionDenied("Only workspace administrators may list everyone's tokens.")
    else:
        stmt = stmt.where(ApiToken.user_id == actor.user_id)
    return list_page(
        session,
        stmt,
        _KEYS,
        limit=limit,
        cursor=cursor,
        secret=secret,
        scope=f"tokens|{workspace_id}|{actor.user_id}|{int(all_users)}",
    )
