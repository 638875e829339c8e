"""Apps through the API: create, list, read, rename, archive, restore; every bad input is refused cleanly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_api_base import assert_problem

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

APPS = "/api/v1/apps"


def _create(client: FlaskClient, member: Member, key: str = "crm", **extra: Any) -> dict[str, Any]:
    response = client.post(
        APPS, json={"key": key, "label": extra.pop("label", key.upper()), **extra}, headers=member.headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_and_read_an_app(client: FlaskClient, admin: Member) -> None:
    created = _create(
        client, admin, label={"zh": "客户管理", "en": "CRM"}, description="Customers", icon="users"
    )
    assert created["key"] == "crm"
    assert created["label"] == {"zh": "客户管理", "en": "CRM"}
    assert created["archived"] is False
    assert created["created_at"].endswith("+00:00")
    read = client.get(f"{APPS}/crm", headers=admin.headers)
    assert read.status_code == 200
    assert read.get_json() == created


def test_list_apps_pages_with_a_cursor(client: FlaskClient, admin: Member) -> None:
    for key in ("delta", "alpha", "charlie", "bravo"):
        _create(client, admin, key)
    first = client.get(f"{APPS}?limit=3", headers=admin.headers).get_json()
    assert [a["key"] for a in first["items"]] == ["alpha", "bravo", "charlie"]
    second = client.get(f"{APPS}?limit=3&cursor={first['next_cursor']}", headers=admin.headers).get_json()
    assert [a["key"] for a in second["items"]] == ["delta"]
    assert second["next_cursor"] is None


def test_a_forged_cursor_is_a_400(client: FlaskClient, admin: Member) -> None:
    assert_problem(client.get(f"{APPS}?cursor=forged", headers=admin.headers), 400)


def test_bad_limit_is_a_422(client: FlaskClient, admin: Member) -> None:
    body = assert_problem(client.get(f"{APPS}?limit=0", headers=admin.headers), 422)
    assert "limit" in body["errors"]


def test_staff_reads_apps_but_cannot_write(
    client: FlaskClient, admin: Member, staff: Member, snapshot: Any
) -> None:
    _create(client, admin)
    assert client.get(APPS, headers=staff.headers).get_json()["items"][0]["key"] == "crm"
    assert client.get(f"{APPS}/crm", headers=staff.headers).status_code == 200
    before = snapshot()
    assert_problem(client.post(APPS, json={"key": "ops", "label": "Ops"}, headers=staff.headers), 403)
    assert_problem(client.patch(f"{APPS}/crm", json={"label": "X"}, headers=staff.headers), 403)
    assert_problem(client.post(f"{APPS}/crm/archive", headers=staff.headers), 403)
    assert snapshot() == before


def test_another_workspace_sees_nothing(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    _create(client, admin)
    assert client.get(APPS, headers=outsider.headers).get_json()["items"] == []
    before = snapshot()
    assert_problem(client.get(f"{APPS}/crm", headers=outsider.headers), 404)
    assert_problem(client.patch(f"{APPS}/crm", json={"label": "Mine"}, headers=outsider.headers), 404)
    assert_problem(client.post(f"{APPS}/crm/archive", headers=outsider.headers), 404)
    assert_problem(client.get(f"{APPS}/crm/export", headers=outsider.headers), 404)
    assert snapshot() == before
    # the same key is free in the other workspace
    _create(client, outsider)


def test_duplicate_key_is_a_409(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    _create(client, admin)
    before = snapshot()
    body = assert_problem(
        client.post(APPS, json={"key": "crm", "label": "Again"}, headers=admin.headers), 409
    )
    assert body["errors"] == {"key": "already taken"}
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"key": "Bad Key", "label": "x"}, "key"),
        ({"key": "1abc", "label": "x"}, "key"),
        ({"key": "a" * 41, "label": "x"}, "key"),
        ({"key": "import", "label": "x"}, "key"),
        ({"key": 7, "label": "x"}, "key"),
        ({"label": "x"}, "key"),
        ({"key": "crm"}, "label"),
        ({"key": "crm", "label": ""}, "label"),
        ({"key": "crm", "label": {"en": 5}}, "label"),
        ({"key": "crm", "label": "x", "icon": "i" * 41}, "icon"),
        ({"key": "crm", "label": "x", "owner": "me"}, "owner"),
    ],
)
def test_bad_app_payloads_are_422(
    client: FlaskClient, admin: Member, snapshot: Any, payload: dict[str, Any], field: str
) -> None:
    before = snapshot()
    body = assert_problem(client.post(APPS, json=payload, headers=admin.headers), 422)
    assert field in body["errors"], body
    assert snapshot() == before


def test_unknown_or_malformed_app_key_is_a_404(client: FlaskClient, admin: Member) -> None:
    assert "no app 'nope'" in assert_problem(client.get(f"{APPS}/nope", headers=admin.headers), 404)["detail"]
    body = assert_problem(client.get(f"{APPS}/Not-A-Key", headers=admin.headers), 404)
    assert "not a valid identifier" in body["detail"]


def test_rename_changes_the_label_not_the_key(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    _create(client, admin)
    response = client.patch(
        f"{APPS}/crm", json={"label": {"en": "Customers"}, "icon": "star"}, headers=admin.headers
    )
    assert response.status_code == 200
    assert response.get_json()["label"] == {"en": "Customers"}
    assert response.get_json()["icon"] == "star"
    before = snapshot()
    body = assert_problem(client.patch(f"{APPS}/crm", json={"key": "other"}, headers=admin.headers), 422)
    assert "key" in body["errors"]
    assert_problem(client.patch(f"{APPS}/crm", json={"label": ""}, headers=admin.headers), 422)
    assert snapshot() == before


def test_archive_hides_and_restore_brings_back(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    _create(client, admin)
    archived = client.post(f"{APPS}/crm/archive", headers=admin.headers)
    assert archived.status_code == 200
    assert archived.get_json()["archived"] is True
    assert client.get(APPS, headers=admin.headers).get_json()["items"] == []
    listed = client.get(f"{APPS}?include_archived=true", headers=admin.headers).get_json()["items"]
    assert [a["key"] for a in listed] == ["crm"]
    assert client.get(f"{APPS}/crm", headers=admin.headers).status_code == 200
    before = snapshot()
    assert_problem(client.post(f"{APPS}/crm/archive", headers=admin.headers), 409)
    assert_problem(client.patch(f"{APPS}/crm", json={"label": "X"}, headers=admin.headers), 409)
    assert_problem(
        client.put(f"{APPS}/crm/app/crm", json={"key": "crm", "label": "X"}, headers=admin.headers), 409
    )
    # an archived app keeps its key
    assert_problem(client.post(APPS, json={"key": "crm", "label": "New"}, headers=admin.headers), 409)
    assert snapshot() == before
    restored = client.post(f"{APPS}/crm/restore", headers=admin.headers)
    assert restored.status_code == 200
    assert restored.get_json()["archived"] is False
    assert_problem(client.post(f"{APPS}/crm/restore", headers=admin.headers), 409)


def test_app_changes_are_audited_and_emit_events(client: FlaskClient, admin: Member, app: Any) -> None:
    from sqlalchemy import select

    from opsloom.platform.models import AuditEntry, OutboxEvent

    _create(client, admin)
    client.patch(f"{APPS}/crm", json={"label": "Customers"}, headers=admin.headers)
    client.post(f"{APPS}/crm/archive", headers=admin.headers)
    client.post(f"{APPS}/crm/restore", headers=admin.headers)
    with app.extensions["opsloom.db"].session_scope() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "app").order_by(AuditEntry.id)
        ).all()
        events = session.scalars(select(OutboxEvent.type).where(OutboxEvent.type.like("app.%"))).all()
        assert [e.action for e in entries] == ["create", "update", "archive", "restore"]
        assert entries[1].before == {"label": "CRM"}
        assert entries[1].after == {"label": "Customers"}
        assert all(e.actor_id == admin.user_id and e.workspace_id == admin.workspace_id for e in entries)
        assert sorted(events) == ["app.archived", "app.created", "app.restored", "app.updated"]


def test_requests_without_a_token_are_401(client: FlaskClient) -> None:
    assert_problem(client.get(APPS), 401)
    assert_problem(client.post(APPS, json={"key": "crm", "label": "x"}), 401)
