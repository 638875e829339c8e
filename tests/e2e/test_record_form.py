"""The record form in Chromium: a field appears when the select its visibility rule reads changes.

The rule (``visible_if``) runs on the server: the form posts its values on change (htmx)
and the answer shows or hides fields. Then the form saves and lands on the record page,
all under the real Content-Security-Policy with no console error or failed request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import LiveServer, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TICKET = {
    "key": "ticket",
    "label": {"en": "Ticket", "zh": "工单"},
    "title_field": "subject",
    "fields": [
        {"key": "subject", "type": "text", "required": True, "label": {"en": "Subject"}},
        {"key": "kind", "type": "select", "options": ["question", "bug"], "default": "question"},
        {"key": "steps", "type": "textarea", "label": {"en": "Steps to reproduce"}},
        {"key": "owner", "type": "user"},
        {"key": "parts", "type": "subtable", "fields": [{"key": "part", "type": "text"}]},
    ],
    "visible_if": {"steps": {"==": [{"var": "kind"}, "bug"]}},
}


def _publish(live_server: LiveServer) -> None:
    """Create app ``support`` and publish ``ticket`` through the API, as an administrator's script would."""
    from opsloom.platform.auth import service as identity
    from opsloom.platform.models import User, Workspace

    app = live_server.app
    with app.extensions["opsloom.db"].session_scope() as session:
        user = session.query(User).filter_by(username=live_server.admin_username).one()
        workspace = session.query(Workspace).filter_by(key="acme").one()
        _row, token = identity.issue_token(session, user=user, workspace=workspace, name="e2e")
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    for method, path, body in (
        ("post", "/api/v1/apps", {"key": "support", "label": "Support"}),
        ("put", "/api/v1/apps/support/entities/ticket", TICKET),
        ("post", "/api/v1/apps/support/entities/ticket/publish", {}),
    ):
        answer = getattr(client, method)(path, json=body, headers=headers)
        assert answer.status_code in (200, 201), answer.get_json()


def test_dependent_field_appears_and_the_record_saves(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    _publish(live_server)
    tab, problems = browser_page
    tab.goto("/login")
    tab.fill("#f-username", live_server.admin_username)
    tab.fill("#f-password", live_server.admin_password)
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")

    # from the app page to the list, then to the new-record form
    tab.goto("/apps/support")
    with tab.expect_navigation():
        tab.click("[data-testid=records-ticket]")
    with tab.expect_navigation():
        tab.click("[data-testid=new-record]")
    steps = tab.locator(".rf-field[data-field=steps]")
    assert steps.is_hidden()

    # the server decides: choosing "bug" shows the steps field
    with tab.expect_response(lambda r: r.url.endswith("/rules") and r.request.method == "POST") as answer:
        tab.select_option("#rf-kind", "bug")
    assert answer.value.status == 200
    steps.wait_for(state="visible")
    tab.fill("#rf-subject", "Printer on fire")
    tab.fill("#rf-steps", "Print anything.")
    # a subtable row added in place (Alpine), a searchable user picker (tom-select)
    tab.click("[data-testid=add-row-parts]")
    tab.fill("input[name='parts.0.part']", "Toner")
    assert tab.locator("[data-field=owner] .ts-wrapper").count() == 1

    with tab.expect_navigation():
        tab.click("[data-testid=save-record]")
    assert "/apps/support/records/ticket/" in tab.url
    assert tab.locator("[data-testid=record-title]").inner_text().strip() == "Printer on fire"
    fields = tab.locator("[data-testid=record-fields]").inner_text()
    assert "Print anything." in fields
    assert "bug" in fields
    assert "Toner" in fields
    # the timeline loads (entries, or its empty state) without errors
    tab.wait_for_function(
        "document.querySelector('[data-testid=timeline] [x-ref=status]').hidden"
        " || document.querySelector('[data-testid=timeline] [x-ref=status]').textContent.indexOf('…') < 0"
    )

    # the list's filter builder writes the expression and reloads the table in place (htmx)
    tab.goto("/apps/support/records/ticket")
    tab.click("[data-testid=add-condition]")
    row = tab.locator(".filter-row").first
    row.locator("[data-part=field]").select_option("kind")
    row.locator("[data-part=value]").select_option("question")
    with tab.expect_response(lambda r: "filter=" in r.url and r.status == 200):
        tab.click("[data-testid=apply-filter]")
    tab.wait_for_selector("table[data-testid=records] td.empty")
    assert "Printer on fire" not in tab.locator("#records-results").inner_text()
    assert problems.all() == []
