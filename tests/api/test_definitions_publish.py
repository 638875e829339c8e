"""Publish hooks run inside the publishing transaction: a failing hook leaves nothing published.

``NotesPlugin`` registers a small test kind (``note`` under ``/notes``) the other
definitions and package tests use too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.platform.audit import record
from opsloom.platform.definitions import DefinitionKind
from opsloom.platform.errors import ValidationError
from opsloom.platform.models import AuditEntry, Definition
from opsloom.plugins import hookimpl
from tests.api.test_api_base import assert_problem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from flask.testing import FlaskClient

    from opsloom.platform.definitions import CheckContext, PublishContext
    from tests.conftest import Member

IDENT = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}


def _check(body: dict[str, Any], _context: CheckContext) -> Iterator[tuple[str, str]]:
    if body["text"] == "forbidden":
        yield "/text", "this word is not allowed"


def _on_publish(context: PublishContext) -> None:
    """Write in the transaction, prove the new version is visible there, then maybe fail."""
    row = context.definition
    session = context.session
    record(
        session, context.actor, "note_hook", "note", row.key, after={"version": row.version}, now=context.now
    )
    visible = session.scalar(select(Definition.id).where(Definition.id == row.id)) is not None
    draft_left = session.scalar(
        select(Definition.id).where(
            Definition.app_id == row.app_id,
            Definition.kind == "note",
            Definition.key == row.key,
            Definition.version == 0,
        )
    )
    context.report.append(f"version {row.version} visible: {visible}; draft left: {draft_left is not None}")
    if context.previous is not None:
        context.report.append(f"previous: {context.previous.version}")
    failure = context.options.get("fail") or row.body.get("fail")
    if failure == "validation":
        raise ValidationError("The hook refused this note.", errors={"/text": "refused by the hook"})
    if failure == "crash":
        raise RuntimeError("the hook crashed")


NOTE_KIND = DefinitionKind(
    name="note",
    plural="notes",
    order=10,
    schema={
        "type": "object",
        "required": ["key", "text"],
        "additionalProperties": False,
        "properties": {
            "key": IDENT,
            "text": {"type": "string", "maxLength": 50},
            "fail": {"enum": ["validation", "crash"]},
            "fields": {
                "type": "array",
                "items": {"type": "object", "required": ["key"], "properties": {"key": IDENT}},
            },
        },
    },
    check=_check,
    on_publish=_on_publish,
)


class NotesPlugin:
    """A test plugin, passed with ``app_config["PLUGINS"]``."""

    __name__ = "tests.notes"

    @hookimpl
    def opsloom_register_definition_kinds(self) -> list[DefinitionKind]:
        return [NOTE_KIND]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["PLUGINS"] = [NotesPlugin()]
    return app_config


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> str:
    assert (
        client.post("/api/v1/apps", json={"key": "crm", "label": "CRM"}, headers=admin.headers).status_code
        == 201
    )
    return "crm"


def _hook_rows(app: Flask) -> list[Any]:
    with app.extensions["opsloom.db"].session_scope() as session:
        return list(session.scalars(select(AuditEntry.after).where(AuditEntry.action == "note_hook")))


def test_the_hook_runs_in_the_publishing_transaction(
    client: FlaskClient, admin: Member, crm: str, app: Flask
) -> None:
    client.put("/api/v1/apps/crm/notes/hi", json={"key": "hi", "text": "one"}, headers=admin.headers)
    response = client.post("/api/v1/apps/crm/notes/hi/publish", headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["report"] == ["version 1 visible: True; draft left: False"]
    assert _hook_rows(app) == [{"version": 1}]
    client.put("/api/v1/apps/crm/notes/hi", json={"key": "hi", "text": "two"}, headers=admin.headers)
    second = client.post(
        "/api/v1/apps/crm/notes/hi/publish", json={"options": {"force": True}}, headers=admin.headers
    )
    assert second.get_json()["report"] == ["version 2 visible: True; draft left: False", "previous: 1"]


@pytest.mark.parametrize(("failure", "status"), [("validation", 422), ("crash", 500)])
def test_a_failing_hook_leaves_nothing_published(
    client: FlaskClient, admin: Member, crm: str, app: Flask, snapshot: Any, failure: str, status: int
) -> None:
    client.put("/api/v1/apps/crm/notes/hi", json={"key": "hi", "text": "one"}, headers=admin.headers)
    before = snapshot()
    response = client.post(
        "/api/v1/apps/crm/notes/hi/publish", json={"options": {"fail": failure}}, headers=admin.headers
    )
    body = assert_problem(response, status)
    if failure == "validation":
        assert body["errors"] == {"/text": "refused by the hook"}
    else:
        # a plugin bug: logged with the request id, no internals in the answer
        assert "crashed" not in response.get_data(as_text=True)
        assert body["request_id"] in body["detail"]
    assert snapshot() == before
    assert _hook_rows(app) == []
    read = client.get("/api/v1/apps/crm/notes/hi", headers=admin.headers).get_json()
    assert (read["status"], read["latest_version"], read["has_draft"]) == ("draft", None, True)


def test_a_failing_hook_rolls_back_even_for_a_caller_that_catches(app: Flask, admin: Member) -> None:
    """The savepoint around publish: the session is usable and clean after a hook failure."""
    from opsloom.platform.actor import Actor
    from opsloom.platform.db import utcnow
    from opsloom.platform.definitions import create_app_, publish, save_draft
    from opsloom.platform.plugin_host import get_plugin_host

    registries = get_plugin_host(app).registries
    actor = Actor(user_id=admin.user_id, username="alice", workspace_id=admin.workspace_id, is_admin=True)
    with app.extensions["opsloom.db"].session_scope() as session:
        crm_app = create_app_(session, key="crm", label="CRM", actor=actor, now=utcnow())
        save_draft(
            session,
            app=crm_app,
            kind=NOTE_KIND,
            key="hi",
            body={"key": "hi", "text": "x", "fail": "crash"},
            actor=actor,
            now=utcnow(),
            registries=registries,
        )
        with pytest.raises(Exception, match="hook"):
            publish(
                session,
                app=crm_app,
                kind=NOTE_KIND,
                key="hi",
                actor=actor,
                now=utcnow(),
                registries=registries,
            )
        rows = session.scalars(select(Definition.version).where(Definition.app_id == crm_app.id)).all()
        assert rows == [0]
    assert _hook_rows(app) == []


def test_service_history_lookup_and_summaries(app: Flask, admin: Member) -> None:
    """The functions the web pages call, straight through the service."""
    from opsloom.platform.actor import Actor
    from opsloom.platform.db import utcnow
    from opsloom.platform.definitions import (
        create_app_,
        get_app,
        get_definition,
        history,
        list_apps,
        list_definitions,
        publish,
        save_draft,
    )
    from opsloom.platform.definitions.service import definition_lookup
    from opsloom.platform.errors import NotFound
    from opsloom.platform.plugin_host import get_plugin_host

    registries = get_plugin_host(app).registries
    actor = Actor(user_id=admin.user_id, username="alice", workspace_id=admin.workspace_id, is_admin=True)
    stranger = Actor(user_id=None, username="x", workspace_id=admin.workspace_id + 999)
    with app.extensions["opsloom.db"].session_scope() as session:
        crm_app = create_app_(session, key="crm", label="CRM", actor=actor, now=utcnow())
        for text in ("one", "two"):
            save_draft(
                session,
                app=crm_app,
                kind=NOTE_KIND,
                key="hi",
                body={"key": "hi", "text": text},
                actor=actor,
                now=utcnow(),
                registries=registries,
            )
            publish(
                session,
                app=crm_app,
                kind=NOTE_KIND,
                key="hi",
                actor=actor,
                now=utcnow(),
                registries=registries,
            )
        save_draft(
            session,
            app=crm_app,
            kind=NOTE_KIND,
            key="hi",
            body={"key": "hi", "text": "three"},
            actor=actor,
            now=utcnow(),
            registries=registries,
        )
        assert [row.version for row in history(session, app=crm_app, kind=NOTE_KIND, key="hi")] == [2, 1]
        assert get_definition(session, app=crm_app, kind="note", key="hi").body["text"] == "two"
        assert (
            get_definition(session, app=crm_app, kind="note", key="hi", version="draft").body["text"]
            == "three"
        )
        assert definition_lookup(session, crm_app)("note", "hi") == {"key": "hi", "text": "three"}
        assert definition_lookup(session, crm_app)("note", "nope") is None
        [summary] = list_definitions(session, actor, crm_app, "note")
        assert (summary.key, summary.latest_version, summary.has_draft, summary.status) == (
            "hi",
            2,
            True,
            "published",
        )
        assert [a.key for a in list_apps(session, actor)] == ["crm"]
        assert get_app(session, actor, "crm") is crm_app
        assert list_apps(session, stranger) == []
        with pytest.raises(NotFound):
            get_app(session, stranger, "crm")
        with pytest.raises(NotFound):
            list_definitions(session, stranger, crm_app, "note")
        with pytest.raises(NotFound):
            history(session, app=crm_app, kind=NOTE_KIND, key="nope")
