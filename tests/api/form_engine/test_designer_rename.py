"""Renaming a field key in the designer's draft (every reference rewritten), and the preview's live rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.api.form_engine.test_designer_pages import _designer_data, sign_in
from tests.conftest import assert_problem, publish_entity

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customer"},
    "title_field": "level",
    "fields": [
        {"key": "name", "type": "text", "required": True},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        {"key": "spent", "type": "number"},
        {"key": "gap", "type": "formula", "formula": 'IF(level = "vip", 0, 10000 - spent) & " level"'},
        {"key": "note", "type": "text"},
    ],
    "visible_if": {"spent": {"==": [{"var": "level"}, "vip"]}},
    "required_if": {"note": {"in": [{"var": "level"}, ["vip"]]}},
    "dedup": [["name", "level"]],
    "indexes": [["level"]],
}
ORDER: dict[str, Any] = {
    "key": "order",
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer", "display_field": "level"},
        {"key": "amount", "type": "number"},
        {"key": "customer_level", "type": "lookup", "relation": "customer", "field": "level"},
        {"key": "vip_order", "type": "formula", "formula": 'customer.level = "vip"'},
    ],
}
RENAME = "/api/v1/apps/crm/entities/customer/draft/rename-field"


def _rename(client: FlaskClient, member: Member, payload: dict[str, Any], url: str = RENAME) -> Any:
    return client.post(url, json=payload, headers=member.headers)


def _draft(client: FlaskClient, member: Member) -> dict[str, Any]:
    answer = client.get("/api/v1/apps/crm/entities/customer?version=draft", headers=member.headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_rename_rewrites_the_draft_and_publishing_keeps_the_data(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    created = client.post(
        "/api/v1/apps/crm/records/customer",
        json={"name": "Acme", "level": "vip", "spent": 120, "note": "big"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.get_json()
    record_id = created.get_json()["id"]

    answer = _rename(client, admin, {"from": "level", "to": "tier"})
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    body = data["draft"]["body"]
    assert data["draft"]["version"] == 0
    assert data["draft"]["latest_version"] == 1
    assert [f["key"] for f in body["fields"]] == ["name", "tier", "spent", "gap", "note"]
    assert body["fields"][3]["formula"] == 'IF(tier = "vip", 0, 10000 - spent) & " level"'
    assert body["title_field"] == "tier"
    assert body["dedup"] == [["name", "tier"]]
    assert body["indexes"] == [["tier"]]
    assert body["visible_if"] == {"spent": {"==": [{"var": "tier"}, "vip"]}}
    assert body["required_if"] == {"note": {"in": [{"var": "tier"}, ["vip"]]}}
    places = {(c["pointer"], c["what"]) for c in data["changes"]}
    assert places == {
        ("/fields/1/key", "key"),
        ("/fields/3/formula", "formula"),
        ("/title_field", "title_field"),
        ("/dedup/0", "dedup"),
        ("/indexes/0", "indexes"),
        ("/visible_if/spent", "visible_if"),
        ("/required_if/note", "required_if"),
    }
    assert data["conditions"]["visible_if"] == {"spent": 'tier = "vip"'}
    assert data["elsewhere"] == []
    # the draft the definitions API serves is the one saved, field ids kept (so the column is renamed)
    saved = _draft(client, admin)
    assert saved["body"] == body
    assert saved["checksum"] == data["draft"]["checksum"]
    published = client.get("/api/v1/apps/crm/entities/customer?version=1", headers=admin.headers).get_json()
    assert body["fields"][1]["id"] == published["body"]["fields"][1]["id"]

    # the save is audited like a normal draft save, with the rewritten body
    audit = client.get(
        "/api/v1/audit?action=save_draft&object_id=crm/entity/customer&limit=1", headers=admin.headers
    )
    assert audit.status_code == 200, audit.get_json()
    [entry] = audit.get_json()["items"]
    assert entry["after"]["body"] == body

    report = client.post("/api/v1/apps/crm/entities/customer/publish", json={}, headers=admin.headers)
    assert report.status_code == 200, report.get_json()
    record = client.get(f"/api/v1/apps/crm/records/customer/{record_id}", headers=admin.headers).get_json()
    assert record["tier"] == "vip"
    assert "level" not in record
    assert record["gap"] == "0 level"
    assert record["spent"] == 120


def test_rename_reports_other_entities_that_still_use_the_old_key(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    publish_entity(client, admin, ORDER)
    answer = _rename(client, admin, {"from": "level", "to": "tier"})
    assert answer.status_code == 200, answer.get_json()
    elsewhere = {(p["entity"], p["pointer"], p["what"]) for p in answer.get_json()["elsewhere"]}
    assert elsewhere == {
        ("order", "/fields/0/display_field", "display_field"),
        ("order", "/fields/2/field", "lookup"),
        ("order", "/fields/3/formula", "formula"),
    }
    # the other entity is not changed: it has no draft
    versions = client.get("/api/v1/apps/crm/entities/order/versions", headers=admin.headers).get_json()
    assert versions["draft"] is None


def test_rename_uses_the_body_on_screen_when_given(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    saved = client.get("/api/v1/apps/crm/entities/customer", headers=admin.headers).get_json()["body"]
    screen = {
        **saved,
        "fields": [*saved["fields"], {"key": "shout", "type": "formula", "formula": "UPPER(level)"}],
    }
    answer = _rename(client, admin, {"from": "level", "to": "tier", "body": screen})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()["draft"]["body"]
    assert body["fields"][-1]["formula"] == "UPPER(tier)"
    assert body["fields"][-1]["id"]  # the new field got its id as in any save

    wrong = {**screen, "key": "order"}
    assert_problem(_rename(client, admin, {"from": "tier", "to": "rank", "body": wrong}), 422)


def test_an_invalid_draft_is_refused_and_nothing_changes(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    publish_entity(client, admin, CUSTOMER)
    saved = client.get("/api/v1/apps/crm/entities/customer", headers=admin.headers).get_json()["body"]
    broken = {**saved, "fields": [*saved["fields"], {"key": "bad", "type": "formula", "formula": "nope + 1"}]}
    before = snapshot()
    problem = assert_problem(_rename(client, admin, {"from": "level", "to": "tier", "body": broken}), 422)
    assert "/fields/5/formula" in problem["errors"]
    assert snapshot() == before


def test_bad_renames_are_refused_and_change_nothing(
    client: FlaskClient, admin: Member, staff: Member, outsider: Member, snapshot: Any
) -> None:
    publish_entity(client, admin, CUSTOMER)
    before = snapshot()

    unknown = assert_problem(_rename(client, admin, {"from": "nothing", "to": "tier"}), 422)
    assert "nothing" in unknown["errors"]["from"]
    taken = assert_problem(_rename(client, admin, {"from": "level", "to": "spent"}), 422)
    assert "spent" in taken["errors"]["to"]
    assert "level" in taken["detail"]
    for bad in ("Tier", "1tier", "tier-x", "", "x" * 41):
        problem = assert_problem(_rename(client, admin, {"from": "level", "to": bad}), 422)
        assert "not a valid identifier" in problem["errors"]["to"], bad
    assert (
        "reserved"
        in assert_problem(_rename(client, admin, {"from": "level", "to": "id"}), 422)["errors"]["to"]
    )
    assert_problem(_rename(client, admin, {"from": "level", "to": "level"}), 422)
    assert "new key" in assert_problem(_rename(client, admin, {"from": "level"}), 422)["errors"]["to"]
    assert_problem(_rename(client, admin, {"from": "level", "to": "tier", "extra": 1}), 422)

    assert_problem(_rename(client, staff, {"from": "level", "to": "tier"}), 403)
    assert_problem(_rename(client, outsider, {"from": "level", "to": "tier"}), 404)
    missing = "/api/v1/apps/crm/entities/nothing/draft/rename-field"
    assert_problem(_rename(client, admin, {"from": "level", "to": "tier"}, url=missing), 404)
    assert_problem(
        _rename(client, admin, {"from": "level", "to": "tier"}, url=RENAME.replace("/crm/", "/nope/")), 404
    )
    assert snapshot() == before


# ---------------------------------------------------------------- the preview's rules


def _rules(client: FlaskClient, member: Member, values: dict[str, list[str]], entity: Any = None) -> Any:
    return client.post(
        "/api/v1/designer/apps/crm/preview-rules",
        json={"entity": entity if entity is not None else CUSTOMER, "key": "customer", "values": values},
        headers=member.headers,
    )


def test_preview_rules_follow_the_conditions_on_screen(client: FlaskClient, admin: Member) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers)
    normal = _rules(client, admin, {"level": ["normal"]})
    assert normal.status_code == 200, normal.get_json()
    assert normal.get_json() == {"hidden": ["spent"], "required": ["name"]}
    vip = _rules(client, admin, {"level": ["vip"], "spent": ["not a number yet"]})
    assert vip.get_json() == {"hidden": [], "required": ["name", "note"]}

    # the draft on screen counts, half-typed parts left out: a condition being typed, a field without a key
    screen = {
        **CUSTOMER,
        "fields": [*CUSTOMER["fields"], {"type": "text"}, {"key": "x", "type": "no_such_type"}],
        "visible_if": {"note": {"==": [{"var": "name"}, "show"]}, "spent": None},
        "required_if": {"name": {"unknown_op": [1]}},
    }
    typed = _rules(client, admin, {"name": ["show"]}, entity=screen).get_json()
    assert typed == {"hidden": [], "required": ["name"]}
    assert _rules(client, admin, {"name": ["other"]}, entity=screen).get_json()["hidden"] == ["note"]
    # a property a type cannot read yet does not break the preview
    odd = {"key": "customer", "fields": [{"key": "n", "type": "number", "precision": "2x", "required": True}]}
    assert _rules(client, admin, {}, entity=odd).get_json()["required"] == ["n"]
    odder = {
        "key": "customer",
        "fields": [
            {"key": "id", "type": "text"},
            {"key": "t", "type": ["text"]},
            {
                "key": "rows",
                "type": "subtable",
                "fields": [
                    {"key": "a", "type": "text"},
                    {"key": "a", "type": {}},
                    {"key": "a", "type": "text"},
                ],
            },
            {"key": "n", "type": "text", "required": True},
        ],
    }
    answer = _rules(client, admin, {"n": ["x"], "rows.0.a": ["y"]}, entity=odder)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"hidden": [], "required": ["n"]}


def test_preview_rules_are_for_administrators(
    client: FlaskClient, admin: Member, staff: Member, outsider: Member
) -> None:
    client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers)
    assert_problem(_rules(client, staff, {}), 403)
    assert_problem(_rules(client, outsider, {}), 404)
    bad = client.post(
        "/api/v1/designer/apps/crm/preview-rules", json={"values": {"level": "vip"}}, headers=admin.headers
    )
    assert_problem(bad, 422)  # texts come as lists, as a form posts them


def test_the_designer_page_knows_the_rename_and_preview_endpoints(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, CUSTOMER)
    token = sign_in(client, admin)
    data = _designer_data(client.get("/apps/crm/entities/customer/design").get_data(as_text=True))
    assert data["urls"]["renameField"] == RENAME
    assert data["urls"]["previewRules"] == "/api/v1/designer/apps/crm/preview-rules"
    assert (
        data["messages"]["renamed"]
        == "Renamed %(old)s to %(new)s and rewrote: %(places)s. The draft is saved."
    )
    # the page's session (cookie and CSRF header) may rename, as the designer's script does
    answer = client.post(RENAME, json={"from": "note", "to": "remark"}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 200, answer.get_json()
    client.post("/language", data={"locale": "zh_CN", "csrf_token": token})
    html = client.get("/apps/crm/entities/customer/design").get_data(as_text=True)
    chinese = _designer_data(html)["messages"]
    assert chinese["place_formula"] == "%(field)s 的公式"
    assert "试一试显示条件和必填条件" in html


def test_the_rules_script_is_shared_by_the_record_form_and_the_preview(
    client: FlaskClient, admin: Member
) -> None:
    publish_entity(client, admin, CUSTOMER)
    for path in ("/static/form-engine/form_rules.js", "/static/form-engine/records/form_rules.js"):
        assert client.get(path).status_code == 200, path
    sign_in(client, admin)
    designer = client.get("/apps/crm/entities/customer/design").get_data(as_text=True)
    form = client.get("/apps/crm/records/customer/new").get_data(as_text=True)
    assert "/static/form-engine/form_rules.js" in designer
    assert "/static/form-engine/records/form_rules.js" in form
    # loaded before the scripts that use it (deferred scripts run in order)
    assert designer.index("form_rules.js") < designer.index("designer.js")
    assert form.index("form_rules.js") < form.index("records.js")
