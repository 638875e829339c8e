"""Password sign-in: generic failures, rate limits per account and per address, rehash on login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from opsloom.platform.auth import passwords
from opsloom.platform.auth import service as identity
from opsloom.platform.errors import AuthenticationRequired, RateLimited
from opsloom.platform.models import LoginAttempt, User

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
LIMITS = {"max_per_account": 3, "max_per_address": 5, "window_seconds": 600}


@pytest.fixture(autouse=True)
def _fast_hashing(app_config: dict[str, Any]) -> Iterator[None]:
    app_config["PASSWORD_HASH_PROFILE"] = "fast"
    yield
    passwords.use_profile("fast")


@pytest.fixture
def users(app: Flask) -> None:
    with app.extensions["opsloom.db"].session_scope() as s:
        ws = identity.ensure_workspace(s, key="acme", name="Acme")
        for name in ("alice", "bob"):
            user = identity.create_user(s, username=name, password=f"pw-{name}-123456")
            identity.add_member(s, ws, user)


def attempt(app: Flask, username: str, password: str, *, at: datetime, address: str = "10.0.0.1") -> Any:
    """One sign-in in its own transaction, as a request would make it (failures kept by the edge)."""
    with app.extensions["opsloom.db"].session_scope() as s:
        try:
            user = identity.authenticate_password(
                s, username=username, password=password, address=address, now=at, **LIMITS
            )
            return user.username
        except (AuthenticationRequired, RateLimited) as exc:
            identity.keep_failed_attempts(s)
            return exc


def failures(app: Flask, **where: str) -> int:
    with app.extensions["opsloom.db"].session_scope() as s:
        stmt = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.success.is_(False))
        for column, value in where.items():
            stmt = stmt.where(getattr(LoginAttempt, column) == value)
        return s.scalar(stmt)


def test_right_password_signs_in_case_insensitively_and_is_recorded(app: Flask, users: None) -> None:
    assert attempt(app, " Alice ", "pw-alice-123456", at=NOW) == "alice"
    with app.extensions["opsloom.db"].session_scope() as s:
        user = s.scalar(select(User).where(User.username == "alice"))
        assert user.last_login_at is not None
        assert s.scalar(select(LoginAttempt).where(LoginAttempt.success.is_(True))).user_id == user.id


def test_wrong_password_and_unknown_user_get_the_same_answer(app: Flask, users: None) -> None:
    wrong = attempt(app, "alice", "not-the-password", at=NOW)
    unknown = attempt(app, "nobody", "not-the-password", at=NOW)
    assert isinstance(wrong, AuthenticationRequired)
    assert isinstance(unknown, AuthenticationRequired)
    assert wrong.detail == unknown.detail
    assert failures(app) == 2


def test_failures_survive_the_rollback_of_their_transaction(app: Flask, users: None) -> None:
    db = app.extensions["opsloom.db"]
    session = db.sessions()
    try:
        with pytest.raises(AuthenticationRequired):
            identity.authenticate_password(
                session, username="alice", password="nope-nope", address="a", now=NOW, **LIMITS
            )
        assert identity.keep_failed_attempts(session) == 1
        session.commit()
        assert identity.keep_failed_attempts(session) == 0  # nothing pending twice
    finally:
        session.close()
    assert failures(app, username="alice") == 1


def test_account_is_throttled_after_its_limit_whatever_the_address(app: Flask, users: None) -> None:
    for i in range(3):
        attempt(app, "alice", "wrong-password", at=NOW + timedelta(seconds=i), address=f"10.0.0.{i}")
    # even the right password is not checked now, from any address
    throttled = attempt(app, "alice", "pw-alice-123456", at=NOW + timedelta(seconds=10), address="10.9.9.9")
    assert isinstance(throttled, RateLimited)
    assert throttled.status == 429
    # the oldest counted failure (at NOW) leaves the 600 s window at NOW+600
    assert throttled.context["retry_after"] == 590
    # another account is not affected
    assert attempt(app, "bob", "pw-bob-123456", at=NOW + timedelta(seconds=11)) == "bob"
    # throttled attempts are not counted, so waiting out the window is enough
    assert attempt(app, "alice", "pw-alice-123456", at=NOW + timedelta(seconds=600)) == "alice"


def test_address_is_throttled_across_accounts(app: Flask, users: None) -> None:
    names = ["alice", "bob", "carol", "dave", "erin"]
    for i, name in enumerate(names):
        attempt(app, name, "wrong-password", at=NOW + timedelta(seconds=i), address="203.0.113.7")
    blocked = attempt(app, "bob", "pw-bob-123456", at=NOW + timedelta(seconds=30), address="203.0.113.7")
    assert isinstance(blocked, RateLimited)
    assert (
        attempt(app, "bob", "pw-bob-123456", at=NOW + timedelta(seconds=31), address="198.51.100.1") == "bob"
    )


def test_old_failures_leave_the_window(app: Flask, users: None) -> None:
    for i in range(3):
        attempt(app, "alice", "wrong-password", at=NOW + timedelta(seconds=i))
    assert isinstance(attempt(app, "alice", "wrong-password", at=NOW + timedelta(seconds=599)), RateLimited)
    later = attempt(app, "alice", "wrong-password", at=NOW + timedelta(seconds=601))
    assert isinstance(later, AuthenticationRequired)
    assert not isinstance(later, RateLimited)


def test_success_resets_the_account_but_not_the_address(app: Flask, users: None) -> None:
    for i in range(2):
        attempt(app, "alice", "wrong-password", at=NOW + timedelta(seconds=i), address="192.0.2.1")
    assert (
        attempt(app, "alice", "pw-alice-123456", at=NOW + timedelta(seconds=5), address="192.0.2.1")
        == "alice"
    )
    for i in range(2):
        attempt(app, "alice", "wrong-password", at=NOW + timedelta(seconds=10 + i), address="192.0.2.1")
    # 2 failures since the success: below the account limit of 3
    assert (
        attempt(app, "alice", "pw-alice-123456", at=NOW + timedelta(seconds=20), address="192.0.2.2")
        == "alice"
    )
    # but the address has 4 failures; one more and it is throttled
    attempt(app, "bob", "wrong-password", at=NOW + timedelta(seconds=21), address="192.0.2.1")
    assert isinstance(
        attempt(app, "bob", "pw-bob-123456", at=NOW + timedelta(seconds=22), address="192.0.2.1"), RateLimited
    )


def test_deactivated_user_is_refused_even_with_the_right_password(app: Flask, users: None) -> None:
    with app.extensions["opsloom.db"].session_scope() as s:
        s.scalar(select(User).where(User.username == "bob")).is_active = False
    refused = attempt(app, "bob", "pw-bob-123456", at=NOW)
    assert isinstance(refused, AuthenticationRequired)
    assert "deactivated" in refused.detail
    assert failures(app, username="bob") == 1


def test_login_rehashes_a_password_hashed_with_old_parameters(app: Flask, users: None) -> None:
    db = app.extensions["opsloom.db"]
    with db.session_scope() as s:
        old = s.scalar(select(User.password_hash).where(User.username == "alice"))
    passwords.use_profile("standard")
    assert passwords.needs_rehash(old)
    assert attempt(app, "alice", "pw-alice-123456", at=NOW) == "alice"
    with db.session_scope() as s:
        new = s.scalar(select(User.password_hash).where(User.username == "alice"))
    assert new != old
    assert not passwords.needs_rehash(new)
    assert passwords.verify_password(new, "pw-alice-123456")
