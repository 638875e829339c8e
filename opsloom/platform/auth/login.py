"""Password sign-in, throttled per account and per address from the ``login_attempts`` table.

Throttling lives in the database, not in process memory, so it holds across gunicorn
workers and machines. A failed attempt must outlive the request that failed (the edge
rolls back on errors): the service adds it to the session *and* notes it in
``session.info``; ``keep_failed_attempts`` re-adds it after a rollback, and the auth
request hook calls that before the edge's own commit/rollback.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from opsloom.platform.errors import AuthenticationRequired, RateLimited
from opsloom.platform.models import LoginAttempt, User

from . import passwords
from ._common import aware

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

__all__ = ["authenticate_password", "keep_failed_attempts", "retry_after"]

_PENDING = "opsloom.auth.failed_attempts"
_BAD_CREDENTIALS = "The username or password is not right."


def retry_after(
    session: Session,
    *,
    username: str,
    address: str,
    now: datetime,
    max_per_account: int,
    max_per_address: int,
    window_seconds: int,
) -> int:
    """Seconds until another attempt is allowed (0 = allowed now).

    An account counts its failures in the window since its last successful sign-in; an
    address counts all of its failures in the window (its own successes do not reset it,
    or one valid account would unlock guessing at every other).
    """
    window_start = now - timedelta(seconds=window_seconds)
    last_success = session.scalar(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.username == username, LoginAttempt.success.is_(True), LoginAttempt.at > window_start
        )
    )
    account_since = max(window_start, aware(last_success)) if last_success is not None else window_start
    waits = [
        _wait(
            session, LoginAttempt.username == username, account_since, max_per_account, window_seconds, now
        ),
        _wait(session, LoginAttempt.address == address, window_start, max_per_address, window_seconds, now),
    ]
    return max(waits)


def _wait(session: Session, who: Any, since: datetime, limit: int, window_seconds: int, now: datetime) -> int:
    """Seconds until one of ``limit`` failures since ``since`` leaves the window (0: fewer failures)."""
    if limit <= 0:
        return 0
    stamps = session.scalars(
        select(LoginAttempt.at)
        .where(who, LoginAttempt.success.is_(False), LoginAttempt.at > since)
        .order_by(LoginAttempt.at.desc())
        .limit(limit)
    ).all()
    if len(stamps) < limit:
        return 0
    # the limit-th newest failure: once it leaves the window, one attempt is allowed again
    freed_at = aware(stamps[-1]) + timedelta(seconds=window_seconds)
    return max(1, math.ceil((freed_at - now).total_seconds()))


def _failed(
    session: Session,
    *,
    username: str,
    address: str,
    now: datetime,
    user_id: int | None,
    detail: str = _BAD_CREDENTIALS,
) -> AuthenticationRequired:
    values = {"username": username, "address": address, "at": now, "success": False, "user_id": user_id}
    session.add(LoginAttempt(**values))
    session.flush()
    session.info.setdefault(_PENDING, []).append(values)
    return AuthenticationRequired(detail)


def keep_failed_attempts(session: Session) -> int:
    """Roll ``session`` back but keep the failed sign-ins recorded in it (to be committed by the caller).

    Returns how many attempts were kept; with none, the session is left untouched.
    """
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return 0
    session.rollback()
    session.add_all(LoginAttempt(**values) for values in pending)
    session.flush()
    return len(pending)


def authenticate_password(
    session: Session,
    *,
    username: str,
    password: str,
    address: str,
    now: datetime,
    max_per_account: int,
    max_per_address: int,
    window_seconds: int,
) -> User:
    """The active user whose ``username`` and ``password`` match.

    Records every attempt; a matching password whose hash uses old parameters is
    re-hashed. Limits come from the caller (``LOGIN_MAX_FAILURES_PER_*``, ``LOGIN_WINDOW_SECONDS``).

    :raises RateLimited: too many recent failures for this account or address;
        ``retry_after`` (seconds) says when to try again. The password is not checked.
    :raises AuthenticationRequired: wrong username or password (one message for both), or a
        deactivated account.
    """
    name = (username or "").strip().lower()[:80]
    address = (address or "unknown")[:64]
    wait = retry_after(
        session,
        username=name,
        address=address,
        now=now,
        max_per_account=max_per_account,
        max_per_address=max_per_address,
        window_seconds=window_seconds,
    )
    if wait:
        raise RateLimited(f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait)
    user = session.scalar(select(User).where(User.username == name)) if name else None
    if user is None:
        passwords.verify_dummy(password or "")
        raise _failed(session, username=name, address=address, now=now, user_id=None)
    if not passwords.verify_password(user.password_hash, password or ""):
        raise _failed(session, username=name, address=address, now=now, user_id=user.id)
    if not user.is_active:
        raise _failed(
            session,
            username=name,
            address=address,
            now=now,
            user_id=user.id,
            detail="This account is deactivated; ask an administrator.",
        )
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    session.add(LoginAttempt(username=name, address=address, at=now, success=True, user_id=user.id))
    session.flush()
    return user
