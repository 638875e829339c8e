"""The audit log API: admins search their workspace's log by object, user, action and time, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.api.test_api_base import assert_problem

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

AUDIT = "/api/v1/audit"


def _make_history(client: FlaskClient, admin: Member) -> None:
    h = admin.headers
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=h)
    client.post("/api/v1/apps", json={"key": "ops", "label": "Ops"}, headers=h)
    client.patch("/api/v1/apps/crm", json={"label": "Customers"}, headers=h)
    client.put("/api/v1/apps/crm/app/crm", json={"key": "crm", "label": "CRM"}, headers=h)
    client.post(
        "/api/v1/apps/crm/app/crm/publish", json={"note": "v1"}, headers={**h, "X-Request-Id": "req-77"}
    )


def test_filter_by_object_newest_first(client: FlaskClient, admin: Member) -> None:
    _make_history(client, admin)
    items = client.get(f"{AUDIT}?object_type=app&object_id=crm", headers=admin.headers).get_json()["items"]
    assert [i["action"] for i in items] == ["update", "create"]
    assert items[0]["before"] == {"label": "CRM"}
    assert items[0]["after"] == {"label": "Customers"}
    assert items[0]["actor_id"] == admin.user_id
    assert items[0]["actor_name"]
    assert items[0]["at"].endswith("+00:00")
    definition = client.get(f"{AUDIT}?object_type=definition&object_id=crm/app/crm", headers=admin.headers)
    entries = definition.get_json()["items"]
    assert [i["action"] for i in entries] == ["publish", "save_draft"]
    assert entries[0]["request_id"] == "req-77"
    assert entries[0]["after"]["version"] == 1
    assert entries[0]["address"] == "127.0.0.1"


def test_filter_by_user_action_and_time(client: FlaskClient, admin: Member) -> None:
    _make_history(client, admin)
    mine = client.get(f"{AUDIT}?actor_id={admin.user_id}&action=create", headers=admin.headers).get_json()[
        "items"
    ]
    assert [(i["object_type"], i["object_id"]) for i in mine] == [("app", "ops"), ("app", "crm")]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert client.get(AUDIT, query_string={"since": future}, headers=admin.headers).get_json()["items"] == []
    assert client.get(AUDIT, query_string={"until": past}, headers=admin.headers).get_json()["items"] == []
    window = client.get(
        AUDIT, query_string={"since": past, "until": future, "object_type": "app"}, headers=admin.headers
    ).get_json()["items"]
    assert len(window) == 3
    naive = client.get(AUDIT, query_string={"since": past[:19], "object_type": "app"}, headers=admin.headers)
    assert len(naive.get_json()["items"]) == 3


def test_pages_with_a_keyset_cursor(client: FlaskClient, admin: Member) -> None:
    _make_history(client, admin)
    seen: list[int] = []
    cursor = None
    while True:
        query: dict[str, Any] = {"limit": 2, "object_type": "app"}
        if cursor:
            query["cursor"] = cursor
        page = client.get(AUDIT, query_string=query, headers=admin.headers).get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 3
    first = client.get(
        AUDIT, query_string={"limit": 1, "object_type": "app"}, headers=admin.headers
    ).get_json()
    # a cursor is bound to its filters
    assert_problem(
        client.get(
            AUDIT,
            query_string={"cursor": first["next_cursor"], "object_type": "definition"},
            headers=admin.headers,
        ),
        400,
    )
    assert_problem(client.get(AUDIT, query_string={"cursor": "forged"}, headers=admin.headers), 400)


def test_workspaces_see_only_their_own_log(client: FlaskClient, admin: Member, outsider: Member) -> None:
    _make_history(client, admin)
    items = client.get(AUDIT, query_string={"limit": 500}, headers=outsider.headers).get_json()["items"]
    assert items
    assert all(i["object_id"] != "crm" for i in items)
    assert (
        client.get(f"{AUDIT}?object_type=app&object_id=crm", headers=outsider.headers).get_json()["items"]
        == []
    )


def test_only_admins_read_the_log(client: FlaskClient, admin: Member, staff: Member) -> None:
    assert_problem(client.get(AUDIT, headers=staff.headers), 403)
    assert_problem(client.get(AUDIT), 401)


def test_bad_filters_are_422(client: FlaskClient, admin: Member) -> None:
    for query in (
        {"actor_id": "me"},
        {"since": "yesterday"},
        {"limit": 0},
        {"limit": 501},
        {"colour": "red"},
        {"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
    ):
        body = assert_problem(client.get(AUDIT, query_string=query, headers=admin.headers), 422)
        assert body["errors"], query


def test_the_audit_route_is_documented(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/audit"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"object_type", "object_id", "actor_id", "action", "since", "until", "limit", "cursor"} <= names
    for path in (
        "/api/v1/apps",
        "/api/v1/apps/import",
        "/api/v1/apps/{app_key}/export",
        "/api/v1/apps/{app_key}/{kind_plural}/{key}/publish",
        "/api/v1/apps/{app_key}/{kind_plural}/{key}/diff",
    ):
        assert path in spec["paths"], path
