"""Authentication through the API: tokens from passwords, bearer and session auth, CSRF, me, workspaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.auth import service as identity
from opsloom.platform.models import ApiToken, LoginAttempt, User
from tests.conftest import assert_problem

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member


@pytest.fixture(autouse=True)
def _fast_hashing(app_config: dict[str, Any]) -> None:
    app_config["PASSWORD_HASH_PROFILE"] = "fast"
    app_config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 3


def without_login_attempts(state: dict[str, Any]) -> dict[str, Any]:
    return {table: rows for table, rows in state.items() if table != "login_attempts"}


def sign_in(client: FlaskClient, member: Member, **extra: Any) -> Any:
    return client.post(
        "/api/v1/auth/token", json={"username": member.username, "password": member.password, **extra}
    )


# ---------------------------------------------------------------- POST /auth/token


def test_password_gives_a_token_that_works(client: FlaskClient, admin: Member, app: Flask) -> None:
    response = sign_in(client, admin, name="laptop")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token"].startswith("olt_")
    assert body["name"] == "laptop"
    assert body["workspace"] == "acme"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["username"] == "alice"
    assert me.get_json()["via"] == "token"
    assert "csrf_token" not in me.get_json()


def test_token_lifetime_and_workspace_can_be_chosen(client: FlaskClient, admin: Member, app: Flask) -> None:
    from tests.conftest import make_member

    make_member(app, "globex", "olga", admin=True)
    with app.extensions["opsloom.db"].session_scope() as s:  # alice joins globex too
        globex = identity.ensure_workspace(s, key="globex", name="Globex")
        identity.add_member(s, globex, s.get(User, admin.user_id))
    body = sign_in(client, admin, workspace="globex", expires_in_days=1).get_json()
    assert body["workspace"] == "globex"
    assert datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC) <= timedelta(days=1)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"}).get_json()
    assert me["workspace"]["key"] == "globex"


def test_a_workspace_that_is_not_yours_is_a_404(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    before = snapshot()
    body = assert_problem(sign_in(client, admin, workspace="globex"), 404)
    assert body["errors"] == {"workspace": "not one of yours"}
    assert_problem(sign_in(client, admin, workspace="nowhere"), 404)
    assert without_login_attempts(snapshot()) == without_login_attempts(before)


def test_wrong_password_is_a_generic_401_that_is_still_counted(
    client: FlaskClient, admin: Member, app: Flask, snapshot: Any
) -> None:
    before = snapshot()
    wrong = assert_problem(
        client.post("/api/v1/auth/token", json={"username": "alice", "password": "nope-nope"}), 401
    )
    ghost = assert_problem(
        client.post("/api/v1/auth/token", json={"username": "ghost", "password": "nope-nope"}), 401
    )
    assert wrong["detail"] == ghost["detail"]
    after = snapshot()
    assert without_login_attempts(after) == without_login_attempts(before)
    # the failures were kept although the requests failed (and so rolled back)
    with app.extensions["opsloom.db"].session_scope() as s:
        assert len(s.scalars(select(LoginAttempt).where(LoginAttempt.success.is_(False))).all()) == 2


def test_repeated_failures_are_throttled_with_retry_after(client: FlaskClient, admin: Member) -> None:
    for _ in range(3):
        assert_problem(
            client.post("/api/v1/auth/token", json={"username": "alice", "password": "bad-guess"}), 401
        )
    throttled = sign_in(client, admin)  # even the right password now waits
    body = assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) == body["retry_after"] > 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": "x"}, "username"),
        ({"username": "alice"}, "password"),
        ({"username": "alice", "password": "pw", "expires_in_days": 0}, "expires_in_days"),
        ({"username": "alice", "password": "pw", "expires_in_days": "7"}, "expires_in_days"),
        ({"username": "alice", "password": "pw", "workspace": "Not A Key"}, "workspace"),
        ({"username": "alice", "password": "pw", "admin": True}, "admin"),
    ],
)
def test_bad_token_requests_are_422_with_field_errors(
    client: FlaskClient, admin: Member, snapshot: Any, payload: dict[str, Any], field: str
) -> None:
    before = snapshot()
    body = assert_problem(client.post("/api/v1/auth/token", json=payload), 422)
    assert field in body["errors"]
    assert snapshot() == before


def test_malformed_json_and_wrong_content_type(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    before = snapshot()
    assert_problem(
        client.post(
            "/api/v1/auth/token", data='{"username": "alice",', headers={"Content-Type": "application/json"}
        ),
        400,
    )
    assert_problem(
        client.post(
            "/api/v1/auth/token",
            data="username=alice&password=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    assert snapshot() == before


# ---------------------------------------------------------------- bearer tokens


@pytest.mark.parametrize(
    "header", ["Basic YWxpY2U6cHc=", "Bearer", "Bearer    ", "olt_abc", "Bearer olt_unknown_token_123"]
)
def test_bad_authorization_headers_are_401(client: FlaskClient, admin: Member, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_and_revoked_tokens_are_401_saying_which(
    client: FlaskClient, admin: Member, app: Flask, snapshot: Any
) -> None:
    with app.extensions["opsloom.db"].session_scope() as s:
        token = s.scalar(select(ApiToken).where(ApiToken.user_id == admin.user_id))
        token.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    before = snapshot()
    body = assert_problem(client.post("/api/v1/roles", json={"key": "x"}, headers=admin.headers), 401)
    assert "expired" in body["detail"]
    assert snapshot() == before
    with app.extensions["opsloom.db"].session_scope() as s:
        token = s.scalar(select(ApiToken).where(ApiToken.user_id == admin.user_id))
        token.expires_at = None
        token.revoked_at = datetime.now(UTC)
    before = snapshot()
    body = assert_problem(client.post("/api/v1/roles", json={"key": "x"}, headers=admin.headers), 401)
    assert "revoked" in body["detail"]
    assert snapshot() == before


def test_token_of_a_deactivated_member_is_401(client: FlaskClient, admin: Member, staff: Member) -> None:
    assert (
        client.patch(
            f"/api/v1/users/{staff.user_id}", json={"is_active": False}, headers=admin.headers
        ).status_code
        == 200
    )
    body = assert_problem(client.get("/api/v1/me", headers=staff.headers), 401)
    assert "no longer an active member" in body["detail"]


# ---------------------------------------------------------------- me


def test_me_describes_the_actor(client: FlaskClient, staff: Member) -> None:
    body = client.get("/api/v1/me", headers=staff.headers).get_json()
    assert body["username"] == "sam"
    assert body["roles"] == ["staff"]
    assert body["is_admin"] is False
    assert body["workspace"]["key"] == "acme"
    assert body["department"] is None
    assert_problem(client.get("/api/v1/me"), 401)


def test_password_change(client: FlaskClient, staff: Member, snapshot: Any) -> None:
    before = snapshot()
    body = assert_problem(
        client.post(
            "/api/v1/me/password",
            json={"current_password": "wrong-one", "new_password": "brand-new-pw"},
            headers=staff.headers,
        ),
        422,
    )
    assert "current_password" in body["errors"]
    body = assert_problem(
        client.post(
            "/api/v1/me/password",
            json={"current_password": staff.password, "new_password": "short"},
            headers=staff.headers,
        ),
        422,
    )
    assert "new_password" in body["errors"]
    # nothing changed but the failed attempt, which counts like a failed sign-in
    assert without_login_attempts(snapshot()) == without_login_attempts(before)
    with client.application.extensions["opsloom.db"].session_scope() as s:
        assert len(s.scalars(select(LoginAttempt).where(LoginAttempt.success.is_(False))).all()) == 1
    ok = client.post(
        "/api/v1/me/password",
        json={"current_password": staff.password, "new_password": "brand-new-pw"},
        headers=staff.headers,
    )
    assert ok.status_code == 204
    assert (
        client.post("/api/v1/auth/token", json={"username": "sam", "password": "brand-new-pw"}).status_code
        == 201
    )


# ---------------------------------------------------------------- workspaces


def test_my_workspaces_and_paging(client: FlaskClient, admin: Member, app: Flask) -> None:
    assert [
        w["key"] for w in client.get("/api/v1/workspaces", headers=admin.headers).get_json()["items"]
    ] == ["acme"]
    with app.extensions["opsloom.db"].session_scope() as s:
        s.get(User, admin.user_id).is_superuser = True
        for key in ("beta", "gamma"):
            identity.ensure_workspace(s, key=key, name=key.title())
    first = client.get("/api/v1/workspaces?limit=2", headers=admin.headers).get_json()
    rest = client.get(
        f"/api/v1/workspaces?limit=2&cursor={first['next_cursor']}", headers=admin.headers
    ).get_json()
    assert [w["key"] for w in first["items"] + rest["items"]] == ["acme", "beta", "gamma"]
    assert rest["next_cursor"] is None
    assert_problem(client.get("/api/v1/workspaces?cursor=forged", headers=admin.headers), 400)
    assert_problem(client.get("/api/v1/workspaces?limit=0", headers=admin.headers), 422)
    assert_problem(client.get("/api/v1/workspaces?limit=100000", headers=admin.headers), 400)
    assert_problem(client.get("/api/v1/workspaces?colour=red", headers=admin.headers), 422)


def test_only_superusers_create_workspaces(
    client: FlaskClient, admin: Member, app: Flask, snapshot: Any
) -> None:
    before = snapshot()
    assert_problem(
        client.post("/api/v1/workspaces", json={"key": "newco", "name": "NewCo"}, headers=admin.headers), 403
    )
    assert snapshot() == before
    with app.extensions["opsloom.db"].session_scope() as s:
        s.get(User, admin.user_id).is_superuser = True
    made = client.post(
        "/api/v1/workspaces",
        json={"key": "newco", "name": "NewCo", "timezone": "Europe/Paris"},
        headers=admin.headers,
    )
    assert made.status_code == 201
    assert made.get_json()["timezone"] == "Europe/Paris"
    before = snapshot()
    assert_problem(
        client.post("/api/v1/workspaces", json={"key": "newco", "name": "Again"}, headers=admin.headers), 409
    )
    body = assert_problem(
        client.post("/api/v1/workspaces", json={"key": "New Co", "name": "X"}, headers=admin.headers), 422
    )
    assert "key" in body["errors"]
    body = assert_problem(
        client.post(
            "/api/v1/workspaces",
            json={"key": "tz", "name": "X", "timezone": "Nowhere/X"},
            headers=admin.headers,
        ),
        422,
    )
    assert "timezone" in body["errors"]
    assert snapshot() == before


# ---------------------------------------------------------------- tokens


def test_tokens_list_create_revoke(client: FlaskClient, admin: Member, staff: Member, snapshot: Any) -> None:
    made = client.post("/api/v1/tokens", json={"name": "script", "expires_in_days": 7}, headers=staff.headers)
    assert made.status_code == 201
    token = made.get_json()
    listed = client.get("/api/v1/tokens", headers=staff.headers).get_json()["items"]
    assert [t["name"] for t in listed] == ["script", "tests"]
    assert all("token" not in t and token["token"] not in str(t) for t in listed)
    assert listed[0]["status"] == "active"
    assert listed[0]["username"] == "sam"
    # administrators may see everyone's; staff may not
    everyone = client.get("/api/v1/tokens?all=1", headers=admin.headers).get_json()["items"]
    assert {t["username"] for t in everyone} == {"alice", "sam"}
    before = snapshot()
    assert_problem(client.get("/api/v1/tokens?all=1", headers=staff.headers), 403)
    alice_token = next(t["id"] for t in everyone if t["username"] == "alice")
    assert_problem(client.delete(f"/api/v1/tokens/{alice_token}", headers=staff.headers), 404)
    assert_problem(client.delete("/api/v1/tokens/999999", headers=staff.headers), 404)
    assert_problem(client.post("/api/v1/tokens", json={}, headers=staff.headers), 422)
    assert_problem(
        client.post("/api/v1/tokens", json={"name": "x", "expires_in_days": 99999}, headers=staff.headers),
        422,
    )
    assert snapshot() == before
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=staff.headers).status_code == 204
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=staff.headers).status_code == 204
    body = assert_problem(
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['token']}"}), 401
    )
    assert "revoked" in body["detail"]


def test_foreign_tokens_are_404(client: FlaskClient, admin: Member, outsider: Member, snapshot: Any) -> None:
    olga_token = client.get("/api/v1/tokens", headers=outsider.headers).get_json()["items"][0]["id"]
    before = snapshot()
    assert_problem(client.delete(f"/api/v1/tokens/{olga_token}", headers=admin.headers), 404)
    assert snapshot() == before


# ---------------------------------------------------------------- browser sessions and CSRF


@pytest.fixture
def session_routes(app: Flask) -> None:
    """Tiny GET routes standing in for the sign-in pages (GET: no page CSRF needed)."""
    from flask import jsonify

    from opsloom.platform.auth import login_user, logout_user, switch_workspace
    from opsloom.platform.db import request_session

    @app.get("/_test/login/<int:user_id>")
    def _test_login(user_id: int) -> Any:
        actor = login_user(request_session().get(User, user_id))
        return jsonify(workspace_id=actor.workspace_id)

    @app.get("/_test/switch/<int:workspace_id>")
    def _test_switch(workspace_id: int) -> Any:
        return jsonify(key=switch_workspace(workspace_id).key)

    @app.get("/_test/logout")
    def _test_logout() -> Any:
        logout_user()
        return jsonify(ok=True)


def test_session_reads_work_and_writes_need_the_csrf_header(
    client: FlaskClient, admin: Member, session_routes: None, snapshot: Any
) -> None:
    client.get(f"/_test/login/{admin.user_id}")
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.get_json()["via"] == "session"
    csrf = me.get_json()["csrf_token"]
    before = snapshot()
    body = assert_problem(client.post("/api/v1/roles", json={"key": "agent"}), 403)
    assert "X-CSRF-Token" in body["detail"]
    assert_problem(
        client.post("/api/v1/roles", json={"key": "agent"}, headers={"X-CSRF-Token": "forged"}), 403
    )
    assert snapshot() == before
    made = client.post("/api/v1/roles", json={"key": "agent"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    client.get("/_test/logout")
    assert_problem(client.get("/api/v1/me"), 401)


def test_deactivation_ends_the_browser_session(
    client: FlaskClient, admin: Member, staff: Member, session_routes: None
) -> None:
    client.get(f"/_test/login/{staff.user_id}")
    assert client.get("/api/v1/me").status_code == 200
    client.application.test_client().patch(
        f"/api/v1/users/{staff.user_id}", json={"is_active": False}, headers=admin.headers
    )
    assert_problem(client.get("/api/v1/me"), 401)
    # reactivation does not revive the old session: the auth epoch moved on
    client.application.test_client().patch(
        f"/api/v1/users/{staff.user_id}", json={"is_active": True}, headers=admin.headers
    )
    assert_problem(client.get("/api/v1/me"), 401)


def test_switching_to_a_foreign_workspace_is_refused(
    client: FlaskClient, admin: Member, outsider: Member, session_routes: None, app: Flask
) -> None:
    client.get(f"/_test/login/{admin.user_id}")
    assert client.get(f"/_test/switch/{outsider.workspace_id}").status_code == 404
    assert client.get("/api/v1/me").get_json()["workspace"]["key"] == "acme"
    with app.extensions["opsloom.db"].session_scope() as s:
        globex = identity.ensure_workspace(s, key="globex", name="Globex")
        identity.add_member(s, globex, s.get(User, admin.user_id))
    assert client.get(f"/_test/switch/{outsider.workspace_id}").get_json() == {"key": "globex"}
    assert client.get("/api/v1/me").get_json()["workspace"]["key"] == "globex"


def test_session_moves_on_when_its_workspace_membership_ends(
    client: FlaskClient, admin: Member, app: Flask, session_routes: None
) -> None:
    from tests.conftest import make_member

    olga = make_member(app, "globex", "olga", admin=True)
    with app.extensions["opsloom.db"].session_scope() as s:
        acme = identity.ensure_workspace(s, key="acme", name="Acme")
        identity.add_member(s, acme, s.get(User, olga.user_id))
    client.get(f"/_test/login/{olga.user_id}")
    client.get(f"/_test/switch/{admin.workspace_id}")
    assert client.get("/api/v1/me").get_json()["workspace"]["key"] == "acme"
    with app.extensions["opsloom.db"].session_scope() as s:
        s.scalar(select(User).where(User.id == olga.user_id)).memberships[-1].is_active = False
    assert client.get("/api/v1/me").get_json()["workspace"]["key"] == "globex"
