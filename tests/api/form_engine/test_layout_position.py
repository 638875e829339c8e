"""The place of the fields of no section in an entity's layout ({"unsectioned": true}), and the palette's operators.

The definitions API takes the marker (and refuses a malformed or repeated one where it is),
bodies without it keep their meaning, and the record form and record page put the fields of
no section where it stands. The designer's palette carries each type's filter operators, which
its condition builder (a rollup's filter) offers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.conftest import assert_problem, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

ENTITY = "/api/v1/apps/crm/entities/lead"
PAGES = "/apps/crm/records/lead"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')

LEAD: dict[str, Any] = {
    "key": "lead",
    "label": {"en": "Lead"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}},
        {"key": "phone", "type": "text", "label": {"en": "Phone"}},
        {"key": "budget", "type": "number", "label": {"en": "Budget"}},
        {"key": "note", "type": "text", "label": {"en": "Note"}},
    ],
}
PLACED = [
    {"label": {"en": "Money"}, "fields": ["budget"]},
    {"unsectioned": True},
    {"label": {"en": "Contact"}, "fields": ["phone"]},
]


def _sign_in(client: FlaskClient, member: Member) -> None:
    token = _CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/login", data={"username": member.username, "password": member.password, "csrf_token": token}
    )
    assert answer.status_code == 302


def _form_order(html: str) -> list[tuple[str, str]]:
    """(section legend, field key) in page order; "-" for fields outside any section."""
    out: list[tuple[str, str]] = []
    for part in re.split(r"(?=<fieldset)|(?=</fieldset>)", html):
        legend = re.search(r"<legend>([^<]*)</legend>", part) if part.startswith("<fieldset") else None
        name = legend.group(1) if legend else ("" if part.startswith("<fieldset") else "-")
        out += [(name, key) for key in re.findall(r'class="field rf-field[^"]*"\s+data-field="(\w+)"', part)]
    return out


def test_the_marker_is_saved_and_read_back(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, LEAD)
    answer = client.put(ENTITY, json={**LEAD, "layout": PLACED}, headers=admin.headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["body"]["layout"] == PLACED
    # the marker names no field: renaming one leaves it alone
    renamed = client.post(
        f"{ENTITY}/draft/rename-field", json={"from": "phone", "to": "mobile"}, headers=admin.headers
    )
    assert renamed.status_code == 200, renamed.get_json()
    assert renamed.get_json()["draft"]["body"]["layout"] == [
        {"label": {"en": "Money"}, "fields": ["budget"]},
        {"unsectioned": True},
        {"label": {"en": "Contact"}, "fields": ["mobile"]},
    ]


def test_a_bad_marker_is_refused_where_it_is(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, LEAD)
    cases: list[tuple[list[Any], str, str]] = [
        # a marker holds nothing else
        ([{"unsectioned": True, "fields": ["name"]}], "/layout/0", "fields"),
        ([{"unsectioned": False}], "/layout/0/unsectioned", "True"),
        # a section still needs its fields
        ([{"label": "Money"}], "/layout/0", "fields"),
        # one place only
        ([{"unsectioned": True}, {"fields": ["budget"]}, {"unsectioned": True}], "/layout/2", "twice"),
    ]
    for layout, pointer, words in cases:
        answer = client.put(ENTITY, json={**LEAD, "layout": layout}, headers=admin.headers)
        assert_problem(answer, 422)
        errors = answer.get_json()["errors"]
        assert pointer in errors, (layout, errors)
        assert words in errors[pointer], (layout, errors)


def test_the_record_form_and_page_put_the_fields_of_no_section_at_the_marker(
    client: FlaskClient, admin: Member
) -> None:
    publish_entity(client, admin, {**LEAD, "layout": PLACED})
    made = client.post(
        "/api/v1/apps/crm/records/lead",
        json={"name": "Acme", "phone": "555", "budget": 10, "note": "hi"},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.get_json()
    _sign_in(client, admin)

    form = client.get(f"{PAGES}/new").get_data(as_text=True)
    assert _form_order(form) == [
        ("Money", "budget"),
        ("-", "name"),
        ("-", "note"),
        ("Contact", "phone"),
    ]

    page = client.get(f"{PAGES}/{made.get_json()['id']}").get_data(as_text=True)
    keys = re.findall(r'<dd data-field="(\w+)">', page)
    assert keys == ["budget", "name", "note", "phone"]
    headings = re.findall(r'<h3 class="record-section" data-testid="record-section">([^<]*)</h3>', page)
    assert headings == ["Money", "Contact"]
    # the fields of no section, after a section and without a heading, are set apart from it
    assert page.count("record-fields-loose") == 1
    assert page.index("Money") < page.index("record-fields-loose") < page.index('data-field="name"')


def test_a_layout_without_the_marker_still_shows_the_fields_of_no_section_first(
    client: FlaskClient, admin: Member
) -> None:
    publish_entity(client, admin, {**LEAD, "layout": [PLACED[0], PLACED[2]]})
    _sign_in(client, admin)
    form = client.get(f"{PAGES}/new").get_data(as_text=True)
    assert [name for name, _key in _form_order(form)] == ["-", "-", "Money", "Contact"]
    made = client.post("/api/v1/apps/crm/records/lead", json={"name": "Acme"}, headers=admin.headers)
    page = client.get(f"{PAGES}/{made.get_json()['id']}").get_data(as_text=True)
    assert "record-fields-loose" not in page


def test_the_palette_gives_each_type_its_filter_operators(
    app: Flask, client: FlaskClient, admin: Member
) -> None:
    types = app.extensions["opsloom.plugins"].registries.field_types
    answer = client.get("/api/v1/designer/field-types", headers=admin.headers)
    assert answer.status_code == 200
    items = {t["name"]: t for t in answer.get_json()["items"]}
    for name, ftype in types.items():
        assert items[name]["filter_operators"] == list(ftype.filter_operators), name
    assert "between" in items["number"]["filter_operators"]
    assert "contains" in items["text"]["filter_operators"]


def test_the_designer_page_carries_its_texts_and_the_condition_builder(
    client: FlaskClient, admin: Member
) -> None:
    import json

    publish_entity(client, admin, LEAD)
    _sign_in(client, admin)
    html = client.get("/apps/crm/entities/lead/design").get_data(as_text=True)
    # the shared builder loads before the designer, as on the record list before records.js
    assert html.index("condition_builder.js") < html.index("designer.js")
    texts = json.loads(
        re.search(r'<script type="application/json" id="designer-texts">(.*?)</script>', html, re.S).group(1)
    )
    # placeholders are left for the script to fill in
    assert "%(name)s" in texts["removeSectionTitle"]
    assert {"%(count)s", "%(fields)s", "%(where)s"} <= set(
        re.findall(r"%\(\w+\)s", texts["removeSectionText"])
    )
    assert texts["filterOps"]["between"] == "between"
    for testid in ("rollup-filter-builder", "rollup-filter-as-json", "remove-section-dialog", "canvas"):
        assert f'data-testid="{testid}"' in html
    listing = client.get(PAGES).get_data(as_text=True)
    assert listing.index("condition_builder.js") < listing.index("records.js")
    assert client.get("/static/form-engine/condition_builder.js").status_code == 200
    assert client.get("/static/form-engine/records/condition_builder.js").status_code == 200
