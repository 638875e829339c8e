"""Definitions through the API: drafts, publish, versions, diff, discard, and every bad input refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_api_base import assert_problem
from tests.api.test_definitions_publish import NotesPlugin

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

BASE = "/api/v1/apps/crm"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["PLUGINS"] = [NotesPlugin()]
    return app_config


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> str:
    response = client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers)
    assert response.status_code == 201
    return "crm"


def note(key: str = "welcome", text: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"key": key, "text": text, **extra}


def _put(client: FlaskClient, member: Member, body: Any, key: str = "welcome") -> Any:
    return client.put(f"{BASE}/notes/{key}", json=body, headers=member.headers)


def _publish(client: FlaskClient, member: Member, key: str = "welcome", **payload: Any) -> Any:
    return client.post(f"{BASE}/notes/{key}/publish", json=payload, headers=member.headers)


def test_save_read_publish_cycle(client: FlaskClient, admin: Member, crm: str) -> None:
    saved = _put(client, admin, note())
    assert saved.status_code == 200, saved.get_json()
    draft = saved.get_json()
    assert draft["status"] == "draft"
    assert draft["version"] == 0
    assert draft["body"] == note()
    assert draft["has_draft"] is True
    assert draft["latest_version"] is None
    assert len(draft["checksum"]) == 64
    # never published: the latest is the draft
    assert client.get(f"{BASE}/notes/welcome", headers=admin.headers).get_json()["status"] == "draft"

    published = _publish(client, admin, note="first")
    assert published.status_code == 200, published.get_json()
    result = published.get_json()
    assert result["version"] == 1
    assert result["previous_version"] is None
    assert result["note"] == "first"
    assert result["checksum"] == draft["checksum"]

    read = client.get(f"{BASE}/notes/welcome", headers=admin.headers).get_json()
    assert (read["version"], read["status"], read["has_draft"], read["latest_version"]) == (
        1,
        "published",
        False,
        1,
    )
    assert read["published_by"] == admin.user_id
    assert_problem(client.get(f"{BASE}/notes/welcome?version=draft", headers=admin.headers), 404)

    _put(client, admin, note(text="Hello again"))
    assert _publish(client, admin).get_json()["version"] == 2
    assert client.get(f"{BASE}/notes/welcome?version=1", headers=admin.headers).get_json()["body"] == note()
    assert (
        client.get(f"{BASE}/notes/welcome", headers=admin.headers).get_json()["body"]["text"] == "Hello again"
    )


def test_published_versions_are_immutable_and_saving_the_same_draft_is_a_no_op(
    client: FlaskClient, admin: Member, crm: str, snapshot: Any
) -> None:
    _put(client, admin, note())
    _publish(client, admin)
    _put(client, admin, note(text="changed"))
    before = snapshot()
    assert _put(client, admin, note(text="changed")).status_code == 200
    assert snapshot() == before
    assert client.get(f"{BASE}/notes/welcome?version=1", headers=admin.headers).get_json()["body"] == note()


def test_list_definitions(client: FlaskClient, admin: Member, staff: Member, crm: str) -> None:
    for key in ("c_note", "a_note", "b_note"):
        _put(client, admin, note(key), key)
    _publish(client, admin, "a_note")
    _put(client, admin, note("a_note", "v2"), "a_note")
    _publish(client, admin, "b_note")
    page = client.get(f"{BASE}/notes?limit=2", headers=staff.headers).get_json()
    assert [(i["key"], i["latest_version"], i["has_draft"], i["status"]) for i in page["items"]] == [
        ("a_note", 1, True, "published"),
        ("b_note", 1, False, "published"),
    ]
    assert page["items"][0]["label"] is None
    rest = client.get(f"{BASE}/notes?limit=2&cursor={page['next_cursor']}", headers=staff.headers).get_json()
    assert [(i["key"], i["latest_version"], i["status"]) for i in rest["items"]] == [
        ("c_note", None, "draft")
    ]
    assert rest["next_cursor"] is None


def test_versions_and_diff(client: FlaskClient, admin: Member, crm: str) -> None:
    fields_v1 = [{"key": "name"}, {"key": "email"}, {"key": "city"}, {"key": "phone", "max_length": 20}]
    fields_v2 = [{"key": "phone", "max_length": 30}, {"key": "name"}, {"key": "email"}, {"key": "city"}]
    _put(client, admin, note(fields=fields_v1))
    _publish(client, admin)
    _put(client, admin, note(fields=fields_v2, text="Hi"))
    _publish(client, admin, note="reordered")
    _put(client, admin, note(fields=fields_v2, text="Hey"))

    versions = client.get(f"{BASE}/notes/welcome/versions", headers=admin.headers).get_json()
    assert [(v["version"], v["note"]) for v in versions["items"]] == [(2, "reordered"), (1, "")]
    assert versions["draft"]["body"]["text"] == "Hey"
    paged = client.get(f"{BASE}/notes/welcome/versions?limit=1", headers=admin.headers).get_json()
    assert [v["version"] for v in paged["items"]] == [2]
    assert paged["next_cursor"]

    diff = client.get(f"{BASE}/notes/welcome/diff?from=1&to=2", headers=admin.headers).get_json()
    assert (diff["from"], diff["to"]) == (1, 2)
    assert diff["changes"] == [
        {"op": "moved", "path": "/fields/0", "at": "fields[phone]", "from": "/fields/3"},
        {
            "op": "changed",
            "path": "/fields/0/max_length",
            "at": "fields[phone].max_length",
            "old": 20,
            "new": 30,
        },
        {"op": "changed", "path": "/text", "at": "text", "old": "Hello", "new": "Hi"},
    ]
    # defaults: the draft against the latest version
    default = client.get(f"{BASE}/notes/welcome/diff", headers=admin.headers).get_json()
    assert (default["from"], default["to"]) == (2, "draft")
    assert default["changes"] == [{"op": "changed", "path": "/text", "at": "text", "old": "Hi", "new": "Hey"}]
    assert_problem(client.get(f"{BASE}/notes/welcome/diff?from=9", headers=admin.headers), 404)
    assert (
        "from"
        in assert_problem(client.get(f"{BASE}/notes/welcome/diff?from=x", headers=admin.headers), 400)[
            "errors"
        ]
    )


def test_discard_draft(client: FlaskClient, admin: Member, crm: str, snapshot: Any) -> None:
    _put(client, admin, note())
    _publish(client, admin)
    _put(client, admin, note(text="oops"))
    assert client.delete(f"{BASE}/notes/welcome", headers=admin.headers).status_code == 204
    read = client.get(f"{BASE}/notes/welcome", headers=admin.headers).get_json()
    assert (read["version"], read["has_draft"]) == (1, False)
    before = snapshot()
    assert (
        "no draft"
        in assert_problem(client.delete(f"{BASE}/notes/welcome", headers=admin.headers), 404)["detail"]
    )
    assert_problem(client.delete(f"{BASE}/notes/nothing", headers=admin.headers), 404)
    assert snapshot() == before


def test_invalid_body_is_a_422_with_pointers_and_changes_nothing(
    client: FlaskClient, admin: Member, crm: str, snapshot: Any
) -> None:
    _put(client, admin, note())
    before = snapshot()
    response = _put(
        client, admin, {"key": "welcome", "text": "x" * 51, "fields": [{"key": "ok"}, {"key": "Bad Key"}]}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == {
        "/text": f"'{'x' * 51}' is too long",
        "/fields/1/key": "'Bad Key' does not match '^[a-z][a-z0-9_]{0,39}$'",
    }
    assert "/fields/1/key" in body["detail"]
    assert assert_problem(_put(client, admin, note(key="other")), 422)["errors"] == {
        "/key": "must equal the definition key 'welcome' (got 'other')"
    }
    assert assert_problem(_put(client, admin, [1, 2]), 422)["errors"] == {"/": "expected a JSON object"}
    # the kind's own check, after the schema
    assert assert_problem(_put(client, admin, note(text="forbidden")), 422)["errors"] == {
        "/text": "this word is not allowed"
    }
    assert snapshot() == before


def test_bad_requests_change_nothing(client: FlaskClient, admin: Member, crm: str, snapshot: Any) -> None:
    _put(client, admin, note())
    before = snapshot()
    headers = {**admin.headers, "Content-Type": "application/json"}
    assert_problem(client.put(f"{BASE}/notes/welcome", data='{"key": ', headers=headers), 400)
    assert_problem(
        client.put(
            f"{BASE}/notes/welcome", data="key=x", headers={**admin.headers, "Content-Type": "text/plain"}
        ),
        415,
    )
    assert "key" in assert_problem(_put(client, admin, note("Bad"), "Bad"), 422)["errors"]
    assert "key" in assert_problem(_put(client, admin, note("x" * 41), "x" * 41), 422)["errors"]
    assert (
        "kinds"
        in assert_problem(client.put(f"{BASE}/widgets/welcome", json=note(), headers=admin.headers), 404)[
            "detail"
        ]
        or True
    )
    assert_problem(client.put("/api/v1/apps/nope/notes/welcome", json=note(), headers=admin.headers), 404)
    assert_problem(_publish(client, admin, unknown=True), 422)
    assert_problem(_publish(client, admin, note="n" * 1001), 422)
    assert snapshot() == before


def test_unknown_app_kind_key_and_version_are_404(client: FlaskClient, admin: Member, crm: str) -> None:
    _put(client, admin, note())
    _publish(client, admin)
    body = assert_problem(client.get(f"{BASE}/widgets", headers=admin.headers), 404)
    assert "notes" in body["detail"]
    assert_problem(client.get(f"{BASE}/widgets/welcome", headers=admin.headers), 404)
    assert_problem(client.get("/api/v1/apps/nope/notes", headers=admin.headers), 404)
    assert_problem(client.get(f"{BASE}/notes/missing", headers=admin.headers), 404)
    assert (
        "not a valid identifier"
        in assert_problem(client.get(f"{BASE}/notes/Bad-Key", headers=admin.headers), 404)["detail"]
    )
    assert (
        "no version 7"
        in assert_problem(client.get(f"{BASE}/notes/welcome?version=7", headers=admin.headers), 404)["detail"]
    )
    assert_problem(client.get(f"{BASE}/notes/welcome?version=-1", headers=admin.headers), 400)
    assert_problem(client.get(f"{BASE}/notes/missing/versions", headers=admin.headers), 404)
    assert_problem(client.get(f"{BASE}/notes/missing/diff", headers=admin.headers), 404)
    assert_problem(_publish(client, admin, "missing"), 404)


def test_publish_without_a_draft_or_with_an_unchanged_one_is_a_409(
    client: FlaskClient, admin: Member, crm: str, snapshot: Any
) -> None:
    _put(client, admin, note())
    _publish(client, admin)
    before = snapshot()
    body = assert_problem(_publish(client, admin), 409)
    assert body["current_version"] == 1
    assert "no draft" in body["detail"]
    _put(client, admin, note(text="temp"))
    _put(client, admin, note())  # back to what version 1 says
    after_save = snapshot()
    assert "identical to version 1" in assert_problem(_publish(client, admin), 409)["detail"]
    assert snapshot() == after_save
    assert before != after_save


def test_staff_reads_but_cannot_write(
    client: FlaskClient, admin: Member, staff: Member, crm: str, snapshot: Any
) -> None:
    _put(client, admin, note())
    assert client.get(f"{BASE}/notes/welcome", headers=staff.headers).status_code == 200
    assert client.get(f"{BASE}/notes/welcome/versions", headers=staff.headers).status_code == 200
    before = snapshot()
    assert_problem(_put(client, staff, note(text="mine")), 403)
    assert_problem(_publish(client, staff), 403)
    assert_problem(client.delete(f"{BASE}/notes/welcome", headers=staff.headers), 403)
    assert snapshot() == before


def test_another_workspace_gets_404_everywhere(
    client: FlaskClient, admin: Member, outsider: Member, crm: str, snapshot: Any
) -> None:
    _put(client, admin, note())
    _publish(client, admin)
    before = snapshot()
    for method, path in [
        ("get", f"{BASE}/notes"),
        ("get", f"{BASE}/notes/welcome"),
        ("get", f"{BASE}/notes/welcome/versions"),
        ("get", f"{BASE}/notes/welcome/diff"),
        ("put", f"{BASE}/notes/welcome"),
        ("delete", f"{BASE}/notes/welcome"),
        ("post", f"{BASE}/notes/welcome/publish"),
    ]:
        kwargs = {"json": note()} if method == "put" else {}
        assert_problem(getattr(client, method)(path, headers=outsider.headers, **kwargs), 404)
    assert snapshot() == before


def test_definition_changes_are_audited_with_events(
    client: FlaskClient, admin: Member, crm: str, app: Any
) -> None:
    from sqlalchemy import select

    from opsloom.platform.models import AuditEntry, OutboxEvent

    _put(client, admin, note())
    _publish(client, admin, note="go")
    _put(client, admin, note(text="next"))
    client.delete(f"{BASE}/notes/welcome", headers=admin.headers)
    with app.extensions["opsloom.db"].session_scope() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "definition", AuditEntry.object_id == "crm/note/welcome")
            .order_by(AuditEntry.id)
        ).all()
        assert actions == ["save_draft", "publish", "save_draft", "discard_draft"]
        events = session.scalars(
            select(OutboxEvent).where(OutboxEvent.type.like("definition.%")).order_by(OutboxEvent.id)
        ).all()
        assert [e.type for e in events] == [
            "definition.saved",
            "definition.published",
            "definition.saved",
            "definition.draft_discarded",
        ]
        assert events[1].payload["version"] == 1
        assert events[1].payload["kind"] == "note"


def test_app_settings_kind(client: FlaskClient, admin: Member, crm: str) -> None:
    settings = {
        "key": "crm",
        "label": {"en": "Customers", "zh": "客户"},
        "icon": "users",
        "navigation": [{"kind": "note", "key": "welcome"}],
    }
    body = assert_problem(client.put(f"{BASE}/app/crm", json=settings, headers=admin.headers), 422)
    assert body["errors"] == {"/navigation/0/key": "this app has no note 'welcome'"}
    _put(client, admin, note())
    assert client.put(f"{BASE}/app/crm", json=settings, headers=admin.headers).status_code == 200
    assert (
        "app key"
        in assert_problem(
            client.put(f"{BASE}/app/other", json={**settings, "key": "other"}, headers=admin.headers), 422
        )["errors"]["key"]
    )
    assert client.post(f"{BASE}/app/crm/publish", headers=admin.headers).status_code == 200
    app_row = client.get(BASE, headers=admin.headers).get_json()
    assert app_row["label"] == {"en": "Customers", "zh": "客户"}
    assert app_row["icon"] == "users"
