"""Publishing entities: real tables, schema changes that keep data, refusals that change nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from tests.api.test_api_base import assert_problem
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customer", "zh": "客户"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "max_length": 100},
        {"key": "phone", "type": "phone", "unique": True},
        {"key": "level", "type": "select", "options": ["normal", "silver", "gold", "vip"], "default": "normal"},
        {"key": "score", "type": "text", "max_length": 20},
    ],
}


def _entity(client: FlaskClient, member: Member, key: str = "customer") -> dict[str, Any]:
    response = client.get(f"/api/v1/apps/crm/entities/{key}?version=draft", headers=member.headers)
    if response.status_code != 200:
        response = client.get(f"/api/v1/apps/crm/entities/{key}", headers=member.headers)
    return response.get_json()["body"]


def _columns(app: Flask, table_prefix: str = "e") -> dict[str, list[str]]:
    engine = app.extensions["opsloom.db"].engine
    with engine.connect() as conn:
        inspector = inspect(conn)
        return {
            name: [c["name"] for c in inspector.get_columns(name)]
            for name in inspector.get_table_names()
            if name.startswith(table_prefix) and name[1:2].isdigit()
        }


def _create(client: FlaskClient, member: Member, values: dict[str, Any], entity: str = "customer") -> dict[str, Any]:
    response = client.post(f"/api/v1/apps/crm/records/{entity}", json=values, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_publishing_creates_a_real_table_with_system_columns_and_field_ids(
    app: Flask, client: FlaskClient, admin: Member
) -> None:
    result = publish_entity(client, admin, CUSTOMER)
    assert result["version"] == 1
    assert any("created table" in line for line in result["report"])
    if app.extensions["opsloom.db"].dialect == "postgresql":
        # text search (q) is served by trigram indexes on PostgreSQL
        assert any("trigram search index on 'name'" in line for line in result["report"]), result["report"]
    tables = _columns(app)
    (name, columns), = tables.items()
    assert name.endswith("_customer")
    assert columns[:7] == ["id", "_version", "_created_at", "_created_by", "_updated_at", "_updated_by", "_deleted_at"]
    assert {"name", "phone", "level", "score"} <= set(columns)
    # every field got a stable id when the draft was saved
    assert all(f["id"].startswith("f") for f in _entity(client, admin)["fields"])

def test_search_indexes_serve_q_only_and_key_lookups_use_the_unique_index(
    app: Flask, client: FlaskClient, admin: Member
) -> None:
    """The trigram index answers ``q`` only: an equality on a unique key must not be planned on it."""
    from sqlalchemy import text

    publish_entity(client, admin, CUSTOMER)
    (table,) = _columns(app)
    engine = app.extensions["opsloom.db"].engine
    if app.extensions["opsloom.db"].dialect != "postgresql":
        # SQLite searches with LIKE and has no trigram indexes; the unique key is its own index
        with engine.connect() as conn:
            names = [i["name"] for i in inspect(conn).get_indexes(table)]
        assert not [n for n in names if "tl_" in n or "tg_" in n]
        assert any("_ux_" in n for n in names)
        return
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        search = conn.execute(text(f"EXPLAIN SELECT id FROM {table} WHERE lower(name) LIKE '%wang%'")).scalars().all()
        lookup = conn.execute(text(
            f"EXPLAIN SELECT id FROM {table} WHERE _deleted_at IS NULL AND phone IN ('13812345678', '13912345678')"
        )).scalars().all()
    prefix = table.split("_", 1)[0]
    assert any(f"{prefix}tl_name" in line for line in search), search
    assert not any(f"{prefix}tl_" in line for line in lookup), lookup
    assert any(f"{prefix}_ux_" in line for line in lookup), lookup


def test_adding_renaming_and_removing_fields_keeps_data(app: Flask, client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    record = _create(client, admin, {"name": "Wang", "phone": "13812345678", "score": "A"})
    body = _entity(client, admin)
    fields = body["fields"]
    # rename phone -> mobile (same id), remove score, add email
    fields[1]["key"] = "mobile"
    fields = [f for f in fields if f["key"] != "score"] + [{"key": "email", "type": "email"}]
    body["fields"] = fields
    report = publish_entity(client, admin, body)["report"]
    assert any("renamed field 'phone' to 'mobile'" in line for line in report)
    assert any("removed field 'score'" in line for line in report)
    assert any("added column 'email'" in line for line in report)
    got = client.get(f"/api/v1/apps/crm/records/customer/{record['id']}", headers=admin.headers).get_json()
    assert got["mobile"] == "13812345678"
    assert got["email"] is None
    assert "score" not in got
    assert "phone" not in got
    (columns,) = _columns(app).values()
    assert "_x2_score" in columns  # the removed field's data is kept in a tombstone column
    # the renamed field keeps its unique key
    dup = client.post("/api/v1/apps/crm/records/customer", json={"name": "Li", "mobile": "13812345678"},
                      headers=admin.headers)
    assert_problem(dup, 409)


def test_a_narrowing_change_needs_force_and_a_refused_publish_changes_nothing(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    publish_entity(client, admin, CUSTOMER)
    kept = _create(client, admin, {"name": "Zhang San the Long Name", "score": "12"})
    bad = _create(client, admin, {"name": "Li", "score": "n/a"})
    body = _entity(client, admin)
    old = body["fields"][3]
    body["fields"][3] = {"id": old["id"], "key": "score", "type": "number"}
    saved = client.put("/api/v1/apps/crm/entities/customer", json=body, headers=admin.headers)
    assert saved.status_code == 200
    before = snapshot()
    refused = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=admin.headers)
    problem = assert_problem(refused, 422)
    assert "/fields/3" in problem["errors"]
    assert problem.get("needs_force") is True
    assert snapshot() == before
    # the old version still serves
    assert client.get(f"/api/v1/apps/crm/records/customer/{kept['id']}", headers=admin.headers).get_json()["score"] == "12"
    forced = client.post("/api/v1/apps/crm/entities/customer/publish", json={"options": {"force": True}},
                         headers=admin.headers)
    assert forced.status_code == 200, forced.get_json()
    line = next(x for x in forced.get_json()["report"] if x.startswith("converted"))
    assert "1 did not fit" in line
    assert str(bad["id"]) in line
    assert client.get(f"/api/v1/apps/crm/records/customer/{kept['id']}", headers=admin.headers).get_json()["score"] == 12
    assert client.get(f"/api/v1/apps/crm/records/customer/{bad['id']}", headers=admin.headers).get_json()["score"] is None


def test_making_a_field_unique_over_duplicates_is_refused_with_the_duplicate_named(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    publish_entity(client, admin, CUSTOMER)
    _create(client, admin, {"name": "Same"})
    _create(client, admin, {"name": "Same"})
    body = _entity(client, admin)
    body["fields"][0]["unique"] = True
    assert client.put("/api/v1/apps/crm/entities/customer", json=body, headers=admin.headers).status_code == 200
    before = snapshot()
    refused = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=admin.headers)
    problem = assert_problem(refused, 409)
    assert "'Same'" in problem["detail"]
    assert snapshot() == before


def test_widening_a_text_field_needs_no_force(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    record = _create(client, admin, {"name": "Wang"})
    body = _entity(client, admin)
    body["fields"][0]["max_length"] = 500
    report = publish_entity(client, admin, body)["report"]
    assert any(line.startswith("widened 'name'") for line in report)
    long_name = "x" * 300
    patched = client.patch(f"/api/v1/apps/crm/records/customer/{record['id']}",
                           json={"name": long_name, "_version": 1}, headers=admin.headers)
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["name"] == long_name


def test_invalid_entity_definitions_answer_422_with_pointers(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    assert client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers).status_code == 201
    before = snapshot()
    cases = {
        "/fields/0/type": {"key": "c", "fields": [{"key": "a", "type": "phnoe"}]},
        "/fields/0/max_length": {"key": "c", "fields": [{"key": "a", "type": "text", "max_length": -1}]},
        "/fields/0/bogus": {"key": "c", "fields": [{"key": "a", "type": "text", "bogus": 1}]},
        "/fields/1/key": {"key": "c", "fields": [{"key": "a", "type": "text"}, {"key": "a", "type": "text"}]},
        "/fields/0/key": {"key": "c", "fields": [{"key": "id", "type": "text"}]},
        "/title_field": {"key": "c", "title_field": "nope", "fields": [{"key": "a", "type": "text"}]},
        "/dedup/0/0": {"key": "c", "dedup": [["nope"]], "fields": [{"key": "a", "type": "text"}]},
        "/visible_if/nope": {"key": "c", "visible_if": {"nope": True}, "fields": [{"key": "a", "type": "text"}]},
        "/fields/0/options": {"key": "c", "fields": [{"key": "a", "type": "select", "options": []}]},
        "/fields/0/default": {"key": "c", "fields": [{"key": "a", "type": "select", "options": ["x"], "default": "y"}]},
    }
    for pointer, body in cases.items():
        response = client.put("/api/v1/apps/crm/entities/c", json=body, headers=admin.headers)
        problem = assert_problem(response, 422)
        assert any(key.startswith(pointer) for key in problem["errors"]), (pointer, problem["errors"])
    assert snapshot() == before


def test_subtable_fields_indexes_and_dedup_keys_change_with_the_version(
    app: Flask, client: FlaskClient, admin: Member
) -> None:
    body: dict[str, Any] = {
        "key": "account",
        "fields": [
            {"key": "name", "type": "text"},
            {"key": "region", "type": "text"},
            {"key": "contacts", "type": "subtable", "fields": [
                {"key": "person", "type": "text"}, {"key": "note", "type": "text"}]},
        ],
        "indexes": [["region"]],
    }
    publish_entity(client, admin, body)
    url = "/api/v1/apps/crm/records/account"
    made = client.post(url, json={"name": "A", "region": "east", "contacts": [{"person": "Wang", "note": "n"}]},
                       headers=admin.headers).get_json()
    body = _entity(client, admin, "account")
    contacts = body["fields"][2]
    contacts["fields"] = [{"key": "person", "type": "text"}, {"key": "phone", "type": "phone"}]
    body["indexes"] = []
    body["dedup"] = [["name", "region"]]
    report = publish_entity(client, admin, body)["report"]
    assert any("removed contacts.note" in line for line in report), report
    assert any("added column contacts.phone" in line for line in report), report
    assert any(line.startswith("added unique key on (name, region)") for line in report), report
    got = client.get(f"{url}/{made['id']}", headers=admin.headers).get_json()
    assert got["contacts"][0]["person"] == "Wang"
    assert got["contacts"][0]["phone"] is None
    assert "note" not in got["contacts"][0]
    engine = app.extensions["opsloom.db"].engine
    with engine.connect() as conn:
        table = next(n for n in inspect(conn).get_table_names() if n.endswith("_account"))
        prefix = table.split("_", 1)[0] + "_"  # keys and plain indexes (trigram search indexes are e<id>tl_…)
        indexes = {
            tuple(i["column_names"]): bool(i["unique"])
            for i in inspect(conn).get_indexes(table)
            if (i["name"] or "").startswith(prefix)
        }
    assert indexes.get(("name", "region")) is True
    assert ("region",) not in indexes  # the dropped plain index is gone
    assert_problem(client.post(url, json={"name": "A", "region": "east"}, headers=admin.headers), 409)


def test_changing_a_fields_storage_is_refused_and_changes_nothing(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    publish_entity(client, admin, CUSTOMER)
    publish_entity(client, admin, {"key": "order", "fields": [
        {"key": "customer", "type": "relation", "target": "customer"}]})
    body = _entity(client, admin, "order")
    body["fields"][0]["many"] = True
    assert client.put("/api/v1/apps/crm/entities/order", json=body, headers=admin.headers).status_code == 200
    before = snapshot()
    problem = assert_problem(
        client.post("/api/v1/apps/crm/entities/order/publish", json={"options": {"force": True}},
                    headers=admin.headers), 422)
    assert "/fields/0" in problem["errors"]
    assert "add a new field" in problem["errors"]["/fields/0"]
    assert snapshot() == before
