"""The entity designer pages and their helper endpoints, through the Flask test client."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import assert_problem, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_DATA = re.compile(r'<script type="application/json" id="designer-data">(.*?)</script>', re.S)
XSS = "<script>alert(1)</script>"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customer", "zh": "客户"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "max_length": 100},
        {"key": "level", "type": "select", "options": ["normal", "vip"]},
        {"key": "spent", "type": "number"},
    ],
    "visible_if": {"spent": {"==": [{"var": "level"}, "vip"]}},
}


def sign_in(client: FlaskClient, member: Member) -> str:
    """Sign in through the page form; returns the session's CSRF token for API writes."""
    token = _CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"username": member.username, "password": member.password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return _CSRF.search(client.get("/").get_data(as_text=True)).group(1)


def _designer_data(html: str) -> dict[str, Any]:
    match = _DATA.search(html)
    assert match, "no designer data block"
    return json.loads(match.group(1))


def _registered_types(app: Flask) -> list[str]:
    return list(app.extensions["opsloom.plugins"].registries.field_types)


# ---------------------------------------------------------------- pages


def test_designer_shows_the_palette_of_every_registered_type(
    app: Flask, client: FlaskClient, admin: Member
) -> None:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, admin)
    page = client.get("/apps/crm/entities/customer/design")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'x-data="entityDesigner"' in html
    data = _designer_data(html)
    assert sorted(t["name"] for t in data["palette"]) == sorted(_registered_types(app))
    text = next(t for t in data["palette"] if t["name"] == "text")
    assert text["label"] == {"en": "Text", "zh": "单行文本"}
    assert text["options_schema"]["max_length"]["type"] == "integer"
    assert [f["key"] for f in data["body"]["fields"]] == ["name", "level", "spent"]
    assert all(f["id"] for f in data["body"]["fields"])  # the ids the server gave travel to the page
    assert data["conditions"]["visible_if"] == {"spent": 'level = "vip"'}
    assert data["latestVersion"] == 1
    assert data["hasDraft"] is False
    # the page's own texts are translated (group names, messages)
    assert {"basic", "choice", "computed"} <= {g["name"] for g in data["groups"]}


def test_the_designer_speaks_chinese(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, admin)
    token = _CSRF.search(client.get("/").get_data(as_text=True)).group(1)
    client.post("/language", data={"locale": "zh_CN", "csrf_token": token})
    html = client.get("/apps/crm/entities/customer/design").get_data(as_text=True)
    assert "保存草稿" in html
    data = _designer_data(html)
    assert data["locale"] == "zh"
    assert data["messages"]["saved"] == "草稿已保存。"
    assert {g["name"]: g["label"] for g in data["groups"]}["choice"] == "选项"


def test_entity_list_and_new_entity(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, admin)
    listing = client.get("/apps/crm/entities")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert "/apps/crm/entities/customer/design" in html
    assert "/apps/crm/entities/customer/versions" in html

    started = client.get("/apps/crm/entities?new=ticket")
    assert started.status_code == 302
    assert started.headers["Location"].endswith("/apps/crm/entities/ticket/design")
    fresh = _designer_data(client.get("/apps/crm/entities/ticket/design").get_data(as_text=True))
    assert fresh["isNew"] is True
    assert fresh["body"] == {"key": "ticket", "label": {}, "fields": []}
    assert [e["key"] for e in fresh["entities"]] == ["customer"]  # relation targets

    assert client.get("/apps/crm/entities?new=Bad-Key").status_code == 422
    assert client.get("/apps/crm/entities?new=customer").status_code == 422  # taken


def test_app_page_links_administrators_to_the_designer(
    client: FlaskClient, admin: Member, staff: Member
) -> None:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, admin)
    html = client.get("/apps/crm").get_data(as_text=True)
    assert 'data-testid="design-customer"' in html
    assert "/apps/crm/entities/customer/design" in html
    assert 'data-testid="design-entities"' in html
    client.post("/logout", data={"csrf_token": _CSRF.search(html).group(1)})
    sign_in(client, staff)
    assert "/apps/crm/entities/customer/design" not in client.get("/apps/crm").get_data(as_text=True)


def test_staff_may_not_design(client: FlaskClient, admin: Member, staff: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    anonymous = client.get("/apps/crm/entities/customer/design")
    assert anonymous.status_code == 302
    assert "/login" in anonymous.headers["Location"]
    sign_in(client, staff)
    for path in (
        "/apps/crm/entities",
        "/apps/crm/entities/customer/design",
        "/apps/crm/entities/customer/versions",
    ):
        assert client.get(path).status_code == 403, path
    assert_problem(client.get("/api/v1/designer/field-types", headers=staff.headers), 403)
    assert_problem(
        client.post("/api/v1/designer/apps/crm/check-formula", json={"text": "1 + 1"}, headers=staff.headers),
        403,
    )


def test_other_workspaces_app_is_not_found(client: FlaskClient, admin: Member, outsider: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, outsider)
    assert client.get("/apps/crm/entities/customer/design").status_code == 404
    assert client.get("/apps/crm/entities").status_code == 404


def test_admin_authored_text_is_escaped(client: FlaskClient, admin: Member) -> None:
    body = {**CUSTOMER, "label": {"en": XSS}, "description": XSS}
    body["fields"] = [{**CUSTOMER["fields"][0], "label": {"en": XSS}}, *CUSTOMER["fields"][1:]]
    publish_entity(client, admin, body)
    sign_in(client, admin)
    for path in (
        "/apps/crm/entities",
        "/apps/crm/entities/customer/design",
        "/apps/crm/entities/customer/versions?version=1",
    ):
        html = client.get(path).get_data(as_text=True)
        assert XSS not in html, path
    # the data block stays valid JSON and still carries the text for the script to show with x-text
    data = _designer_data(client.get("/apps/crm/entities/customer/design").get_data(as_text=True))
    assert data["body"]["fields"][0]["label"]["en"] == XSS


def test_history_lists_versions_and_diffs(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    changed = {**CUSTOMER, "fields": [*CUSTOMER["fields"], {"key": "email", "type": "email"}]}
    client.put("/api/v1/apps/crm/entities/customer", json=changed, headers=admin.headers)
    published = client.post(
        "/api/v1/apps/crm/entities/customer/publish", json={"note": "add email"}, headers=admin.headers
    )
    assert published.status_code == 200, published.get_json()
    sign_in(client, admin)
    html = client.get("/apps/crm/entities/customer/versions").get_data(as_text=True)
    assert "v2" in html
    assert "v1" in html
    assert "add email" in html
    assert "Alice" in html
    one = client.get("/apps/crm/entities/customer/versions?version=2").get_data(as_text=True)
    assert 'data-testid="version-diff"' in one
    assert "fields[email]" in one
    assert "against v1" in one
    assert client.get("/apps/crm/entities/customer/versions?version=9").status_code == 404
    assert client.get("/apps/crm/entities/nothing/versions").status_code == 404


# ---------------------------------------------------------------- helper endpoints


def test_palette_endpoint(app: Flask, client: FlaskClient, admin: Member) -> None:
    answer = client.get("/api/v1/designer/field-types", headers=admin.headers)
    assert answer.status_code == 200
    data = answer.get_json()
    assert sorted(t["name"] for t in data["items"]) == sorted(_registered_types(app))
    assert data["groups"][0] == "basic"
    select = next(t for t in data["items"] if t["name"] == "select")
    assert select["group"] == "choice"
    assert "options" in select["options_schema"]


def _check(client: FlaskClient, admin: Member, **payload: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/designer/apps/crm/check-formula", json=payload, headers=admin.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_formula_check_gives_syntax_errors_with_positions(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    result = _check(client, admin, text='IF(level = "vip",\n  0, ', entity=CUSTOMER, key="customer")
    assert result["ok"] is False
    assert result["expr"] is None
    [error] = result["errors"]
    assert error["line"] == 2
    assert error["column"] >= 1
    assert error["message"]


def test_formula_check_types_against_the_entity_on_screen(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    body = {**CUSTOMER, "fields": [*CUSTOMER["fields"], {"key": "gap", "type": "formula", "formula": "1"}]}
    ok = _check(client, admin, text="10000 - spent", entity=body, key="customer", field=3)
    assert ok["ok"] is True
    assert ok["result_type"] == "number"
    assert ok["expr"] == {"-": [10000, {"var": "spent"}]}
    assert ok["depends_on"] == ["spent"]

    unknown = _check(client, admin, text="missing_field * 2", entity=body, key="customer", field=3)
    assert unknown["ok"] is False
    assert "missing_field" in unknown["errors"][0]["message"]

    cycle = _check(client, admin, text="gap + 1", entity=body, key="customer", field=3)
    assert cycle["ok"] is False
    assert "depend" in cycle["errors"][0]["message"]

    condition = _check(client, admin, text='level = "vip"', entity=body, key="customer", purpose="condition")
    assert condition["ok"] is True
    assert condition["expr"] == {"==": [{"var": "level"}, "vip"]}
    assert condition["result_type"] == "boolean"

    as_json = _check(
        client, admin, text='{"==": [{"var": "level"}, "vip"]}', entity=body, purpose="condition"
    )
    assert as_json["ok"] is True
    assert as_json["formula"] == 'level = "vip"'

    # half-typed fields on screen (no key yet) do not break the check
    messy = {"key": "customer", "fields": [{"type": "text"}, {"key": "spent", "type": "number"}]}
    assert _check(client, admin, text="spent > 3", entity=messy, purpose="condition")["ok"] is True


def test_formula_check_refuses_bad_requests(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    assert_problem(
        client.post(
            "/api/v1/designer/apps/crm/check-formula",
            json={"text": "1", "purpose": "nonsense"},
            headers=admin.headers,
        ),
        422,
    )
    assert_problem(
        client.post("/api/v1/designer/apps/nope/check-formula", json={"text": "1"}, headers=admin.headers),
        404,
    )


def test_publish_check_warns_about_destructive_changes(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    saved = client.get("/api/v1/apps/crm/entities/customer", headers=admin.headers).get_json()["body"]
    fields = saved["fields"]
    draft = {
        **saved,
        "title_field": "full_name",
        "fields": [
            {**fields[0], "key": "full_name", "max_length": 10},  # renamed and narrowed
            {"id": fields[1]["id"], "key": "level", "type": "text"},  # select -> text
            {"key": "email", "type": "email"},
        ],  # spent removed
    }
    draft.pop("visible_if")
    put = client.put("/api/v1/apps/crm/entities/customer", json=draft, headers=admin.headers)
    assert put.status_code == 200, put.get_json()
    answer = client.get("/api/v1/designer/apps/crm/entities/customer/publish-check", headers=admin.headers)
    assert answer.status_code == 200
    data = answer.get_json()
    codes = {(w["code"], w["field"]) for w in data["warnings"]}
    assert ("removed", "spent") in codes
    assert ("renamed", "full_name") in codes
    assert ("narrowed", "full_name") in codes
    assert ("type_changed", "level") in codes
    assert data["needs_force"] is True
    assert data["has_draft"] is True
    assert data["latest_version"] == 1

    # and the definitions API agrees: without force publishing refuses, with force it reports
    refused = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=admin.headers)
    assert assert_problem(refused, 422).get("needs_force") is True
    forced = client.post(
        "/api/v1/apps/crm/entities/customer/publish", json={"options": {"force": True}}, headers=admin.headers
    )
    assert forced.status_code == 200, forced.get_json()
    assert any("spent" in line for line in forced.get_json()["report"])


def test_publish_check_of_a_new_entity(client: FlaskClient, admin: Member) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers)
    client.put(
        "/api/v1/apps/crm/entities/ticket",
        json={"key": "ticket", "fields": [{"key": "t", "type": "text"}]},
        headers=admin.headers,
    )
    data = client.get(
        "/api/v1/designer/apps/crm/entities/ticket/publish-check", headers=admin.headers
    ).get_json()
    assert data == {"has_draft": True, "latest_version": None, "needs_force": False, "warnings": []}
    missing = client.get("/api/v1/designer/apps/crm/entities/nothing/publish-check", headers=admin.headers)
    assert_problem(missing, 404)


ORDER: dict[str, Any] = {
    "key": "order",
    "label": {"en": "Order", "zh": "订单"},
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer", "label": {"en": "Customer"}},
        {"key": "amount", "type": "number"},
        {"key": "placed", "type": "date"},
        {"key": "lines", "type": "subtable", "fields": [{"key": "sku", "type": "text"}]},
        {"key": "double", "type": "formula", "formula": "amount * 2"},
    ],
}


def _fields(client: FlaskClient, member: Member, entity: str, app_key: str = "crm") -> Any:
    return client.get(f"/api/v1/designer/apps/{app_key}/entities/{entity}/fields", headers=member.headers)


def test_entity_fields_for_the_rollup_and_lookup_editors(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    publish_entity(client, admin, ORDER)
    answer = _fields(client, admin, "order")
    assert answer.status_code == 200, answer.get_json()
    by_key = {f["key"]: f for f in answer.get_json()}
    assert list(by_key) == ["customer", "amount", "placed", "lines", "double"]
    assert by_key["customer"] == {
        "key": "customer",
        "type": "relation",
        "label": {"en": "Customer"},
        "value_type": "any",
        "storage": "column",
        "target": "customer",
        "many": False,
    }
    assert by_key["amount"]["value_type"] == "number"
    assert by_key["placed"]["value_type"] == "date"
    assert by_key["lines"]["storage"] == "child_table"
    assert by_key["double"]["value_type"] == "number"  # a formula's resolved type
    assert "target" not in by_key["amount"]

    # the newest body counts: a draft's new field is listed before it is published
    draft = {**ORDER, "fields": [*ORDER["fields"], {"key": "note", "type": "text"}]}
    assert client.put("/api/v1/apps/crm/entities/order", json=draft, headers=admin.headers).status_code == 200
    assert [f["key"] for f in _fields(client, admin, "order").get_json()][-1] == "note"


def test_entity_fields_is_for_administrators_of_the_app(
    client: FlaskClient, admin: Member, staff: Member, outsider: Member
) -> None:
    publish_entity(client, admin, CUSTOMER)
    assert_problem(_fields(client, staff, "customer"), 403)
    assert_problem(_fields(client, outsider, "customer"), 404)  # another workspace's app
    assert_problem(_fields(client, admin, "nothing"), 404)
    assert_problem(_fields(client, admin, "Bad-Key"), 404)
    assert_problem(_fields(client, admin, "customer", app_key="nope"), 404)


def test_designer_page_knows_where_to_ask_for_fields(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    sign_in(client, admin)
    data = _designer_data(client.get("/apps/crm/entities/customer/design").get_data(as_text=True))
    assert data["urls"]["entityFields"] == "/api/v1/designer/apps/crm/entities/"
    assert data["messages"]["fn_sum"] == "Sum"
    html = client.get("/apps/crm/entities/customer/design").get_data(as_text=True)
    for testid in (
        "rollup-entity",
        "rollup-link",
        "rollup-fn",
        "rollup-field",
        "lookup-relation",
        "lookup-field",
    ):
        assert f'data-testid="{testid}"' in html


@pytest.mark.parametrize("path", ["/static/form-engine/designer.js", "/static/form-engine/designer.css"])
def test_static_files_are_served(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_a_saved_layout_round_trips_through_the_designer(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    layout = [
        {"label": {"en": "Money", "zh": "金额"}, "fields": ["spent", "level"]},
        {"fields": []},
    ]
    answer = client.put(
        "/api/v1/apps/crm/entities/customer", json={**CUSTOMER, "layout": layout}, headers=admin.headers
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["body"]["layout"] == layout
    sign_in(client, admin)
    html = client.get("/apps/crm/entities/customer/design").get_data(as_text=True)
    # the page hands the draft's layout to the script, which edits it (designer.js ``load``/``buildBody``)
    assert _designer_data(html)["body"]["layout"] == layout
    assert 'data-testid="add-section"' in html
    assert 'data-testid="prop-section"' in html
    # a layout naming a field the body does not have is refused where it is
    bad = client.put(
        "/api/v1/apps/crm/entities/customer",
        json={**CUSTOMER, "layout": [{"fields": ["nope"]}]},
        headers=admin.headers,
    )
    assert_problem(bad, 422)
    assert "/layout/0/fields/0" in bad.get_json()["errors"]
