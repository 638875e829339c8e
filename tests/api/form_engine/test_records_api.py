"""The records API: create, read, PATCH with versions, delete and restore, bulk, queries, and bad input."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.models import AuditEntry, OutboxEvent
from tests.api.test_api_base import assert_problem
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

URL = "/api/v1/apps/crm/records/customer"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "max_length": 20},
        {"key": "phone", "type": "phone", "unique": True},
        {"key": "level", "type": "select", "options": ["normal", "silver", "gold", "vip"], "default": "normal"},
        {"key": "vip_note", "type": "text"},
        {"key": "spent", "type": "number"},
        {"key": "birthday", "type": "date"},
        {"key": "code", "type": "auto_number", "pattern": "C{seq:4}"},
        {"key": "gap", "type": "formula", "formula": "10000 - spent"},
    ],
    "visible_if": {"vip_note": {"==": [{"var": "level"}, "vip"]}},
    "required_if": {"vip_note": {"==": [{"var": "level"}, "vip"]}},
}


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    return admin


def _post(client: FlaskClient, member: Member, values: Any) -> Any:
    return client.post(URL, json=values, headers=member.headers)


def test_create_read_patch_delete_restore(client: FlaskClient, crm: Member, app: Flask) -> None:
    created = _post(client, crm, {"name": "Wang", "phone": "+86 138 1234 5678", "spent": 1200, "birthday": "1990-05-01"})
    assert created.status_code == 201, created.get_json()
    record = created.get_json()
    assert created.headers["ETag"] == '"1"'
    assert record["phone"] == "13812345678"
    assert record["level"] == "normal"  # the default
    assert record["code"] == "C0001"
    assert record["gap"] == 8800
    assert record["_version"] == 1
    assert record["_created_at"].endswith("Z")
    rid = record["id"]

    got = client.get(f"{URL}/{rid}", headers=crm.headers).get_json()
    assert got == record

    patched = client.patch(f"{URL}/{rid}", json={"spent": 2000, "_version": 1}, headers=crm.headers)
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["gap"] == 8000
    assert patched.get_json()["_version"] == 2

    stale = client.patch(f"{URL}/{rid}", json={"spent": 1, "_version": 1}, headers=crm.headers)
    problem = assert_problem(stale, 409)
    assert problem["current_version"] == 2

    via_header = client.patch(f"{URL}/{rid}", json={"name": "Wang Wu"}, headers={**crm.headers, "If-Match": '"2"'})
    assert via_header.status_code == 200
    assert via_header.get_json()["_version"] == 3

    assert client.delete(f"{URL}/{rid}", headers=crm.headers).status_code == 200
    assert_problem(client.get(f"{URL}/{rid}", headers=crm.headers), 404)
    assert client.get(f"{URL}/{rid}?deleted=1", headers=crm.headers).status_code == 200
    restored = client.post(f"{URL}/{rid}/restore", headers=crm.headers)
    assert restored.status_code == 200
    assert restored.get_json()["_deleted_at"] is None

    with app.extensions["opsloom.db"].session_scope() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_type == "record"))]
        events = [e.type for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type.like("record.%")))]
    assert actions == ["create", "update", "update", "delete", "restore"]
    assert events == ["record.created", "record.updated", "record.updated", "record.deleted", "record.restored"]


def test_the_update_event_carries_old_values_and_changed_fields(client: FlaskClient, crm: Member, app: Flask) -> None:
    rid = _post(client, crm, {"name": "Wang", "spent": 10}).get_json()["id"]
    client.patch(f"{URL}/{rid}", json={"spent": 20, "name": "Wang", "_version": 1}, headers=crm.headers)
    with app.extensions["opsloom.db"].session_scope() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.type == "record.updated")).one()
        payload = event.payload
    assert payload["_changed"] == ["gap", "spent"]
    assert payload["old"]["spent"] == 10
    assert payload["record"]["spent"] == 20


def test_visibility_and_conditional_requirement(client: FlaskClient, crm: Member) -> None:
    missing = _post(client, crm, {"name": "Li", "level": "vip"})
    assert assert_problem(missing, 422)["errors"] == {"vip_note": "is required"}
    hidden = _post(client, crm, {"name": "Li", "level": "gold", "vip_note": "ignored"})
    assert hidden.status_code == 201
    assert hidden.get_json()["vip_note"] is None  # a hidden field is not stored


def test_bad_input_names_the_field_and_changes_nothing(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    before = snapshot()
    cases = [
        ({"name": "x" * 21}, "name"),
        ({"name": "Li", "nmae": 1}, "nmae"),
        ({"name": "Li", "level": "platinum"}, "level"),
        ({"name": "Li", "birthday": "2026-02-30"}, "birthday"),
        ({"name": "Li", "spent": "lots"}, "spent"),
        ({"name": "Li", "phone": "12345"}, "phone"),
        ({"name": "Li", "code": "C9999"}, "code"),
        ({"name": "Li", "id": 5}, "id"),
        ({}, "name"),
    ]
    for values, field in cases:
        problem = assert_problem(_post(client, crm, values), 422)
        assert field in problem["errors"], (values, problem)
    assert_problem(_post(client, crm, ["not", "an", "object"]), 422)
    assert_problem(client.post(URL, data="{broken", headers={**crm.headers, "Content-Type": "application/json"}), 400)
    assert snapshot() == before


def test_a_duplicate_unique_value_is_a_409_naming_the_other_record(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    first = _post(client, crm, {"name": "Wang", "phone": "13812345678"}).get_json()
    before = snapshot()
    problem = assert_problem(_post(client, crm, {"name": "Li", "phone": "138-1234-5678"}), 409)
    assert problem["duplicate_of"] == first["id"]
    assert "phone" in problem["errors"]
    assert snapshot() == before
    # a deleted record frees its unique value
    client.delete(f"{URL}/{first['id']}", headers=crm.headers)
    assert _post(client, crm, {"name": "Li", "phone": "13812345678"}).status_code == 201


def test_bulk_is_all_or_nothing_or_skips_bad_rows(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    before = snapshot()
    rows = [{"name": "A"}, {"name": "B", "level": "nope"}, {"name": "C"}]
    problem = assert_problem(client.post(f"{URL}/bulk", json={"records": rows}, headers=crm.headers), 422)
    assert "1/level" in problem["errors"]
    assert snapshot() == before
    result = client.post(f"{URL}/bulk", json={"records": rows, "skip_invalid": True}, headers=crm.headers).get_json()
    assert len(result["created"]) == 2
    assert list(result["errors"]) == ["1/level"]
    codes = [client.get(f"{URL}/{i}", headers=crm.headers).get_json()["code"] for i in result["created"]]
    assert codes == ["C0001", "C0002"]  # gap-free: the refused row took no number


def test_bulk_names_every_repeated_key_and_writes_nothing_or_skips_those_rows(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    """The batch goes in first; when a unique index refuses it, every repeating row is named."""
    taken = _post(client, crm, {"name": "Old", "phone": "13900000001"}).get_json()
    gone = _post(client, crm, {"name": "Gone", "phone": "13900000009"}).get_json()
    client.delete(f"{URL}/{gone['id']}", headers=crm.headers)  # a deleted record frees its phone
    before = snapshot()
    rows = [{"name": "A", "phone": "13900000002"}, {"name": "B", "phone": "13900000009"},
            {"name": "C", "phone": "13900000002"}, {"name": "D", "phone": "13900000001"}, {"name": "E"}]
    problem = assert_problem(client.post(f"{URL}/bulk", json={"records": rows}, headers=crm.headers), 409)
    assert set(problem["errors"]) == {"2/phone", "3/phone"}
    assert "of this batch" in problem["errors"]["2/phone"]
    assert str(taken["id"]) in problem["errors"]["3/phone"]
    assert snapshot() == before  # no record, no audit row, no event, no number
    result = client.post(f"{URL}/bulk", json={"records": rows, "skip_invalid": True}, headers=crm.headers)
    assert result.status_code == 200, result.get_json()
    body = result.get_json()
    assert sorted(body["errors"]) == ["2/phone", "3/phone"]
    names = [client.get(f"{URL}/{i}", headers=crm.headers).get_json()["name"] for i in body["created"]]
    assert names == ["A", "B", "E"]


def test_query_filter_sort_search_and_cursor(client: FlaskClient, crm: Member) -> None:
    for i, (name, level) in enumerate([("Wang", "vip"), ("Li", "gold"), ("Zhang", "gold"), ("Zhao", None)]):
        values = {"name": name, "spent": i * 100, "vip_note": "n"}
        if level:
            values["level"] = level
        assert _post(client, crm, values).status_code == 201
    gold = client.get(URL, query_string={"filter": json.dumps({"==": [{"var": "level"}, "gold"]}), "sort": "name"},
                      headers=crm.headers).get_json()
    assert [r["name"] for r in gold["items"]] == ["Li", "Zhang"]
    first = client.get(URL, query_string={"sort": "-spent", "limit": 3}, headers=crm.headers).get_json()
    assert [r["name"] for r in first["items"]] == ["Zhao", "Zhang", "Li"]
    rest = client.get(URL, query_string={"sort": "-spent", "limit": 3, "cursor": first["next_cursor"]},
                      headers=crm.headers).get_json()
    assert [r["name"] for r in rest["items"]] == ["Wang"]
    assert rest["next_cursor"] is None
    found = client.get(URL, query_string={"q": "zha"}, headers=crm.headers).get_json()
    assert sorted(r["name"] for r in found["items"]) == ["Zhang", "Zhao"]
    narrow = client.get(URL, query_string={"fields": "name", "limit": 1}, headers=crm.headers).get_json()
    assert set(narrow["items"][0]) >= {"id", "name"}
    assert "spent" not in narrow["items"][0]


def test_bad_queries_are_400_problems(client: FlaskClient, crm: Member) -> None:
    for params, key in [
        ({"filter": "{nope"}, "filter"),
        ({"filter": json.dumps({"no_such_op": [1]})}, "filter"),
        ({"sort": "nope"}, "sort"),
        ({"cursor": "forged"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"fields": "nope"}, "fields"),
        ({"bogus": "1"}, "bogus"),
    ]:
        problem = assert_problem(client.get(URL, query_string=params, headers=crm.headers), 400)
        assert any(k.startswith(key) for k in problem["errors"]), (params, problem)
    deep: Any = True
    for _ in range(200):
        deep = {"!": [deep]}
    assert_problem(client.get(URL, query_string={"filter": json.dumps(deep)}, headers=crm.headers), 400)


def test_records_of_another_workspace_are_not_found(client: FlaskClient, crm: Member, outsider: Member) -> None:
    rid = _post(client, crm, {"name": "Wang"}).get_json()["id"]
    assert_problem(client.get(f"{URL}/{rid}", headers=outsider.headers), 404)
    assert_problem(client.get(URL, headers=outsider.headers), 404)
    assert_problem(client.patch(f"{URL}/{rid}", json={"name": "x", "_version": 1}, headers=outsider.headers), 404)
    assert_problem(client.delete(f"{URL}/{rid}", headers=outsider.headers), 404)
    assert_problem(client.get("/api/v1/apps/crm/records/nope", headers=crm.headers), 404)


def test_a_user_field_can_default_to_the_creator(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, {"key": "ticket", "fields": [
        {"key": "title", "type": "text"}, {"key": "owner", "type": "user", "default_current_user": True}]})
    made = client.post("/api/v1/apps/crm/records/ticket", json={"title": "t"}, headers=admin.headers).get_json()
    assert made["owner"] == admin.user_id
    other = client.post("/api/v1/apps/crm/records/ticket", json={"title": "t", "owner": None},
                        headers=admin.headers).get_json()
    assert other["owner"] is None  # an explicit empty value is kept


def test_bulk_writes_the_same_audit_rows_and_events_as_single_creates(
    client: FlaskClient, crm: Member, app: Flask
) -> None:
    """The bulk path encodes audit rows and events itself; they must be what a single create writes."""
    values = {"name": "Wang", "spent": 1200.5, "birthday": "1990-05-01", "level": "vip", "vip_note": "王"}
    single = _post(client, crm, values).get_json()["id"]
    bulk = client.post(f"{URL}/bulk", json={"records": [values, {**values, "name": "Li"}]}, headers=crm.headers)
    assert bulk.status_code == 200, bulk.get_json()
    first, second = bulk.get_json()["created"]
    assert single < first < second  # ids follow the order of the rows
    with app.extensions["opsloom.db"].session_scope() as session:
        audits = {int(a.object_id.rsplit("/", 1)[1]): a for a in session.scalars(select(AuditEntry).where(
            AuditEntry.object_type == "record", AuditEntry.action == "create"))}
        events = {e.payload["id"]: e for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "record.created"))}

    def comparable(payload: dict[str, Any], record_id: int) -> dict[str, Any]:
        # what differs between two records made from the same input: the id and the auto number
        record = {**payload, "id": None, "code": None}
        assert payload["id"] == record_id
        return record

    assert comparable(audits[first].after, first) == comparable(audits[single].after, single)
    assert audits[first].object_id == f"crm/customer/{first}"
    assert (audits[first].actor_id, audits[first].actor_name) == (audits[single].actor_id, audits[single].actor_name)
    assert audits[first].before is None
    assert audits[second].after["name"] == "Li"
    bulk_event, single_event = events[first].payload, events[single].payload
    assert comparable(bulk_event["record"], first) == comparable(single_event["record"], single)
    assert {**bulk_event, "id": None, "record": None} == {**single_event, "id": None, "record": None}
    assert bulk_event["_changed"] == sorted(["name", "spent", "birthday", "level", "vip_note", "code", "gap"])
    assert events[first].workspace_id == events[single].workspace_id


def _trail_of(app: Flask, record_id: int) -> tuple[AuditEntry, OutboxEvent]:
    with app.extensions["opsloom.db"].session_scope() as session:
        audit = session.scalars(select(AuditEntry).where(
            AuditEntry.object_id == f"crm/customer/{record_id}", AuditEntry.action == "create")).one()
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "record.created")).all()
        session.expunge_all()
    return audit, next(e for e in event if e.payload["id"] == record_id)


def test_a_create_writes_the_same_trail_in_one_statement_as_in_three(
    client: FlaskClient, crm: Member, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a create sends its audit row and event with the record (``trail_insert``); same rows."""
    from sqlalchemy import event as sa_event

    from opsloom.form_engine.service import RecordService

    statements: list[str] = []
    engine = app.extensions["opsloom.db"].engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa_event.listen(engine, "before_cursor_execute", listener)
    values = {"name": "Wang", "phone": "13812345678", "spent": 99.5, "level": "vip", "vip_note": "王"}
    try:
        one_statement = _post(client, crm, values).get_json()
    finally:
        sa_event.remove(engine, "before_cursor_execute", listener)
    postgres = engine.dialect.name == "postgresql"
    # one statement writes the record, its audit row and its event on PostgreSQL; SQLite has
    # no round trips to save and writes them one after the other on the driver's cursor
    together = [s for s in statements if "_customer" in s and "audit_log" in s and "outbox_events" in s]
    assert len(together) == (1 if postgres else 0)

    monkeypatch.setattr(RecordService, "_trail_in_one_statement", lambda *_args: False)
    separate = _post(client, crm, {**values, "phone": "13812345679"}).get_json()

    def comparable(record: dict[str, Any], record_id: int) -> dict[str, Any]:
        assert record["id"] == record_id
        return {**record, "id": None, "phone": None, "code": None}

    (audit_a, event_a), (audit_b, event_b) = _trail_of(app, one_statement["id"]), _trail_of(app, separate["id"])
    assert audit_a.object_id == f"crm/customer/{one_statement['id']}"
    assert comparable(audit_a.after, one_statement["id"]) == comparable(audit_b.after, separate["id"])
    assert (audit_a.before, audit_a.actor_id, audit_a.workspace_id) == (audit_b.before, audit_b.actor_id,
                                                                          audit_b.workspace_id)
    assert comparable(event_a.payload["record"], one_statement["id"]) == comparable(
        event_b.payload["record"], separate["id"])
    assert event_a.payload["id"] == one_statement["id"]
    assert {**event_a.payload, "id": None, "record": None} == {**event_b.payload, "id": None, "record": None}
    assert comparable(one_statement, one_statement["id"]) == {
        **comparable(separate, separate["id"]), "_created_at": one_statement["_created_at"],
        "_updated_at": one_statement["_updated_at"]}


def test_a_refused_duplicate_leaves_no_audit_row_or_event(client: FlaskClient, crm: Member, app: Flask) -> None:
    first = _post(client, crm, {"name": "Wang", "phone": "13812345678"})
    assert first.status_code == 201
    again = _post(client, crm, {"name": "Li", "phone": "13812345678"})
    problem = assert_problem(again, 409)
    assert "phone" in problem["errors"]
    with app.extensions["opsloom.db"].session_scope() as session:
        audits = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "record")).all()
        events = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "record.created")).all()
    assert [a.object_id for a in audits] == [f"crm/customer/{first.get_json()['id']}"]
    assert [e.payload["record"]["name"] for e in events] == ["Wang"]


@pytest.mark.parametrize("limit", [2, 5])
@pytest.mark.parametrize("sort", ["spent", "-spent", "birthday", "-birthday,name"])
def test_empty_values_come_last_in_both_directions_across_pages(
    client: FlaskClient, crm: Member, sort: str, limit: int
) -> None:
    """Keyset pages walk through the empty values too, whichever way each database orders NULLs.

    Where the database would put them first, a page takes the values and then the empty
    ones from a second statement: pages of 5 start with values and end with empty ones.
    """
    rows = [(100, "1990-01-02"), (None, None), (50, None), (100, "1990-01-01"), (None, "1980-05-05"), (7, None),
            (None, None), (50, "2000-01-01")]
    made = []
    for i, (spent, birthday) in enumerate(rows):
        values: dict[str, Any] = {"name": f"n{i % 3}"}
        if spent is not None:
            values["spent"] = spent
        if birthday is not None:
            values["birthday"] = birthday
        made.append(_post(client, crm, values).get_json())

    def expected() -> list[int]:
        keys = [(part.lstrip("-"), part.startswith("-")) for part in sort.split(",")]
        order = list(made)
        # stable sorts from the last key to the first: id (the tiebreak, in the last key's direction) ...
        order.sort(key=lambda r: r["id"], reverse=keys[-1][1])
        for name, descending in reversed(keys):
            filled = sorted((r for r in order if r[name] is not None), key=lambda r: r[name], reverse=descending)
            order = filled + [r for r in order if r[name] is None]  # ... and empty values last
        return [r["id"] for r in order]

    seen: list[int] = []
    cursor = None
    while True:
        query = {"sort": sort, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(URL, query_string=query, headers=crm.headers).get_json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected()
