"""Bearer-token API calls carry no browser session; cookie sign-ins keep theirs.

A request signed with an API token gets a read-only, empty session: nothing it does can
set or change the browser's cookie, and a view that tries to write to ``flask.session``
fails loudly instead of writing a cookie nobody asked for.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import pytest
from flask import session
from sqlalchemy import func, select

from opsloom.platform.auth.edge import TokenSession
from opsloom.platform.models import Role
from tests.conftest import assert_problem

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF meta tag on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, member: Member) -> None:
    """Sign in through the login page, as a browser does."""
    response = client.post(
        "/login",
        data={"username": member.username, "password": member.password, "csrf_token": csrf_of(client)},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def set_cookies(response: TestResponse) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def session_cookie(client: FlaskClient) -> Any:
    return client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])


def roles_named(app: Flask, key: str) -> int:
    with app.extensions["opsloom.db"].session_scope() as s:
        return s.scalar(select(func.count()).select_from(Role).where(Role.key == key)) or 0


# ---------------------------------------------------------------- bearer requests


def test_bearer_requests_get_no_session_cookie(client: FlaskClient, admin: Member, app: Flask) -> None:
    me = client.get("/api/v1/me", headers=admin.headers)
    assert me.status_code == 200
    assert me.get_json()["via"] == "token"
    assert "csrf_token" not in me.get_json()
    assert set_cookies(me) == []

    made = client.post("/api/v1/roles", json={"key": "agent"}, headers=admin.headers)
    assert made.status_code == 201, made.get_json()
    assert set_cookies(made) == []
    assert roles_named(app, "agent") == 1

    refused = client.post("/api/v1/roles", json={"key": "agent"}, headers=admin.headers)
    assert refused.status_code >= 400
    assert set_cookies(refused) == []

    bad_token = client.get("/api/v1/me", headers={"Authorization": "Bearer olt_" + "x" * 43})
    assert_problem(bad_token, 401)
    assert set_cookies(bad_token) == []
    assert session_cookie(client) is None


def test_a_bearer_request_ignores_and_keeps_the_browser_s_cookie(
    client: FlaskClient, admin: Member, staff: Member
) -> None:
    sign_in(client, staff)
    cookie = session_cookie(client)
    assert cookie is not None

    # the same client (cookie and all) calls the API with the administrator's token
    me = client.get("/api/v1/me", headers=admin.headers)
    assert me.status_code == 200
    assert (me.get_json()["username"], me.get_json()["via"]) == ("alice", "token")
    assert set_cookies(me) == []
    # a token write needs no CSRF header even with a session cookie present
    made = client.post("/api/v1/roles", json={"key": "agent"}, headers=admin.headers)
    assert made.status_code == 201, made.get_json()
    assert set_cookies(made) == []
    after = session_cookie(client)
    assert after is not None
    assert after.value == cookie.value

    # the browser session carried on untouched
    mine = client.get("/api/v1/me")
    assert mine.status_code == 200
    assert (mine.get_json()["username"], mine.get_json()["via"]) == ("sam", "session")


def test_an_authorization_header_on_a_page_does_not_end_the_page_s_session(
    client: FlaskClient, admin: Member
) -> None:
    # only API paths take the token route: pages keep reading the browser's cookie
    sign_in(client, admin)
    page = client.get("/", headers=admin.headers)
    assert page.status_code == 200
    assert _CSRF.search(page.get_data(as_text=True))
    assert client.get("/api/v1/me").get_json()["via"] == "session"


# ---------------------------------------------------------------- cookie requests


def test_a_cookie_signed_in_browser_keeps_its_session(client: FlaskClient, admin: Member, app: Flask) -> None:
    sign_in(client, admin)
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    body = me.get_json()
    assert (body["username"], body["via"]) == ("alice", "session")
    csrf = body["csrf_token"]

    # the session's CSRF token is kept from request to request and guards API writes
    assert client.get("/api/v1/me").get_json()["csrf_token"] == csrf
    assert_problem(client.post("/api/v1/roles", json={"key": "agent"}), 403)
    made = client.post("/api/v1/roles", json={"key": "agent"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.get_json()
    assert roles_named(app, "agent") == 1

    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").get_json()["via"] == "session"

    # signing out still writes the cookie: the next call is anonymous
    signed_out = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert signed_out.status_code == 302
    assert set_cookies(signed_out)
    assert_problem(client.get("/api/v1/me"), 401)


def test_a_refused_authorization_header_leaves_the_browser_session_alone(
    client: FlaskClient, admin: Member
) -> None:
    sign_in(client, admin)
    # another scheme than Bearer is refused, and does not sign the browser out
    refused = client.get("/api/v1/me", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert_problem(refused, 401)
    assert set_cookies(refused) == []
    assert client.get("/api/v1/me").get_json()["via"] == "session"


# ---------------------------------------------------------------- writing the session in a token request


@pytest.fixture
def session_writer(app: Flask) -> None:
    """An API route that writes to ``flask.session`` after changing data (a buggy view)."""
    from flask import g

    from opsloom.platform.db import request_session

    @app.post("/api/v1/_test/remember")
    def _remember() -> Any:
        request_session().add(Role(workspace_id=g.actor.workspace_id, key="written", name="Written"))
        request_session().flush()
        session["remembered"] = "yes"
        return {"ok": True}

    @app.get("/api/v1/_test/read")
    def _read() -> Any:
        return {"remembered": session.get("remembered"), "keys": sorted(session.keys()), "empty": not session}


def test_writing_the_session_in_a_token_request_fails_and_changes_nothing(
    client: FlaskClient, admin: Member, app: Flask, session_writer: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="opsloom"):
        response = client.post("/api/v1/_test/remember", json={}, headers=admin.headers)
    assert_problem(response, 500)
    assert set_cookies(response) == []
    assert roles_named(app, "written") == 0  # the request rolled back
    errors = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert any(isinstance(error, RuntimeError) and "API token" in str(error) for error in errors), errors


def test_reading_the_session_in_a_token_request_sees_an_empty_session(
    client: FlaskClient, admin: Member, session_writer: None
) -> None:
    sign_in(client, admin)  # a cookie is present, but a token request does not read it
    got = client.get("/api/v1/_test/read", headers=admin.headers)
    assert got.status_code == 200
    assert got.get_json() == {"remembered": None, "keys": [], "empty": True}
    assert set_cookies(got) == []
    browser = client.get("/api/v1/_test/read").get_json()
    assert "user_id" in browser["keys"]


def test_a_session_write_in_a_cookie_request_still_works(
    client: FlaskClient, admin: Member, session_writer: None, app: Flask
) -> None:
    sign_in(client, admin)
    csrf = client.get("/api/v1/me").get_json()["csrf_token"]
    written = client.post("/api/v1/_test/remember", json={}, headers={"X-CSRF-Token": csrf})
    assert written.status_code == 200, written.get_json()
    assert set_cookies(written)
    assert client.get("/api/v1/_test/read").get_json()["remembered"] == "yes"
    assert roles_named(app, "written") == 1


# ---------------------------------------------------------------- TokenSession itself


def test_a_token_session_reads_as_empty() -> None:
    token_session = TokenSession()
    assert token_session.get("user_id") is None
    assert token_session.get("locale", "en") == "en"
    assert "user_id" not in token_session
    assert len(token_session) == 0
    assert dict(token_session) == {}
    assert not token_session
    assert token_session.modified is False
    with pytest.raises(KeyError):
        token_session["user_id"]


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__("user_id", 1),
        lambda s: s.__delitem__("user_id"),
        lambda s: s.clear(),
        lambda s: s.pop("user_id", None),
        lambda s: s.popitem(),
        lambda s: s.update({"user_id": 1}),
        lambda s: s.update(user_id=1),
        lambda s: s.setdefault("user_id", 1),
    ],
    ids=["setitem", "delitem", "clear", "pop", "popitem", "update", "update-kwargs", "setdefault"],
)
def test_writing_a_token_session_raises_a_clear_runtime_error(write: Any) -> None:
    token_session = TokenSession()
    with pytest.raises(RuntimeError, match="API token"):
        write(token_session)
    assert dict(token_session) == {}
    assert token_session.modified is False
