"""A person's first visit, in Chromium: sign in, switch language both ways, open every admin page.

The pages run under the real Content-Security-Policy; any console error, uncaught
exception, CSP violation or failed request fails the test. Along the way the browser
proves the front-end pieces work under that policy: the workspace select submits itself
(our JS), the navigation toggle (Alpine's CSP build), the retry button (htmx with the
CSRF header), a searchable picker (tom-select) and the API reference (Swagger UI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import LiveServer, PageProblems

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PAGES = {
    "/admin/users": ("Users", "用户"),
    "/admin/roles": ("Roles", "角色"),
    "/admin/departments": ("Departments", "部门"),
    "/admin/tokens": ("API tokens", "API 令牌"),
    "/admin/audit": ("Audit log", "审计日志"),
    "/admin/jobs": ("Job monitor", "任务监控"),
    "/admin/plugins": ("Plugins", "插件"),
    "/api/docs": ("API reference", "API 参考"),
}


def _open(tab: Any, path: str) -> None:
    response = tab.goto(path)
    assert response is not None, path
    assert response.status == 200, f"{path}: {response.status}"
    tab.wait_for_load_state("networkidle")


def _heading(tab: Any) -> str:
    return tab.locator("main h1").first.inner_text().strip()


def test_admin_signs_in_switches_language_and_opens_every_admin_page(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page

    # sign in
    _open(tab, "/")
    assert "/login" in tab.url
    tab.fill("#f-username", live_server.admin_username)
    tab.fill("#f-password", live_server.admin_password)
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")
    assert tab.url.rstrip("/") == live_server.url
    assert _heading(tab) == "Acme Support"

    # to Chinese: every admin page speaks it
    with tab.expect_navigation():
        tab.click("form.lang-switch button[value=zh_CN]")
    assert tab.locator("html").get_attribute("lang") == "zh-CN"
    assert "系统管理" in tab.locator("#sidenav").inner_text()
    for path, (_english, chinese) in ADMIN_PAGES.items():
        _open(tab, path)
        assert _heading(tab) == chinese, path
    tab.wait_for_selector("#swagger-ui .info", timeout=15000)  # Swagger UI rendered from our files

    # and back to English
    with tab.expect_navigation():
        tab.click("form.lang-switch button[value=en]")
    assert tab.locator("html").get_attribute("lang") == "en"
    for path, (english, _chinese) in ADMIN_PAGES.items():
        _open(tab, path)
        assert _heading(tab) == english, path

    # htmx: retry the dead letter in place (the CSRF token travels as a header)
    _open(tab, "/admin/jobs")
    row = tab.locator("table[data-testid=deliveries-dead] tbody tr").first
    with tab.expect_response(lambda r: "/retry" in r.url and r.request.method == "POST") as answer:
        row.locator("button").click()
    assert answer.value.status == 200
    tab.wait_for_selector("table[data-testid=deliveries-dead] tbody tr .badge")
    assert "pending" in row.inner_text()

    # a form with a searchable picker (tom-select) creates a user
    _open(tab, "/admin/users")
    assert tab.locator(".ts-wrapper").count() >= 1
    tab.fill("#f-username", "grace")
    tab.fill("#f-display_name", "Grace Hopper")
    tab.fill("#f-password", "grace-password-1")
    with tab.expect_navigation():
        tab.click("form[method=post][action='/admin/users'] button[type=submit]")
    assert "Grace Hopper" in tab.locator("table[data-testid=users]").inner_text()

    # the workspace select submits itself
    with tab.expect_navigation():
        tab.select_option("#ws-select", label="Globex Care")
    assert _heading(tab) == "Globex Care"

    # Alpine (CSP build) drives the navigation toggle on a narrow screen
    tab.set_viewport_size({"width": 600, "height": 900})
    tab.click(".nav-toggle")
    tab.wait_for_function("document.querySelector('.shell').classList.contains('nav-open')")

    # sign out
    tab.set_viewport_size({"width": 1280, "height": 900})
    tab.click(".user-menu summary")
    with tab.expect_navigation():
        tab.click("[data-testid=logout]")
    assert "/login" in tab.url

    assert problems.all() == []


def test_staff_sees_no_administration(
    browser_page: tuple[Any, PageProblems], live_server: LiveServer
) -> None:
    tab, problems = browser_page
    _open(tab, "/login")
    tab.fill("#f-username", live_server.staff_username)
    tab.fill("#f-password", live_server.staff_password)
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")
    assert "Users" not in tab.locator("#sidenav").inner_text()
    response = tab.goto("/admin/users")
    assert response is not None
    assert response.status == 403
    assert tab.locator(".error-code").inner_text() == "403"
    # the 403 itself is expected; nothing else may go wrong
    assert [p for p in problems.all() if "/admin/users" not in p] == []
