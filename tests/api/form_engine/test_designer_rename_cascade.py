"""Renaming a field with ``cascade``: other entities' drafts rewritten with it, all or nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import Conflict
from tests.conftest import assert_problem, publish_entity

if TYPE_CHECKING:
    import pytest
    from flask.testing import FlaskClient

    from tests.conftest import Member

REGION: dict[str, Any] = {"key": "region", "fields": [{"key": "name", "type": "text"}]}
CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        {"key": "note", "type": "text"},
        {"key": "region", "type": "relation", "target": "region"},
    ],
}
ORDER: dict[str, Any] = {
    "key": "order",
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer", "display_field": "level"},
        {"key": "amount", "type": "number"},
        {"key": "level", "type": "text"},  # the order's own level: stays
        {"key": "customer_level", "type": "lookup", "relation": "customer", "field": "level"},
        {"key": "vip_order", "type": "formula", "formula": 'customer.level = "vip" & level'},
    ],
    "visible_if": {"amount": {"==": [{"var": "customer.level"}, "vip"]}},
}
#: region again, now with rollups over its customers (published once customers exist)
REGION_ROLLUPS: dict[str, Any] = {
    "key": "region",
    "fields": [
        {"key": "name", "type": "text"},
        {
            "key": "vips",
            "type": "rollup",
            "source": {
                "entity": "customer",
                "link": "region",
                "fn": "count",
                "filter": {"==": [{"var": "level"}, "vip"]},
            },
        },
    ],
}
RENAME = "/api/v1/apps/crm/entities/customer/draft/rename-field"


def _app(client: FlaskClient, admin: Member) -> None:
    for body in (REGION, CUSTOMER, ORDER, REGION_ROLLUPS):
        publish_entity(client, admin, body)


def _rename(client: FlaskClient, member: Member, **payload: Any) -> Any:
    return client.post(RENAME, json={"from": "level", "to": "tier", **payload}, headers=member.headers)


def _versions(client: FlaskClient, admin: Member, key: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/apps/crm/entities/{key}/versions", headers=admin.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _draft(client: FlaskClient, admin: Member, key: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/apps/crm/entities/{key}?version=draft", headers=admin.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["body"]


ORDER_PLACES = [
    ("order", "/fields/0/display_field", "display_field", "level", "tier"),
    ("order", "/fields/3/field", "lookup", "level", "tier"),
    (
        "order",
        "/fields/4/formula",
        "formula",
        'customer.level = "vip" & level',
        'customer.tier = "vip" & level',
    ),
    (
        "order",
        "/visible_if/amount",
        "visible_if",
        {"==": [{"var": "customer.level"}, "vip"]},
        {"==": [{"var": "customer.tier"}, "vip"]},
    ),
]
REGION_PLACES = [
    (
        "region",
        "/fields/1/source/filter",
        "rollup",
        {"==": [{"var": "level"}, "vip"]},
        {"==": [{"var": "tier"}, "vip"]},
    ),
]


def _places(entity: str, changes: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """Places as comparable tuples (values as their repr: expressions are dicts)."""
    return {(entity, c["pointer"], c["what"], repr(c["old"]), repr(c["new"])) for c in changes}


def _expected(*places: list[tuple[Any, ...]]) -> set[tuple[str, ...]]:
    return {(e, p, w, repr(old), repr(new)) for group in places for (e, p, w, old, new) in group}


# ---------------------------------------------------------------- the dry run (default)


def test_by_default_the_others_are_listed_with_what_cascade_would_write(
    client: FlaskClient, admin: Member
) -> None:
    _app(client, admin)
    answer = _rename(client, admin)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert data["cascade"] is False
    assert data["updated"] == []
    by_entity: dict[str, list[dict[str, Any]]] = {}
    for place in data["elsewhere"]:
        by_entity.setdefault(place.pop("entity"), []).append(place)
    assert _places("order", by_entity["order"]) | _places("region", by_entity["region"]) == _expected(
        ORDER_PLACES, REGION_PLACES
    )
    assert data["to_publish"] == ["customer"]
    assert "order, region still use customer.level" in data["publish_note"]
    # nothing of the other entities changed: they have no draft
    assert _versions(client, admin, "order")["draft"] is None
    assert _versions(client, admin, "region")["draft"] is None


# ---------------------------------------------------------------- cascade


def test_cascade_rewrites_the_other_drafts_and_publishing_them_works(
    client: FlaskClient, admin: Member
) -> None:
    _app(client, admin)
    # order already has a draft with work of its own: it is kept
    work = {**ORDER, "fields": [*ORDER["fields"], {"key": "memo", "type": "text"}]}
    assert client.put("/api/v1/apps/crm/entities/order", json=work, headers=admin.headers).status_code == 200

    answer = _rename(client, admin, cascade=True)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert data["cascade"] is True
    assert data["elsewhere"] == []
    assert [f["key"] for f in data["draft"]["body"]["fields"]] == ["name", "tier", "note", "region"]
    assert data["to_publish"] == ["customer", "order", "region"]
    assert "Publish customer first, then order, region" in data["publish_note"]
    updated = {entry["entity"]: entry for entry in data["updated"]}
    assert list(updated) == ["order", "region"]
    assert updated["order"]["draft_created"] is False
    assert updated["region"]["draft_created"] is True  # made from its published version
    assert _places("order", updated["order"]["changes"]) == _expected(ORDER_PLACES)
    assert _places("region", updated["region"]["changes"]) == _expected(REGION_PLACES)

    order = _draft(client, admin, "order")
    assert order["fields"][0]["display_field"] == "tier"
    assert (order["fields"][3]["relation"], order["fields"][3]["field"]) == ("customer", "tier")
    assert order["fields"][4]["formula"] == 'customer.tier = "vip" & level'
    assert order["fields"][2] == {**ORDER["fields"][2], "id": order["fields"][2]["id"]}
    assert order["fields"][-1]["key"] == "memo"
    assert order["visible_if"] == {"amount": {"==": [{"var": "customer.tier"}, "vip"]}}
    region = _draft(client, admin, "region")
    assert region["fields"][1]["source"]["filter"] == {"==": [{"var": "tier"}, "vip"]}
    assert updated["region"]["checksum"] == _versions(client, admin, "region")["draft"]["checksum"]
    # each save is audited as a normal draft save
    audit = client.get(
        "/api/v1/audit?action=save_draft&object_id=crm/entity/region&limit=1", headers=admin.headers
    ).get_json()
    assert audit["items"][0]["after"]["body"] == region

    # publishing in the order given: records read through the new key
    for key in data["to_publish"]:
        published = client.post(f"/api/v1/apps/crm/entities/{key}/publish", json={}, headers=admin.headers)
        assert published.status_code == 200, (key, published.get_json())
    west = client.post("/api/v1/apps/crm/records/region", json={"name": "West"}, headers=admin.headers)
    assert west.status_code == 201, west.get_json()
    acme = client.post(
        "/api/v1/apps/crm/records/customer",
        json={"name": "Acme", "tier": "vip", "region": west.get_json()["id"]},
        headers=admin.headers,
    )
    assert acme.status_code == 201, acme.get_json()
    order_record = client.post(
        "/api/v1/apps/crm/records/order",
        json={"customer": acme.get_json()["id"], "amount": 5, "level": "x"},
        headers=admin.headers,
    )
    assert order_record.status_code == 201, order_record.get_json()
    assert order_record.get_json()["customer_level"] == "vip"
    region_record = client.get(
        f"/api/v1/apps/crm/records/region/{west.get_json()['id']}", headers=admin.headers
    ).get_json()
    assert region_record["vips"] == 1


def test_the_others_can_be_updated_after_the_rename(client: FlaskClient, admin: Member) -> None:
    """The designer renames first and offers the others next: the same request with cascade."""
    _app(client, admin)
    first = _rename(client, admin)
    assert first.status_code == 200, first.get_json()
    draft = _versions(client, admin, "customer")["draft"]

    follow_up = _rename(client, admin, cascade=True)
    assert follow_up.status_code == 200, follow_up.get_json()
    data = follow_up.get_json()
    assert data["changes"] == []  # this draft already has the new key: left as it is
    assert data["draft"]["checksum"] == draft["checksum"]
    assert [entry["entity"] for entry in data["updated"]] == ["order", "region"]
    assert _draft(client, admin, "order")["fields"][3]["field"] == "tier"

    again = _rename(client, admin, cascade=True)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["updated"] == []  # nothing left to rewrite
    assert again.get_json()["to_publish"] == ["customer"]
    # a key the published version never had is still refused
    problem = assert_problem(
        client.post(RENAME, json={"from": "rank", "to": "tier", "cascade": True}, headers=admin.headers), 422
    )
    assert "rank" in problem["errors"]["from"]


# ---------------------------------------------------------------- all or nothing


def test_another_entity_that_cannot_be_saved_changes_nothing(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    _app(client, admin)
    # order's draft shows the customer's note; the customer's draft then drops note
    with_note = {
        **ORDER,
        "fields": [
            *ORDER["fields"],
            {"key": "customer_note", "type": "lookup", "relation": "customer", "field": "note"},
        ],
    }
    assert (
        client.put("/api/v1/apps/crm/entities/order", json=with_note, headers=admin.headers).status_code
        == 200
    )
    without_note = {**CUSTOMER, "fields": [f for f in CUSTOMER["fields"] if f["key"] != "note"]}
    assert (
        client.put("/api/v1/apps/crm/entities/customer", json=without_note, headers=admin.headers).status_code
        == 200
    )
    before = snapshot()

    problem = assert_problem(_rename(client, admin, cascade=True), 422)
    assert problem["entity"] == "order"
    assert problem["errors"] == {"/entities/order/fields/5/field": "customer has no field 'note'"}
    assert "would leave entity 'order' invalid, so nothing was changed" in problem["detail"]
    assert snapshot() == before

    # without cascade the rename itself goes through, and order is listed
    answer = _rename(client, admin)
    assert answer.status_code == 200, answer.get_json()
    assert {p["entity"] for p in answer.get_json()["elsewhere"]} == {"order", "region"}


def test_a_failure_after_some_drafts_were_saved_changes_nothing(
    client: FlaskClient, admin: Member, snapshot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _app(client, admin)
    before = snapshot()
    real = definitions.save_draft
    saved: list[str] = []

    def save_then_fail(session: Any, **kwargs: Any) -> Any:
        if kwargs["key"] == "region":  # the third draft: customer and order are already written
            raise Conflict("Someone else saved a draft of entity 'region' at the same time; reload it.")
        saved.append(kwargs["key"])
        return real(session, **kwargs)

    monkeypatch.setattr(definitions, "save_draft", save_then_fail)
    problem = assert_problem(_rename(client, admin, cascade=True), 409)
    assert "region" in problem["detail"]
    assert saved == ["customer", "order"]
    assert snapshot() == before


# ---------------------------------------------------------------- who may


def test_who_may_cascade(
    client: FlaskClient, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    _app(client, admin)
    before = snapshot()
    assert_problem(_rename(client, staff, cascade=True), 403)
    assert_problem(_rename(client, outsider, cascade=True), 404)
    assert_problem(_rename(client, admin, cascade="yes please"), 422)
    assert snapshot() == before

    # an archived app is read-only: no entity of it can be edited, so nothing is
    assert client.post("/api/v1/apps/crm/archive", headers=admin.headers).status_code == 200
    archived = snapshot()
    problem = assert_problem(_rename(client, admin, cascade=True), 409)
    assert "archived" in problem["detail"]
    assert snapshot() == archived
