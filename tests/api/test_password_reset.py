"""An administrator sets a new password for someone else: the API, the users page and the CLI."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.auth import passwords
from opsloom.platform.auth import service as identity
from opsloom.platform.auth.commands import register_commands
from opsloom.platform.models import AuditEntry, OutboxEvent, User
from tests.conftest import assert_problem, command_line

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

NEW = "fresh-password-42"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def set_password(client: FlaskClient, by: Member | None, user_id: int, payload: Any) -> TestResponse:
    headers = by.headers if by is not None else {}
    return client.post(f"/api/v1/users/{user_id}/password", json=payload, headers=headers)


def refused(
    client: FlaskClient, snapshot: Any, by: Member | None, user_id: int, payload: Any, status: int
) -> dict[str, Any]:
    """A request that must fail with ``status`` and leave every table as it was."""
    before = snapshot()
    body = assert_problem(set_password(client, by, user_id, payload), status)
    assert snapshot() == before
    return body


def stored_user(app: Flask, user_id: int) -> User:
    with app.extensions["opsloom.db"].session_scope() as s:
        user = s.get(User, user_id)
        s.expunge(user)
        return user


def make_superuser(app: Flask, member: Member) -> None:
    with app.extensions["opsloom.db"].session_scope() as s:
        s.get(User, member.user_id).is_superuser = True


def join(app: Flask, member: Member, workspace_key: str) -> None:
    with app.extensions["opsloom.db"].session_scope() as s:
        workspace = identity.ensure_workspace(s, key=workspace_key, name=workspace_key.title())
        identity.add_member(s, workspace, s.get(User, member.user_id))


def browser(app: Flask, member: Member, password: str | None = None) -> FlaskClient:
    """A new test client signed in through the sign-in page."""
    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "username": member.username,
            "password": password or member.password,
            "csrf_token": csrf_of(client, "/login"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf_of(client: FlaskClient, path: str = "/") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF meta tag on {path}"
    return match.group(1)


# ---------------------------------------------------------------- API


def test_admin_sets_a_members_password_and_their_sessions_end(
    client: FlaskClient, app: Flask, admin: Member, staff: Member
) -> None:
    session_of_sam = browser(app, staff)
    assert session_of_sam.get("/api/v1/me").status_code == 200
    old_hash = stored_user(app, staff.user_id).password_hash

    done = set_password(client, admin, staff.user_id, {"password": NEW})
    assert done.status_code == 204, done.get_data(as_text=True)
    assert done.get_data() == b""

    user = stored_user(app, staff.user_id)
    assert passwords.verify_password(user.password_hash, NEW)
    assert user.auth_epoch == 1
    # every browser session of sam's ended; his API token is not a session and stays valid
    assert_problem(session_of_sam.get("/api/v1/me"), 401)
    assert client.get("/api/v1/me", headers=staff.headers).status_code == 200
    # the new password signs in, the old one no longer does
    assert_problem(
        client.post("/api/v1/auth/token", json={"username": "sam", "password": staff.password}), 401
    )
    assert client.post("/api/v1/auth/token", json={"username": "sam", "password": NEW}).status_code == 201

    with app.extensions["opsloom.db"].session_scope() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "reset_password"))
        assert (entry.object_type, entry.object_id, entry.actor_id) == (
            "user",
            str(staff.user_id),
            admin.user_id,
        )
        assert entry.workspace_id == admin.workspace_id
        logged = repr([entry.before, entry.after])
        event = s.scalar(select(OutboxEvent).where(OutboxEvent.type == "user.password_reset"))
        assert event.payload["id"] == staff.user_id
        assert event.payload["_actor"]["id"] == admin.user_id
        assert event.workspace_id == admin.workspace_id
    for secret in (NEW, user.password_hash, old_hash):
        assert secret not in logged
        assert secret not in repr(event.payload)


def test_staff_get_403_and_strangers_401(
    client: FlaskClient, admin: Member, staff: Member, snapshot: Any
) -> None:
    refused(client, snapshot, staff, admin.user_id, {"password": NEW}, 403)
    refused(client, snapshot, None, staff.user_id, {"password": NEW}, 401)


def test_users_outside_the_workspace_are_404_whatever_the_body(
    client: FlaskClient, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    for payload in ({"password": NEW}, {}, {"password": "x"}):
        body = refused(client, snapshot, admin, outsider.user_id, payload, 404)
        assert "olga" not in json.dumps(body)
    refused(client, snapshot, admin, 999_999, {"password": NEW}, 404)
    refused(client, snapshot, outsider, staff.user_id, {"password": NEW}, 404)


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"password": "short"}, "password", "at least 8"),
        ({"password": " " * 12}, "password", "only spaces"),
        ({"password": "x" * 1025}, "password", "at most 1024"),
        ({}, "password", "required"),
        ({"password": None}, "password", "null"),
        ({"password": 12345678}, "password", "string"),
        ({"password": NEW, "is_superuser": True}, "is_superuser", "Unknown"),
    ],
)
def test_bad_passwords_are_422_naming_the_field(
    client: FlaskClient,
    admin: Member,
    staff: Member,
    snapshot: Any,
    payload: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    body = refused(client, snapshot, admin, staff.user_id, payload, 422)
    assert reason.lower() in body["errors"][field].lower()


def test_the_username_is_no_password(client: FlaskClient, app: Flask, admin: Member, snapshot: Any) -> None:
    from tests.conftest import make_member

    longer = make_member(app, "acme", "samantha", admin=False)
    body = refused(client, snapshot, admin, longer.user_id, {"password": "SAMANTHA"}, 422)
    assert body["errors"] == {"password": "must not be the same as the username"}


def test_own_superuser_and_shared_accounts_are_refused_to_workspace_admins(
    client: FlaskClient, app: Flask, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    body = refused(client, snapshot, admin, admin.user_id, {"password": NEW}, 403)
    assert body["errors"] == {"password": "your own password"}
    assert "/me/password" in body["detail"]

    join(app, outsider, "acme")  # olga (globex) joins acme: her password opens globex too
    body = refused(client, snapshot, admin, outsider.user_id, {"password": NEW}, 403)
    assert body["errors"] == {"password": "shared with other workspaces"}

    make_superuser(app, staff)
    body = refused(client, snapshot, admin, staff.user_id, {"password": NEW}, 403)
    assert body["errors"] == {"password": "superuser"}


def test_superusers_may_set_anyones_password_but_their_own(
    client: FlaskClient, app: Flask, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    make_superuser(app, admin)
    assert set_password(client, admin, outsider.user_id, {"password": NEW}).status_code == 204
    join(app, staff, "globex")
    assert set_password(client, admin, staff.user_id, {"password": NEW}).status_code == 204
    refused(client, snapshot, admin, admin.user_id, {"password": NEW}, 403)
    refused(client, snapshot, admin, 999_999, {"password": NEW}, 404)
    assert passwords.verify_password(stored_user(app, outsider.user_id).password_hash, NEW)


def test_a_deactivated_member_may_get_a_new_password(
    client: FlaskClient, app: Flask, admin: Member, staff: Member
) -> None:
    client.patch(f"/api/v1/users/{staff.user_id}", json={"is_active": False}, headers=admin.headers)
    assert set_password(client, admin, staff.user_id, {"password": NEW}).status_code == 204
    assert passwords.verify_password(stored_user(app, staff.user_id).password_hash, NEW)


def test_the_route_is_documented(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/users/{user_id}/password"]["post"]
    assert "204" in operation["responses"]
    assert "forgot" in operation["description"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["required"] == ["password"]
    assert schema["properties"]["password"]["writeOnly"] is True


# ---------------------------------------------------------------- the users page


def post_form(client: FlaskClient, path: str, data: dict[str, Any]) -> TestResponse:
    return client.post(path, data={**data, "csrf_token": csrf_of(client)})


def test_the_users_page_sets_a_password(app: Flask, admin: Member, staff: Member) -> None:
    alice = browser(app, admin)
    sam = browser(app, staff)
    page = alice.get(f"/admin/users/{staff.user_id}")
    assert page.status_code == 200
    assert f'action="/admin/users/{staff.user_id}/password"' in page.get_data(as_text=True)
    chinese = alice.get(f"/admin/users/{staff.user_id}", headers={"Accept-Language": "zh-CN"})
    assert "设置新密码" in chinese.get_data(as_text=True)

    done = post_form(
        alice, f"/admin/users/{staff.user_id}/password", {"password": NEW, "password_confirm": NEW}
    )
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/admin/users/{staff.user_id}")
    assert "sam has a new password" in alice.get(done.headers["Location"]).get_data(as_text=True)
    assert passwords.verify_password(stored_user(app, staff.user_id).password_hash, NEW)
    # sam's browser session has ended: the next page sends him to sign in
    assert sam.get("/").status_code == 302
    browser(app, staff, NEW)


@pytest.mark.parametrize(
    ("data", "field", "english", "chinese"),
    [
        ({"password": NEW, "password_confirm": NEW + "!"}, "password_confirm", "differ", "不一致"),
        ({"password": "short", "password_confirm": "short"}, "password", "at least 8", "至少"),
        ({"password": "", "password_confirm": ""}, "password", "at least 8", "至少"),
    ],
)
def test_bad_passwords_on_the_page_are_422_and_change_nothing(
    app: Flask,
    admin: Member,
    staff: Member,
    snapshot: Any,
    data: dict[str, str],
    field: str,
    english: str,
    chinese: str,
) -> None:
    alice = browser(app, admin)
    path = f"/admin/users/{staff.user_id}/password"
    before = snapshot()
    response = post_form(alice, path, data)
    assert response.status_code == 422
    assert english in response.get_data(as_text=True)
    assert NEW not in response.get_data(as_text=True)  # a password is never echoed back
    response = alice.post(
        path, data={**data, "csrf_token": csrf_of(alice)}, headers={"Accept-Language": "zh-CN"}
    )
    assert response.status_code == 422
    assert chinese in response.get_data(as_text=True)
    assert snapshot() == before


def test_the_page_form_needs_its_csrf_token(app: Flask, admin: Member, staff: Member, snapshot: Any) -> None:
    alice = browser(app, admin)
    before = snapshot()
    path = f"/admin/users/{staff.user_id}/password"
    assert alice.post(path, data={"password": NEW, "password_confirm": NEW}).status_code == 400
    forged = {"password": NEW, "password_confirm": NEW, "csrf_token": "forged"}
    assert alice.post(path, data=forged).status_code == 400
    assert snapshot() == before


def test_the_page_refuses_what_the_service_refuses(
    app: Flask, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    alice = browser(app, admin)
    sam = browser(app, staff)
    own = alice.get(f"/admin/users/{admin.user_id}").get_data(as_text=True)
    assert "your own account" in own
    assert f'action="/admin/users/{admin.user_id}/password"' not in own
    before = snapshot()
    data = {"password": NEW, "password_confirm": NEW}
    assert post_form(alice, f"/admin/users/{admin.user_id}/password", data).status_code == 403
    assert post_form(alice, f"/admin/users/{outsider.user_id}/password", data).status_code == 404
    assert post_form(sam, f"/admin/users/{admin.user_id}/password", data).status_code == 403
    assert snapshot() == before


# ---------------------------------------------------------------- opsloom user set-password


@pytest.fixture
def run(app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``opsloom user ...`` against the test database."""
    return command_line(app_config, monkeypatch, register_commands, "user")


def test_the_cli_sets_a_password(run: Any, app: Flask, staff: Member) -> None:
    result = run("set-password", "SAM", "--password", NEW)
    assert result.exit_code == 0, result.output
    assert "'sam'" in result.output
    user = stored_user(app, staff.user_id)
    assert passwords.verify_password(user.password_hash, NEW)
    assert user.auth_epoch == 1
    with app.extensions["opsloom.db"].session_scope() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "reset_password"))
        assert entry.actor_name == "opsloom CLI"
        assert NEW not in repr([entry.before, entry.after])


def test_the_cli_asks_for_the_password_twice_without_echo(run: Any, app: Flask, staff: Member) -> None:
    result = run("set-password", "sam", stdin=f"{NEW}\n{NEW}\n")
    assert result.exit_code == 0, result.output
    assert NEW not in result.output
    assert passwords.verify_password(stored_user(app, staff.user_id).password_hash, NEW)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--password", NEW], "there is no user 'nobody'"),
        (["sam", "--password", "short"], "at least 8 characters"),
    ],
)
def test_the_cli_refuses_clearly(
    run: Any, staff: Member, snapshot: Any, args: list[str], message: str
) -> None:
    before = snapshot()
    result = run("set-password", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert snapshot() == before
