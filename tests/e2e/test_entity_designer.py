"""An administrator designs a new entity in Chromium: palette, drag and drop, properties, save, publish.

The page runs under the real Content-Security-Policy (Alpine's CSP build, SortableJS, our
script); any console error, uncaught exception, CSP violation or failed request fails it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

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

    assert problems.all() == []
