"""No route crosses workspaces: every URL in the map, filled with a foreign workspace's ids and keys, is a 404.

The outsider (workspace ``globex``) owns an app, definitions, a role, a department, a user,
a token, an audit trail and a dead-lettered delivery. The admin of ``acme`` then calls every
API route and every page whose URL takes an id or a key, for every method, with those
foreign values: each answer must be 404 (or 405 for a method the route lacks, or 401/403
before any lookup). Lists must not mention anything of the other workspace.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

#: stored only in the foreign workspace's labels, names and errors; keys in URLs are ``gx_...``
FOREIGN_MARK = "globexsecret"


@pytest.fixture
def foreign(app: Flask, client: FlaskClient, outsider: Member) -> dict[str, Any]:
    """Objects of every kind in workspace globex, created through the API as its admin would."""
    from opsloom.platform.auth import service as identity
    from opsloom.platform.db import utcnow
    from opsloom.platform.models import EventDelivery, OutboxEvent

    h = outsider.headers
    app_key = "gx_app"
    assert client.post("/api/v1/apps", json={"key": app_key, "label": FOREIGN_MARK}, headers=h).status_code == 201
    body = {"key": app_key, "label": FOREIGN_MARK}
    assert client.put(f"/api/v1/apps/{app_key}/app/{app_key}", json=body, headers=h).status_code == 200
    assert client.post(f"/api/v1/apps/{app_key}/app/{app_key}/publish", json={}, headers=h).status_code in (200, 201)
    role = client.post("/api/v1/roles", json={"key": "gx_role", "name": FOREIGN_MARK}, headers=h)
    assert role.status_code == 201, role.get_json()
    dept = client.post("/api/v1/departments", json={"key": "globex_dept", "name": FOREIGN_MARK}, headers=h)
    assert dept.status_code == 201, dept.get_json()
    user = client.post(
        "/api/v1/users",
        json={"username": "gx_user", "password": "a-long-password", "display_name": FOREIGN_MARK},
        headers=h,
    )
    assert user.status_code == 201, user.get_json()
    token = client.post("/api/v1/tokens", json={"name": FOREIGN_MARK}, headers=h)
    assert token.status_code == 201, token.get_json()
    with app.extensions["opsloom.db"].session_scope() as session:
        event = OutboxEvent(workspace_id=outsider.workspace_id, type="test.event", payload={"m": FOREIGN_MARK})
        session.add(event)
        session.flush()
        delivery = EventDelivery(
            event_id=event.id, workspace_id=outsider.workspace_id, handler="tests.handler",
            status="dead", attempts=5, last_error=FOREIGN_MARK, created_at=utcnow(),
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
        workspace = identity.ensure_workspace(session, key=outsider.workspace_key, name="Globex")
        workspace_id = workspace.id
    return {
        "app": app_key,
        "key": app_key,
        "role": "gx_role",
        "user_id": user.get_json()["id"],
        "department_id": dept.get_json()["id"],
        "token_id": token.get_json()["id"],
        "delivery_id": delivery_id,
        "workspace_id": workspace_id,
    }


def _value_for(rule: str, arg: str, foreign: dict[str, Any]) -> Any:
    """The foreign value that fits argument ``arg`` of URL rule ``rule``."""
    if arg in ("app", "app_key"):
        return foreign["app"]
    if arg in ("kind", "kind_plural"):
        return "app"
    if "/roles/" in rule:
        return foreign["role"]
    if "/users/" in rule:
        return foreign["user_id"]
    if "/departments/" in rule:
        return foreign["department_id"]
    if "/tokens/" in rule:
        return foreign["token_id"]
    if "/deliveries/" in rule:
        return foreign["delivery_id"]
    if "workspace" in arg:
        return foreign["workspace_id"]
    if arg in ("key", "version"):
        return foreign["key"] if arg == "key" else 1
    return foreign["key"]


ALLOWED = {404, 405}
SKIP_ENDPOINTS = {"static", "api-docs.openapi_json"}


def test_every_route_refuses_foreign_ids(
    app: Flask, client: FlaskClient, admin: Member, foreign: dict[str, Any]
) -> None:
    checked = 0
    problems = []
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint in SKIP_ENDPOINTS or rule.endpoint.endswith(".static"):
            continue
        if not rule.rule.startswith(("/api/", "/hooks/")):
            continue  # pages: test_tenant_isolation_pages.py::test_every_page_refuses_foreign_ids
        values = {arg: _value_for(rule.rule, arg, foreign) for arg in rule.arguments}
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m, v=values: str(v[m.group(1)]), rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            kwargs: dict[str, Any] = {"headers": admin.headers}
            if method in ("POST", "PUT", "PATCH"):
                kwargs["json"] = {}
            response = client.open(url, method=method, **kwargs)
            checked += 1
            text = response.get_data(as_text=True)
            if response.status_code not in ALLOWED or FOREIGN_MARK in text:
                problems.append(f"{method} {url} -> {response.status_code}: {text[:200]}")
    assert checked > 20, "the URL map looks too small; were the blueprints mounted?"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "url",
    ["/api/v1/apps", "/api/v1/roles", "/api/v1/users", "/api/v1/departments", "/api/v1/tokens?all=1",
     "/api/v1/audit", "/api/v1/jobs", "/api/v1/jobs/deliveries?status=dead"],
)
def test_lists_show_nothing_of_another_workspace(
    client: FlaskClient, admin: Member, foreign: dict[str, Any], url: str
) -> None:
    response = client.get(url, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    assert FOREIGN_MARK not in response.get_data(as_text=True)
