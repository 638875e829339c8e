"""What the record list keeps between requests: compiled permissions and built list statements.

Compiled grants are kept per (workspace ``definitions_version``, roles, entity); every ORM
write of a role's permissions or admin flag bumps that number, so the very next request
applies the new grant. List statements are kept per model version, scope, filter and
search; one whose filter or scope reads the clock is built again for every page, and a
search never borrows a statement built for a role that sees more fields in clear.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.models import Role, Workspace
from tests.conftest import make_member, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

URL = "/api/v1/apps/crm/records/customer"
CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "fields": [
        {"key": "name", "type": "text", "required": True},
        {"key": "phone", "type": "phone"},
        {"key": "due", "type": "date"},
        {"key": "owner", "type": "user"},
    ],
}
_ROLES_TABLE = re.compile(r"\bFROM roles\b", re.IGNORECASE)


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    return admin


def _grant(client: FlaskClient, admin: Member, grant: dict[str, Any]) -> None:
    response = client.put("/api/v1/apps/crm/permissions/staff/customer", json=grant, headers=admin.headers)
    assert response.status_code == 200, response.get_json()


def _make(client: FlaskClient, member: Member, values: dict[str, Any]) -> int:
    response = client.post(URL, json=values, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def _names(client: FlaskClient, member: Member, **params: Any) -> set[str]:
    response = client.get(URL, query_string=params, headers=member.headers)
    assert response.status_code == 200, response.get_json()
    return {r["name"] for r in response.get_json()["items"]}


def _version(app: Flask, workspace_id: int) -> int:
    with app.extensions["opsloom.db"].session_scope() as s:
        value = s.scalar(select(Workspace.definitions_version).where(Workspace.id == workspace_id))
    assert isinstance(value, int)
    return value


# ---------------------------------------------------------------- compiled permissions


def test_the_roles_grants_are_read_once_and_a_new_grant_applies_to_the_next_request(
    client: FlaskClient, crm: Member, staff: Member, statements: list[str]
) -> None:
    _grant(client, crm, {"read": "all"})
    _make(client, crm, {"name": "Wang", "phone": "13812345678"})
    client.get(URL, headers=staff.headers)
    statements.clear()
    first = client.get(URL, headers=staff.headers).get_json()["items"][0]
    assert first["phone"] == "13812345678"
    assert not [s for s in statements if _ROLES_TABLE.search(s)], "the grants came from the cache"

    _grant(client, crm, {"read": "all", "fields": {"phone": "masked"}})
    statements.clear()
    assert client.get(URL, headers=staff.headers).get_json()["items"][0]["phone"] == "138****5678"
    assert len([s for s in statements if _ROLES_TABLE.search(s)]) == 1, "read again after the change"

    _grant(client, crm, {"create": "all"})
    assert client.get(URL, headers=staff.headers).status_code == 403


def test_a_role_changed_outside_the_permissions_api_is_seen_at_once(
    app: Flask, client: FlaskClient, crm: Member, staff: Member
) -> None:
    """The bump is a mapper event on ``Role``: any ORM write of the permissions triggers it."""
    _grant(client, crm, {"read": "all"})
    _make(client, crm, {"name": "Wang"})
    assert _names(client, staff) == {"Wang"}
    with app.extensions["opsloom.db"].session_scope() as s:
        role = s.scalar(select(Role).where(Role.workspace_id == staff.workspace_id, Role.key == "staff"))
        assert role is not None
        role.permissions = {}
    assert client.get(URL, headers=staff.headers).status_code == 403


def test_role_writes_bump_the_version_only_when_rights_change(
    app: Flask, client: FlaskClient, crm: Member
) -> None:
    before = _version(app, crm.workspace_id)
    created = client.post("/api/v1/roles", json={"key": "audit", "name": "Audit"}, headers=crm.headers)
    assert created.status_code == 201, created.get_json()
    assert _version(app, crm.workspace_id) == before  # a new role has an id nobody cached
    renamed = client.patch("/api/v1/roles/audit", json={"name": "Auditors"}, headers=crm.headers)
    assert renamed.status_code == 200, renamed.get_json()
    assert _version(app, crm.workspace_id) == before
    granted = client.patch("/api/v1/roles/audit", json={"permissions": {"entity:crm.customer": {"read": "all"}}},
                           headers=crm.headers)
    assert granted.status_code == 200, granted.get_json()
    assert _version(app, crm.workspace_id) == before + 1
    assert client.delete("/api/v1/roles/audit", headers=crm.headers).status_code == 204
    assert _version(app, crm.workspace_id) == before + 2


# ---------------------------------------------------------------- list statements


def test_own_scope_statements_are_each_user_s_own(app: Flask, client: FlaskClient, crm: Member, staff: Member) -> None:
    other = make_member(app, "acme", "sue", admin=False)
    _grant(client, crm, {"read": "own", "create": "all"})
    _make(client, staff, {"name": "Sam's"})
    _make(client, other, {"name": "Sue's"})
    same = {"filter": json.dumps({"!=": [{"var": "name"}, ""]}), "sort": "name"}
    for _ in range(2):
        assert _names(client, staff, **same) == {"Sam's"}
        assert _names(client, other, **same) == {"Sue's"}


def test_a_search_never_reuses_a_statement_of_a_role_that_sees_more(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    _grant(client, crm, {"read": "all"})
    _make(client, crm, {"name": "Wang", "phone": "13812345678"})
    assert _names(client, staff, q="1381234") == {"Wang"}
    _grant(client, crm, {"read": "all", "fields": {"phone": "masked"}})
    assert _names(client, staff, q="1381234") == set()
    assert _names(client, crm, q="1381234") == {"Wang"}
    assert _names(client, staff, q="1381234") == set()


def test_a_filter_that_reads_the_clock_is_built_for_every_page(app: Flask, client: FlaskClient, crm: Member) -> None:
    from opsloom.form_engine.service import RecordService
    from opsloom.platform.auth import service as identity
    from opsloom.platform.definitions import service as definitions
    from opsloom.platform.models import User

    _make(client, crm, {"name": "Early", "due": "2026-01-05"})
    _make(client, crm, {"name": "Late", "due": "2026-03-05"})
    overdue = {"<": [{"var": "due"}, {"today": []}]}
    database = app.extensions["opsloom.db"]

    def overdue_on(day: datetime) -> set[str]:
        with app.app_context(), database.session_scope() as s:
            actor = identity.actor_for(s, s.get(User, crm.user_id), crm.workspace_id, via="cli")
            service = RecordService(s, actor, definitions.get_app(s, actor, "crm"), now=day)
            return {r["name"] for r in service.query("customer", filter=overdue, secret="t").items}

    assert overdue_on(datetime(2026, 2, 1, tzinfo=UTC)) == {"Early"}
    assert overdue_on(datetime(2026, 4, 1, tzinfo=UTC)) == {"Early", "Late"}
    assert overdue_on(datetime(2026, 1, 1, tzinfo=UTC)) == set()


# ---------------------------------------------------------------- first pages on the driver's cursor


def _every_type_values(i: int, owner: int) -> dict[str, Any]:
    from tests.api.form_engine.test_records_bulk_types import _values

    values = _values(i, owner, [])
    del values["partners"]
    return values


@pytest.mark.parametrize("tables", [False, True], ids=["value-rows", "with-child-rows"])
def test_a_listed_record_is_the_record_read_alone_for_every_type(
    client: FlaskClient, admin: Member, tables: bool
) -> None:
    """The first page is converted by the compiled row converter (or, with child tables, from dicts)."""
    import copy

    from tests.api.form_engine.test_openapi_entities import CUSTOMER as EVERY_TYPE

    body = copy.deepcopy(EVERY_TYPE)
    body["fields"] = [f for f in body["fields"] if f["type"] != "file" and (tables or f["type"] != "subtable")]
    publish_entity(client, admin, body)
    for i in range(3):
        values = _every_type_values(i, admin.user_id)
        if not tables:
            values.pop("contacts")
        made = client.post(URL, json=values, headers=admin.headers)
        assert made.status_code == 201, made.get_json()
    client.delete(f"{URL}/{made.get_json()['id']}", headers=admin.headers)  # a stamp in _deleted_at
    for params in ({}, {"sort": "-spent"}, {"deleted": "true"}):
        listed = client.get(URL, query_string=params, headers=admin.headers).get_json()["items"]
        assert listed
        for record in listed:
            alone = client.get(f"{URL}/{record['id']}", query_string={"deleted": params.get("deleted", "false")},
                               headers=admin.headers).get_json()
            assert record == alone


def test_masks_hold_on_the_first_page_and_after_a_cursor(client: FlaskClient, crm: Member, staff: Member) -> None:
    _grant(client, crm, {"read": "all", "fields": {"phone": "masked", "due": "hidden"}})
    for i in range(5):
        _make(client, crm, {"name": f"c{i}", "phone": f"1381234567{i}", "due": "2026-01-0" + str(i + 1)})
    first = client.get(URL, query_string={"limit": 3}, headers=staff.headers).get_json()
    second = client.get(URL, query_string={"limit": 3, "cursor": first["next_cursor"]}, headers=staff.headers)
    records = first["items"] + second.get_json()["items"]
    assert [r["name"] for r in records] == [f"c{i}" for i in reversed(range(5))]
    assert all(r["phone"].startswith("138****") and "due" not in r for r in records)


def test_an_in_list_filter_and_a_many_page_walk_give_every_record_once(client: FlaskClient, crm: Member) -> None:
    """An ``in`` list renders per call, so that first page goes through SQLAlchemy; the answer is the same."""
    for i in range(7):
        _make(client, crm, {"name": f"n{i}", "phone": f"1391234567{i}"})
    wanted = {"in": [{"var": "name"}, ["n1", "n3", "n4", "n6"]]}
    seen: list[str] = []
    params: dict[str, Any] = {"filter": json.dumps(wanted), "sort": "name", "limit": 2}
    while True:
        page = client.get(URL, query_string=params, headers=crm.headers).get_json()
        seen += [r["name"] for r in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ["n1", "n3", "n4", "n6"]
