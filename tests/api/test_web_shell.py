"""The web shell through the Flask test client: sign-in, CSRF, workspace and language switches, headers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from opsloom.platform.models import LoginAttempt, User

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # a low limit so the throttling test needs few attempts
    app_config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 3
    return app_config


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF meta tag on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, member: Member, **extra: str) -> TestResponse:
    token = csrf_of(client)
    data = {"username": member.username, "password": member.password, "csrf_token": token, **extra}
    return client.post("/login", data=data)


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


class ScriptAudit(HTMLParser):
    """Collects what a CSP without inline scripts and styles would block."""

    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self.style_attrs = 0
        self.style_tags = 0
        self.script_srcs: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        self.handlers += [name for name in names if name.startswith("on")]
        if "style" in names:
            self.style_attrs += 1
        if tag == "style":
            self.style_tags += 1
        if tag == "script":
            src = dict(attrs).get("src")
            if src:
                self.script_srcs.append(src)
            else:
                self.inline_scripts += 1

    def blocked(self) -> list[str]:
        problems = []
        if self.inline_scripts:
            problems.append(f"{self.inline_scripts} inline <script>")
        if self.handlers:
            problems.append(f"event handler attributes {sorted(set(self.handlers))}")
        if self.style_attrs or self.style_tags:
            problems.append(f"{self.style_attrs} style attributes, {self.style_tags} <style> tags")
        problems += [
            f"script from elsewhere: {src}" for src in self.script_srcs if not src.startswith("/static/")
        ]
        return problems


def assert_csp_clean(response: TestResponse) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in (
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    audit = ScriptAudit()
    audit.feed(text_of(response))
    assert audit.blocked() == [], response.request.path


# ---------------------------------------------------------------- sign-in


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/users")


def test_sign_in_page_headers_and_cookie_flags(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert_csp_clean(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_secure_cookie_flag_is_configurable(app_config: dict[str, Any]) -> None:
    from opsloom import create_app

    application = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    try:
        response = application.test_client().get("/login")
        assert "Secure" in response.headers["Set-Cookie"]
        assert "Strict-Transport-Security" in response.headers
    finally:
        application.extensions["opsloom.db"].dispose()


def test_good_sign_in_goes_home_and_shows_the_workspace(client: FlaskClient, admin: Member) -> None:
    response = sign_in(client, admin)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Acme" in text_of(home)
    assert 'data-testid="welcome"' in text_of(home)  # an empty workspace greets its admin
    assert_csp_clean(home)


def test_sign_in_returns_to_a_local_next_only(client: FlaskClient, admin: Member) -> None:
    assert sign_in(client, admin, next="/admin/roles").headers["Location"] == "/admin/roles"
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    for hostile in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert sign_in(client, admin, next=hostile).headers["Location"] == "/"
        client.post("/logout", data={"csrf_token": csrf_of(client, "/")})


def test_bad_password_is_refused_and_recorded(app: Flask, client: FlaskClient, admin: Member) -> None:
    token = csrf_of(client)
    response = client.post(
        "/login", data={"username": admin.username, "password": "wrong", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "The username or password is not right." in text_of(response)
    assert client.get("/").status_code == 302  # still signed out
    with app.extensions["opsloom.db"].session_scope() as session:
        failures = session.scalar(
            select(func.count()).where(
                LoginAttempt.username == admin.username, LoginAttempt.success.is_(False)
            )
        )
    assert failures == 1  # kept although the request rolled back


def test_repeated_failures_are_throttled(client: FlaskClient, admin: Member) -> None:
    token = csrf_of(client)
    for _ in range(3):
        client.post("/login", data={"username": admin.username, "password": "nope", "csrf_token": token})
    response = client.post(
        "/login", data={"username": admin.username, "password": admin.password, "csrf_token": token}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in text_of(response)
    assert client.get("/").status_code == 302


def test_sign_in_without_csrf_is_refused(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    client.get("/login")
    before = snapshot()
    response = client.post("/login", data={"username": admin.username, "password": admin.password})
    assert response.status_code == 400
    assert "nothing was changed" in text_of(response)
    assert snapshot() == before
    assert client.get("/").status_code == 302


def test_sign_out_needs_post_with_csrf(client: FlaskClient, admin: Member) -> None:
    sign_in(client, admin)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no token: still signed in
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


# ---------------------------------------------------------------- CSRF on every page form


def test_page_form_without_or_with_a_wrong_csrf_token_changes_nothing(
    client: FlaskClient, admin: Member, snapshot: Any
) -> None:
    sign_in(client, admin)
    before = snapshot()
    for data in (
        {"key": "agents", "name": "Agents"},
        {"key": "agents", "name": "Agents", "csrf_token": "forged"},
    ):
        response = client.post("/admin/roles", data=data)
        assert response.status_code == 400
        assert "nothing was changed" in text_of(response)
    # htmx posts carry the token as a header instead: a forged header is refused too
    response = client.post("/admin/roles", data={"key": "agents"}, headers={"X-CSRF-Token": "forged"})
    assert response.status_code == 400
    assert snapshot() == before


def test_csrf_header_is_accepted_for_htmx_posts(client: FlaskClient, admin: Member) -> None:
    sign_in(client, admin)
    token = csrf_of(client, "/")
    response = client.post(
        "/admin/roles", data={"key": "agents", "name": "Agents"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 302


# ---------------------------------------------------------------- workspace switcher


def test_switcher_lists_my_workspaces_and_switches(app: Flask, client: FlaskClient, admin: Member) -> None:
    from opsloom.platform.auth import service as identity

    with app.extensions["opsloom.db"].session_scope() as session:  # alice joins globex as staff
        globex = identity.ensure_workspace(session, key="globex", name="Globex")
        identity.add_member(session, globex, session.get(User, admin.user_id), role_keys=["staff"])
        globex_id = globex.id
    sign_in(client, admin)
    home = text_of(client.get("/"))
    assert "Globex" in home
    assert "Acme" in home
    response = client.post("/workspace", data={"workspace_id": globex_id, "csrf_token": csrf_of(client, "/")})
    assert response.status_code == 302
    page = text_of(client.get("/"))
    assert "<h1>Globex</h1>" in page
    # staff in globex: no administration there
    assert client.get("/admin/users").status_code == 403


def test_switcher_refuses_a_foreign_workspace(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    sign_in(client, admin)
    before = snapshot()
    token = csrf_of(client, "/")
    for value in (str(outsider.workspace_id), "999999", "abc"):
        response = client.post("/workspace", data={"workspace_id": value, "csrf_token": token})
        assert response.status_code in (400, 404)
    assert snapshot() == before
    assert "<h1>Acme</h1>" in text_of(client.get("/"))


# ---------------------------------------------------------------- languages


def test_browser_language_is_the_default(client: FlaskClient) -> None:
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in text_of(chinese)
    assert "<h1>登录</h1>" in text_of(chinese)
    other = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "<h1>Sign in</h1>" in text_of(other)


def test_anonymous_language_choice_is_kept_in_the_session(client: FlaskClient) -> None:
    token = csrf_of(client)
    response = client.post("/language", data={"locale": "zh_CN", "next": "/login", "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "<h1>登录</h1>" in text_of(client.get("/login", headers={"Accept-Language": "en"}))


def test_signed_in_language_choice_is_saved_for_the_user(
    app: Flask, client: FlaskClient, admin: Member
) -> None:
    sign_in(client, admin)
    response = client.post(
        "/language", data={"locale": "zh_CN", "next": "/admin/roles", "csrf_token": csrf_of(client, "/")}
    )
    assert response.headers["Location"] == "/admin/roles"
    assert "<h1>角色</h1>" in text_of(client.get("/admin/roles"))
    with app.extensions["opsloom.db"].session_scope() as session:
        assert session.get(User, admin.user_id).locale == "zh_CN"
    # a new browser of the same user follows the saved choice, not its Accept-Language
    other = app.test_client()
    sign_in(other, admin)
    assert "<h1>角色</h1>" in text_of(other.get("/admin/roles", headers={"Accept-Language": "en"}))
    client.post("/language", data={"locale": "en", "csrf_token": csrf_of(client, "/")})
    assert "<h1>Roles</h1>" in text_of(client.get("/admin/roles"))


def test_unknown_language_is_refused(client: FlaskClient, snapshot: Any) -> None:
    token = csrf_of(client)
    before = snapshot()
    response = client.post("/language", data={"locale": "xx", "csrf_token": token})
    assert response.status_code == 400
    assert snapshot() == before


# ---------------------------------------------------------------- every page


SHELL_PAGES = [
    "/",
    "/api/docs",
    "/admin/users",
    "/admin/roles",
    "/admin/departments",
    "/admin/tokens",
    "/admin/audit",
    "/admin/jobs",
    "/admin/plugins",
]


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_every_page_has_the_csp_and_no_inline_script(client: FlaskClient, admin: Member, locale: str) -> None:
    sign_in(client, admin)
    for path in SHELL_PAGES:
        response = client.get(path, headers={"Accept-Language": locale})
        assert response.status_code == 200, path
        assert_csp_clean(response)
    for path in ("/login", "/no-such-page"):
        response = client.get(path)
        assert_csp_clean(response)


def test_error_pages_are_html_in_the_shell(client: FlaskClient, admin: Member) -> None:
    sign_in(client, admin)
    response = client.get("/no-such-page", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "页面不存在" in text_of(response)
    assert "sidenav" in text_of(response)


def test_api_reference_page_uses_our_own_files(client: FlaskClient, admin: Member) -> None:
    sign_in(client, admin)
    page = text_of(client.get("/api/docs"))
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "/static/js/api-docs.js" in page
    assert "http://" not in page
    assert "https://" not in page
    assert client.get("/static/js/api-docs.js").status_code == 200
