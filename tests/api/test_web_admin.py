"""The administration pages through the Flask test client: rights, forms, escaping, audit, jobs, plugins."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.models import ApiToken, Department, EventDelivery, OutboxEvent, Role, User
from opsloom.plugins import hookimpl

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
XSS = "<script>alert(1)</script>"
ADMIN_PAGES = [
    "/admin/users",
    "/admin/roles",
    "/admin/departments",
    "/admin/audit",
    "/admin/jobs",
    "/admin/plugins",
]


class BrokenPlugin:
    """A plugin whose registration hook raises: it must be listed as failed, with its error."""

    @staticmethod
    @hookimpl
    def opsloom_register_field_types() -> list[Any]:
        raise RuntimeError("the broken plugin exploded on purpose")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["PLUGINS"] = [BrokenPlugin]
    return app_config


def csrf_of(client: FlaskClient, path: str = "/") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF meta tag on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, member: Member) -> None:
    token = csrf_of(client, "/login")
    response = client.post(
        "/login", data={"username": member.username, "password": member.password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def post(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    return client.post(path, data={**data, "csrf_token": csrf_of(client)}, **kwargs)


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def as_admin(client: FlaskClient, admin: Member) -> FlaskClient:
    sign_in(client, admin)
    return client


# ---------------------------------------------------------------- who may open what


def test_staff_get_403_on_every_admin_page(client: FlaskClient, staff: Member, snapshot: Any) -> None:
    sign_in(client, staff)
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "administrators" in text_of(response)
    before = snapshot()
    for path, data in (
        ("/admin/roles", {"key": "sneaky", "name": "Sneaky"}),
        ("/admin/users", {"username": "mallory", "password": "long-enough-1"}),
        ("/admin/departments", {"key": "ops", "name": "Ops"}),
    ):
        assert post(client, path, data).status_code == 403
    assert snapshot() == before
    # their own API tokens stay theirs to manage
    page = client.get("/admin/tokens")
    assert page.status_code == 200
    assert "All tokens of this workspace" not in text_of(page)
    assert "Administration" not in text_of(client.get("/"))


def test_admin_sees_every_admin_page_in_both_languages(as_admin: FlaskClient) -> None:
    for path in [*ADMIN_PAGES, "/admin/tokens"]:
        english = as_admin.get(path, headers={"Accept-Language": "en"})
        chinese = as_admin.get(path, headers={"Accept-Language": "zh-CN"})
        assert english.status_code == chinese.status_code == 200, path
        assert "系统管理" in text_of(chinese)
        assert "Administration" in text_of(english)


# ---------------------------------------------------------------- roles


def test_role_create_edit_delete_through_forms(app: Flask, as_admin: FlaskClient) -> None:
    response = post(
        as_admin, "/admin/roles", {"key": "agents", "name": "Agents", "description": "Front line"}
    )
    assert response.status_code == 302
    assert "The role agents was created." in text_of(as_admin.get("/admin/roles"))
    response = post(
        as_admin,
        "/admin/roles/agents",
        {
            "name": "Support agents",
            "description": "",
            "is_admin": "0",
            "permissions": '{"entity:ticket": {}}',
        },
    )
    assert response.status_code == 302
    with app.extensions["opsloom.db"].session_scope() as session:
        role = session.scalar(select(Role).where(Role.key == "agents"))
        assert (role.name, role.permissions) == ("Support agents", {"entity:ticket": {}})
    assert post(as_admin, "/admin/roles/agents/delete", {}).status_code == 302
    assert as_admin.get("/admin/roles/agents").status_code == 404


def test_invalid_role_shows_field_errors_and_changes_nothing(as_admin: FlaskClient, snapshot: Any) -> None:
    before = snapshot()
    response = post(as_admin, "/admin/roles", {"key": "Bad Key!", "name": "x"})
    assert response.status_code == 422
    assert "has-error" in text_of(response)
    assert "Bad Key!" in text_of(response)  # the form keeps what was typed
    response = post(as_admin, "/admin/roles", {"key": "admin", "name": "Again"})
    assert response.status_code == 409
    assert "This is already taken" in text_of(response)
    response = post(as_admin, "/admin/roles/staff", {"name": "Staff", "permissions": "{not json"})
    assert response.status_code == 422
    assert "This is not valid JSON." in text_of(response)
    response = post(as_admin, "/admin/roles/admin", {"name": "Admins", "is_admin": "0", "permissions": "{}"})
    assert response.status_code == 409
    assert post(as_admin, "/admin/roles/admin/delete", {}).status_code == 409
    assert snapshot() == before


def test_admin_authored_text_is_escaped_everywhere(app: Flask, as_admin: FlaskClient, admin: Member) -> None:
    from opsloom.platform.auth import service as identity
    from opsloom.platform.definitions import service as definitions

    assert post(as_admin, "/admin/roles", {"key": "evil", "name": XSS, "description": XSS}).status_code == 302
    assert post(as_admin, "/admin/departments", {"key": "evil", "name": XSS}).status_code == 302
    with app.extensions["opsloom.db"].session_scope() as session:
        actor = identity.actor_for(
            session, session.get(User, admin.user_id), admin.workspace_id, via="session"
        )
        definitions.create_app_(
            session,
            key="crm",
            label={"en": XSS, "zh": XSS},
            description=XSS,
            actor=actor,
            now=datetime.now(UTC),
        )
    for path in (
        "/",
        "/apps/crm",
        "/admin/roles",
        "/admin/roles/evil",
        "/admin/departments",
        "/admin/audit",
        "/admin/users",
    ):
        page = text_of(as_admin.get(path))
        assert XSS not in page, path
        assert "alert(1)" not in page or "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


# ---------------------------------------------------------------- users and departments


def test_user_create_and_edit_roles_department_active(app: Flask, as_admin: FlaskClient) -> None:
    assert post(as_admin, "/admin/departments", {"key": "support", "name": "Support"}).status_code == 302
    with app.extensions["opsloom.db"].session_scope() as session:
        dept_id = session.scalar(select(Department.id).where(Department.key == "support"))
    response = post(
        as_admin,
        "/admin/users",
        {
            "username": "bob",
            "display_name": "Bob",
            "password": "bob-password-1",
            "roles": ["staff"],
            "department": str(dept_id),
        },
    )
    assert response.status_code == 302, text_of(response)
    listing = text_of(as_admin.get("/admin/users"))
    assert "Bob" in listing
    assert "Support" in listing
    with app.extensions["opsloom.db"].session_scope() as session:
        bob = session.scalar(select(User).where(User.username == "bob"))
    edit = as_admin.get(f"/admin/users/{bob.id}")
    assert edit.status_code == 200
    response = post(
        as_admin,
        f"/admin/users/{bob.id}",
        {
            "display_name": "Bobby",
            "email": "",
            "roles": ["staff", "admin"],
            "department": "",
            "is_active": ["0"],
        },
    )
    assert response.status_code == 302, text_of(response)
    with app.extensions["opsloom.db"].session_scope() as session:
        assert session.get(User, bob.id).display_name == "Bobby"
    assert "inactive" in text_of(as_admin.get("/admin/users"))
    assert "Administrator" in text_of(as_admin.get(f"/admin/users/{bob.id}"))


def test_user_form_errors_change_nothing(as_admin: FlaskClient, snapshot: Any) -> None:
    before = snapshot()
    response = post(as_admin, "/admin/users", {"username": "x", "password": "short", "roles": ["nope"]})
    assert response.status_code == 422
    assert "has-error" in text_of(response)
    response = post(as_admin, "/admin/users", {"username": "alice", "password": "another-pass-1"})
    assert response.status_code == 409
    assert snapshot() == before


def test_foreign_users_and_departments_are_404(
    app: Flask, as_admin: FlaskClient, outsider: Member, snapshot: Any
) -> None:
    from opsloom.platform.auth import service as identity

    with app.extensions["opsloom.db"].session_scope() as session:
        actor = identity.actor_for(
            session, session.get(User, outsider.user_id), outsider.workspace_id, via="session"
        )
        foreign = identity.create_department(session, actor, key="secret", name="Secret")
        foreign_id = foreign.id
    before = snapshot()
    assert as_admin.get(f"/admin/users/{outsider.user_id}").status_code == 404
    assert post(as_admin, f"/admin/users/{outsider.user_id}", {"display_name": "x"}).status_code == 404
    assert as_admin.get(f"/admin/departments/{foreign_id}").status_code == 404
    assert post(as_admin, f"/admin/departments/{foreign_id}/delete", {}).status_code == 404
    assert snapshot() == before


def test_department_tree_create_move_delete(app: Flask, as_admin: FlaskClient, admin: Member) -> None:
    assert post(as_admin, "/admin/departments", {"key": "ops", "name": "Operations"}).status_code == 302
    with app.extensions["opsloom.db"].session_scope() as session:
        ops_id = session.scalar(select(Department.id).where(Department.key == "ops"))
    response = post(
        as_admin,
        "/admin/departments",
        {"key": "desk", "name": "Help desk", "parent": str(ops_id), "head": str(admin.user_id)},
    )
    assert response.status_code == 302
    with app.extensions["opsloom.db"].session_scope() as session:
        desk = session.scalar(select(Department).where(Department.key == "desk"))
        assert (desk.parent_id, desk.head_user_id) == (ops_id, admin.user_id)
        desk_id = desk.id
    page = text_of(as_admin.get("/admin/departments"))
    table = page[page.index('data-testid="departments"') :]
    assert table.index("Operations") < table.index("Help desk")
    # a cycle is refused with the field error, and nothing changes
    response = post(
        as_admin, f"/admin/departments/{ops_id}", {"key": "ops", "name": "Operations", "parent": str(desk_id)}
    )
    assert response.status_code == 422
    assert "cannot be moved under itself" in text_of(response)
    assert post(as_admin, f"/admin/departments/{ops_id}/delete", {}).status_code == 409
    assert post(as_admin, f"/admin/departments/{desk_id}/delete", {}).status_code == 302
    assert post(as_admin, f"/admin/departments/{ops_id}/delete", {}).status_code == 302


# ---------------------------------------------------------------- API tokens


def test_token_is_shown_once_then_listed_and_revoked(app: Flask, as_admin: FlaskClient) -> None:
    response = post(as_admin, "/admin/tokens", {"name": "CRM sync", "days": "30"})
    assert response.status_code == 201
    plaintext = re.search(r'<code id="new-token-value">([^<]+)</code>', text_of(response)).group(1)
    assert plaintext.startswith("olt_")
    listing = text_of(as_admin.get("/admin/tokens"))
    assert "CRM sync" in listing
    assert plaintext not in listing
    api = app.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 200
    with app.extensions["opsloom.db"].session_scope() as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "CRM sync"))
    assert post(as_admin, f"/admin/tokens/{token_id}/revoke", {}).status_code == 302
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    assert "revoked" in text_of(as_admin.get("/admin/tokens"))


def test_token_form_errors_and_foreign_tokens(
    as_admin: FlaskClient, staff: Member, outsider: Member, app: Flask, snapshot: Any
) -> None:
    with app.extensions["opsloom.db"].session_scope() as session:
        foreign_id = session.scalar(select(ApiToken.id).where(ApiToken.user_id == outsider.user_id))
        staff_token = session.scalar(select(ApiToken.id).where(ApiToken.user_id == staff.user_id))
    before = snapshot()
    assert post(as_admin, "/admin/tokens", {"name": "", "days": "30"}).status_code == 422
    assert post(as_admin, "/admin/tokens", {"name": "x", "days": "0"}).status_code == 422
    assert post(as_admin, f"/admin/tokens/{foreign_id}/revoke", {}).status_code == 404
    assert snapshot() == before
    # the admin sees (and may revoke) a staff member's token under "all"
    assert "tests" in text_of(as_admin.get("/admin/tokens?all=1"))
    staff_client = app.test_client()
    sign_in(staff_client, staff)
    assert "All tokens" not in text_of(staff_client.get("/admin/tokens?all=1"))
    assert post(as_admin, f"/admin/tokens/{staff_token}/revoke", {"all": "1"}).status_code == 302


# ---------------------------------------------------------------- audit log


def test_audit_log_filters_and_pages_with_a_cursor(as_admin: FlaskClient, app: Flask, admin: Member) -> None:
    from opsloom.platform.auth import service as identity

    with app.extensions["opsloom.db"].session_scope() as session:
        actor = identity.actor_for(
            session, session.get(User, admin.user_id), admin.workspace_id, via="session"
        )
        for n in range(55):
            identity.create_role(session, actor, key=f"role_{n:02d}", name=f"Role {n}")
    page = text_of(as_admin.get("/admin/audit?object_type=role"))
    assert page.count('<span class="badge badge-info">create</span>') == 50
    more = re.search(r'<a class="btn" href="(/admin/audit\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert "cursor=" in more
    assert "object_type=role" in more
    second = as_admin.get(more, headers={"HX-Request": "true"})
    assert second.status_code == 200
    fragment = text_of(second)
    assert "<html" not in fragment  # htmx gets the rows only
    assert fragment.count("<tr") == 5
    one = text_of(as_admin.get("/admin/audit?object_type=role&object_id=role_07"))
    assert one.count('<span class="badge badge-info">create</span>') == 1
    by_user = as_admin.get(f"/admin/audit?user={admin.user_id}")
    assert by_user.status_code == 200
    forged = as_admin.get("/admin/audit?object_type=role&cursor=forged")
    assert forged.status_code == 400
    assert "no longer valid" in text_of(forged)


# ---------------------------------------------------------------- job monitor


def _dead_delivery(app: Flask, workspace_id: int) -> int:
    with app.extensions["opsloom.db"].session_scope() as session:
        event = OutboxEvent(
            workspace_id=workspace_id, type="test.event", payload={}, dispatched_at=datetime.now(UTC)
        )
        session.add(event)
        session.flush()
        delivery = EventDelivery(
            event_id=event.id,
            workspace_id=workspace_id,
            handler="tests.handler",
            status="dead",
            attempts=5,
            last_error="RuntimeError: <b>boom</b>",
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def test_job_monitor_lists_and_retries_a_dead_delivery(
    as_admin: FlaskClient, app: Flask, admin: Member
) -> None:
    delivery_id = _dead_delivery(app, admin.workspace_id)
    page = text_of(as_admin.get("/admin/jobs"))
    assert f'id="delivery-{delivery_id}"' in page
    assert "&lt;b&gt;boom&lt;/b&gt;" in page
    response = post(
        as_admin, f"/admin/jobs/deliveries/{delivery_id}/retry", {}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<html" not in text_of(response)
    with app.extensions["opsloom.db"].session_scope() as session:
        delivery = session.get(EventDelivery, delivery_id)
        assert (delivery.status, delivery.attempts) == ("pending", 0)
    # not dead any more: a second retry is a conflict
    assert post(as_admin, f"/admin/jobs/deliveries/{delivery_id}/retry", {}).status_code == 409


def test_job_monitor_hides_other_workspaces(
    as_admin: FlaskClient, app: Flask, outsider: Member, snapshot: Any
) -> None:
    foreign = _dead_delivery(app, outsider.workspace_id)
    assert f'id="delivery-{foreign}"' not in text_of(as_admin.get("/admin/jobs"))
    before = snapshot()
    assert post(as_admin, f"/admin/jobs/deliveries/{foreign}/retry", {}).status_code == 404
    assert snapshot() == before


# ---------------------------------------------------------------- plugins and apps


def test_plugins_page_shows_builtins_and_failures(as_admin: FlaskClient) -> None:
    page = text_of(as_admin.get("/admin/plugins"))
    assert "<code>opsloom.platform" in page
    assert "BrokenPlugin" in page
    assert "the broken plugin exploded on purpose" in page
    assert 'data-testid="failed-plugins"' in page


def test_navigation_and_app_overview(
    as_admin: FlaskClient, app: Flask, admin: Member, outsider: Member
) -> None:
    from opsloom.platform.auth import service as identity
    from opsloom.platform.definitions import service as definitions

    with app.extensions["opsloom.db"].session_scope() as session:
        actor = identity.actor_for(
            session, session.get(User, admin.user_id), admin.workspace_id, via="session"
        )
        definitions.create_app_(
            session, key="crm", label={"en": "Customers", "zh": "客户"}, actor=actor, now=datetime.now(UTC)
        )
        other = identity.actor_for(
            session, session.get(User, outsider.user_id), outsider.workspace_id, via="session"
        )
        definitions.create_app_(session, key="secret_app", label="Secret", actor=other, now=datetime.now(UTC))
    english = text_of(as_admin.get("/"))
    assert 'href="/apps/crm"' in english
    assert "Customers" in english
    assert "secret_app" not in english
    assert "客户" in text_of(as_admin.get("/", headers={"Accept-Language": "zh-CN"}))
    assert as_admin.get("/apps/crm").status_code == 200
    assert as_admin.get("/apps/secret_app").status_code == 404
