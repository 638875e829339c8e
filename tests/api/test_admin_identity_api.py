"""Administration API for members, roles and departments: every route, its bad inputs, and tenant walls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import assert_problem

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member


@pytest.fixture(autouse=True)
def _fast_hashing(app_config: dict[str, Any]) -> None:
    app_config["PASSWORD_HASH_PROFILE"] = "fast"


def refused(
    client: FlaskClient, snapshot: Any, method: str, url: str, status: int, **kwargs: Any
) -> dict[str, Any]:
    """Send a request that must fail with ``status`` and leave the database as it was."""
    before = snapshot()
    body = assert_problem(client.open(url, method=method, **kwargs), status)
    assert snapshot() == before, f"{method} {url} changed the database"
    return body


# ---------------------------------------------------------------- who may call


ADMIN_ROUTES = [
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"username": "newbie", "password": "long-enough-1"}),
    ("GET", "/api/v1/users/{self}", None),
    ("PATCH", "/api/v1/users/{self}", {"display_name": "x"}),
    ("POST", "/api/v1/users/{self}/password", {"password": "long-enough-1"}),
    ("GET", "/api/v1/roles", None),
    ("POST", "/api/v1/roles", {"key": "agent"}),
    ("GET", "/api/v1/roles/staff", None),
    ("PATCH", "/api/v1/roles/staff", {"name": "x"}),
    ("DELETE", "/api/v1/roles/staff", None),
    ("GET", "/api/v1/departments", None),
    ("POST", "/api/v1/departments", {"key": "ops", "name": "Ops"}),
    ("GET", "/api/v1/departments/1", None),
    ("PATCH", "/api/v1/departments/1", {"name": "x"}),
    ("DELETE", "/api/v1/departments/1", None),
]


@pytest.mark.parametrize(("method", "url", "payload"), ADMIN_ROUTES)
def test_staff_get_403_and_strangers_401(
    client: FlaskClient, staff: Member, snapshot: Any, method: str, url: str, payload: Any
) -> None:
    url = url.format(self=staff.user_id)
    refused(client, snapshot, method, url, 403, json=payload, headers=staff.headers)
    refused(client, snapshot, method, url, 401, json=payload)


# ---------------------------------------------------------------- users


def test_list_and_search_members(client: FlaskClient, admin: Member, staff: Member, outsider: Member) -> None:
    body = client.get("/api/v1/users", headers=admin.headers).get_json()
    assert [u["username"] for u in body["items"]] == ["alice", "sam"]
    assert body["items"][1] == {
        **body["items"][1],
        "id": staff.user_id,
        "roles": ["staff"],
        "is_active": True,
        "department": None,
    }
    assert body["next_cursor"] is None
    found = client.get("/api/v1/users?q=SA", headers=admin.headers).get_json()["items"]
    assert [u["username"] for u in found] == ["sam"]
    page = client.get("/api/v1/users?limit=1", headers=admin.headers).get_json()
    rest = client.get(f"/api/v1/users?limit=1&cursor={page['next_cursor']}", headers=admin.headers).get_json()
    assert [u["username"] for u in page["items"] + rest["items"]] == ["alice", "sam"]
    # a cursor is bound to its query: another search cannot reuse it
    assert_problem(
        client.get(f"/api/v1/users?limit=1&q=a&cursor={page['next_cursor']}", headers=admin.headers), 400
    )


def test_create_member_new_and_existing(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    made = client.post(
        "/api/v1/users",
        json={
            "username": "Newbie",
            "password": "long-enough-1",
            "display_name": "New B",
            "email": "n@example.com",
        },
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    body = made.get_json()
    assert body["username"] == "newbie"
    assert body["roles"] == ["staff"]
    assert "password" not in body
    # the same person joins another workspace without a password
    joined = client.post(
        "/api/v1/users", json={"username": "newbie", "roles": ["admin"]}, headers=outsider.headers
    )
    assert joined.status_code == 201
    assert joined.get_json()["id"] == body["id"]
    # and can sign in with the password given at creation
    token = client.post("/api/v1/auth/token", json={"username": "newbie", "password": "long-enough-1"})
    assert token.status_code == 201
    refused(
        client, snapshot, "POST", "/api/v1/users", 409, json={"username": "newbie"}, headers=admin.headers
    )
    refused(client, snapshot, "POST", "/api/v1/users", 404, json={"username": "ghost"}, headers=admin.headers)


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"username": "alice", "password": "long-enough-1"}, 409, "username"),
        ({"username": "x", "password": "long-enough-1"}, 422, "username"),
        ({"username": "bob", "password": "short"}, 422, "password"),
        ({"username": "bob", "password": "long-enough-1", "email": "nope"}, 422, "email"),
        ({"username": "bob", "password": "long-enough-1", "roles": ["ghost"]}, 422, "roles"),
        ({"username": "bob", "password": "long-enough-1", "roles": ["Bad Role"]}, 422, "roles.0"),
        ({"username": "bob", "password": "long-enough-1", "department": 999}, 422, "department"),
        ({"username": "bob", "password": "long-enough-1", "department": "1"}, 422, "department"),
        ({"username": "bob", "password": "long-enough-1", "is_superuser": True}, 422, "is_superuser"),
        ({"password": "long-enough-1"}, 422, "username"),
    ],
)
def test_bad_new_members_are_refused(
    client: FlaskClient, admin: Member, snapshot: Any, payload: dict[str, Any], status: int, field: str
) -> None:
    body = refused(client, snapshot, "POST", "/api/v1/users", status, json=payload, headers=admin.headers)
    assert field in body["errors"], body


def test_update_member(client: FlaskClient, admin: Member, staff: Member) -> None:
    dept = client.post(
        "/api/v1/departments", json={"key": "support", "name": "Support"}, headers=admin.headers
    )
    dept_id = dept.get_json()["id"]
    changed = client.patch(
        f"/api/v1/users/{staff.user_id}",
        json={"roles": ["staff", "admin"], "department": dept_id, "display_name": "Sam S.", "email": None},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    body = changed.get_json()
    assert body["roles"] == ["admin", "staff"]
    assert body["department"] == dept_id
    assert body["display_name"] == "Sam S."
    assert client.get(f"/api/v1/users/{staff.user_id}", headers=admin.headers).get_json() == body
    # the change shows in the member's own view
    assert client.get("/api/v1/me", headers=staff.headers).get_json()["is_admin"] is True
    assert client.patch(f"/api/v1/users/{staff.user_id}", json={}, headers=admin.headers).status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"is_active": "no"}, "is_active"),
        ({"roles": "staff"}, "roles"),
        ({"roles": ["ghost"]}, "roles"),
        ({"department": 424242}, "department"),
        ({"email": "nope"}, "email"),
        ({"username": "renamed"}, "username"),
        ({"password": "long-enough-1"}, "password"),
    ],
)
def test_bad_member_updates_are_422(
    client: FlaskClient, admin: Member, staff: Member, snapshot: Any, payload: dict[str, Any], field: str
) -> None:
    url = f"/api/v1/users/{staff.user_id}"
    body = refused(client, snapshot, "PATCH", url, 422, json=payload, headers=admin.headers)
    assert field in body["errors"]


def test_last_admin_is_kept(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    url = f"/api/v1/users/{admin.user_id}"
    refused(client, snapshot, "PATCH", url, 409, json={"is_active": False}, headers=admin.headers)
    body = refused(client, snapshot, "PATCH", url, 409, json={"roles": ["staff"]}, headers=admin.headers)
    assert body["errors"] == {"roles": "last administrator"}


def test_foreign_and_unknown_members_are_404(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    for url in (f"/api/v1/users/{outsider.user_id}", "/api/v1/users/999999"):
        refused(client, snapshot, "GET", url, 404, headers=admin.headers)
        refused(client, snapshot, "PATCH", url, 404, json={"is_active": False}, headers=admin.headers)


def test_malformed_json_and_wrong_content_type_change_nothing(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    json_header = {**admin.headers, "Content-Type": "application/json"}
    form_header = {**admin.headers, "Content-Type": "text/plain"}
    for url in ("/api/v1/users", "/api/v1/roles", "/api/v1/departments"):
        refused(client, snapshot, "POST", url, 400, data='{"key": ', headers=json_header)
        refused(client, snapshot, "POST", url, 415, data="key=x", headers=form_header)


# ---------------------------------------------------------------- roles


def test_role_lifecycle(client: FlaskClient, admin: Member) -> None:
    made = client.post(
        "/api/v1/roles",
        json={"key": "agent", "description": "Front line", "permissions": {"entity:ticket": {"read": "all"}}},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["name"] == "agent"
    keys = [r["key"] for r in client.get("/api/v1/roles", headers=admin.headers).get_json()["items"]]
    assert keys == ["admin", "agent", "staff"]
    patched = client.patch(
        "/api/v1/roles/agent", json={"name": "Agent", "is_admin": True}, headers=admin.headers
    )
    assert patched.get_json()["name"] == "Agent"
    assert patched.get_json()["is_admin"] is True
    assert client.get("/api/v1/roles/agent", headers=admin.headers).get_json()["permissions"] == {
        "entity:ticket": {"read": "all"}
    }
    assert client.delete("/api/v1/roles/agent", headers=admin.headers).status_code == 204
    assert_problem(client.get("/api/v1/roles/agent", headers=admin.headers), 404)


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"key": "Agent"}, 422, "key"),
        ({"key": "1agent"}, 422, "key"),
        ({"key": "a" * 41}, 422, "key"),
        ({"key": "staff"}, 409, "key"),
        ({"key": "agent", "is_admin": "yes"}, 422, "is_admin"),
        ({"key": "agent", "permissions": ["read"]}, 422, "permissions"),
        ({"key": "agent", "name": ""}, 422, "name"),
        ({"key": "agent", "colour": "red"}, 422, "colour"),
        ({}, 422, "key"),
    ],
)
def test_bad_roles_are_refused(
    client: FlaskClient, admin: Member, snapshot: Any, payload: dict[str, Any], status: int, field: str
) -> None:
    body = refused(client, snapshot, "POST", "/api/v1/roles", status, json=payload, headers=admin.headers)
    assert field in body["errors"]


def test_role_rules_through_the_api(client: FlaskClient, admin: Member, staff: Member, snapshot: Any) -> None:
    body = refused(client, snapshot, "DELETE", "/api/v1/roles/admin", 409, headers=admin.headers)
    assert "cannot be deleted" in body["detail"]
    refused(
        client, snapshot, "PATCH", "/api/v1/roles/admin", 409, json={"is_admin": False}, headers=admin.headers
    )
    body = refused(client, snapshot, "DELETE", "/api/v1/roles/staff", 409, headers=admin.headers)
    assert body["members"] == 1
    refused(
        client, snapshot, "PATCH", "/api/v1/roles/staff", 422, json={"key": "renamed"}, headers=admin.headers
    )
    refused(client, snapshot, "GET", "/api/v1/roles/Not-A-Key", 404, headers=admin.headers)


def test_roles_of_another_workspace_are_404(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    assert (
        client.post("/api/v1/roles", json={"key": "globex_only"}, headers=outsider.headers).status_code == 201
    )
    refused(client, snapshot, "GET", "/api/v1/roles/globex_only", 404, headers=admin.headers)
    refused(
        client, snapshot, "PATCH", "/api/v1/roles/globex_only", 404, json={"name": "x"}, headers=admin.headers
    )
    refused(client, snapshot, "DELETE", "/api/v1/roles/globex_only", 404, headers=admin.headers)


# ---------------------------------------------------------------- departments


def test_department_tree_through_the_api(client: FlaskClient, admin: Member, staff: Member) -> None:
    def post(**payload: Any) -> dict[str, Any]:
        response = client.post("/api/v1/departments", json=payload, headers=admin.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    ops = post(key="ops", name="Operations", head=admin.user_id)
    support = post(key="support", name="Support", parent=ops["id"])
    assert support["parent"] == ops["id"]
    assert ops["head"] == admin.user_id
    items = client.get("/api/v1/departments", headers=admin.headers).get_json()["items"]
    assert [d["key"] for d in items] == ["ops", "support"]
    moved = client.patch(
        f"/api/v1/departments/{support['id']}",
        json={"parent": None, "head": staff.user_id},
        headers=admin.headers,
    )
    assert moved.get_json()["parent"] is None
    assert moved.get_json()["head"] == staff.user_id
    assert (
        client.get(f"/api/v1/departments/{support['id']}", headers=admin.headers).get_json()
        == moved.get_json()
    )
    assert client.delete(f"/api/v1/departments/{support['id']}", headers=admin.headers).status_code == 204
    assert_problem(client.get(f"/api/v1/departments/{support['id']}", headers=admin.headers), 404)


def test_department_refusals_through_the_api(
    client: FlaskClient, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    ops = client.post(
        "/api/v1/departments", json={"key": "ops", "name": "Ops"}, headers=admin.headers
    ).get_json()
    sub = client.post(
        "/api/v1/departments", json={"key": "sub", "name": "Sub", "parent": ops["id"]}, headers=admin.headers
    ).get_json()
    url = f"/api/v1/departments/{ops['id']}"
    body = refused(client, snapshot, "PATCH", url, 422, json={"parent": sub["id"]}, headers=admin.headers)
    assert body["errors"] == {"parent": "would create a cycle"}
    refused(client, snapshot, "PATCH", url, 422, json={"parent": ops["id"]}, headers=admin.headers)
    body = refused(client, snapshot, "DELETE", url, 409, headers=admin.headers)
    assert body["children"] == 1
    client.patch(f"/api/v1/users/{staff.user_id}", json={"department": sub["id"]}, headers=admin.headers)
    body = refused(client, snapshot, "DELETE", f"/api/v1/departments/{sub['id']}", 409, headers=admin.headers)
    assert body["members"] == 1
    for payload, status, field in [
        ({"key": "ops", "name": "Again"}, 409, "key"),
        ({"key": "Bad Key", "name": "X"}, 422, "key"),
        ({"key": "x", "name": "X", "head": outsider.user_id}, 422, "head"),
        ({"key": "x", "name": "X", "parent": 999999}, 422, "parent"),
        ({"key": "x"}, 422, "name"),
    ]:
        body = refused(
            client, snapshot, "POST", "/api/v1/departments", status, json=payload, headers=admin.headers
        )
        assert field in body["errors"], payload


def test_departments_of_another_workspace_are_404(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    theirs = client.post("/api/v1/departments", json={"key": "ops", "name": "Ops"}, headers=outsider.headers)
    url = f"/api/v1/departments/{theirs.get_json()['id']}"
    refused(client, snapshot, "GET", url, 404, headers=admin.headers)
    refused(client, snapshot, "PATCH", url, 404, json={"name": "mine"}, headers=admin.headers)
    refused(client, snapshot, "DELETE", url, 404, headers=admin.headers)
    # nor can a foreign department be used as a parent or a member's department
    refused(
        client,
        snapshot,
        "POST",
        "/api/v1/departments",
        422,
        json={"key": "sub", "name": "Sub", "parent": theirs.get_json()["id"]},
        headers=admin.headers,
    )
    refused(
        client,
        snapshot,
        "PATCH",
        f"/api/v1/users/{admin.user_id}",
        422,
        json={"department": theirs.get_json()["id"]},
        headers=admin.headers,
    )


def test_changes_are_in_the_audit_log(client: FlaskClient, admin: Member, app: Any) -> None:
    from sqlalchemy import select

    from opsloom.platform.models import AuditEntry

    client.post(
        "/api/v1/roles",
        json={"key": "agent"},
        headers=admin.headers,
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    with app.extensions["opsloom.db"].session_scope() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.object_type == "role"))
        assert entry.actor_id == admin.user_id
        assert entry.workspace_id == admin.workspace_id
        assert entry.address == "10.1.2.3"
        assert entry.request_id
