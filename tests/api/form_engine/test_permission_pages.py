"""The permissions pages through the browser session: matrix, grant form, errors, removal, "view as this role"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from markupsafe import escape
from sqlalchemy import select

from opsloom.platform.models import Role
from tests.api.test_web_admin import csrf_of, post, sign_in, text_of
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

URL = "/api/v1/apps/crm/records/customer"
PAGE = "/apps/crm/permissions"
EDIT = "/apps/crm/permissions/staff/customer"
XSS = "<script>alert(1)</script>"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customers", "zh": "客户"},
    "fields": [
        {"key": "name", "type": "text", "required": True, "label": f"Name {XSS}"},
        {"key": "phone", "type": "phone"},
        {"key": "notes", "type": "textarea"},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        {"key": "owner", "type": "user"},
    ],
}

#: a grant form with nothing allowed and every field editable; tests override what they need
BLANK = {f"scope-{a}": "" for a in ("create", "read", "update", "delete", "import", "export")} | {
    f"field-{f['key']}": "editable" for f in CUSTOMER["fields"]
}


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    for name, phone in (("Wang", "13812345678"), ("Li", "13900001111")):
        response = client.post(
            URL, json={"name": name, "phone": phone, "notes": "secret"}, headers=admin.headers
        )
        assert response.status_code == 201, response.get_json()
    sign_in(client, admin)
    return admin


def _save(client: FlaskClient, **values: str) -> Any:
    return post(client, EDIT, BLANK | values)


def _cells(page: str) -> list[str]:
    return re.findall(r"<td>([^<]*)</td>", page)


def test_admin_sees_the_matrix_with_scopes_and_links(client: FlaskClient, crm: Member) -> None:
    assert (
        client.put(
            "/api/v1/apps/crm/permissions/staff/customer",
            json={"read": "department", "update": "own", "fields": {"phone": "masked"}},
            headers=crm.headers,
        ).status_code
        == 200
    )
    page = client.get(PAGE, headers={"Accept-Language": "en"})
    assert page.status_code == 200
    body = text_of(page)
    assert 'data-testid="permission-matrix"' in body
    assert "read: my department" in body
    assert "update: own records" in body
    assert "Field rules: 1" in body
    assert f'href="{EDIT}"' in body
    assert "administrator: everything" in body  # the admin role's row
    chinese = text_of(client.get(PAGE, headers={"Accept-Language": "zh-CN"}))
    assert "权限" in chinese
    assert "客户" in chinese


def test_staff_and_anonymous_visitors_are_kept_out(
    client: FlaskClient, crm: Member, staff: Member, snapshot: Any
) -> None:
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert client.get(PAGE).status_code == 302  # to the sign-in page
    sign_in(client, staff)
    for path in (PAGE, EDIT):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "administrators" in text_of(response)
    before = snapshot()
    assert _save(client, **{"scope-read": "all"}).status_code == 403
    assert post(client, f"{EDIT}/delete", {}).status_code == 403
    assert snapshot() == before


def test_saving_through_the_form_changes_what_staff_see(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    assert client.get(URL, headers=staff.headers).status_code == 403
    response = _save(client, **{"scope-read": "all", "field-phone": "masked", "field-notes": "hidden"})
    assert response.status_code == 302, text_of(response)
    assert response.headers["Location"].endswith(EDIT)
    items = client.get(URL, headers=staff.headers).get_json()["items"]
    assert {item["phone"] for item in items} == {"138****5678", "139****1111"}
    assert all("notes" not in item for item in items)
    grant = client.get("/api/v1/apps/crm/permissions", headers=crm.headers).get_json()
    staff_row = next(r for r in grant["roles"] if r["key"] == "staff")
    assert staff_row["grants"]["customer"]["grant"] == {
        "read": "all",
        "fields": {"phone": "masked", "notes": "hidden"},
    }
    # the form shows the saved grant again
    page = text_of(client.get(EDIT))
    assert '<option value="masked" selected>' in page
    assert '<option value="hidden" selected>' in page
    # an expression scope is written as a formula and shown as one
    response = _save(client, **{"scope-read": "expr", "expr-read": 'level = "vip"'})
    assert response.status_code == 302, text_of(response)
    assert client.get(URL, headers=staff.headers).get_json()["items"] == []
    assert escape('level = "vip"') in text_of(client.get(EDIT))
    # removing the grant takes the access away again
    assert post(client, f"{EDIT}/delete", {}).status_code == 302
    assert client.get(URL, headers=staff.headers).status_code == 403
    assert "no access" in text_of(client.get(PAGE, headers={"Accept-Language": "en"}))


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ({"scope-read": "expr", "expr-read": "level = = 3"}, "expected a value after"),
        ({"scope-read": "expr", "expr-read": ""}, "Write the condition"),
        ({"scope-update": "expr", "expr-update": "nope = 1"}, "nope"),
    ],
)
def test_an_invalid_expression_shows_its_error_and_changes_nothing(
    client: FlaskClient, crm: Member, snapshot: Any, values: dict[str, str], shown: str
) -> None:
    before = snapshot()
    response = _save(client, **values)
    assert response.status_code == 422
    body = text_of(response)
    assert "has-error" in body
    assert escape(shown) in body
    typed = next(v for k, v in values.items() if k.startswith("expr-"))
    assert f'value="{escape(typed)}"' in body  # the form keeps what was typed
    assert snapshot() == before


def test_masked_is_offered_only_where_the_type_can_mask(client: FlaskClient, crm: Member) -> None:
    page = text_of(client.get(EDIT))
    phone = page.split('name="field-phone"')[1].split("</select>")[0]
    owner = page.split('name="field-owner"')[1].split("</select>")[0]
    assert 'value="masked"' in phone
    assert 'value="masked"' not in owner
    assert 'value="hidden"' in owner  # hiding is always allowed


def test_the_preview_shows_what_the_role_sees(client: FlaskClient, crm: Member) -> None:
    assert (
        _save(client, **{"scope-read": "all", "field-phone": "masked", "field-notes": "hidden"}).status_code
        == 302
    )
    body = text_of(client.get(EDIT))
    preview = body.split('data-testid="role-preview"')[1]
    assert {"138****5678", "139****1111"} <= set(_cells(preview))
    assert "13812345678" not in preview
    assert "secret" not in preview
    assert XSS not in body  # admin-authored labels are escaped
    assert escape(XSS) in body
    record = preview.split('data-testid="preview-record"')[1]
    assert "hidden from this role" in record
    # one chosen record; a record outside the role's scope is not shown
    assert (
        _save(
            client, **{"scope-read": "expr", "expr-read": 'name = "Li"', "field-phone": "masked"}
        ).status_code
        == 302
    )
    preview = text_of(client.get(EDIT, query_string={"record": 1})).split('data-testid="role-preview"')[1]
    assert "139****1111" in preview
    assert "138****" not in preview
    assert "cannot see record 1" in preview


def test_unknown_role_or_entity_is_404(client: FlaskClient, crm: Member) -> None:
    assert client.get("/apps/crm/permissions/nope/customer").status_code == 404
    assert client.get("/apps/crm/permissions/staff/nope").status_code == 404
    assert client.get("/apps/nope/permissions").status_code == 404


def test_every_string_of_the_pages_is_translated() -> None:
    root = Path(__file__).resolve().parents[3]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    method_map = [
        ("permission_views.py", "python"),
        ("templates/form_engine/permissions.html", "jinja2"),
        ("templates/form_engine/permissions_*.html", "jinja2"),
    ]
    marked = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(root / "opsloom" / "form_engine"), method_map=method_map, keywords=keywords
        )
    }
    assert len(marked) > 40
    po = root / "opsloom" / "platform" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        chinese = {m.id: m.string for m in read_po(handle) if m.id}
    assert sorted(s for s in marked if not chinese.get(s)) == []


def test_a_grant_that_does_not_validate_is_marked_ignored(
    app: Flask, client: FlaskClient, crm: Member
) -> None:
    with app.extensions["opsloom.db"].session_scope() as session:
        role = session.scalar(select(Role).where(Role.workspace_id == crm.workspace_id, Role.key == "staff"))
        role.permissions = {"entity:crm.customer": {"read": "everyone"}, "entity:crm.*": {"read": "all"}}
    page = text_of(client.get(PAGE, headers={"Accept-Language": "en"}))
    assert "invalid: ignored" in page
    assert "The saved grant is invalid" in text_of(client.get(EDIT, headers={"Accept-Language": "en"}))


def test_the_condition_placeholder_keeps_its_quotes_inside_the_attribute(
    client: FlaskClient, crm: Member
) -> None:
    page = text_of(client.get(EDIT, headers={"Accept-Language": "en"}))
    assert 'placeholder="Condition, e.g. level = &#34;vip&#34;"' in page
