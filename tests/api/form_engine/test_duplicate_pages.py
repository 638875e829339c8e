"""The "Possible duplicates" pages: groups with masked values, permissions, the merge form, refusals, languages."""

from __future__ import annotations

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

API = "/api/v1/apps/crm/records"
PAGES = "/apps/crm/records/customer"
DUPLICATES = f"{PAGES}/duplicates"
MERGE = f"{PAGES}/merge"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
ROOT = Path(__file__).resolve().parents[3]
#: the files of these pages, as the translation test below extracts them
SOURCES = (
    ("opsloom/form_engine/duplicate_views.py", "python"),
    ("opsloom/form_engine/templates/form_engine/duplicates.html", "jinja2"),
    ("opsloom/form_engine/templates/form_engine/merge.html", "jinja2"),
)


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


def _make(client: FlaskClient, member: Member, entity: str, values: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"{API}/{entity}", json=values, headers=member.headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _grant(client: FlaskClient, admin: Member, grant: dict[str, Any]) -> None:
    answer = client.put("/api/v1/apps/crm/permissions/staff/customer", json=grant, headers=admin.headers)
    assert answer.status_code == 200, answer.get_json()


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    """customer (phone, e-mail, code, contacts) <- order."""
    publish_entity(
        client,
        admin,
        {
            "key": "customer",
            "label": {"en": "Customer", "zh": "客户"},
            "title_field": "name",
            "fields": [
                {"key": "name", "type": "text", "required": True, "label": {"en": "Name", "zh": "名称"}},
                {"key": "phone", "type": "phone", "label": {"en": "Phone", "zh": "电话"}},
                {"key": "email", "type": "email"},
                {"key": "code", "type": "text", "unique": True},
                {"key": "contacts", "type": "subtable", "fields": [{"key": "who", "type": "text"}]},
            ],
        },
    )
    publish_entity(
        client,
        admin,
        {
            "key": "order",
            "fields": [
                {"key": "customer", "type": "relation", "target": "customer", "on_delete": "restrict"},
                {"key": "number", "type": "text"},
            ],
        },
    )
    return admin


def _pair(client: FlaskClient, crm: Member) -> tuple[dict[str, Any], dict[str, Any]]:
    keep = _make(client, crm, "customer", {"name": "Wang Wei", "contacts": [{"who": "wife"}]})
    merge = _make(
        client,
        crm,
        "customer",
        {"name": "Wang W", "phone": "13812345678", "code": "C1", "contacts": [{"who": "aide"}]},
    )
    return keep, merge


# ---------------------------------------------------------------- the groups


def test_the_page_lists_a_phone_group_with_masked_values(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    first = _make(client, crm, "customer", {"name": "Li Lei", "phone": "138-1234-5678"})["id"]
    second = _make(client, crm, "customer", {"name": "Han Meimei", "phone": "+86 138 1234 5678"})["id"]
    _make(client, crm, "customer", {"name": "Lone", "phone": "13900002222"})
    _grant(client, crm, {"read": "all", "update": "all", "delete": "all", "fields": {"phone": "masked"}})
    _sign_in(client, staff)
    assert f'href="{DUPLICATES}"' in _text(client.get(PAGES))
    page = _text(client.get(DUPLICATES))
    assert "Same phone number in Phone: 138****5678" in page
    assert "13812345678" not in page
    assert "same phone" not in page  # the API's English reason is not shown
    assert page.count('data-testid="duplicate-group"') == 1
    for record_id in (first, second):
        assert f'href="{PAGES}/{record_id}"' in page
    assert f'href="{MERGE}?keep={first}&amp;merge={second}"' in page
    # the merge form shows the masked values too, and escapes the names
    form = _text(client.get(MERGE, query_string={"keep": first, "merge": second}))
    assert "138****5678" in form
    assert "13812345678" not in form
    # a masked field is not the reader's to choose
    assert 'name="take_phone"' not in form
    assert 'name="take_name"' in form


def test_staff_without_update_permission_gets_403(client: FlaskClient, crm: Member, staff: Member) -> None:
    keep, merge = _pair(client, crm)
    _grant(client, crm, {"read": "all"})
    _sign_in(client, staff)
    assert "Possible duplicates" not in _text(client.get(PAGES))
    assert client.get(DUPLICATES).status_code == 403
    assert client.get(MERGE, query_string={"keep": keep["id"], "merge": merge["id"]}).status_code == 403
    assert client.get("/apps/crm/records/nothing/duplicates").status_code == 404


def test_the_load_more_link_follows_the_cursor(
    client: FlaskClient, crm: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloom.form_engine import duplicate_views

    monkeypatch.setattr(duplicate_views, "PAGE_SIZE", 1)
    for phone in ("13800000001", "13800000002"):
        _make(client, crm, "customer", {"name": "A", "phone": phone})
        _make(client, crm, "customer", {"name": "B", "phone": phone})
    _sign_in(client, crm)
    pages = [_text(client.get(DUPLICATES))]
    while more := re.search(r'href="([^"]+)" data-testid="load-more"', pages[-1]):
        assert len(pages) < 5
        pages.append(_text(client.get(more.group(1).replace("&amp;", "&"))))
    # one group per page; the last page may be empty (the finder checks its other rules)
    assert "13800000001" in pages[0]
    assert "13800000002" not in pages[0]
    assert "13800000002" in pages[1]
    assert sum(page.count('data-testid="duplicate-group"') for page in pages) == 2
    assert 'data-testid="load-more"' not in pages[-1]


# ---------------------------------------------------------------- the merge form


def test_the_merge_form_merges(client: FlaskClient, crm: Member) -> None:
    keep, merge = _pair(client, crm)
    order = _make(client, crm, "order", {"customer": merge["id"], "number": "N1"})
    _sign_in(client, crm)
    url = f"{MERGE}?keep={keep['id']}&merge={merge['id']}"
    form = _text(client.get(url))
    assert 'name="keep_version" value="1"' in form
    assert 'name="merge_version" value="1"' in form
    assert 'name="append_contacts"' in form
    assert f'href="{MERGE}?keep={merge["id"]}&amp;merge={keep["id"]}"' in form  # the swap
    answer = client.post(
        url,
        data={
            "csrf_token": _csrf(client),
            "keep_version": "1",
            "merge_version": "1",
            "take_name": "keep",
            "take_phone": "merge",
            "take_code": "merge",
            "append_contacts": "1",
        },
    )
    assert answer.status_code == 302, _text(answer)
    assert answer.headers["Location"] == f"{PAGES}/{keep['id']}"
    assert f"Record #{merge['id']} was merged into this record." in _text(
        client.get(answer.headers["Location"])
    )
    kept = client.get(f"{API}/customer/{keep['id']}", headers=crm.headers).get_json()
    assert (kept["name"], kept["phone"], kept["code"]) == ("Wang Wei", "13812345678", "C1")
    assert [row["who"] for row in kept["contacts"]] == ["wife", "aide"]
    repointed = client.get(f"{API}/order/{order['id']}", headers=crm.headers).get_json()
    assert repointed["customer"] == keep["id"]
    assert_problem(client.get(f"{API}/customer/{merge['id']}", headers=crm.headers), 404)


def test_a_stale_version_shows_the_conflict_and_changes_nothing(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    keep, merge = _pair(client, crm)
    _make(client, crm, "order", {"customer": merge["id"], "number": "N1"})
    _sign_in(client, crm)
    url = f"{MERGE}?keep={keep['id']}&merge={merge['id']}"
    token = _csrf(client)
    before = snapshot()
    answer = client.post(
        url, data={"csrf_token": token, "keep_version": "7", "merge_version": "1", "take_phone": "merge"}
    )
    assert answer.status_code == 409
    page = _text(answer)
    assert 'data-testid="merge-problem"' in page
    assert "was changed by someone else (it is at version 1)" in page
    # the form is shown again with the current versions and the reader's choice
    assert 'name="keep_version" value="1"' in page
    assert re.search(r'name="take_phone" value="merge" checked', page)
    assert snapshot() == before
    # a merge of a record that is gone shows its 404 in place, also changing nothing
    gone = client.post(
        f"{MERGE}?keep={keep['id']}&merge=999999", data={"csrf_token": token, "keep_version": "1"}
    )
    assert gone.status_code == 404
    assert 'data-testid="merge-problem"' in _text(gone)
    assert snapshot() == before


# ---------------------------------------------------------------- languages


def _marked() -> set[str]:
    from babel.messages.extract import extract_from_file

    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None}
    return {
        message if isinstance(message, str) else message[0]
        for path, method in SOURCES
        for _line, message, _comments, _context in extract_from_file(
            method, str(ROOT / path), keywords=keywords
        )
    }


def test_the_pages_are_translated_with_no_english_left(client: FlaskClient, crm: Member) -> None:
    from babel.messages.pofile import read_po

    with (ROOT / "opsloom/platform/translations/zh_Hans_CN/LC_MESSAGES/messages.po").open("rb") as handle:
        chinese = {m.id: m.string for m in read_po(handle) if m.id}
    marked = _marked()
    assert len(marked) > 20
    assert sorted(s for s in marked if not chinese.get(s)) == []

    keep, merge = _pair(client, crm)
    _make(client, crm, "customer", {"name": "Zhao", "phone": "13812345678"})
    _sign_in(client, crm)
    token = _csrf(client)
    assert (
        client.post("/language", data={"locale": "zh_CN", "next": "/", "csrf_token": token}).status_code
        == 302
    )
    url = f"{MERGE}?keep={keep['id']}&merge={merge['id']}"
    pages = {
        "duplicates": client.get(DUPLICATES),
        "merge": client.get(url),
        "stale": client.post(url, data={"csrf_token": token, "keep_version": "9", "merge_version": "1"}),
    }
    assert pages["stale"].status_code == 409
    assert "电话 中的电话号码相同\uff1a13812345678" in _text(pages["duplicates"])
    # every English piece of these pages' messages (between placeholders) is gone from the text
    pieces = {
        piece.strip(" :#.()")
        for message in marked
        for piece in re.split(r"%\(\w+\)s|%%", message)
        if len(piece.strip(" :#.()")) >= 4
    }
    for name, response in pages.items():
        # the service's own message (English, as the API says it) is shown as is
        shown = re.sub(r'<p data-testid="merge-problem-detail">.*?</p>', "", _text(response), flags=re.S)
        text = re.sub(r"<[^>]+>", " ", shown)
        leftovers = sorted(piece for piece in pieces if piece in text)
        assert leftovers == [], (name, leftovers)
