"""An administrator designs a new entity in Chromium: palette, drag and drop, properties, save, publish.

The page runs under the real Content-Security-Policy (Alpine's CSP build, SortableJS, our
script); any console error, uncaught exception, CSP violation or failed request fails it.
"""

from __future__ import annotations

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


def _drag(tab: Any, source: Any, target: Any) -> None:
    """Drag with the mouse in small steps: SortableJS (fallback mode) follows pointer moves, not one jump."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    tab.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    tab.mouse.down()
    end = target.bounding_box()
    tab.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + start["height"] / 2 + 5, steps=5)
    tab.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=20)
    tab.mouse.up()


def _create_app(tab: Any, key: str) -> None:
    """The app through the API with the page's session and CSRF header, as the designer itself writes."""
    answer = tab.evaluate(
        """async (key) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch('/api/v1/apps', {method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
                body: JSON.stringify({key: key, label: {en: 'Service', zh: '服务'}})});
            return r.status;
        }""",
        key,
    )
    assert answer == 201


def test_admin_designs_saves_and_publishes_a_new_entity(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    _create_app(tab, "service")

    # the entity list: start a new entity
    tab.goto("/apps/service/entities")
    tab.fill("#f-new", "ticket")
    with tab.expect_navigation():
        tab.click("[data-testid=new-entity-form] button[type=submit]")
    assert tab.url.endswith("/apps/service/entities/ticket/design")
    designer = tab.locator("[data-testid=entity-designer]")
    palette = tab.locator("[data-testid=palette]")
    palette.locator(".fe-palette-item[data-type=text]").wait_for()

    # entity label
    tab.fill("[data-testid=entity-label-en]", "Ticket")
    tab.fill("[data-testid=entity-label-zh]", "工单")

    # a text field dragged from the palette onto the (empty) form
    _drag(
        tab, palette.locator(".fe-palette-item[data-type=text] button"), tab.locator("[data-testid=canvas]")
    )
    fields = tab.locator("[data-testid=canvas] .fe-field")
    fields.first.wait_for()
    assert fields.count() == 1
    tab.fill("[data-testid=prop-key]", "subject")
    tab.fill("[data-testid=prop-label-en]", "Subject")
    tab.fill("[data-testid=prop-label-zh]", "主题")
    tab.check("[data-testid=prop-required]")
    tab.fill("[data-testid=prop-max_length]", "120")

    # a select field added by clicking its palette entry, with two options
    palette.locator(".fe-palette-item[data-type=select] button").click()
    tab.locator("[data-testid=canvas] .fe-field").nth(1).wait_for()
    tab.fill("[data-testid=prop-key]", "priority")
    tab.fill("[data-testid=prop-label-en]", "Priority")
    tab.fill("[data-testid=option-value-0]", "low")
    tab.click("[data-testid=add-option]")
    tab.fill("[data-testid=option-value-1]", "high")
    tab.fill("[data-testid=option-label-1]", "High")

    # a condition with a live check: an unknown field is an error, a good one is accepted
    tab.fill("[data-testid=expr-visible_if]", "nothing_here > 1")
    designer.locator("[data-testid=expr-error]").filter(has_text="nothing_here").wait_for()
    tab.fill("[data-testid=expr-visible_if]", 'subject != ""')
    designer.locator(".fe-formula[data-slot=visible_if] .fe-ok").wait_for()

    # the preview shows both fields with their labels and the options
    preview = tab.locator("[data-testid=preview]")
    preview.locator("[data-preview=subject]").filter(has_text="Subject").wait_for()
    assert preview.locator("[data-preview=priority] option").all_inner_texts() == ["—", "low", "High"]

    # a section, named, and the priority field moved into it with the field panel's select
    tab.click("[data-testid=add-section]")
    tab.fill("[data-testid=section-label-en]", "Details")
    tab.fill("[data-testid=section-label-zh]", "详情")
    tab.locator("[data-testid=canvas-section]").filter(has_text="Details").wait_for()
    tab.locator("[data-testid=canvas] .fe-field[data-key=priority] .fe-field-main").click()
    tab.select_option("[data-testid=prop-section]", label="Details")
    preview.locator("[data-testid=preview-section]").filter(has_text="Details").locator(
        "[data-preview=priority]"
    ).wait_for()
    # on the form the card sits under the heading: (fields of no section) subject, Details, priority
    rows = tab.locator("[data-testid=canvas] > li")
    assert "Fields of no section" in rows.nth(0).inner_text()
    assert rows.nth(1).get_attribute("data-key") == "subject"
    assert "Details" in rows.nth(2).inner_text()
    assert rows.nth(3).get_attribute("data-key") == "priority"

    # save the draft
    with tab.expect_response(
        lambda r: r.url.endswith("/entities/ticket") and r.request.method == "PUT"
    ) as put:
        tab.click("[data-testid=save-draft]")
    assert put.value.status == 200
    tab.locator("[data-testid=designer-status]").filter(has_text="Draft saved").wait_for()
    saved = put.value.json()["body"]
    assert [f["key"] for f in saved["fields"]] == ["subject", "priority"]
    assert saved["fields"][0]["max_length"] == 120
    assert saved["fields"][0]["required"] is True
    assert saved["fields"][1]["options"] == ["low", {"value": "high", "label": "High"}]
    assert saved["visible_if"] == {"priority": {"!=": [{"var": "subject"}, ""]}}
    assert saved["label"] == {"en": "Ticket", "zh": "工单"}
    assert saved["layout"] == [{"label": {"en": "Details", "zh": "详情"}, "fields": ["priority"]}]

    # publish: the dialog shows the diff, then the report
    tab.click("[data-testid=open-publish]")
    dialog = tab.locator("[data-testid=publish-dialog]")
    dialog.locator("[data-testid=publish-diff] li").first.wait_for()
    assert "fields" in dialog.locator("[data-testid=publish-diff]").inner_text()
    tab.fill("[data-testid=publish-note]", "first version")
    with tab.expect_response(lambda r: r.url.endswith("/publish")) as published:
        dialog.locator("[data-testid=publish]").click()
    assert published.value.status == 200
    report = dialog.locator("[data-testid=publish-report]")
    report.wait_for()
    assert "Published version 1" in report.inner_text()
    assert report.locator("li").count() >= 1

    # the history lists the version with its note
    tab.goto("/apps/service/entities/ticket/versions")
    assert "first version" in tab.locator("[data-testid=version-list]").inner_text()

    # the record form shows the section: subject first (no section), priority under "Details"
    tab.goto("/apps/service/records/ticket/new")
    section = tab.locator("[data-testid=form-section]")
    assert section.locator("legend").inner_text() == "Details"
    assert section.locator(".rf-field").evaluate_all("els => els.map(e => e.dataset.field)") == ["priority"]
    assert tab.locator("form.record-form > .rf-field").evaluate_all(
        "els => els.map(e => e.dataset.field)"
    ) == ["subject"]

    assert problems.all() == []


def _add_field(tab: Any, type_name: str, key: str, label: str) -> None:
    """Click a palette entry (the new field is selected) and name it."""
    fields = tab.locator("[data-testid=canvas] .fe-field")
    count = fields.count()
    tab.locator(f"[data-testid=palette] .fe-palette-item[data-type={type_name}] button").click()
    fields.nth(count).wait_for()
    tab.fill("[data-testid=prop-key]", key)
    tab.fill("[data-testid=prop-label-en]", label)


def _publish(tab: Any, version: int, *, expect_warning: str = "") -> dict[str, Any]:
    """Open the publish dialog (which saves the draft first), publish and return the saved body."""
    with tab.expect_response(lambda r: r.request.method == "PUT" and "/entities/" in r.url) as put:
        tab.click("[data-testid=open-publish]")
    assert put.value.status == 200, put.value.json()
    dialog = tab.locator("[data-testid=publish-dialog]")
    dialog.locator("[data-testid=publish-diff] li").first.wait_for()
    if expect_warning:
        dialog.locator("[data-testid=publish-warnings]").filter(has_text=expect_warning).wait_for()
    with tab.expect_response(lambda r: r.url.endswith("/publish")) as published:
        dialog.locator("[data-testid=publish]").click()
    assert published.value.status == 200, published.value.json()
    dialog.locator("[data-testid=publish-report]").filter(has_text=f"Published version {version}").wait_for()
    return put.value.json()["body"]


def test_admin_designs_a_customer_with_a_formula_and_a_rollup_and_changes_it_without_losing_data(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    _create_app(tab, "shop")

    # 1. the customer, new in the browser: name and phone, published
    tab.goto("/apps/shop/entities/customer/design")
    tab.locator("[data-testid=palette] .fe-palette-item[data-type=text]").wait_for()
    tab.fill("[data-testid=entity-label-en]", "Customer")
    _add_field(tab, "text", "name", "Name")
    tab.check("[data-testid=prop-required]")
    _add_field(tab, "phone", "phone", "Phone")
    first = _publish(tab, 1)
    assert [f["key"] for f in first["fields"]] == ["name", "phone"]

    # 2. the order, through the API: it links to the customer (which exists now)
    order = {
        "key": "order",
        "label": {"en": "Order"},
        "fields": [
            {"key": "customer", "type": "relation", "target": "customer", "label": {"en": "Customer"}},
            {"key": "amount", "type": "number", "label": {"en": "Amount"}},
            {"key": "note", "type": "text"},
        ],
    }
    assert _api(tab, "PUT", "/api/v1/apps/shop/entities/order", order)[0] == 200
    status, answer = _api(tab, "POST", "/api/v1/apps/shop/entities/order/publish", {})
    assert status == 200, answer

    # 3. back in the designer: a formula and a rollup of the orders' amounts, built with selects
    tab.goto("/apps/shop/entities/customer/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=phone]").wait_for()
    _add_field(tab, "formula", "shout", "Shout")
    tab.fill("[data-testid=expr-formula]", "UPPER(name)")
    tab.locator(".fe-formula[data-slot=formula] .fe-ok").wait_for()
    _add_field(tab, "rollup", "total", "Total spent")
    editor = tab.locator("[data-testid=rollup-editor]")
    editor.locator("[data-testid=rollup-entity]").select_option("order")
    # the link choices arrive from the fields endpoint: only relations to customer are offered
    editor.locator("[data-testid=rollup-link] option[value=customer]").wait_for(state="attached")
    assert editor.locator("[data-testid=rollup-link] option").all_inner_texts() == [
        "choose a field",
        "Customer (customer)",
    ]
    editor.locator("[data-testid=rollup-link]").select_option("customer")
    editor.locator("[data-testid=rollup-fn]").select_option("count")
    editor.locator("[data-testid=rollup-field]").wait_for(state="hidden")  # count needs no field
    editor.locator("[data-testid=rollup-fn]").select_option("sum")
    editor.locator("[data-testid=rollup-field]").wait_for()
    editor.locator("[data-testid=rollup-field] option[value=amount]").wait_for(state="attached")
    # numbers only: the text field ``note`` is not offered
    assert editor.locator("[data-testid=rollup-field] option").all_inner_texts() == [
        "choose a field",
        "Amount (amount)",
    ]
    editor.locator("[data-testid=rollup-field]").select_option("amount")
    second = _publish(tab, 2)
    by_key = {f["key"]: f for f in second["fields"]}
    assert by_key["total"]["source"] == {
        "entity": "order",
        "link": "customer",
        "fn": "sum",
        "field": "amount",
    }
    assert by_key["shout"]["formula"] == "UPPER(name)"

    # 4. records through the API: the rollup adds the orders up
    status, customer = _api(
        tab, "POST", "/api/v1/apps/shop/records/customer", {"name": "Acme", "phone": "13800138000"}
    )
    assert status == 201, customer
    for amount in (10, 32.5):
        status, answer = _api(
            tab, "POST", "/api/v1/apps/shop/records/order", {"customer": customer["id"], "amount": amount}
        )
        assert status == 201, answer
    status, record = _api(tab, "GET", f"/api/v1/apps/shop/records/customer/{customer['id']}")
    assert status == 200, record
    assert record["total"] == 42.5
    assert record["shout"] == "ACME"
    phone = record["phone"]
    assert phone

    # 5. rename phone -> mobile and add a field in the browser; publishing keeps the data
    tab.goto("/apps/shop/entities/customer/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=phone] .fe-field-main").click()
    tab.fill("[data-testid=prop-key]", "mobile")
    tab.locator("[data-testid=canvas] .fe-field[data-key=mobile]").wait_for()
    _add_field(tab, "text", "city", "City")
    third = _publish(tab, 3, expect_warning="renamed")
    assert [f["key"] for f in third["fields"]] == ["name", "mobile", "shout", "total", "city"]

    status, record = _api(tab, "GET", f"/api/v1/apps/shop/records/customer/{customer['id']}")
    assert status == 200, record
    assert record["mobile"] == phone
    assert "phone" not in record
    assert record["name"] == "Acme"
    assert record["total"] == 42.5
    assert record.get("city") is None

    # 6. a lookup on the order: its one relations, then the linked entity's (renamed) fields
    tab.goto("/apps/shop/entities/order/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=amount]").wait_for()
    _add_field(tab, "lookup", "customer_mobile", "Customer mobile")
    tab.locator("[data-testid=lookup-relation]").select_option("customer")
    tab.locator("[data-testid=lookup-field] option[value=mobile]").wait_for(state="attached")
    tab.locator("[data-testid=lookup-field]").select_option("mobile")
    with tab.expect_response(
        lambda r: r.url.endswith("/entities/order") and r.request.method == "PUT"
    ) as put:
        tab.click("[data-testid=save-draft]")
    assert put.value.status == 200, put.value.json()
    lookup = put.value.json()["body"]["fields"][-1]
    assert (lookup["relation"], lookup["field"]) == ("customer", "mobile")

    assert problems.all() == []


CUSTOMER = {
    "key": "customer",
    "label": {"en": "Customer"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "label": {"en": "Name"}},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "label": {"en": "Level"}},
        {"key": "spent", "type": "number", "label": {"en": "Spent"}},
        {"key": "note", "type": "text", "label": {"en": "Note"}},
        {
            "key": "gap",
            "type": "formula",
            "formula": 'IF(level = "vip", 0, 10000 - spent)',
            "label": {"en": "Gap"},
        },
    ],
    "visible_if": {"spent": {"==": [{"var": "level"}, "vip"]}},
    "required_if": {"note": {"==": [{"var": "level"}, "vip"]}},
}


def test_admin_tries_conditions_in_the_preview_and_renames_a_field_a_formula_uses(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    _create_app(tab, "club")
    assert _api(tab, "PUT", "/api/v1/apps/club/entities/customer", CUSTOMER)[0] == 200
    status, answer = _api(tab, "POST", "/api/v1/apps/club/entities/customer/publish", {})
    assert status == 200, answer
    status, record = _api(
        tab,
        "POST",
        "/api/v1/apps/club/records/customer",
        {"name": "Ann", "level": "vip", "spent": 400, "note": "x"},
    )
    assert status == 201, record

    # 1. the preview runs the conditions as the record form does: typing shows and requires fields
    tab.goto("/apps/club/entities/customer/design")
    preview = tab.locator("[data-testid=preview]")
    spent = preview.locator(".rf-field[data-preview=spent]")
    note_star = preview.locator("[data-preview=note] label .req")
    spent.wait_for(state="hidden")  # level is empty, so spent's visible-when is false
    assert note_star.is_hidden()
    assert preview.locator("[data-preview=name] label .req").is_visible()
    with tab.expect_response(lambda r: r.url.endswith("/preview-rules")) as rules:
        preview.locator("select[name=level]").select_option("vip")
    assert rules.value.status == 200
    spent.wait_for(state="visible")
    note_star.wait_for(state="visible")
    preview.locator("select[name=level]").select_option("normal")
    spent.wait_for(state="hidden")
    note_star.wait_for(state="hidden")
    # typing in the preview changes nothing of the design
    assert not tab.locator(".fe-designer .badge-warn").is_visible()

    # 2. rename level -> tier: the formula, the conditions and the title... are rewritten and saved
    tab.locator("[data-testid=canvas] .fe-field[data-key=level] .fe-field-main").click()
    tab.fill("[data-testid=prop-key]", "tier")
    with tab.expect_response(lambda r: r.url.endswith("/draft/rename-field")) as renamed:
        tab.press("[data-testid=prop-key]", "Tab")
    assert renamed.value.status == 200, renamed.value.json()
    note = tab.locator("[data-testid=rename-note]")
    note.filter(has_text="Renamed level to tier").wait_for()
    text = note.inner_text()
    assert "the formula of gap" in text
    assert "the visible-when condition of spent" in text
    assert "the required-when condition of note" in text
    tab.locator("[data-testid=designer-status]").filter(has_text="Draft saved").wait_for()
    tab.locator("[data-testid=canvas] .fe-field[data-key=gap] .fe-field-main").click()
    assert tab.input_value("[data-testid=expr-formula]") == 'IF(tier = "vip", 0, 10000 - spent)'
    tab.locator("[data-testid=canvas] .fe-field[data-key=spent] .fe-field-main").click()
    assert tab.input_value("[data-testid=expr-visible_if]") == 'tier = "vip"'
    # the preview follows the new key
    preview.locator("select[name=tier]").select_option("vip")
    spent.wait_for(state="visible")

    # 3. publish: accepted, and the data is kept under the new key
    tab.click("[data-testid=open-publish]")
    dialog = tab.locator("[data-testid=publish-dialog]")
    dialog.locator("[data-testid=publish-warnings]").filter(has_text="renamed").wait_for()
    with tab.expect_response(lambda r: r.url.endswith("/publish")) as published:
        dialog.locator("[data-testid=publish]").click()
    assert published.value.status == 200, published.value.json()
    dialog.locator("[data-testid=publish-report]").filter(has_text="Published version 2").wait_for()
    status, record = _api(tab, "GET", f"/api/v1/apps/club/records/customer/{record['id']}")
    assert status == 200, record
    assert (record["tier"], record["spent"], record["gap"]) == ("vip", 400, 0)
    assert "level" not in record

    assert problems.all() == []
