"""No page crosses workspaces: every HTML route, filled with another workspace's ids and keys, is a 404.

The sibling ``test_tenant_isolation.py`` walks the JSON API; this module walks every other
rule of ``app.url_map`` (``/admin/*``, ``/apps/<app_key>``, ...) through a signed-in browser
session. The outsider's workspace ``globex`` owns one object of every kind (a user, a role,
a department, an API token, an app with a definition, audit entries, a dead-lettered
delivery); ``acme``'s people then open every page whose URL takes an id or a key with those
foreign values, by GET and by POST (with a valid CSRF token, so that the tenancy check
answers and not the CSRF guard). The answer must be 404: never a page or a redirect about
the foreign object, never a 500, and nothing in the database may change.

Why tables and not guesses: a page added later with a URL variable this module cannot fill
must fail here (``FILL`` below) rather than be skipped quietly, and a page without variables
must be walked, listed in ``FORM_POSTS`` or exempted with a reason (``EXEMPT``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Map, Rule

from opsloom.platform.definitions import DefinitionKind
from opsloom.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

#: stored in the foreign workspace's labels, names, errors and one definition key; an answer
#: that contains it has shown something of the other workspace
FOREIGN_MARK = "globexsecret"

#: prefixes walked by ``test_tenant_isolation.py`` (JSON API and signed webhooks)
API_PREFIXES = ("/api/v1/", "/hooks/")

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_VARIABLE = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


# ---------------------------------------------------------------- a definition kind of our own

NOTE_KIND = DefinitionKind(
    name="note",
    plural="notes",
    schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["key"],
        "properties": {"key": {"type": "string"}, "label": {"type": "string"}},
    },
    label={"en": "Notes", "zh": "笔记"},
)


class NotePlugin:
    """Adds the ``note`` kind, so that app pages list definitions that could leak across workspaces."""

    __name__ = "tests.note_kind"

    @staticmethod
    @hookimpl
    def opsloom_register_definition_kinds() -> list[DefinitionKind]:
        return [NOTE_KIND]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["PLUGINS"] = [NotePlugin]
    return app_config


# ---------------------------------------------------------------- the foreign workspace


@dataclass(frozen=True)
class Foreign:
    """Ids and keys of objects that exist only in workspace ``globex``."""

    workspace_id: int
    app_key: str
    definition_key: str
    role_key: str
    user_id: int
    username: str
    department_id: int
    token_id: int
    delivery_id: int
    audit_id: int


@pytest.fixture
def foreign(app: Flask, client: FlaskClient, outsider: Member) -> Foreign:
    """Objects of every kind in workspace globex, created through the API as its admin would."""
    from opsloom.platform.db import utcnow
    from opsloom.platform.models import AuditEntry, EventDelivery, OutboxEvent

    h = outsider.headers

    def created(method: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.open(url, method=method, json=body, headers=h)
        assert response.status_code in (200, 201), (url, response.get_json())
        return response.get_json()

    app_key, note_key = "gx_app", f"{FOREIGN_MARK}_note"
    created("POST", "/api/v1/apps", {"key": app_key, "label": FOREIGN_MARK, "description": FOREIGN_MARK})
    created("PUT", f"/api/v1/apps/{app_key}/app/{app_key}", {"key": app_key, "label": FOREIGN_MARK})
    created("POST", f"/api/v1/apps/{app_key}/app/{app_key}/publish", {})
    created("PUT", f"/api/v1/apps/{app_key}/notes/{note_key}", {"key": note_key, "label": FOREIGN_MARK})
    created("POST", f"/api/v1/apps/{app_key}/notes/{note_key}/publish", {})
    created("POST", "/api/v1/roles", {"key": "gx_role", "name": FOREIGN_MARK, "description": FOREIGN_MARK})
    dept = created("POST", "/api/v1/departments", {"key": "gx_dept", "name": FOREIGN_MARK})
    user = created(
        "POST",
        "/api/v1/users",
        {"username": "gx_user", "password": "a-long-password", "display_name": FOREIGN_MARK},
    )
    token = created("POST", "/api/v1/tokens", {"name": FOREIGN_MARK})
    with app.extensions["opsloom.db"].session_scope() as session:
        event = OutboxEvent(workspace_id=outsider.workspace_id, type="test.event", payload={"m": FOREIGN_MARK})
        session.add(event)
        session.flush()
        delivery = EventDelivery(
            event_id=event.id, workspace_id=outsider.workspace_id, handler="tests.handler",
            status="dead", attempts=5, last_error=FOREIGN_MARK, created_at=utcnow(),
        )
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id
        # the creations above were audited in globex; keep one entry's id
        audit_id = session.scalar(
            select(AuditEntry.id).where(AuditEntry.workspace_id == outsider.workspace_id).limit(1)
        )
    assert audit_id is not None, "creating objects in globex wrote no audit entry"
    return Foreign(
        workspace_id=outsider.workspace_id,
        app_key=app_key,
        definition_key=note_key,
        role_key="gx_role",
        user_id=user["id"],
        username="gx_user",
        department_id=dept["id"],
        token_id=token["id"],
        delivery_id=delivery_id,
        audit_id=audit_id,
    )


# ---------------------------------------------------------------- filling URLs


class UnfillableRoute(LookupError):
    """A page route has a URL variable that ``FILL`` does not know: teach it before shipping the page."""


def _key_by_collection(rule: Rule, name: str, foreign: Foreign) -> str:
    """A generic ``<key>`` names an object of the collection just before it (``/admin/roles/<key>``)."""
    segments = rule.rule.split("/")
    position = next(
        i for i, part in enumerate(segments) if (m := _VARIABLE.fullmatch(part)) and m.group(1) == name
    )
    collection = segments[position - 1] if position else ""
    by_collection: dict[str, str] = {
        "roles": foreign.role_key,
        "apps": foreign.app_key,
        # the entity designer: the foreign app's key already makes it 404 (the key itself is no secret)
        "entities": "gx_entity",
    }
    if collection not in by_collection:
        raise UnfillableRoute(
            f"page {rule.rule} ({rule.endpoint}): <{name}> follows /{collection}/, and this test does "
            f"not know which foreign object of {collection!r} to use; add it to _key_by_collection "
            f"in {__name__}."
        )
    return by_collection[collection]


#: URL variable name -> the foreign value to put there. Names are matched exactly: a new
#: name (``<int:ticket_id>``) fails the walk until someone adds how to make a foreign one.
FILL: dict[str, Callable[[Rule, str, Foreign], object]] = {
    "app_key": lambda _rule, _name, f: f.app_key,
    "user_id": lambda _rule, _name, f: f.user_id,
    "department_id": lambda _rule, _name, f: f.department_id,
    "token_id": lambda _rule, _name, f: f.token_id,
    "delivery_id": lambda _rule, _name, f: f.delivery_id,
    "key": _key_by_collection,
    # record pages: the foreign app's key already makes them 404; entity and id stay foreign-shaped
    "entity": lambda _rule, _name, f: "gx_entity",
    "record_id": lambda _rule, _name, f: f.user_id,
    "kind": lambda _rule, _name, f: "user",
    "role_key": lambda _rule, _name, f: f.role_key,
    # import runs live in the foreign app: its key already makes them 404
    "run_id": lambda _rule, _name, f: f.audit_id,
}

#: endpoint -> why it is not walked
EXEMPT: dict[str, str] = {
    "static": "files shipped with the product, the same for every workspace",
    "form_engine_records.static": "the record pages' script and styles, the same for every workspace",
    "form_designer.static": "the entity designer's script and styles, the same for every workspace",
    "form_engine_permissions.static": "the permissions pages' styles, the same for every workspace",
    "web.login": "before sign-in there is no workspace; it names no object",
    "web.logout": "ends the session of whoever is signed in; it names no object",
    "web.set_language": "a preference of the browser and the user, not of a workspace",
    "web.switch_workspace": "takes the workspace in the form: test_switching_to_a_foreign_workspace_is_404",
}


def fill(rule: Rule, foreign: Foreign) -> str:
    """The URL of ``rule`` with every variable set to a foreign id or key.

    :raises UnfillableRoute: a variable ``FILL`` does not know, or a value its converter refuses.
    """
    values: dict[str, object] = {}
    for name in sorted(rule.arguments):
        filler = FILL.get(name)
        if filler is None:
            raise UnfillableRoute(
                f"page {rule.rule} ({rule.endpoint}) has the URL variable <{name}>, which this test "
                f"cannot fill with another workspace's value; add {name!r} to FILL in {__name__} "
                "(or exempt the endpoint in EXEMPT, with a reason)."
            )
        value = filler(rule, name, foreign)
        converter = rule._converters[name]
        if isinstance(converter, IntegerConverter) != isinstance(value, int):
            raise UnfillableRoute(
                f"page {rule.rule}: FILL[{name!r}] gave {value!r}, which {type(converter).__name__} refuses."
            )
        values[name] = value
    return _VARIABLE.sub(lambda m: str(values[m.group(1)]), rule.rule)


def page_rules(app: Flask) -> list[Rule]:
    """Every rule that is neither the JSON API (walked by the sibling module) nor exempt."""
    return sorted(
        (
            rule
            for rule in app.url_map.iter_rules()
            if not rule.rule.startswith(API_PREFIXES) and rule.endpoint not in EXEMPT
        ),
        key=lambda r: (r.rule, r.endpoint),
    )


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


# ---------------------------------------------------------------- forms sent with the posts

#: what a page form might carry; views read the fields they know. An edit form that
#: validates makes sure the view looks the object up before it could save anything.
PLAUSIBLE_FORM: dict[str, str] = {
    "name": "Renamed",
    "key": "renamed",
    "description": "",
    "is_admin": "0",
    "permissions": "{}",
    "display_name": "Renamed",
    "email": "",
    "roles": "staff",
    "department": "",
    "is_active": "1",
    "parent": "",
    "head": "",
}
#: the same posts with nothing filled in: a view must not answer a validation error about
#: an object it should not have found
FORMS: dict[str, dict[str, str]] = {"plausible": PLAUSIBLE_FORM, "empty": {}}


def form_posts(f: Foreign) -> dict[str, dict[str, Any] | None]:
    """POST pages without URL variables -> a form naming foreign objects, which must be refused.

    ``None`` marks a form that cannot name another workspace's object; such a post may
    succeed (``ACCEPTED_FORMS``) but must not show anything foreign.
    """
    return {
        "web.admin_user_create": {
            "username": "newcomer", "password": "a-long-password-1", "display_name": "New",
            "roles": f.role_key, "department": str(f.department_id),
        },
        "web.admin_department_create": {
            "key": "ops", "name": "Ops", "parent": str(f.department_id), "head": str(f.user_id),
        },
        "web.admin_role_create": None,
        "web.admin_token_create": None,
    }


#: the posts of ``form_posts`` that cannot name a foreign object; keys are per workspace,
#: so the foreign role's key is free here
ACCEPTED_FORMS: dict[str, dict[str, Any]] = {
    "web.admin_role_create": {"key": "gx_role", "name": "Ours"},
    "web.admin_token_create": {"name": "mine"},
}


# ---------------------------------------------------------------- a browser


def csrf_of(client: FlaskClient, path: str = "/") -> str:
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF meta tag on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, member: Member) -> str:
    """Sign ``member`` in through the login form, acting in their workspace; returns the CSRF token."""
    response = client.post(
        "/login",
        data={"username": member.username, "password": member.password, "csrf_token": csrf_of(client, "/login")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    # a member of several workspaces may land in any of them: act in ``member``'s
    switched = client.post("/workspace", data={"workspace_id": member.workspace_id, "csrf_token": csrf_of(client)})
    assert switched.status_code == 302, switched.get_data(as_text=True)
    return csrf_of(client)


def _describe(method: str, url: str, response: TestResponse, label: str = "") -> str:
    text = response.get_data(as_text=True)
    where = f" [{label}]" if label else ""
    return f"{method} {url}{where} -> {response.status_code} {response.location or ''}: {text[:300]!r}"


#: who walks the pages: acme's admin, acme's admin who is also staff in globex (a user of
#: both workspaces must still not reach globex's objects from acme), and acme's staff
PERSONAS = ("admin", "admin_in_both", "staff")


@pytest.fixture(params=PERSONAS)
def walker(
    request: pytest.FixtureRequest, app: Flask, client: FlaskClient, admin: Member, foreign: Foreign
) -> tuple[str, Foreign]:
    """Sign the persona in (acting in acme) and return it with the foreign values it must not reach."""
    from opsloom.platform.auth import service as identity
    from opsloom.platform.models import User, Workspace

    persona: str = request.param
    member = admin
    if persona == "staff":
        member = request.getfixturevalue("staff")
    if persona == "admin_in_both":
        with app.extensions["opsloom.db"].session_scope() as session:
            globex = session.get(Workspace, foreign.workspace_id)
            alice = session.get(User, admin.user_id)
            identity.add_member(session, globex, alice, role_keys=["staff"])
            # the hardest token to refuse: the signed-in user's own, issued for the other workspace
            token, _plaintext = identity.issue_token(session, user=alice, workspace=globex, name=FOREIGN_MARK)
            session.flush()
            foreign = dataclasses.replace(foreign, token_id=token.id)
    sign_in(client, member)
    return persona, foreign


# ---------------------------------------------------------------- the walk


@dataclass
class Walk:
    """One persona's pass over the page map: the answers it expects and the problems it found."""

    client: FlaskClient
    foreign: Foreign
    csrf: str
    #: answers for a URL that names a foreign object
    refused: set[int]
    #: answers for a page without variables (a list of this workspace's own things)
    opened: set[int]
    checked: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)

    def expect(self, method: str, url: str, allowed: Iterable[int], label: str = "", **kwargs: Any) -> None:
        response = self.client.open(url, method=method, **kwargs)
        self.checked += 1
        if response.status_code not in allowed or FOREIGN_MARK in response.get_data(as_text=True):
            self.problems.append(_describe(method, url, response, label))

    def page_with_variables(self, rule: Rule) -> None:
        try:
            url = fill(rule, self.foreign)
        except UnfillableRoute as exc:
            self.problems.append(str(exc))
            return
        for method in methods_of(rule):
            if method == "GET":
                self.expect(method, url, self.refused)
                continue
            for label, form in FORMS.items():
                self.expect(method, url, self.refused, label, data={**form, "csrf_token": self.csrf})

    def page_without_variables(self, rule: Rule, posts: dict[str, dict[str, Any] | None]) -> None:
        for method in methods_of(rule):
            if method == "GET":
                self.expect(method, rule.rule, self.opened)
            elif rule.endpoint not in posts:
                self.problems.append(
                    f"{method} {rule.rule} ({rule.endpoint}) takes no URL variable and is not in "
                    f"form_posts() or EXEMPT in {__name__}: say which foreign objects its form could "
                    "name, or why it is workspace-agnostic."
                )
            elif posts[rule.endpoint] is None:
                # cannot name a foreign object: posted after the walk, see ACCEPTED_FORMS
                assert rule.endpoint in ACCEPTED_FORMS, f"{rule.endpoint}: give ACCEPTED_FORMS a form for it"
            else:
                form = {**(posts[rule.endpoint] or {}), "csrf_token": self.csrf}
                self.expect(method, rule.rule, range(400, 500), "foreign references", data=form)


def test_every_page_refuses_foreign_ids(
    client: FlaskClient, app: Flask, walker: tuple[str, Foreign], snapshot: Any
) -> None:
    persona, foreign = walker
    walk = Walk(
        client,
        foreign,
        csrf_of(client),
        # staff are stopped by the admin guard before any lookup; that answer tells nothing either
        refused={404} if persona != "staff" else {403, 404},
        opened={200} if persona != "staff" else {200, 403},
    )
    before = snapshot()
    posts = form_posts(foreign)
    for rule in page_rules(app):
        if rule.arguments:
            walk.page_with_variables(rule)
        else:
            walk.page_without_variables(rule, posts)
    assert not walk.problems, "\n".join(walk.problems)
    assert walk.checked > 20, "the page map looks too small; was the web blueprint mounted?"
    assert snapshot() == before, "a refused page changed the database"

    # posts that cannot name a foreign object may succeed; they still must not show one
    for endpoint, form in ACCEPTED_FORMS.items():
        rule = next(r for r in page_rules(app) if r.endpoint == endpoint)
        response = client.post(rule.rule, data={**form, "csrf_token": walk.csrf}, follow_redirects=True)
        assert response.status_code < 500, _describe("POST", rule.rule, response)
        assert FOREIGN_MARK not in response.get_data(as_text=True), _describe("POST", rule.rule, response)


def test_switching_to_a_foreign_workspace_is_404(
    client: FlaskClient, admin: Member, foreign: Foreign
) -> None:
    token = sign_in(client, admin)
    response = client.post("/workspace", data={"workspace_id": foreign.workspace_id, "csrf_token": token})
    assert response.status_code == 404, _describe("POST", "/workspace", response)
    # still in acme
    assert FOREIGN_MARK not in client.get("/").get_data(as_text=True)
    assert client.get(f"/apps/{foreign.app_key}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/admin/users?q=gx_user",
        "/admin/users?q=globex",  # a prefix of the foreign display name, never echoed whole
        "/admin/roles",
        "/admin/departments",
        "/admin/tokens?all=1",
        "/admin/audit",
        "/admin/audit?object_type=role&object_id=gx_role",
        "/admin/audit?user={user_id}",
        "/admin/jobs",
        "/admin/plugins",
    ],
)
def test_list_pages_show_nothing_of_another_workspace(
    client: FlaskClient, admin: Member, foreign: Foreign, url: str
) -> None:
    sign_in(client, admin)
    response = client.get(url.format(user_id=foreign.user_id))
    assert response.status_code == 200, _describe("GET", url, response)
    assert FOREIGN_MARK not in response.get_data(as_text=True), url


def test_a_key_used_in_both_workspaces_opens_your_own(
    app: Flask, client: FlaskClient, admin: Member, foreign: Foreign
) -> None:
    """Keys are per workspace: acme's ``gx_app`` and ``gx_role`` are acme's, whatever globex has."""
    h = admin.headers
    assert client.post("/api/v1/apps", json={"key": foreign.app_key, "label": "Ours"}, headers=h).status_code == 201
    body = {"key": "our_note", "label": "Our note"}
    assert client.put(f"/api/v1/apps/{foreign.app_key}/notes/our_note", json=body, headers=h).status_code == 200
    assert client.post("/api/v1/roles", json={"key": foreign.role_key, "name": "Ours"}, headers=h).status_code == 201
    sign_in(client, admin)
    for url, ours in ((f"/apps/{foreign.app_key}", "our_note"), (f"/admin/roles/{foreign.role_key}", "Ours")):
        response = client.get(url)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, _describe("GET", url, response)
        assert ours in text, url
        assert FOREIGN_MARK not in text, url


# ---------------------------------------------------------------- the walk fails loudly on new pages


def _rule(path: str, endpoint: str = "web.new_page") -> Rule:
    rules = Map([Rule(path, endpoint=endpoint)])
    return next(iter(rules.iter_rules()))


FAKE = Foreign(
    workspace_id=2, app_key="gx_app", definition_key="gx_note", role_key="gx_role", user_id=7,
    username="gx_user", department_id=8, token_id=9, delivery_id=10, audit_id=11,
)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/admin/widgets/<int:widget_id>", "<widget_id>"),
        ("/admin/teams/<key>", "follows /teams/"),
        ("/admin/users/<user_key>", "<user_key>"),
        ("/admin/users/<key_of_something>/x", "<key_of_something>"),
        ("/admin/roles/<int:key>", "IntegerConverter refuses"),
    ],
)
def test_an_unknown_url_variable_fails_with_a_clear_message(path: str, message: str) -> None:
    with pytest.raises(UnfillableRoute, match=re.escape(message)):
        fill(_rule(path), FAKE)


def test_known_variables_are_filled_with_foreign_values() -> None:
    filled: Iterable[tuple[str, str]] = (
        ("/admin/users/<int:user_id>", "/admin/users/7"),
        ("/admin/roles/<key>/delete", "/admin/roles/gx_role/delete"),
        ("/apps/<app_key>", "/apps/gx_app"),
        ("/admin/jobs/deliveries/<int:delivery_id>/retry", "/admin/jobs/deliveries/10/retry"),
    )
    for path, url in filled:
        assert fill(_rule(path), FAKE) == url
