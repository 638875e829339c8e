"""``POST /api/v1/me/password``: a wrong current password is a failed sign-in, throttled like one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.models import LoginAttempt, User
from tests.conftest import assert_problem

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

NEW = "brand-new-password"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture(autouse=True)
def _limits(app_config: dict[str, Any]) -> None:
    app_config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 3
    app_config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 5


def change(
    client: FlaskClient, member: Member, current: str, new: str = NEW, address: str = "10.1.1.1"
) -> TestResponse:
    return client.post(
        "/api/v1/me/password",
        json={"current_password": current, "new_password": new},
        headers=member.headers,
        environ_base={"REMOTE_ADDR": address},
    )


def sign_in(client: FlaskClient, member: Member, password: str, address: str = "10.1.1.1") -> TestResponse:
    return client.post(
        "/api/v1/auth/token",
        json={"username": member.username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def attempts(app: Flask) -> list[tuple[str, str, bool, int | None]]:
    with app.extensions["opsloom.db"].session_scope() as s:
        rows = s.scalars(select(LoginAttempt).order_by(LoginAttempt.id))
        return [(a.username, a.address, a.success, a.user_id) for a in rows]


def without_attempts(state: dict[str, Any]) -> dict[str, Any]:
    return {table: rows for table, rows in state.items() if table != "login_attempts"}


def test_a_wrong_current_password_is_a_kept_failed_attempt(
    client: FlaskClient, app: Flask, staff: Member, snapshot: Any
) -> None:
    before = snapshot()
    body = assert_problem(change(client, staff, "not-my-password"), 422)
    assert body["errors"] == {"current_password": "wrong password"}
    # the request rolled back, but the failure was kept, under the account and the address
    assert without_attempts(snapshot()) == without_attempts(before)
    assert attempts(app) == [("sam", "10.1.1.1", False, staff.user_id)]


def test_after_the_limit_even_the_right_password_waits_and_nothing_changes(
    client: FlaskClient, app: Flask, staff: Member, snapshot: Any
) -> None:
    for _ in range(3):
        assert_problem(change(client, staff, "guess-guess"), 422)
    before = snapshot()
    throttled = change(client, staff, staff.password)
    body = assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) == body["retry_after"] > 0
    assert body["errors"] == {"current_password": "too many attempts"}
    assert snapshot() == before  # not even an attempt is recorded while throttled
    # the old password still holds, once the account may try again
    with app.extensions["opsloom.db"].session_scope() as s:
        s.execute(LoginAttempt.__table__.delete())
    assert sign_in(client, staff, staff.password).status_code == 201


def test_password_changes_and_sign_ins_share_the_account_counter(client: FlaskClient, staff: Member) -> None:
    """A stolen session cannot guess at /me/password past the limit that guards /auth/token."""
    for _ in range(2):
        assert_problem(change(client, staff, "guess-guess"), 422)
    assert_problem(sign_in(client, staff, "guess-again", address="10.9.9.9"), 401)
    assert_problem(sign_in(client, staff, staff.password, address="10.9.9.9"), 429)
    assert_problem(change(client, staff, staff.password, address="10.8.8.8"), 429)


def test_failed_sign_ins_throttle_password_changes_too(client: FlaskClient, staff: Member) -> None:
    for _ in range(3):
        assert_problem(sign_in(client, staff, "guess-guess"), 401)
    assert_problem(change(client, staff, staff.password), 429)


def test_the_address_is_throttled_across_accounts(client: FlaskClient, admin: Member, staff: Member) -> None:
    for member in (admin, staff, admin, staff, admin):
        assert_problem(change(client, member, "guess-guess", address="10.6.6.6"), 422)
    # five failures from one address: sam (two failures of his own) is refused there ...
    assert_problem(change(client, staff, staff.password, address="10.6.6.6"), 429)
    # ... but not from elsewhere
    assert change(client, staff, staff.password, address="10.7.7.7").status_code == 204


def test_a_right_current_password_counts_as_a_successful_sign_in(
    client: FlaskClient, app: Flask, staff: Member
) -> None:
    for _ in range(2):
        assert_problem(change(client, staff, "guess-guess"), 422)
    assert change(client, staff, staff.password).status_code == 204
    # the account's count starts again after a success, as after a sign-in
    for _ in range(2):
        assert_problem(change(client, staff, "guess-guess"), 422)
    assert change(client, staff, NEW, new="another-new-password").status_code == 204
    assert [success for *_rest, success, _user in attempts(app)] == [False, False, True, False, False, True]


def test_a_weak_new_password_after_a_right_current_one_changes_nothing(
    client: FlaskClient, staff: Member, snapshot: Any
) -> None:
    before = snapshot()
    body = assert_problem(change(client, staff, staff.password, new="short"), 422)
    assert "new_password" in body["errors"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"new_password": NEW}, "current_password"),
        ({"current_password": "x"}, "new_password"),
        ({"current_password": 7, "new_password": NEW}, "current_password"),
        ({"current_password": "x", "new_password": NEW, "user": 1}, "user"),
    ],
)
def test_malformed_requests_are_422_and_not_counted(
    client: FlaskClient, staff: Member, snapshot: Any, payload: dict[str, Any], field: str
) -> None:
    before = snapshot()
    body = assert_problem(client.post("/api/v1/me/password", json=payload, headers=staff.headers), 422)
    assert field in body["errors"]
    assert snapshot() == before


# ---------------------------------------------------------------- browser sessions


def signed_in_browser(app: Flask, member: Member, password: str | None = None) -> FlaskClient:
    """A new test client signed in through the sign-in page."""
    browser = app.test_client()
    token = _CSRF.search(browser.get("/login").get_data(as_text=True))
    assert token
    response = browser.post(
        "/login",
        data={"username": member.username, "password": password or member.password, "csrf_token": token[1]},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def test_changing_in_a_session_keeps_it_and_ends_the_others(app: Flask, staff: Member) -> None:
    here = signed_in_browser(app, staff)
    elsewhere = signed_in_browser(app, staff)
    csrf = here.get("/api/v1/me").get_json()["csrf_token"]
    done = here.post(
        "/api/v1/me/password",
        json={"current_password": staff.password, "new_password": NEW},
        headers={"X-CSRF-Token": csrf},
    )
    assert done.status_code == 204, done.get_data(as_text=True)
    assert here.get("/api/v1/me").status_code == 200
    assert_problem(elsewhere.get("/api/v1/me"), 401)
    # the API token is not a session: it stays valid until revoked
    assert app.test_client().get("/api/v1/me", headers=staff.headers).status_code == 200
    with app.extensions["opsloom.db"].session_scope() as s:
        assert s.get(User, staff.user_id).auth_epoch == 1
