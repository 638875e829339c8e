"""Relations, rollups and lookups stay current as related records change; references are checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_api_base import assert_problem
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

CUSTOMERS = "/api/v1/apps/crm/records/customer"
ORDERS = "/api/v1/apps/crm/records/order"


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    customer: dict[str, Any] = {
        "key": "customer",
        "fields": [
            {"key": "name", "type": "text", "required": True},
            {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        ],
    }
    publish_entity(client, admin, customer)
    publish_entity(client, admin, {
        "key": "order",
        "fields": [
            {"key": "customer", "type": "relation", "target": "customer", "on_delete": "restrict"},
            {"key": "amount", "type": "number"},
            {"key": "customer_level", "type": "lookup", "relation": "customer", "field": "level"},
        ],
    })
    body = client.get("/api/v1/apps/crm/entities/customer", headers=admin.headers).get_json()["body"]
    body["fields"] += [
        {"key": "total_spent", "type": "rollup",
         "source": {"entity": "order", "link": "customer", "field": "amount", "fn": "sum"}},
        {"key": "vip_gap", "type": "formula", "formula": "10000 - total_spent"},
    ]
    publish_entity(client, admin, body)
    return admin


def _make(client: FlaskClient, member: Member, url: str, values: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=values, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _get(client: FlaskClient, member: Member, url: str, rid: int) -> dict[str, Any]:
    return client.get(f"{url}/{rid}", headers=member.headers).get_json()


def test_rollup_and_formula_follow_the_orders(client: FlaskClient, crm: Member) -> None:
    wang = _make(client, crm, CUSTOMERS, {"name": "Wang"})
    assert wang["total_spent"] == 0
    assert wang["vip_gap"] == 10000
    first = _make(client, crm, ORDERS, {"customer": wang["id"], "amount": 300})
    _make(client, crm, ORDERS, {"customer": wang["id"], "amount": 200})
    got = _get(client, crm, CUSTOMERS, wang["id"])
    assert got["total_spent"] == 500
    assert got["vip_gap"] == 9500
    client.patch(f"{ORDERS}/{first['id']}", json={"amount": 1000, "_version": 1}, headers=crm.headers)
    assert _get(client, crm, CUSTOMERS, wang["id"])["total_spent"] == 1200
    client.delete(f"{ORDERS}/{first['id']}", headers=crm.headers)
    assert _get(client, crm, CUSTOMERS, wang["id"])["total_spent"] == 200
    # moving an order to another customer updates both
    li = _make(client, crm, CUSTOMERS, {"name": "Li"})
    second = client.get(ORDERS, headers=crm.headers).get_json()["items"][0]
    client.patch(f"{ORDERS}/{second['id']}", json={"customer": li["id"], "_version": second["_version"]},
                 headers=crm.headers)
    assert _get(client, crm, CUSTOMERS, wang["id"])["total_spent"] == 0
    assert _get(client, crm, CUSTOMERS, li["id"])["total_spent"] == 200


def test_lookup_follows_the_related_record(client: FlaskClient, crm: Member) -> None:
    wang = _make(client, crm, CUSTOMERS, {"name": "Wang"})
    order = _make(client, crm, ORDERS, {"customer": wang["id"], "amount": 1})
    assert order["customer_level"] == "normal"
    # rollups change computed values only: the customer's version (an edit counter) stays
    assert _get(client, crm, CUSTOMERS, wang["id"])["_version"] == 1
    client.patch(f"{CUSTOMERS}/{wang['id']}", json={"level": "vip", "_version": 1},
                 headers=crm.headers)
    assert _get(client, crm, ORDERS, order["id"])["customer_level"] == "vip"


def test_references_must_exist_and_be_live(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    wang = _make(client, crm, CUSTOMERS, {"name": "Wang"})
    gone = _make(client, crm, CUSTOMERS, {"name": "Gone"})
    client.delete(f"{CUSTOMERS}/{gone['id']}", headers=crm.headers)
    before = snapshot()
    for target in (gone["id"], 9999, "x"):
        problem = assert_problem(client.post(ORDERS, json={"customer": target}, headers=crm.headers), 422)
        assert "customer" in problem["errors"]
    assert snapshot() == before
    _make(client, crm, ORDERS, {"customer": wang["id"]})
    # on_delete restrict: a customer with orders cannot be deleted
    problem = assert_problem(client.delete(f"{CUSTOMERS}/{wang['id']}", headers=crm.headers), 409)
    assert "order" in problem["detail"]


def test_computed_fields_added_later_are_filled_for_existing_records(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, {"key": "customer", "fields": [{"key": "name", "type": "text"}]})
    publish_entity(client, admin, {
        "key": "order",
        "fields": [
            {"key": "customer", "type": "relation", "target": "customer"},
            {"key": "amount", "type": "number"},
        ],
    })
    wang = _make(client, admin, CUSTOMERS, {"name": "Wang"})
    li = _make(client, admin, CUSTOMERS, {"name": "Li"})
    order = _make(client, admin, ORDERS, {"customer": wang["id"], "amount": 70})
    _make(client, admin, ORDERS, {"customer": wang["id"], "amount": 30})
    body = client.get("/api/v1/apps/crm/entities/customer", headers=admin.headers).get_json()["body"]
    body["fields"] += [
        {"key": "total", "type": "rollup", "source": {"entity": "order", "link": "customer", "field": "amount",
                                                      "fn": "sum"}},
        {"key": "double", "type": "formula", "formula": "total * 2"},
        {"key": "code", "type": "auto_number", "pattern": "C{seq:3}"},
    ]
    report = publish_entity(client, admin, body)["report"]
    assert any("rollup 'total'" in line for line in report)
    got = _get(client, admin, CUSTOMERS, wang["id"])
    assert (got["total"], got["double"], got["code"]) == (100, 200, "C001")
    assert _get(client, admin, CUSTOMERS, li["id"])["code"] == "C002"
    # a lookup added later is filled too
    order_body = client.get("/api/v1/apps/crm/entities/order", headers=admin.headers).get_json()["body"]
    order_body["fields"].append({"key": "who", "type": "lookup", "relation": "customer", "field": "name"})
    publish_entity(client, admin, order_body)
    assert _get(client, admin, ORDERS, order["id"])["who"] == "Wang"
    # the next new customer continues the numbering without a gap
    assert _make(client, admin, CUSTOMERS, {"name": "Zhao"})["code"] == "C003"


def test_relations_expand_to_id_and_title(client: FlaskClient, crm: Member) -> None:
    body = client.get("/api/v1/apps/crm/entities/customer", headers=crm.headers).get_json()["body"]
    body["title_field"] = "name"
    publish_entity(client, crm, body)
    wang = _make(client, crm, CUSTOMERS, {"name": "Wang"})
    order = _make(client, crm, ORDERS, {"customer": wang["id"], "amount": 5})
    listed = client.get(ORDERS, query_string={"expand": "customer"}, headers=crm.headers).get_json()["items"]
    assert listed[0]["customer"] == {"id": wang["id"], "title": "Wang"}
    one = client.get(f"{ORDERS}/{order['id']}", query_string={"expand": "customer"}, headers=crm.headers).get_json()
    assert one["customer"] == {"id": wang["id"], "title": "Wang"}
    bad = client.get(ORDERS, query_string={"expand": "amount"}, headers=crm.headers)
    assert bad.status_code == 400
    assert "expand" in bad.get_json()["errors"]


def test_bulk_update_is_all_or_nothing_or_skips_bad_rows(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    wang = _make(client, crm, CUSTOMERS, {"name": "Wang"})
    li = _make(client, crm, CUSTOMERS, {"name": "Li"})
    url = f"{CUSTOMERS}/bulk"
    rows = [{"id": wang["id"], "_version": 1, "level": "vip"}, {"id": li["id"], "_version": 7, "level": "vip"}]
    before = snapshot()
    problem = assert_problem(client.patch(url, json={"records": rows}, headers=crm.headers), 409)
    assert "1/_version" in problem["errors"]
    assert snapshot() == before
    result = client.patch(url, json={"records": rows, "skip_invalid": True}, headers=crm.headers).get_json()
    assert result["updated"] == [wang["id"]]
    assert list(result["errors"]) == ["1/_version"]
    assert _get(client, crm, CUSTOMERS, wang["id"])["level"] == "vip"
    assert _get(client, crm, CUSTOMERS, li["id"])["level"] == "normal"
