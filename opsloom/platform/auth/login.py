"""Password checks, throttled per account and per address from the ``login_attempts`` table.

Two doors check a password: sign-in (``authenticate_password``) and the current password a
signed-in user gives to change it (``verify_current_password``). Both count in the same
table with the same limits, so a stolen session cannot guess the password at the second
door faster than a stranger at the first. Throttling lives in the database, not in process memory, so it holds across gunicorn
workers and machines. A failed attempt must outlive the request that failed (the edge
rolls back on errors): the service adds it to the session *and* notes it in
``session.info``; ``keep_failed_attempts`` re-adds it after a rollback, and the auth
request hook calls that before the edge's own commit/rollback.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from sqlalchemy import func, select

from opsloom.platform.errors import AuthenticationRequired, RateLimited, ValidationError
from opsloom.platform.models import LoginAttempt, User

from . import passwords
from ._common import aware

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlalchemy.orm import Session

__all__ = [
    "LoginLimits",
    "authenticate_password",
    "keep_failed_attempts",
    "login_limits",
    "retry_after",
    "verify_current_password",
]

_PENDING = "opsloom.auth.failed_attempts"
_BAD_CREDENTIALS = "The username or password is not right."


class LoginLimits(TypedDict):
    """How many failures an account and an address may have within the window, in seconds."""

    max_per_account: int
    max_per_address: int
    window_seconds: int


def login_limits(config: Mapping[str, Any]) -> LoginLimits:
    """The throttle settings of ``config`` as keyword arguments for the two password doors.

    One mapping from ``LOGIN_MAX_FAILURES_PER_ACCOUNT``, ``LOGIN_MAX_FAILURES_PER_ADDRESS`` and
    ``LOGIN_WINDOW_SECONDS``, so sign-in and password changes cannot drift apart.
    """
    return {
        "max_per_account": config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        "max_per_address": config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        "window_seconds": config["LOGIN_WINDOW_SECONDS"],
    }


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


def _open(
    session: Session, username: str | None, address: str | None, now: datetime, limits: LoginLimits
) -> tuple[str, str, int]:
    """The stored forms of ``username`` and ``address`` and the seconds they must wait (0: go ahead)."""
    name = (username or "").strip().lower()[:80]
    where = (address or "unknown")[:64]
    return name, where, retry_after(session, username=name, address=where, now=now, **limits)


def _note_attempt(
    session: Session, *, username: str, address: str, now: datetime, user_id: int | None, success: bool
) -> None:
    """Add one attempt to the session; a failure is also noted for ``keep_failed_attempts``."""
    values = {"username": username, "address": address, "at": now, "success": success, "user_id": user_id}
    session.add(LoginAttempt(**values))
    session.flush()
    if not success:
        session.info.setdefault(_PENDING, []).append(values)


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
    **limits: Unpack[LoginLimits],
) -> User:
    """The active user whose ``username`` and ``password`` match.

    Records every attempt; a matching password whose hash uses old parameters is
    re-hashed. Limits come from the caller (``login_limits(config)``).

    :raises RateLimited: too many recent failures for this account or address;
        ``retry_after`` (seconds) says when to try again. The password is not checked.
    :raises AuthenticationRequired: wrong username or password (one message for both), or a
        deactivated account.
    """
    name, address, wait = _open(session, username, address, now, limits)
    if wait:
        raise RateLimited(f"Too many failed sign-ins; try again in {wait} seconds.", retry_after=wait)
    user = session.scalar(select(User).where(User.username == name)) if name else None
    attempt = {"username": name, "address": address, "now": now}
    if user is None:
        passwords.verify_dummy(password or "")
        _note_attempt(session, **attempt, user_id=None, success=False)
        raise AuthenticationRequired(_BAD_CREDENTIALS)
    if not passwords.verify_password(user.password_hash, password or ""):
        _note_attempt(session, **attempt, user_id=user.id, success=False)
        raise AuthenticationRequired(_BAD_CREDENTIALS)
    if not user.is_active:
        _note_attempt(session, **attempt, user_id=user.id, success=False)
        raise AuthenticationRequired("This account is deactivated; ask an administrator.")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = now
    _note_attempt(session, **attempt, user_id=user.id, success=True)
    return user


def verify_current_password(
    session: Session,
    *,
    user: User,
    password: str,
    address: str,
    now: datetime,
    field: str = "current_password",
    **limits: Unpack[LoginLimits],
) -> None:
    """Check the password a signed-in ``user`` gives before a change that needs it, throttled like sign-in.

    A wrong password is a failed attempt of the account and the address, in the same
    counters as sign-in (kept past the request's rollback by ``keep_failed_attempts``); a
    right one counts as a successful sign-in.

    :raises RateLimited: too many recent failures for this account or address (the password
        is not checked); ``retry_after`` says when to try again.
    :raises ValidationError: the password is wrong; ``errors[field]`` says so.
    """
    name, address, wait = _open(session, user.username, address, now, limits)
    if wait:
        raise RateLimited(
            f"Too many wrong passwords; try again in {wait} seconds. Nothing was changed.",
            errors={field: "too many attempts"},
            retry_after=wait,
        )
    right = passwords.verify_password(user.password_hash, password or "")
    _note_attempt(session, username=name, address=address, now=now, user_id=user.id, success=right)
    if not right:
        raise ValidationError(
            "The current password is not right; nothing was changed.", errors={field: "wrong password"}
        )
