"""The record pages: list (columns, masks, sort, filter, search, bulk), saved views API, forms and rules."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_api_base import assert_problem
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

API = "/api/v1/apps/crm/records/customer"
PAGES = "/apps/crm/records/customer"
VIEWS = "/api/v1/apps/crm/views/customer"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customer", "zh": "客户"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "label": {"en": "Name <b>", "zh": "名称"}},
        {"key": "phone", "type": "phone"},
        {"key": "notes", "type": "textarea"},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        {"key": "vip_since", "type": "date"},
        {"key": "amount", "type": "currency"},
        {"key": "active", "type": "boolean"},
        {"key": "tags", "type": "multi_select", "options": ["new", "churn"]},
        {
            "key": "contacts",
            "type": "subtable",
            "fields": [{"key": "who", "type": "text"}, {"key": "age", "type": "number"}],
        },
    ],
    "visible_if": {"vip_since": {"==": [{"var": "level"}, "vip"]}},
    "required_if": {"vip_since": {"==": [{"var": "level"}, "vip"]}},
}


def _text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def _csrf(client: FlaskClient, path: str = "/") -> str:
    match = _CSRF.search(_text(client.get(path)))
    assert match, path
    return match.group(1)


def _sign_in(client: FlaskClient, member: Member) -> None:
    token = _csrf(client, "/login")
    answer = client.post(
        "/login", data={"username": member.username, "password": member.password, "csrf_token": token}
    )
    assert answer.status_code == 302


def _post(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    return client.post(path, data={**data, "csrf_token": _csrf(client)}, **kwargs)


def _make(client: FlaskClient, member: Member, values: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(API, json=values, headers=member.headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    return admin


def _grant(client: FlaskClient, admin: Member, grant: dict[str, Any]) -> None:
    answer = client.put("/api/v1/apps/crm/permissions/staff/customer", json=grant, headers=admin.headers)
    assert answer.status_code == 200, answer.get_json()


def _ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-id="(\d+)">', html)]


# ---------------------------------------------------------------- list


def test_app_page_links_the_entities_the_user_may_read(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    _sign_in(client, staff)
    assert 'data-testid="records-customer"' not in _text(client.get("/apps/crm"))
    _grant(client, crm, {"read": "all"})
    page = _text(client.get("/apps/crm"))
    assert 'data-testid="records-customer"' in page
    assert f'href="{PAGES}"' in page


def test_list_shows_masked_values_and_leaves_hidden_fields_out(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    _grant(client, crm, {"read": "all", "fields": {"phone": "masked", "notes": "hidden"}})
    _make(client, crm, {"name": "Wang", "phone": "13812345678", "notes": "secret note"})
    _sign_in(client, staff)
    page = _text(client.get(PAGES))
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "secret note" not in page
    assert 'data-col="notes"' not in page
    # masked columns cannot be sorted; the others can
    assert 'data-sort="phone"' not in page
    assert 'data-sort="name"' in page
    # the label is escaped like every admin-authored text
    assert "Name &lt;b&gt;" in page
    # the filter builder does not offer the masked field
    assert "&#34;key&#34;: &#34;phone&#34;" not in page
    assert "&#34;key&#34;: &#34;name&#34;" in page


def test_sort_filter_search_and_next_page(client: FlaskClient, crm: Member) -> None:
    ids = [
        _make(
            client,
            crm,
            {
                "name": f"n{i:02d}",
                "level": "vip" if i % 2 else "normal",
                "vip_since": "2026-01-01" if i % 2 else None,
            },
        )["id"]
        for i in range(30)
    ]
    _sign_in(client, crm)
    first = _text(client.get(PAGES, query_string={"sort": "name"}))
    assert _ids(first) == ids[:25]
    cursor = re.search(r'href="([^"]*cursor=[^"]*)"', first)
    assert cursor
    assert _ids(_text(client.get(cursor.group(1).replace("&amp;", "&")))) == ids[25:]
    assert _ids(_text(client.get(PAGES, query_string={"sort": "-name"})))[0] == ids[-1]
    vip = json.dumps({"==": [{"var": "level"}, "vip"]})
    assert set(_ids(_text(client.get(PAGES, query_string={"filter": vip})))) == set(ids[1::2])
    assert _ids(_text(client.get(PAGES, query_string={"q": "n07"}))) == [ids[7]]
    # htmx asks for the table only
    fragment = _text(
        client.get(
            PAGES, query_string={"q": "n07"}, headers={"HX-Request": "true", "HX-Target": "records-results"}
        )
    )
    assert "<html" not in fragment
    assert _ids(fragment) == [ids[7]]
    # a bad filter or sort is explained, not a crash
    bad = _text(client.get(PAGES, query_string={"filter": "{nope"}))
    assert 'data-testid="list-error"' in bad
    assert 'data-testid="list-error"' in _text(client.get(PAGES, query_string={"sort": "nothing"}))
    # the export link carries the current filter
    page = _text(client.get(PAGES, query_string={"filter": vip}))
    export = re.search(r'data-testid="export-csv" href="([^"]+)"', page)
    assert export
    assert "format=csv" in export.group(1)
    assert "filter=" in export.group(1)


def test_bulk_delete_and_set_report_per_row(client: FlaskClient, crm: Member) -> None:
    a = _make(client, crm, {"name": "A"})
    b = _make(client, crm, {"name": "B"})
    c = _make(client, crm, {"name": "C"})
    _sign_in(client, crm)
    # setting a field uses each record's version: a stale one is reported, the others done
    answer = _post(
        client,
        f"{PAGES}/bulk",
        {"action": "set", "field": "amount", "value": "¥12.50", "ids": [f"{a['id']}:1", f"{b['id']}:7"]},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    report = _text(answer)
    assert f"#{b['id']}:" in report
    assert "stale" in report
    assert client.get(f"{API}/{a['id']}", headers=crm.headers).get_json()["amount"] == 12.5, report
    assert client.get(f"{API}/{b['id']}", headers=crm.headers).get_json()["amount"] is None
    answer = _post(client, f"{PAGES}/bulk", {"action": "delete", "ids": [f"{a['id']}:2", f"{c['id']}:1"]})
    assert answer.status_code == 200
    assert_problem(client.get(f"{API}/{a['id']}", headers=crm.headers), 404)
    assert_problem(client.get(f"{API}/{c['id']}", headers=crm.headers), 404)
    assert client.get(f"{API}/{b['id']}", headers=crm.headers).status_code == 200


# ---------------------------------------------------------------- saved views


def test_saved_views_validate_and_stay_private(client: FlaskClient, crm: Member, staff: Member) -> None:
    _grant(client, crm, {"read": "all"})
    body = {
        "filter": {"==": [{"var": "level"}, "vip"]},
        "sort": "-name",
        "fields": ["name", "level"],
        "q": "w",
    }
    mine = client.post(VIEWS, json={"name": "VIPs", "body": body}, headers=crm.headers)
    assert mine.status_code == 201, mine.get_json()
    view = mine.get_json()
    assert view["body"] == body
    assert view["mine"]
    assert not view["shared"]
    shared = client.post(
        VIEWS, json={"name": "Team", "shared": True, "body": {"sort": "name"}}, headers=crm.headers
    )
    assert shared.status_code == 201
    # bad input
    for bad in (
        {"name": "x", "body": {"filter": {"nope": [1]}}},
        {"name": "x", "body": {"sort": "-missing"}},
        {"name": "x", "body": {"fields": ["ghost"]}},
        {"name": "x", "body": {"filter": {"==": [{"var": "ghost"}, 1]}}},
        {"name": "x", "body": {"colour": "red"}},
        {"name": "", "body": {}},
        {"name": "x", "extra": 1},
    ):
        assert_problem(client.post(VIEWS, json=bad, headers=crm.headers), 422)
    # staff see only the shared view; another's private one is 404, a shared one not theirs to delete
    listed = client.get(VIEWS, headers=staff.headers).get_json()["items"]
    assert [v["name"] for v in listed] == ["Team"]
    assert_problem(client.get(f"{VIEWS}/{view['id']}", headers=staff.headers), 404)
    assert_problem(client.delete(f"{VIEWS}/{view['id']}", headers=staff.headers), 404)
    assert_problem(client.delete(f"{VIEWS}/{shared.get_json()['id']}", headers=staff.headers), 403)
    # the list page offers the views and applies one through its query string
    _sign_in(client, crm)
    page = _text(client.get(PAGES))
    assert "VIPs" in page
    assert "Team" in page
    assert client.delete(f"{VIEWS}/{view['id']}", headers=crm.headers).status_code == 204
    assert [v["name"] for v in client.get(VIEWS, headers=crm.headers).get_json()["items"]] == ["Team"]


def test_saved_views_need_read_permission(client: FlaskClient, crm: Member, staff: Member) -> None:
    assert_problem(client.get(VIEWS, headers=staff.headers), 403)
    assert_problem(client.post(VIEWS, json={"name": "x"}, headers=staff.headers), 403)


# ---------------------------------------------------------------- forms


def test_create_form_parses_text_and_shows_errors_beside_fields(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    _sign_in(client, crm)
    form = _text(client.get(f"{PAGES}/new"))
    assert 'name="name"' in form
    assert 'data-field="vip_since"' in form
    assert re.search(r'data-field="vip_since"[^>]*hidden', form)  # level defaults to normal
    before = snapshot()
    bad = _post(
        client,
        f"{PAGES}/new",
        {"name": "", "amount": "abc", "level": "vip", "contacts.0.who": "Li", "contacts.0.age": "old"},
    )
    assert bad.status_code == 422
    html = _text(bad)
    for key in ("name", "amount", "vip_since"):
        assert re.search(rf'data-error-for="{key}">[^<]+<', html), key
    assert "&#39;old&#39; is not a number" in html  # beside the subtable cell
    assert 'value="Li"' in html  # what was typed comes back
    assert snapshot() == before
    good = _post(
        client,
        f"{PAGES}/new",
        {
            "name": "Wang",
            "level": "vip",
            "vip_since": "2026-03-01",
            "amount": "¥1,234.50",
            "active": ["0", "1"],
            "tags": ["new", "churn"],
            "contacts.0.who": "Li",
            "contacts.0.age": "41",
            "contacts.0.id": "",
            "contacts.3.who": "",
            "contacts.3.age": "",
        },
    )
    assert good.status_code == 302, _text(good)
    record_id = int(good.headers["Location"].rsplit("/", 1)[1])
    record = client.get(f"{API}/{record_id}", headers=crm.headers).get_json()
    assert record["amount"] == 1234.5
    assert record["active"] is True
    assert record["tags"] == ["new", "churn"]
    assert record["vip_since"] == "2026-03-01"
    assert [(r["who"], r["age"]) for r in record["contacts"]] == [("Li", 41)]
    page = _text(client.get(good.headers["Location"]))
    assert "Wang" in page
    assert 'data-testid="timeline"' in page


def test_edit_with_a_stale_version_is_a_conflict(client: FlaskClient, crm: Member) -> None:
    record = _make(client, crm, {"name": "Old"})
    _sign_in(client, crm)
    form = _text(client.get(f"{PAGES}/{record['id']}/edit"))
    assert 'name="_version" value="1"' in form
    assert 'value="Old"' in form
    changed = client.patch(
        f"{API}/{record['id']}", json={"name": "Other", "_version": 1}, headers=crm.headers
    )
    assert changed.status_code == 200
    stale = _post(
        client, f"{PAGES}/{record['id']}/edit", {"name": "Mine", "_version": "1", "level": "normal"}
    )
    assert stale.status_code == 409
    assert 'data-testid="stale"' in _text(stale)
    assert client.get(f"{API}/{record['id']}", headers=crm.headers).get_json()["name"] == "Other"
    fresh = _post(
        client, f"{PAGES}/{record['id']}/edit", {"name": "Mine", "_version": "2", "level": "normal"}
    )
    assert fresh.status_code == 302
    assert client.get(f"{API}/{record['id']}", headers=crm.headers).get_json()["name"] == "Mine"


def test_rules_endpoint_answers_visibility_and_requirement(client: FlaskClient, crm: Member) -> None:
    _sign_in(client, crm)
    normal = _post(client, f"{PAGES}/rules", {"level": "normal", "amount": "not yet a number"})
    assert normal.status_code == 200
    assert normal.get_json() == {"hidden": ["vip_since"], "required": ["name"]}
    vip = _post(client, f"{PAGES}/rules", {"level": "vip"}, headers={"HX-Request": "true"})
    assert vip.get_json() == {"hidden": [], "required": ["name", "vip_since"]}
    assert json.loads(vip.headers["HX-Trigger"])["opsloom:rules"] == vip.get_json()


def test_staff_without_create_cannot_open_the_form(client: FlaskClient, crm: Member, staff: Member) -> None:
    _grant(client, crm, {"read": "all"})
    _sign_in(client, staff)
    assert client.get(f"{PAGES}/new").status_code == 403
    assert 'data-testid="new-record"' not in _text(client.get(PAGES))


def test_record_page_delete(client: FlaskClient, crm: Member) -> None:
    record = _make(client, crm, {"name": "Gone"})
    _sign_in(client, crm)
    answer = _post(client, f"{PAGES}/{record['id']}/delete", {})
    assert answer.status_code == 302
    assert_problem(client.get(f"{API}/{record['id']}", headers=crm.headers), 404)


# ---------------------------------------------------------------- languages


def test_every_record_page_string_is_translated() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[3]
    translations = root / "opsloom" / "platform" / "translations"
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    method_map = [
        ("record_views.py", "python"),
        ("templates/form_engine/records*.html", "jinja2"),
        ("templates/form_engine/widgets.html", "jinja2"),
    ]
    marked = {
        message if isinstance(message, str) else message[0]
        for _f, _l, message, _c, _x in extract_from_dir(
            str(root / "opsloom" / "form_engine"), method_map=method_map, keywords=keywords
        )
    }
    assert len(marked) > 50
    with (translations / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        chinese = {m.id: m.string for m in read_po(handle) if m.id}
    with (translations / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert sorted(s for s in marked if not chinese.get(s)) == []
    assert sorted(marked - template) == []


def test_a_reader_sees_no_edit_or_bulk_controls(client: FlaskClient, crm: Member, staff: Member) -> None:
    _grant(client, crm, {"read": "all"})
    record = _make(client, crm, {"name": "Wang"})
    _sign_in(client, staff)
    listing = _text(client.get(PAGES))
    assert 'class="bulk-bar"' not in listing
    assert 'data-testid="edit-record"' not in _text(client.get(f"{PAGES}/{record['id']}"))


# ---------------------------------------------------------------- layout sections

SECTIONED: dict[str, Any] = {
    **CUSTOMER,
    "layout": [
        {"label": {"en": "Money", "zh": "金额"}, "fields": ["amount", "level"]},
        {"label": "Contact", "fields": ["phone", "notes"]},
        {"fields": ["vip_since"]},
    ],
}


def _form_order(html: str) -> list[tuple[str, str]]:
    """(section legend or "", field key) in page order; "-" for fields outside any section."""
    out: list[tuple[str, str]] = []
    for part in re.split(r"(?=<fieldset)|(?=</fieldset>)", html):
        legend = re.search(r"<legend>([^<]*)</legend>", part) if part.startswith("<fieldset") else None
        name = legend.group(1) if legend else ("" if part.startswith("<fieldset") else "-")
        out += [(name, key) for key in re.findall(r'class="field rf-field[^"]*"\s+data-field="(\w+)"', part)]
    return out


def test_the_form_groups_fields_under_the_layout_sections(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, SECTIONED)
    _sign_in(client, admin)
    html = _text(client.get(f"{PAGES}/new"))
    # fields of no section first (definition order), then the sections in layout order, fields in theirs
    assert _form_order(html) == [
        ("-", "name"),
        ("-", "active"),
        ("-", "tags"),
        ("-", "contacts"),
        ("Money", "amount"),
        ("Money", "level"),
        ("Contact", "phone"),
        ("Contact", "notes"),
        ("", "vip_since"),
    ]
    # vip_since is hidden by its condition (level is "normal"): so is its section, the only field in it
    assert re.search(r'<fieldset class="rf-section stack" data-testid="form-section" hidden>\s*<div', html)
    assert html.count('data-testid="form-section"') == 3


def test_the_record_page_shows_the_sections_in_order(client: FlaskClient, admin: Member) -> None:
    publish_entity(client, admin, SECTIONED)
    record = _make(client, admin, {"name": "Acme", "phone": "13800138000", "amount": "12.50"})
    _sign_in(client, admin)
    html = _text(client.get(f"{PAGES}/{record['id']}"))
    headings = re.findall(r'<h3 class="record-section" data-testid="record-section">([^<]*)</h3>', html)
    assert headings == [
        "Money",
        "Contact",
    ]  # vip_since is not in the record (hidden): its section is left out
    keys = re.findall(r'<dd data-field="(\w+)">', html)
    assert keys.index("name") < keys.index("amount") < keys.index("level") < keys.index("phone")
    assert html.index("Money") < html.index('data-field="amount"') < html.index("Contact")


def test_a_body_without_layout_renders_as_before(client: FlaskClient, crm: Member) -> None:
    _sign_in(client, crm)
    html = _text(client.get(f"{PAGES}/new"))
    assert "<fieldset" not in html
    assert [key for _s, key in _form_order(html)] == [f["key"] for f in CUSTOMER["fields"]]
    record = _make(client, crm, {"name": "Acme"})
    assert 'data-testid="record-section"' not in _text(client.get(f"{PAGES}/{record['id']}"))


def test_layout_sections_is_pure_and_puts_loose_fields_first() -> None:
    from opsloom.form_engine.record_forms import layout_sections

    layout = [{"label": {"en": "B"}, "fields": ["b", "a", "gone"]}, {"label": "Empty", "fields": ["x"]}]
    sections = layout_sections(
        layout,
        ["a", "b", "c"],
        key=lambda k: k,
        label=lambda v, d: (v or {}).get("en", d) if isinstance(v, dict) else (v or d),
    )
    assert [(s.label, s.items) for s in sections] == [(None, ["c"]), ("B", ["b", "a"])]
    assert [
        (s.label, s.items) for s in layout_sections(None, ["a"], key=lambda k: k, label=lambda v, d: d)
    ] == [(None, ["a"])]
