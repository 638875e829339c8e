"""Entity permissions per role: scopes applied in SQL, field rules (hidden, read-only, masked) in every output."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from opsloom.platform.auth import service as identity
from opsloom.platform.models import User, Workspace
from tests.api.test_api_base import assert_problem
from tests.conftest import make_member, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

URL = "/api/v1/apps/crm/records/customer"
GRANTS = "/api/v1/apps/crm/permissions/staff/customer"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "fields": [
        {"key": "name", "type": "text", "required": True},
        {"key": "phone", "type": "phone", "unique": True},
        {"key": "email", "type": "email"},
        {"key": "notes", "type": "textarea"},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        {"key": "owner", "type": "user"},
    ],
}


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    return admin


def _grant(client: FlaskClient, admin: Member, grant: dict[str, Any], role: str = "staff") -> None:
    response = client.put(f"/api/v1/apps/crm/permissions/{role}/customer", json=grant, headers=admin.headers)
    assert response.status_code == 200, response.get_json()


def _make(client: FlaskClient, member: Member, values: dict[str, Any]) -> dict[str, Any]:
    response = client.post(URL, json=values, headers=member.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_role_without_a_grant_has_no_access(client: FlaskClient, crm: Member, staff: Member) -> None:
    rid = _make(client, crm, {"name": "Wang"})["id"]
    assert_problem(client.get(URL, headers=staff.headers), 403)
    assert_problem(client.get(f"{URL}/{rid}", headers=staff.headers), 403)
    assert_problem(client.post(URL, json={"name": "x"}, headers=staff.headers), 403)


def test_masked_and_hidden_fields_hold_in_lists_records_filters_sorts_search_and_errors(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    _grant(client, crm, {"read": "all", "create": "all", "update": "all",
                         "fields": {"phone": "masked", "email": "masked", "notes": "hidden", "level": "read_only"}})
    rid = _make(client, crm, {"name": "Wang", "phone": "13812345678", "email": "wang@example.com",
                              "notes": "secret"})["id"]
    listed = client.get(URL, headers=staff.headers).get_json()["items"][0]
    one = client.get(f"{URL}/{rid}", headers=staff.headers).get_json()
    for record in (listed, one):
        assert record["phone"] == "138****5678"
        assert record["email"] != "wang@example.com"
        assert record["email"].endswith("@example.com")
        assert "notes" not in record
    assert_problem(client.get(URL, query_string={"filter": json.dumps({"==": [{"var": "phone"}, "13812345678"]})},
                              headers=staff.headers), 400)
    assert_problem(client.get(URL, query_string={"sort": "notes"}, headers=staff.headers), 400)
    assert client.get(URL, query_string={"q": "1381234"}, headers=staff.headers).get_json()["items"] == []
    # a read-only field cannot be written; a masked or hidden one neither
    for field in ("level", "phone", "notes"):
        problem = assert_problem(
            client.patch(f"{URL}/{rid}", json={field: "vip" if field == "level" else "x", "_version": 1},
                         headers=staff.headers), 403)
        assert field in problem["errors"]
    # the duplicate message does not reveal the masked value
    dup = assert_problem(client.post(URL, json={"name": "Li", "phone": "13812345678"}, headers=staff.headers), 409)
    assert "13812345678" not in json.dumps(dup)
    # the administrator still sees everything
    assert client.get(f"{URL}/{rid}", headers=crm.headers).get_json()["phone"] == "13812345678"


def test_own_scope_applies_in_sql_and_update_scope_is_separate(
    app: Flask, client: FlaskClient, crm: Member, staff: Member
) -> None:
    other = make_member(app, "acme", "sue", admin=False)
    _grant(client, crm, {"read": "own", "create": "all", "update": "own"})
    mine = _make(client, staff, {"name": "Mine"})
    owned = _make(client, crm, {"name": "Owned", "owner": staff.user_id})
    theirs = _make(client, other, {"name": "Theirs"})
    names = {r["name"] for r in client.get(URL, headers=staff.headers).get_json()["items"]}
    assert names == {"Mine", "Owned"}
    assert_problem(client.get(f"{URL}/{theirs['id']}", headers=staff.headers), 404)
    assert client.get(f"{URL}/{owned['id']}", headers=staff.headers).status_code == 200
    # read everything, update only own
    _grant(client, crm, {"read": "all", "update": "own"})
    assert client.get(f"{URL}/{theirs['id']}", headers=staff.headers).status_code == 200
    assert_problem(client.patch(f"{URL}/{theirs['id']}", json={"name": "x", "_version": 1}, headers=staff.headers), 403)
    assert client.patch(f"{URL}/{mine['id']}", json={"name": "y", "_version": 1}, headers=staff.headers).status_code == 200


def test_department_and_expression_scopes(app: Flask, client: FlaskClient, crm: Member, staff: Member) -> None:
    colleague = make_member(app, "acme", "cole", admin=False)
    stranger = make_member(app, "acme", "stan", admin=False)
    with app.extensions["opsloom.db"].session_scope() as s:
        from opsloom.platform.models import Department, Membership

        ws = s.get(Workspace, crm.workspace_id)
        sales = Department(workspace_id=ws.id, key="sales", name="Sales")
        s.add(sales)
        s.flush()
        east = Department(workspace_id=ws.id, key="east", name="East", parent_id=sales.id)
        s.add(east)
        s.flush()
        for member, dept in ((staff, sales.id), (colleague, east.id)):
            row = s.query(Membership).filter_by(user_id=member.user_id, workspace_id=ws.id).one()
            row.department_id = dept
        assert s.get(User, stranger.user_id) is not None
    _grant(client, crm, {"create": "all", "read": "department"})
    _make(client, colleague, {"name": "FromEast"})
    _make(client, stranger, {"name": "FromNowhere"})
    names = {r["name"] for r in client.get(URL, headers=staff.headers).get_json()["items"]}
    assert names == {"FromEast"}  # sub-departments count
    _grant(client, crm, {"read": {"expr": {"or": [{"==": [{"var": "level"}, "vip"]},
                                                   {"==": [{"var": "owner"}, {"var": "_user.id"}]}]}}})
    _make(client, crm, {"name": "Vip", "level": "vip"})
    _make(client, crm, {"name": "Assigned", "owner": staff.user_id})
    names = {r["name"] for r in client.get(URL, headers=staff.headers).get_json()["items"]}
    assert names == {"Vip", "Assigned"}


def test_roles_add_up_to_the_most_open_rule(app: Flask, client: FlaskClient, crm: Member) -> None:
    with app.extensions["opsloom.db"].session_scope() as s:
        actor = identity.actor_for(s, s.get(User, crm.user_id), crm.workspace_id, via="test")
        identity.create_role(s, actor, key="sales", name="Sales")
    _grant(client, crm, {"read": "all", "fields": {"phone": "hidden"}})
    _grant(client, crm, {"read": "all", "fields": {"phone": "masked"}}, role="sales")
    both = make_member(app, "acme", "bo", admin=False)
    with app.extensions["opsloom.db"].session_scope() as s:
        from opsloom.platform.models import Membership, Role

        member = s.query(Membership).filter_by(user_id=both.user_id).one()
        member.roles.append(s.query(Role).filter_by(workspace_id=crm.workspace_id, key="sales").one())
    rid = _make(client, crm, {"name": "Wang", "phone": "13812345678"})["id"]
    assert client.get(f"{URL}/{rid}", headers=both.headers).get_json()["phone"] == "138****5678"


def test_view_as_role_and_the_permission_matrix(client: FlaskClient, crm: Member, staff: Member) -> None:
    _grant(client, crm, {"read": "all", "fields": {"phone": "masked"}})
    rid = _make(client, crm, {"name": "Wang", "phone": "13812345678"})["id"]
    preview = client.get(f"{URL}/{rid}", query_string={"as_role": "staff"}, headers=crm.headers).get_json()
    assert preview["phone"] == "138****5678"
    assert_problem(client.get(URL, query_string={"as_role": "admin"}, headers=staff.headers), 403)
    matrix = client.get("/api/v1/apps/crm/permissions", headers=crm.headers).get_json()
    staff_row = next(r for r in matrix["roles"] if r["key"] == "staff")
    assert staff_row["grants"]["customer"]["grant"]["fields"] == {"phone": "masked"}
    assert_problem(client.get("/api/v1/apps/crm/permissions", headers=staff.headers), 403)


def test_invalid_grants_are_refused_with_pointers(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    before = snapshot()
    for grant, pointer in [
        ({"read": "everyone"}, "/read"),
        ({"fly": "all"}, "/fly"),
        ({"fields": {"phone": "blurred"}}, "/fields/phone"),
        ({"fields": {"nope": "hidden"}}, "/fields/nope"),
        ({"read": {"expr": {"==": [{"var": "nope"}, 1]}}}, "/read"),
    ]:
        problem = assert_problem(client.put(GRANTS, json=grant, headers=crm.headers), 422)
        assert pointer in problem["errors"], problem
    assert_problem(client.put("/api/v1/apps/crm/permissions/nope/customer", json={}, headers=crm.headers), 404)
    assert_problem(client.put("/api/v1/apps/crm/permissions/staff/nope", json={}, headers=crm.headers), 404)
    assert snapshot() == before


def test_an_expression_scope_may_use_the_users_roles(client: FlaskClient, crm: Member, staff: Member) -> None:
    _grant(client, crm, {"read": {"expr": {"or": [{"in": ["auditor", {"var": "_user.roles"}]},
                                                   {"==": [{"var": "level"}, "vip"]}]}}})
    _make(client, crm, {"name": "Vip", "level": "vip"})
    _make(client, crm, {"name": "Plain"})
    names = {r["name"] for r in client.get(URL, headers=staff.headers).get_json()["items"]}
    assert names == {"Vip"}  # staff is not an auditor: only the expression's second part holds
