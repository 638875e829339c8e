"""The duplicate finder and the merge tool: groups, re-pointed relations, audit trail, refusals, the dedup race."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.form_engine.dedup import normalize_name
from opsloom.platform.actor import Actor
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import Conflict
from opsloom.platform.models import AuditEntry, OutboxEvent
from tests.api.test_api_base import assert_problem
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

CUSTOMERS = "/api/v1/apps/crm/records/customer"
COMPANIES = "/api/v1/apps/crm/records/company"
ORDERS = "/api/v1/apps/crm/records/order"
CAMPAIGNS = "/api/v1/apps/crm/records/campaign"
DUPLICATES = f"{CUSTOMERS}/duplicates"
MERGE = f"{CUSTOMERS}/merge"


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    """company <- customer (name + company dedup, phone, e-mail, unique code, contacts) <- order, campaign."""
    publish_entity(
        client,
        admin,
        {
            "key": "company",
            "title_field": "name",
            "fields": [{"key": "name", "type": "text", "required": True}],
        },
    )
    customer: dict[str, Any] = {
        "key": "customer",
        "title_field": "name",
        "fields": [
            {"key": "name", "type": "text", "required": True},
            {"key": "phone", "type": "phone", "mask": "phone"},
            {"key": "email", "type": "email"},
            {"key": "company", "type": "relation", "target": "company"},
            {"key": "code", "type": "text", "unique": True},
            {"key": "contacts", "type": "subtable", "fields": [{"key": "who", "type": "text"}]},
        ],
        "dedup": [["name", "company"]],
    }
    publish_entity(client, admin, customer)
    publish_entity(
        client,
        admin,
        {
            "key": "order",
            "fields": [
                {"key": "customer", "type": "relation", "target": "customer", "on_delete": "restrict"},
                {"key": "number", "type": "text"},
                {"key": "amount", "type": "number"},
                {"key": "customer_code", "type": "lookup", "relation": "customer", "field": "code"},
            ],
            "dedup": [["customer", "number"]],
        },
    )
    publish_entity(
        client,
        admin,
        {
            "key": "campaign",
            "fields": [
                {"key": "title", "type": "text"},
                {"key": "members", "type": "relation", "target": "customer", "many": True},
            ],
        },
    )
    body = client.get("/api/v1/apps/crm/entities/customer", headers=admin.headers).get_json()["body"]
    body["fields"].append(
        {
            "key": "total_spent",
            "type": "rollup",
            "source": {"entity": "order", "link": "customer", "field": "amount", "fn": "sum"},
        }
    )
    publish_entity(client, admin, body)
    return admin


def _make(client: FlaskClient, member: Member, url: str, values: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=values, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _get(client: FlaskClient, member: Member, url: str, rid: int, **args: str) -> dict[str, Any]:
    response = client.get(f"{url}/{rid}", query_string=args, headers=member.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _groups(client: FlaskClient, member: Member, **args: Any) -> tuple[list[dict[str, Any]], str | None]:
    response = client.get(DUPLICATES, query_string=args, headers=member.headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["items"], body["next_cursor"]


def _all_groups(client: FlaskClient, member: Member, limit: int) -> list[dict[str, Any]]:
    found, cursor = _groups(client, member, limit=limit)
    while cursor:
        more, cursor = _groups(client, member, limit=limit, cursor=cursor)
        found += more
    return found


# ---------------------------------------------------------------------- the finder


def test_names_compare_without_case_width_spaces_or_punctuation() -> None:
    assert normalize_name("  Wang   Wei. ") == normalize_name("\uff37\uff21\uff2e\uff27 wei") == "wang wei"
    assert normalize_name("O'Brien, Ltd.") == "obrien ltd"
    assert normalize_name("王 伟") != normalize_name("王伟")
    assert normalize_name(None) == ""


def test_the_finder_groups_phone_email_and_name_company_variants(client: FlaskClient, crm: Member) -> None:
    acme = _make(client, crm, COMPANIES, {"name": "Acme"})["id"]
    globex = _make(client, crm, COMPANIES, {"name": "Globex"})["id"]
    p1 = _make(client, crm, CUSTOMERS, {"name": "Li Lei", "phone": "138-0000-1111"})["id"]
    p2 = _make(client, crm, CUSTOMERS, {"name": "Han Meimei", "phone": "+86 138 0000 1111"})["id"]
    _make(client, crm, CUSTOMERS, {"name": "Lone", "phone": "13900002222"})
    e1 = _make(client, crm, CUSTOMERS, {"name": "Zhang San", "email": "Zhang.San@Example.com"})["id"]
    e2 = _make(client, crm, CUSTOMERS, {"name": "Zhao Si", "email": " zhang.san@EXAMPLE.com "})["id"]
    # dots in the local part are not ignored (only Gmail does that)
    _make(client, crm, CUSTOMERS, {"name": "Dots", "email": "zhangsan@example.com"})
    n1 = _make(client, crm, CUSTOMERS, {"name": "Wang Wei", "company": acme})["id"]
    n2 = _make(client, crm, CUSTOMERS, {"name": "wang  wei.", "company": acme})["id"]
    n3 = _make(client, crm, CUSTOMERS, {"name": "\uff37\uff21\uff2e\uff27 Wei", "company": acme})["id"]
    _make(client, crm, CUSTOMERS, {"name": "Wang Wei", "company": globex})  # another company
    _make(client, crm, CUSTOMERS, {"name": "Wang Wei"})  # no company: not enough to say
    gone = _make(client, crm, CUSTOMERS, {"name": "Wang-Wei", "company": acme})["id"]
    client.delete(f"{CUSTOMERS}/{gone}", headers=crm.headers)  # deleted records do not count

    groups, cursor = _groups(client, crm)
    assert cursor is None
    by_rule = {g["rule"]: g for g in groups}
    assert len(groups) == 3
    assert by_rule["phone"]["ids"] == [p1, p2]
    assert by_rule["phone"]["reason"] == "same phone 13800001111"
    assert by_rule["email"]["ids"] == [e1, e2]
    assert by_rule["email"]["fields"] == ["email"]
    assert by_rule["name_company"]["ids"] == [n1, n2, n3]
    assert by_rule["name_company"]["values"] == {"name": "Wang Wei", "company": acme}
    assert by_rule["email"]["score"] > by_rule["phone"]["score"] > by_rule["name_company"]["score"]
    # pages of one group each add up to the same list
    assert _all_groups(client, crm, limit=1) == groups


def test_name_groups_page_inside_one_company(client: FlaskClient, crm: Member) -> None:
    acme = _make(client, crm, COMPANIES, {"name": "Acme"})["id"]
    made = {}
    for name in ("Ann", "Bob", "Cy"):
        made[name] = [
            _make(client, crm, CUSTOMERS, {"name": variant, "company": acme})["id"]
            for variant in (name, name.upper(), f"{name}.")
        ]
    pages = [_groups(client, crm, limit=1)]
    while pages[-1][1]:
        pages.append(_groups(client, crm, limit=1, cursor=pages[-1][1]))
    found = [g["ids"] for items, _cursor in pages for g in items]
    assert found == [made["Ann"], made["Bob"], made["Cy"]]


def test_small_batches_and_budgets_find_the_same_groups(
    client: FlaskClient, crm: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Companies read a few rows at a time, a tiny scan budget per call: paging still finds every group once."""
    from opsloom.form_engine import dedup

    names = {
        "Acme": ["Ann", "Bob", "ann", "Zed", "BOB", "Ann!"],
        "Globex": ["Cy", "Dee"],
        "Initech": ["Eve", "eve", "Fay"],
        "Umbrella": ["Gus", "gus"],
    }
    for company, people in names.items():
        cid = _make(client, crm, COMPANIES, {"name": company})["id"]
        for person in people:
            _make(client, crm, CUSTOMERS, {"name": person, "company": cid})
    expected, cursor = _groups(client, crm, limit=100)
    assert cursor is None
    assert [len(g["ids"]) for g in expected] == [3, 2, 2, 2]
    monkeypatch.setattr(dedup, "ROW_BATCH", 2)
    monkeypatch.setattr(dedup, "SCAN_BUDGET", 3)
    monkeypatch.setattr(dedup, "BLOCK_PAGE", 2)
    assert _all_groups(client, crm, limit=1) == expected
    assert _all_groups(client, crm, limit=2) == expected


def test_the_finder_masks_values_scopes_rows_and_needs_update(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    grant = "/api/v1/apps/crm/permissions/staff/customer"
    both = {"phone": "13812345678"}
    first = _make(client, crm, CUSTOMERS, {"name": "A", **both})["id"]
    _make(client, crm, CUSTOMERS, {"name": "B", **both})
    assert client.put(grant, json={"read": "all"}, headers=crm.headers).status_code == 200
    assert_problem(client.get(DUPLICATES, headers=staff.headers), 403)
    assert (
        client.put(
            grant, json={"read": "all", "update": "all", "fields": {"phone": "masked"}}, headers=crm.headers
        ).status_code
        == 200
    )
    groups, _cursor = _groups(client, staff)
    assert [g["reason"] for g in groups] == ["same phone 138****5678"]
    assert groups[0]["values"] == {"phone": "138****5678"}
    # a hidden field is not compared at all
    assert (
        client.put(
            grant, json={"read": "all", "update": "all", "fields": {"phone": "hidden"}}, headers=crm.headers
        ).status_code
        == 200
    )
    assert _groups(client, staff)[0] == []
    # records outside the read scope take no part: one visible record is no group
    own = {"read": {"expr": {"==": [{"var": "id"}, first]}}, "update": "all"}
    assert client.put(grant, json=own, headers=crm.headers).status_code == 200
    assert _groups(client, staff)[0] == []


def test_bad_finder_queries_are_problems(client: FlaskClient, crm: Member) -> None:
    assert_problem(client.get(DUPLICATES, query_string={"limit": 0}, headers=crm.headers), 400)
    assert_problem(client.get(DUPLICATES, query_string={"limit": 101}, headers=crm.headers), 400)
    assert_problem(client.get(DUPLICATES, query_string={"cursor": "forged"}, headers=crm.headers), 400)
    assert_problem(client.get(DUPLICATES, query_string={"colour": "red"}, headers=crm.headers), 422)
    assert_problem(client.get("/api/v1/apps/crm/records/nothing/duplicates", headers=crm.headers), 404)


# ---------------------------------------------------------------------- the merge


def test_merge_repoints_relations_moves_chosen_values_and_keeps_the_audit_trail(
    client: FlaskClient, crm: Member, app: Flask
) -> None:
    keep = _make(client, crm, CUSTOMERS, {"name": "Wang Wei", "contacts": [{"who": "wife"}]})
    merge = _make(
        client,
        crm,
        CUSTOMERS,
        {"name": "wang wei", "phone": "13812345678", "code": "C1", "contacts": [{"who": "assistant"}]},
    )
    other = _make(client, crm, CUSTOMERS, {"name": "Li"})
    _make(client, crm, ORDERS, {"customer": keep["id"], "amount": 100, "number": "N1"})
    moved = [
        _make(client, crm, ORDERS, {"customer": merge["id"], "amount": a, "number": n})["id"]
        for a, n in ((250, "N2"), (50, "N3"))
    ]
    both = _make(client, crm, CAMPAIGNS, {"title": "both", "members": [keep["id"], merge["id"]]})
    mixed = _make(client, crm, CAMPAIGNS, {"title": "mixed", "members": [merge["id"], other["id"]]})
    assert _get(client, crm, CUSTOMERS, merge["id"])["total_spent"] == 300

    response = client.post(
        MERGE,
        json={
            "keep": keep["id"],
            "merge": merge["id"],
            "keep_version": 1,
            "take": {"phone": "merge", "code": "merge", "contacts": "merge", "name": "keep"},
        },
        headers=crm.headers,
    )
    assert response.status_code == 200, response.get_json()
    kept = response.get_json()
    assert kept["id"] == keep["id"]
    assert kept["name"] == "Wang Wei"
    assert kept["phone"] == "13812345678"
    assert kept["code"] == "C1"  # the merged record's unique value was freed first
    assert [row["who"] for row in kept["contacts"]] == ["wife", "assistant"]
    assert kept["total_spent"] == 400
    assert response.headers["ETag"] == f'"{kept["_version"]}"'

    for order_id in moved:
        order = _get(client, crm, ORDERS, order_id)
        assert order["customer"] == keep["id"]
        assert order["customer_code"] == "C1"
        assert order["_version"] == 2
    assert _get(client, crm, CAMPAIGNS, both["id"])["members"] == [keep["id"]]
    assert sorted(_get(client, crm, CAMPAIGNS, mixed["id"])["members"]) == sorted([keep["id"], other["id"]])
    assert_problem(client.get(f"{CUSTOMERS}/{merge['id']}", headers=crm.headers), 404)
    assert _get(client, crm, CUSTOMERS, merge["id"], deleted="1")["_deleted_at"] is not None

    with app.extensions["opsloom.db"].session_scope() as s:
        entries = {(a.object_id, a.action): a for a in s.scalars(select(AuditEntry))}
        merged_entry = entries[(f"crm/customer/{merge['id']}", "merge")]
        assert merged_entry.after == {"merged_into": keep["id"]}
        assert (f"crm/customer/{merge['id']}", "delete") in entries
        kept_entry = entries[(f"crm/customer/{keep['id']}", "merge")]
        assert kept_entry.after["merged_from"] == merge["id"]
        assert kept_entry.after["repointed"] == {"campaign": 2, "order": 2}
        for order_id in moved:
            repointed = entries[(f"crm/order/{order_id}", "update")]
            assert repointed.before["customer"] == merge["id"]
            assert repointed.after["customer"] == keep["id"]
        assert entries[(f"crm/campaign/{mixed['id']}", "update")].after["members"] == sorted(
            [keep["id"], other["id"]]
        )
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.type == "record.merged")).one()
        assert {k: event.payload[k] for k in ("entity", "keep", "merged", "repointed")} == {
            "entity": "customer",
            "keep": keep["id"],
            "merged": merge["id"],
            "repointed": {"campaign": 2, "order": 2},
        }


def test_merge_without_take_keeps_the_kept_values(client: FlaskClient, crm: Member) -> None:
    keep = _make(client, crm, CUSTOMERS, {"name": "Keep", "contacts": [{"who": "a"}]})
    merge = _make(
        client, crm, CUSTOMERS, {"name": "Merge", "phone": "13812345678", "contacts": [{"who": "b"}]}
    )
    response = client.post(MERGE, json={"keep": keep["id"], "merge": merge["id"]}, headers=crm.headers)
    assert response.status_code == 200, response.get_json()
    kept = response.get_json()
    assert (kept["name"], kept["phone"], [r["who"] for r in kept["contacts"]]) == ("Keep", None, ["a"])
    assert kept["_version"] == keep["_version"]


def test_bad_merges_are_refused_and_change_nothing(
    client: FlaskClient, crm: Member, staff: Member, snapshot: Any
) -> None:
    keep = _make(client, crm, CUSTOMERS, {"name": "Keep"})["id"]
    merge = _make(client, crm, CUSTOMERS, {"name": "Merge"})["id"]
    gone = _make(client, crm, CUSTOMERS, {"name": "Gone"})["id"]
    client.delete(f"{CUSTOMERS}/{gone}", headers=crm.headers)
    # two orders that would collide on the order dedup key (customer, number) once re-pointed
    _make(client, crm, ORDERS, {"customer": keep, "number": "N1"})
    _make(client, crm, ORDERS, {"customer": merge, "number": "N1", "amount": 5})
    before = snapshot()

    def refused(body: Any, status: int, member: Member = crm) -> dict[str, Any]:
        return assert_problem(client.post(MERGE, json=body, headers=member.headers), status)

    assert "merge" in refused({"keep": keep, "merge": keep}, 422)["errors"]
    assert "take/nope" in refused({"keep": keep, "merge": merge, "take": {"nope": "merge"}}, 422)["errors"]
    assert (
        "take/total_spent"
        in refused({"keep": keep, "merge": merge, "take": {"total_spent": "merge"}}, 422)["errors"]
    )
    refused({"keep": keep, "merge": merge, "take": {"name": "both"}}, 422)
    refused({"keep": keep, "merge": merge, "extra": 1}, 422)
    refused({"keep": "1", "merge": merge}, 422)
    refused({"merge": merge}, 422)
    refused({"keep": keep, "merge": 999_999}, 404)
    refused({"keep": keep, "merge": gone}, 404)
    stale = refused({"keep": keep, "merge": merge, "keep_version": 7}, 409)
    assert stale["errors"] == {"keep_version": "stale; the current version is 1"}
    refused({"keep": keep, "merge": merge, "merge_version": 3}, 409)
    collision = refused({"keep": keep, "merge": merge}, 409)
    assert "order" in collision["detail"]
    assert_problem(
        client.post(
            "/api/v1/apps/crm/records/nothing/merge", json={"keep": 1, "merge": 2}, headers=crm.headers
        ),
        404,
    )
    # staff: no update permission at all, then update but no delete
    refused({"keep": keep, "merge": merge}, 403, staff)
    assert snapshot() == before
    assert (
        client.put(
            "/api/v1/apps/crm/permissions/staff/customer",
            json={"read": "all", "update": "all"},
            headers=crm.headers,
        ).status_code
        == 200
    )
    before = snapshot()
    refused({"keep": keep, "merge": merge}, 403, staff)
    assert snapshot() == before


def test_a_merge_of_an_already_merged_record_is_not_found(client: FlaskClient, crm: Member) -> None:
    keep = _make(client, crm, CUSTOMERS, {"name": "Keep"})["id"]
    merge = _make(client, crm, CUSTOMERS, {"name": "Merge"})["id"]
    assert client.post(MERGE, json={"keep": keep, "merge": merge}, headers=crm.headers).status_code == 200
    assert_problem(client.post(MERGE, json={"keep": keep, "merge": merge}, headers=crm.headers), 404)
    assert_problem(client.post(MERGE, json={"keep": merge, "merge": keep}, headers=crm.headers), 404)


# ---------------------------------------------------------------------- the dedup race


def test_twenty_writers_of_one_phone_make_one_record(app: Flask, client: FlaskClient, admin: Member) -> None:
    """Dedup keys are unique indexes: concurrent inserts cannot both pass a check-then-insert."""
    publish_entity(
        client,
        admin,
        {
            "key": "lead",
            "fields": [{"key": "name", "type": "text"}, {"key": "phone", "type": "phone", "unique": True}],
        },
    )
    actor = Actor(
        user_id=admin.user_id, username=admin.username, workspace_id=admin.workspace_id, is_admin=True
    )
    database = app.extensions["opsloom.db"]
    start = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        from opsloom.form_engine.service import RecordService

        start.wait()
        try:
            with database.session_scope() as session:
                service = RecordService(session, actor, definitions.get_app(session, actor, "crm"))
                service.create("lead", {"name": f"writer {i}", "phone": "+86 139 0000 0000"})
            outcome = "created"
        except Conflict as exc:
            outcome = "conflict" if exc.context.get("duplicate_of") or "phone" in exc.errors else repr(exc)
        except Exception as exc:  # any other outcome fails the test below
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 19 + ["created"]
    items = client.get("/api/v1/apps/crm/records/lead", headers=admin.headers).get_json()["items"]
    assert [item["phone"] for item in items] == ["13900000000"]
