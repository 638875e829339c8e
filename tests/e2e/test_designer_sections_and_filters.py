"""The designer in Chromium: a rollup's filter built with the condition builder, sections dragged into order.

The rollup filter uses the record list's builder (condition_builder.js) over the aggregated
entity's fields; the draft holds the expression it writes, a filter the builder cannot show
stays in the JSON box, and the server's error on a bad one shows beside it. Sections (and the
fields of no section) are reordered by dragging their headings, and the record form follows;
removing a section that holds fields asks first. Everything under the real CSP, with no
console error or failed request other than the refused save the test provokes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser_api import api_call as _api

if TYPE_CHECKING:
    from .conftest import LiveServer, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _sign_in(tab: Any, server: LiveServer) -> None:
    tab.goto("/login")
    tab.fill("#f-username", server.admin_username)
    tab.fill("#f-password", server.admin_password)
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")


def _publish_api(tab: Any, app: str, body: dict[str, Any]) -> None:
    status, answer = _api(tab, "PUT", f"/api/v1/apps/{app}/entities/{body['key']}", body)
    assert status == 200, answer
    status, answer = _api(tab, "POST", f"/api/v1/apps/{app}/entities/{body['key']}/publish", {})
    assert status == 200, answer


def _drag(tab: Any, source: Any, target: Any, *, edge: str) -> None:
    """Drag with the mouse in small steps, as a person does, to just past the ``edge`` of ``target``.

    Just above the first row ("top") SortableJS puts the dragged row first; just below the last
    ("bottom"), last. The target is measured again on the way, since rows move as the drag goes.
    """

    def point() -> tuple[float, float]:
        box = target.bounding_box()
        return box["x"] + box["width"] / 2, box["y"] - 3 if edge == "top" else box["y"] + box["height"] + 3

    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    tab.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 5, steps=5)
    tab.mouse.move(*point(), steps=20)
    tab.wait_for_timeout(150)
    tab.mouse.move(*point(), steps=5)
    tab.wait_for_timeout(150)
    tab.mouse.up()


def _save(tab: Any, entity: str) -> Any:
    with tab.expect_response(
        lambda r: r.url.endswith(f"/entities/{entity}") and r.request.method == "PUT"
    ) as put:
        tab.click("[data-testid=save-draft]")
    return put.value


def _canvas(tab: Any) -> list[str]:
    """The canvas rows: a field's key, "#<title>" for a section heading, "*" for the fields of no section."""
    return tab.locator("[data-testid=canvas] > li").evaluate_all(
        """els => els.map(li => li.dataset.key
            || (li.classList.contains('fe-loose-head') ? '*' : '#' + li.querySelector('.fe-section-label').textContent))"""
    )


ORDER = {
    "key": "order",
    "label": {"en": "Order"},
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer", "label": {"en": "Customer"}},
        {"key": "amount", "type": "number", "label": {"en": "Amount"}},
        {"key": "status", "type": "select", "options": ["open", "paid"], "label": {"en": "Status"}},
        {"key": "note", "type": "text", "label": {"en": "Note"}},
    ],
}


def test_a_rollup_filter_is_built_with_the_condition_builder(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    status, answer = _api(tab, "POST", "/api/v1/apps", {"key": "till", "label": {"en": "Till"}})
    assert status == 201, answer
    _publish_api(
        tab,
        "till",
        {"key": "customer", "label": {"en": "Customer"}, "fields": [{"key": "name", "type": "text"}]},
    )
    _publish_api(tab, "till", ORDER)

    # a rollup of the paid orders of at least 10
    tab.goto("/apps/till/entities/customer/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=name]").wait_for()
    tab.locator("[data-testid=palette] .fe-palette-item[data-type=rollup] button").click()
    tab.fill("[data-testid=prop-key]", "paid_total")
    editor = tab.locator("[data-testid=rollup-editor]")
    editor.locator("[data-testid=rollup-entity]").select_option("order")
    editor.locator("[data-testid=rollup-link] option[value=customer]").wait_for(state="attached")
    editor.locator("[data-testid=rollup-link]").select_option("customer")
    editor.locator("[data-testid=rollup-field] option[value=amount]").wait_for(state="attached")
    editor.locator("[data-testid=rollup-field]").select_option("amount")

    builder = editor.locator("[data-testid=rollup-filter-builder]")
    builder.locator("[data-testid=rollup-filter-add]").click()
    first = builder.locator(".fe-condition-row").nth(0)
    # the order's fields, each with the operators its type filters by (a number compares, a text contains)
    assert first.locator("[data-part=field] option").evaluate_all("os => os.map(o => o.value)") == [
        "customer",
        "amount",
        "status",
        "note",
    ]
    first.locator("[data-part=field]").select_option("amount")
    assert "between" in first.locator("[data-part=op] option").evaluate_all("os => os.map(o => o.value)")
    first.locator("[data-part=op]").select_option(">=")
    first.locator("[data-part=value]").fill("10")
    builder.locator("[data-testid=rollup-filter-add]").click()
    second = builder.locator(".fe-condition-row").nth(1)
    second.locator("[data-part=field]").select_option("status")
    assert second.locator("[data-part=op] option").evaluate_all("os => os.map(o => o.value)") == [
        "==",
        "!=",
        "in",
        "missing",
    ]
    second.locator("[data-part=value]").fill("paid")
    expected = {"and": [{">=": [{"var": "amount"}, 10]}, {"==": [{"var": "status"}, "paid"]}]}
    tab.locator("[data-testid=rollup-filter-expr]").filter(has_text="paid").wait_for()

    put = _save(tab, "customer")
    assert put.status == 200, put.json()
    rollup = put.json()["body"]["fields"][-1]
    assert rollup["source"] == {
        "entity": "order",
        "link": "customer",
        "fn": "sum",
        "field": "amount",
        "filter": expected,
    }
    status, draft = _api(tab, "GET", "/api/v1/apps/till/entities/customer?version=draft")
    assert status == 200, draft
    assert draft["body"]["fields"][-1]["source"]["filter"] == expected

    # opened again, the builder reads the saved filter back into its rows
    tab.goto("/apps/till/entities/customer/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=paid_total] .fe-field-main").click()
    rows = tab.locator("[data-testid=rollup-filter-builder] .fe-condition-row")
    rows.nth(1).wait_for()
    assert rows.count() == 2
    assert rows.nth(0).locator("[data-part=field]").input_value() == "amount"
    assert rows.nth(0).locator("[data-part=op]").input_value() == ">="
    assert rows.nth(0).locator("[data-part=value]").input_value() == "10"
    assert rows.nth(1).locator("[data-part=value]").input_value() == "paid"

    # a filter the builder cannot show (an "or") goes to the JSON box, with a note
    tab.click("[data-testid=rollup-filter-as-json]")
    either = {"or": [{"==": [{"var": "status"}, "paid"]}, {">": [{"var": "amount"}, 100]}]}
    tab.fill("[data-testid=rollup-filter]", json.dumps(either))
    tab.press("[data-testid=rollup-filter]", "Tab")
    put = _save(tab, "customer")
    assert put.status == 200, put.json()
    assert put.json()["body"]["fields"][-1]["source"]["filter"] == either
    tab.goto("/apps/till/entities/customer/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=paid_total] .fe-field-main").click()
    tab.locator("[data-testid=rollup-filter-note]").wait_for()
    assert tab.locator("[data-testid=rollup-filter-builder]").is_hidden()
    assert "or" in tab.input_value("[data-testid=rollup-filter]")

    # a filter the server refuses: its message shows beside the filter, and the draft keeps the last good one
    tab.fill("[data-testid=rollup-filter]", '{"==": [{"var": "nope"}, 1]}')
    tab.press("[data-testid=rollup-filter]", "Tab")
    put = _save(tab, "customer")
    assert put.status == 422
    error = tab.locator("[data-testid=rollup-filter-error]")
    error.wait_for()
    assert "nope" in error.inner_text()
    assert tab.locator("[data-testid=canvas] .fe-field[data-key=paid_total] .badge-bad").is_visible()

    # back to the builder with a filter it can show: the rows replace the JSON, the error goes
    tab.fill("[data-testid=rollup-filter]", '{"==": [{"var": "note"}, "gift"]}')
    tab.press("[data-testid=rollup-filter]", "Tab")
    tab.click("[data-testid=rollup-filter-use-builder]")
    rows.first.wait_for()
    assert rows.first.locator("[data-part=field]").input_value() == "note"
    put = _save(tab, "customer")
    assert put.status == 200, put.json()
    assert put.json()["body"]["fields"][-1]["source"]["filter"] == {"==": [{"var": "note"}, "gift"]}

    # the refused save is the only complaint (the response, and Chromium's console line about it)
    assert [p for p in problems.all() if "422" not in p] == []


SECTIONED = {
    "key": "lead",
    "label": {"en": "Lead"},
    "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}},
        {"key": "phone", "type": "text", "label": {"en": "Phone"}},
        {"key": "budget", "type": "number", "label": {"en": "Budget"}},
    ],
    "layout": [
        {"label": {"en": "One"}, "fields": ["phone"]},
        {"label": {"en": "Two"}, "fields": ["budget"]},
    ],
}


def test_sections_are_dragged_into_order_and_the_record_form_follows(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    status, answer = _api(tab, "POST", "/api/v1/apps", {"key": "funnel", "label": {"en": "Funnel"}})
    assert status == 201, answer
    _publish_api(tab, "funnel", SECTIONED)

    tab.goto("/apps/funnel/entities/lead/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=budget]").wait_for()
    assert _canvas(tab) == ["*", "name", "#One", "phone", "#Two", "budget"]
    heads = tab.locator("[data-testid=canvas] > li.fe-section-head")

    # section Two's heading dragged to the top: it moves with its field
    _drag(tab, heads.filter(has_text="Two"), tab.locator("[data-testid=canvas] > li").first, edge="top")
    # (waits by selector: the CSP forbids the string functions wait_for_function would poll with)
    tab.locator("[data-testid=canvas] > li:first-of-type").filter(has_text="Two").wait_for()
    assert _canvas(tab) == ["#Two", "budget", "*", "name", "#One", "phone"]

    # the fields of no section dragged to the end, below the last card
    _drag(
        tab,
        tab.locator("[data-testid=canvas-loose]"),
        tab.locator("[data-testid=canvas] > li").last,
        edge="bottom",
    )
    tab.locator("[data-testid=canvas] > li:last-of-type[data-key=name]").wait_for()
    assert _canvas(tab) == ["#Two", "budget", "#One", "phone", "*", "name"]
    # the preview shows the same order
    preview = tab.locator("[data-testid=preview]")
    assert preview.locator(".rf-field").evaluate_all("els => els.map(e => e.dataset.preview)") == [
        "budget",
        "phone",
        "name",
    ]

    put = _save(tab, "lead")
    assert put.status == 200, put.json()
    body = put.json()["body"]
    assert body["layout"] == [
        {"label": {"en": "Two"}, "fields": ["budget"]},
        {"label": {"en": "One"}, "fields": ["phone"]},
        {"unsectioned": True},
    ]
    assert [f["key"] for f in body["fields"]] == ["budget", "phone", "name"]
    status, answer = _api(tab, "POST", "/api/v1/apps/funnel/entities/lead/publish", {})
    assert status == 200, answer

    # the record form: Two, One, then the fields of no section (bare, after the last fieldset)
    tab.goto("/apps/funnel/records/lead/new")
    legends = tab.locator("[data-testid=form-section] legend").all_inner_texts()
    assert legends == ["Two", "One"]
    order = tab.locator("form.record-form .rf-field").evaluate_all("els => els.map(e => e.dataset.field)")
    assert order == ["budget", "phone", "name"]
    assert tab.locator("form.record-form > .rf-field").evaluate_all(
        "els => els.map(e => e.dataset.field)"
    ) == ["name"]

    assert problems.all() == []


def test_removing_a_section_that_holds_fields_asks_first(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    status, answer = _api(tab, "POST", "/api/v1/apps", {"key": "desk", "label": {"en": "Desk"}})
    assert status == 201, answer
    _publish_api(tab, "desk", SECTIONED)

    tab.goto("/apps/desk/entities/lead/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=budget]").wait_for()
    dialog = tab.locator("[data-testid=remove-section-dialog]")

    # an empty section goes at once
    tab.click("[data-testid=add-section]")
    tab.fill("[data-testid=section-label-en]", "Empty")
    tab.click("[data-testid=remove-section]")
    assert dialog.is_hidden()
    assert _canvas(tab) == ["*", "name", "#One", "phone", "#Two", "budget"]

    # One holds phone: the dialog names it and says where it goes; cancelling keeps everything
    tab.locator("[data-testid=canvas-section]").filter(has_text="One").click()
    tab.click("[data-testid=remove-section]")
    dialog.wait_for()
    assert "One" in dialog.locator("h2").inner_text()
    text = dialog.locator("[data-testid=remove-section-text]").inner_text()
    assert "phone" in text
    assert "fields of no section" in text
    assert "at the top of the form" in text
    dialog.locator("[data-testid=cancel-remove-section]").click()
    dialog.wait_for(state="hidden")
    assert _canvas(tab) == ["*", "name", "#One", "phone", "#Two", "budget"]

    # with the fields of no section moved below Two, the dialog says they are shown there
    tab.click("[data-testid=canvas-loose]")
    tab.click("[data-testid=loose-down]")
    tab.click("[data-testid=loose-down]")
    assert _canvas(tab) == ["#One", "phone", "#Two", "budget", "*", "name"]
    tab.locator("[data-testid=canvas-section]").filter(has_text="One").click()
    tab.click("[data-testid=remove-section]")
    dialog.wait_for()
    assert "after the section “Two”" in dialog.locator("[data-testid=remove-section-text]").inner_text()
    dialog.locator("[data-testid=confirm-remove-section]").click()
    dialog.wait_for(state="hidden")
    assert _canvas(tab) == ["#Two", "budget", "*", "phone", "name"]

    put = _save(tab, "lead")
    assert put.status == 200, put.json()
    assert put.json()["body"]["layout"] == [
        {"label": {"en": "Two"}, "fields": ["budget"]},
        {"unsectioned": True},
    ]

    assert problems.all() == []
