"""Renaming a field other entities use, in Chromium: the list, then "also update these entities' drafts"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.test_entity_designer import _api, _create_app, _sign_in

if TYPE_CHECKING:
    from .conftest import LiveServer, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CUSTOMER = {
    "key": "customer",
    "label": {"en": "Customer"},
    "fields": [
        {"key": "name", "type": "text", "label": {"en": "Name"}},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "label": {"en": "Level"}},
    ],
}
ORDER = {
    "key": "order",
    "label": {"en": "Order"},
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer", "label": {"en": "Customer"}},
        {"key": "customer_level", "type": "lookup", "relation": "customer", "field": "level"},
        {"key": "vip", "type": "formula", "formula": 'customer.level = "vip"'},
    ],
}


def _publish(tab: Any, body: dict[str, Any]) -> None:
    assert _api(tab, "PUT", f"/api/v1/apps/club/entities/{body['key']}", body)[0] == 200
    status, answer = _api(tab, "POST", f"/api/v1/apps/club/entities/{body['key']}/publish", {})
    assert status == 200, answer


def test_the_rename_offers_to_update_the_other_entities_drafts(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _sign_in(tab, live_server)
    _create_app(tab, "club")
    _publish(tab, CUSTOMER)
    _publish(tab, ORDER)

    tab.goto("/apps/club/entities/customer/design")
    tab.locator("[data-testid=canvas] .fe-field[data-key=level] .fe-field-main").click()
    tab.fill("[data-testid=prop-key]", "tier")
    with tab.expect_response(lambda r: r.url.endswith("/draft/rename-field")) as renamed:
        tab.press("[data-testid=prop-key]", "Tab")
    assert renamed.value.status == 200, renamed.value.json()
    assert renamed.value.request.post_data_json["cascade"] is False
    elsewhere = tab.locator("[data-testid=rename-elsewhere]")
    elsewhere.filter(has_text="order: the lookup customer_level").wait_for()
    assert "the formula of vip" in elsewhere.inner_text()
    box = tab.locator("[data-testid=rename-cascade-box]")
    assert not box.is_checked()
    assert _api(tab, "GET", "/api/v1/apps/club/entities/order/versions")[1]["draft"] is None

    # ticking the box updates the others: this draft already has the new key
    with tab.expect_response(lambda r: r.url.endswith("/draft/rename-field")) as cascaded:
        box.check()
    assert cascaded.value.status == 200, cascaded.value.json()
    assert cascaded.value.request.post_data_json == {"from": "level", "to": "tier", "cascade": True}
    note = tab.locator("[data-testid=rename-cascaded]")
    note.filter(has_text="Updated the drafts of order").wait_for()
    assert "Publish this entity first" in note.inner_text()
    assert elsewhere.is_hidden()
    status, order = _api(tab, "GET", "/api/v1/apps/club/entities/order?version=draft")
    assert status == 200, order
    assert order["body"]["fields"][1]["field"] == "tier"
    assert order["body"]["fields"][2]["formula"] == 'customer.tier = "vip"'

    # the box stays ticked: the next rename updates the others at once
    tab.locator("[data-testid=canvas] .fe-field[data-key=tier] .fe-field-main").click()
    tab.fill("[data-testid=prop-key]", "rank")
    with tab.expect_response(lambda r: r.url.endswith("/draft/rename-field")) as again:
        tab.press("[data-testid=prop-key]", "Tab")
    assert again.value.status == 200, again.value.json()
    assert again.value.request.post_data_json["cascade"] is True
    note.filter(has_text="order: the lookup customer_level").wait_for()
    status, order = _api(tab, "GET", "/api/v1/apps/club/entities/order?version=draft")
    assert order["body"]["fields"][1]["field"] == "rank"

    assert problems.all() == []
