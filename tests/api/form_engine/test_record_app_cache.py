"""The records API's app cache and the workspace's ``definitions_version`` it is keyed by.

A record request resolves its app and the app's published entity tables once; later
requests reuse that answer while the workspace's ``definitions_version`` (read when the
caller authenticated) is unchanged. Publishing, creating, archiving and restoring an app
bump the number, so the very next request sees the change.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.models import Workspace
from tests.conftest import assert_problem, make_member, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "title_field": "name",
    "fields": [{"key": "name", "type": "text", "required": True, "max_length": 40}],
}
CUSTOMER_V2: dict[str, Any] = {
    **CUSTOMER,
    "fields": [*CUSTOMER["fields"], {"key": "city", "type": "text", "max_length": 40}],
}
ORDER: dict[str, Any] = {
    "key": "order",
    "title_field": "title",
    "fields": [{"key": "title", "type": "text", "required": True}],
}
URL = "/api/v1/apps/crm/records/customer"
_DEFINITION_TABLES = re.compile(r"\b(apps|entity_tables)\b", re.IGNORECASE)


def definitions_version(app: Flask, member: Member) -> int:
    with app.extensions["opsloom.db"].session_scope() as s:
        version = s.scalar(select(Workspace.definitions_version).where(Workspace.id == member.workspace_id))
    assert isinstance(version, int)
    return version


def on_definition_tables(seen: list[str]) -> list[str]:
    return [statement for statement in seen if _DEFINITION_TABLES.search(statement)]


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    return admin


# ---------------------------------------------------------------- the version


def test_creating_an_app_and_publishing_bump_the_version_and_a_draft_does_not(
    client: FlaskClient, admin: Member, app: Flask
) -> None:
    start = definitions_version(app, admin)

    created = client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers)
    assert created.status_code == 201, created.get_json()
    after_create = definitions_version(app, admin)
    assert after_create > start

    saved = client.put("/api/v1/apps/crm/entities/customer", json=CUSTOMER, headers=admin.headers)
    assert saved.status_code == 200, saved.get_json()
    assert definitions_version(app, admin) == after_create

    published = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=admin.headers)
    assert published.status_code == 200, published.get_json()
    after_publish = definitions_version(app, admin)
    assert after_publish > after_create

    # a second draft is no publish either
    saved = client.put("/api/v1/apps/crm/entities/customer", json=CUSTOMER_V2, headers=admin.headers)
    assert saved.status_code == 200, saved.get_json()
    assert definitions_version(app, admin) == after_publish
    published = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=admin.headers)
    assert published.status_code == 200, published.get_json()
    assert definitions_version(app, admin) > after_publish


def test_a_refused_publish_leaves_the_version_alone(client: FlaskClient, crm: Member, app: Flask) -> None:
    before = definitions_version(app, crm)
    # nothing to publish: the draft was published already
    refused = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=crm.headers)
    assert refused.status_code == 409
    assert definitions_version(app, crm) == before


def test_archiving_and_restoring_an_app_bump_the_version(
    client: FlaskClient, crm: Member, app: Flask
) -> None:
    before = definitions_version(app, crm)
    assert client.post("/api/v1/apps/crm/archive", headers=crm.headers).status_code == 200
    archived = definitions_version(app, crm)
    assert archived > before
    assert client.post("/api/v1/apps/crm/restore", headers=crm.headers).status_code == 200
    assert definitions_version(app, crm) > archived


def test_the_version_is_the_workspace_s_own(client: FlaskClient, crm: Member, app: Flask) -> None:
    other = make_member(app, "globex", "olga", admin=True)
    before = definitions_version(app, other)
    publish_entity(client, crm, CUSTOMER_V2)
    assert definitions_version(app, other) == before


# ---------------------------------------------------------------- the cache


def test_repeated_record_requests_do_not_query_the_app_again(
    client: FlaskClient, crm: Member, statements: list[str]
) -> None:
    first = client.get(URL, headers=crm.headers)
    assert first.status_code == 200, first.get_json()
    # the first request looked the app and its tables up (the listener sees them)
    assert on_definition_tables(statements)

    statements.clear()
    created = client.post(URL, json={"name": "Wang"}, headers=crm.headers)
    assert created.status_code == 201, created.get_json()
    record_id = created.get_json()["id"]
    assert client.get(f"{URL}/{record_id}", headers=crm.headers).get_json()["name"] == "Wang"
    listed = client.get(URL, headers=crm.headers).get_json()["items"]
    assert [item["name"] for item in listed] == ["Wang"]
    assert statements  # the requests did run queries, only none on apps or entity tables
    assert on_definition_tables(statements) == []


def test_another_member_of_the_workspace_is_served_from_the_same_answer(
    client: FlaskClient, crm: Member, staff: Member, statements: list[str]
) -> None:
    assert client.post(URL, json={"name": "Wang"}, headers=crm.headers).status_code == 201
    statements.clear()
    # staff may not read customers: the refusal names the entity, found without looking the app up
    refused = assert_problem(client.get(URL, headers=staff.headers), 403)
    assert "customer" in refused["detail"]
    assert on_definition_tables(statements) == []


def test_a_new_version_of_the_entity_is_used_by_the_very_next_request(
    client: FlaskClient, crm: Member, statements: list[str]
) -> None:
    before = client.post(URL, json={"name": "Wang"}, headers=crm.headers)
    assert before.status_code == 201, before.get_json()
    assert "city" not in before.get_json()
    assert client.post(URL, json={"name": "Li", "city": "Hangzhou"}, headers=crm.headers).status_code == 422

    publish_entity(client, crm, CUSTOMER_V2)
    statements.clear()
    created = client.post(URL, json={"name": "Li", "city": "Hangzhou"}, headers=crm.headers)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["city"] == "Hangzhou"
    assert on_definition_tables(statements)  # the bumped version missed the cache

    record_id = created.get_json()["id"]
    got = client.get(f"{URL}/{record_id}", headers=crm.headers)
    assert got.status_code == 200
    assert (got.get_json()["name"], got.get_json()["city"]) == ("Li", "Hangzhou")
    listed = {item["name"]: item for item in client.get(URL, headers=crm.headers).get_json()["items"]}
    assert listed["Li"]["city"] == "Hangzhou"
    assert listed["Wang"]["city"] is None


def test_a_newly_published_entity_is_reachable_at_once(client: FlaskClient, crm: Member) -> None:
    assert client.get(URL, headers=crm.headers).status_code == 200  # the app is cached without `order`
    assert_problem(client.get("/api/v1/apps/crm/records/order", headers=crm.headers), 404)

    publish_entity(client, crm, ORDER)
    created = client.post("/api/v1/apps/crm/records/order", json={"title": "First"}, headers=crm.headers)
    assert created.status_code == 201, created.get_json()
    listed = client.get("/api/v1/apps/crm/records/order", headers=crm.headers)
    assert [item["title"] for item in listed.get_json()["items"]] == ["First"]
    assert client.get(URL, headers=crm.headers).status_code == 200


def test_an_unknown_app_is_404_until_it_is_created(client: FlaskClient, crm: Member) -> None:
    sales = "/api/v1/apps/sales/records/order"
    missing = assert_problem(client.get(sales, headers=crm.headers), 404)
    assert "sales" in missing["detail"]
    assert_problem(client.post(sales, json={"title": "x"}, headers=crm.headers), 404)

    created = client.post("/api/v1/apps", json={"key": "sales", "label": "Sales"}, headers=crm.headers)
    assert created.status_code == 201, created.get_json()
    # the app exists now: the answer is about its (not yet published) entity, not about the app
    no_entity = assert_problem(client.get(sales, headers=crm.headers), 404)
    assert "order" in no_entity["detail"]
    assert no_entity["detail"] != missing["detail"]

    publish_entity(client, crm, ORDER, app_key="sales")
    made = client.post(sales, json={"title": "First"}, headers=crm.headers)
    assert made.status_code == 201, made.get_json()


def test_another_workspace_never_gets_this_workspace_s_app(
    client: FlaskClient, crm: Member, app: Flask
) -> None:
    other = make_member(app, "globex", "olga", admin=True)
    assert client.post(URL, json={"name": "Wang"}, headers=crm.headers).status_code == 201
    assert client.get(URL, headers=crm.headers).status_code == 200  # cached for acme
    assert_problem(client.get(URL, headers=other.headers), 404)
    assert_problem(client.post(URL, json={"name": "Olga"}, headers=other.headers), 404)

    # globex's own app of the same key has its own records
    publish_entity(client, other, CUSTOMER)
    assert client.post(URL, json={"name": "Olga"}, headers=other.headers).status_code == 201
    assert [r["name"] for r in client.get(URL, headers=other.headers).get_json()["items"]] == ["Olga"]
    assert [r["name"] for r in client.get(URL, headers=crm.headers).get_json()["items"]] == ["Wang"]


def test_archiving_and_restoring_keep_the_records_reachable(client: FlaskClient, crm: Member) -> None:
    created = client.post(URL, json={"name": "Wang"}, headers=crm.headers)
    assert created.status_code == 201
    assert client.post("/api/v1/apps/crm/archive", headers=crm.headers).status_code == 200
    assert client.post("/api/v1/apps/crm/restore", headers=crm.headers).status_code == 200
    publish_entity(client, crm, CUSTOMER_V2)
    got = client.get(f"{URL}/{created.get_json()['id']}", headers=crm.headers)
    assert got.status_code == 200
    assert got.get_json()["city"] is None
