"""App packages: export, import (validated whole, all-or-nothing, idempotent), round trips."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from opsloom.platform.definitions import PACKAGE_FORMAT
from opsloom.platform.models import App, Definition
from tests.api.test_api_base import assert_problem
from tests.api.test_definitions_publish import NotesPlugin

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

IMPORT = "/api/v1/apps/import"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["PLUGINS"] = [NotesPlugin()]
    return app_config


def build_crm(client: FlaskClient, member: Member) -> None:
    """An app with two notes (one at version 2, one with a pending draft) and published settings."""
    h = member.headers
    assert (
        client.post(
            "/api/v1/apps",
            json={
                "key": "crm",
                "label": {"en": "CRM", "zh": "客户"},
                "description": "Customers",
                "icon": "users",
            },
            headers=h,
        ).status_code
        == 201
    )
    for key, texts in (("welcome", ["Hello", "Hello v2"]), ("rules", ["Be kind"])):
        for text in texts:
            client.put(f"/api/v1/apps/crm/notes/{key}", json={"key": key, "text": text}, headers=h)
            assert client.post(f"/api/v1/apps/crm/notes/{key}/publish", headers=h).status_code == 200
    client.put("/api/v1/apps/crm/notes/rules", json={"key": "rules", "text": "Be kinder"}, headers=h)
    settings = {
        "key": "crm",
        "label": {"en": "CRM", "zh": "客户"},
        "description": "Customers",
        "icon": "users",
        "navigation": [{"kind": "note", "key": "welcome"}, {"kind": "note", "key": "rules"}],
    }
    client.put("/api/v1/apps/crm/app/crm", json=settings, headers=h)
    assert client.post("/api/v1/apps/crm/app/crm/publish", headers=h).status_code == 200


def export(client: FlaskClient, member: Member, drafts: bool = False) -> dict[str, Any]:
    response = client.get(f"/api/v1/apps/crm/export{'?drafts=1' if drafts else ''}", headers=member.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _versions(app: Flask, workspace_id: int) -> int:
    with app.extensions["opsloom.db"].session_scope() as session:
        return session.scalar(
            select(func.count())
            .select_from(Definition)
            .where(Definition.workspace_id == workspace_id, Definition.version > 0)
        )


def test_export_holds_the_latest_published_versions_in_order(client: FlaskClient, admin: Member) -> None:
    build_crm(client, admin)
    response = client.get("/api/v1/apps/crm/export", headers=admin.headers)
    assert response.headers["Content-Disposition"] == 'attachment; filename="crm.opsloom.json"'
    package = response.get_json()
    assert package["format"] == PACKAGE_FORMAT
    assert package["app"] == {
        "key": "crm",
        "label": {"en": "CRM", "zh": "客户"},
        "description": "Customers",
        "icon": "users",
    }
    assert [(d["kind"], d["key"], d["version"]) for d in package["definitions"]] == [
        ("note", "rules", 1),
        ("note", "welcome", 2),
        ("app", "crm", 1),
    ]
    assert package["definitions"][1]["body"] == {"key": "welcome", "text": "Hello v2"}
    with_drafts = export(client, admin, drafts=True)
    assert [(d["key"], d["version"]) for d in with_drafts["definitions"]] == [
        ("rules", 1),
        ("rules", "draft"),
        ("welcome", 2),
        ("crm", 1),
    ]


def test_export_import_export_into_another_workspace_is_identical(
    client: FlaskClient, admin: Member, outsider: Member, app: Flask
) -> None:
    build_crm(client, admin)
    package = export(client, admin, drafts=True)
    response = client.post(IMPORT, json=package, headers=outsider.headers)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["created"] is True
    assert [(p["kind"], p["key"], p["version"]) for p in report["published"]] == [
        ("note", "rules", 1),
        ("note", "welcome", 2),
        ("app", "crm", 1),
    ]
    assert report["published"][0]["report"] == ["version 1 visible: True; draft left: False"]
    assert report["drafts"] == [{"kind": "note", "key": "rules"}]
    assert export(client, outsider, drafts=True) == package
    assert export(client, outsider) == export(client, admin)
    app_row = client.get("/api/v1/apps/crm", headers=outsider.headers).get_json()
    assert app_row["label"] == {"en": "CRM", "zh": "客户"}


def test_reimport_is_idempotent(client: FlaskClient, admin: Member, app: Flask, snapshot: Any) -> None:
    build_crm(client, admin)
    package = export(client, admin, drafts=True)
    before = snapshot()
    versions = _versions(app, admin.workspace_id)
    response = client.post(IMPORT, json=package, headers=admin.headers)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["created"] is False
    assert report["published"] == []
    assert report["drafts"] == []
    assert len(report["unchanged"]) == 4
    assert _versions(app, admin.workspace_id) == versions
    assert snapshot() == before


def test_import_after_deleting_gives_an_identical_export(
    client: FlaskClient, admin: Member, app: Flask
) -> None:
    build_crm(client, admin)
    package = export(client, admin, drafts=True)
    with app.extensions["opsloom.db"].session_scope() as session:
        session.delete(session.scalar(select(App).where(App.key == "crm")))
    assert_problem(client.get("/api/v1/apps/crm", headers=admin.headers), 404)
    assert client.post(IMPORT, json=package, headers=admin.headers).status_code == 201
    assert export(client, admin, drafts=True) == package


def test_import_publishes_changed_definitions_only(client: FlaskClient, admin: Member) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    changed = copy.deepcopy(package)
    changed["definitions"][1]["body"]["text"] = "Hello v3"
    changed["app"]["label"] = "CRM renamed"
    report = client.post(IMPORT, json=changed, headers=admin.headers).get_json()
    assert [(p["key"], p["version"]) for p in report["published"]] == [("welcome", 3)]
    assert [u["key"] for u in report["unchanged"]] == ["rules", "crm"]
    assert client.get("/api/v1/apps/crm", headers=admin.headers).get_json()["label"] == "CRM renamed"
    # the package version is kept where it can be: a fresh app gets the same numbers, this one moves on
    assert client.get("/api/v1/apps/crm/notes/welcome", headers=admin.headers).get_json()["version"] == 3


def test_wrong_format_version_is_a_422_and_imports_nothing(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    before = snapshot()
    for bad_format in ("opsloom.app/2", "something", 1):
        body = assert_problem(
            client.post(IMPORT, json={**package, "format": bad_format}, headers=outsider.headers), 422
        )
        assert list(body["errors"]) == ["/format"]
        assert PACKAGE_FORMAT in body["errors"]["/format"]
    assert (
        "format"
        in assert_problem(
            client.post(
                IMPORT, json={k: v for k, v in package.items() if k != "format"}, headers=outsider.headers
            ),
            422,
        )["errors"]["/"]
    )
    assert snapshot() == before


def test_one_broken_definition_fails_the_whole_import(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    package["definitions"][1]["body"]["text"] = "x" * 60
    package["definitions"][1]["body"]["extra"] = True
    before = snapshot()
    body = assert_problem(client.post(IMPORT, json=package, headers=outsider.headers), 422)
    assert body["errors"] == {
        "/definitions/1/body": "Additional properties are not allowed ('extra' was unexpected)",
        "/definitions/1/body/text": f"'{'x' * 60}' is too long",
    }
    assert snapshot() == before


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (
            lambda p: p["definitions"].append({"kind": "widget", "key": "w", "body": {}}),
            "/definitions/3/kind",
        ),
        (lambda p: p["definitions"][0].update(key="Bad Key"), "/definitions/0/key"),
        (lambda p: p["definitions"][0].update(version=0), "/definitions/0/version"),
        (lambda p: p["definitions"][0]["body"].update(text="forbidden"), "/definitions/0/body/text"),
        (
            lambda p: p["definitions"][2]["body"]["navigation"].append({"kind": "note", "key": "gone"}),
            "/definitions/2/body/navigation/2/key",
        ),
        (lambda p: p["app"].update(key="Bad"), "/app/key"),
        (lambda p: p.update(extra=1), "/"),
        (lambda p: p.update(definitions={}), "/definitions"),
    ],
)
def test_broken_packages_are_422_with_pointers(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any, mutate: Any, pointer: str
) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    mutate(package)
    before = snapshot()
    body = assert_problem(client.post(IMPORT, json=package, headers=outsider.headers), 422)
    assert pointer in body["errors"], body["errors"]
    assert snapshot() == before


def test_a_failing_publish_hook_half_way_rolls_the_whole_import_back(
    client: FlaskClient, admin: Member, outsider: Member, snapshot: Any
) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    package["definitions"][1]["body"]["fail"] = "validation"  # passes the schema; the hook refuses it
    before = snapshot()
    body = assert_problem(client.post(IMPORT, json=package, headers=outsider.headers), 422)
    assert body["errors"] == {"/text": "refused by the hook"}
    assert snapshot() == before


def test_import_needs_an_admin_and_a_json_object(
    client: FlaskClient, admin: Member, staff: Member, snapshot: Any
) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    before = snapshot()
    assert_problem(client.post(IMPORT, json=package, headers=staff.headers), 403)
    assert_problem(client.get("/api/v1/apps/crm/export", headers=staff.headers), 403)
    assert_problem(client.post(IMPORT, json=[package], headers=admin.headers), 422)
    assert_problem(
        client.post(IMPORT, data="{", headers={**admin.headers, "Content-Type": "application/json"}), 400
    )
    assert snapshot() == before


def test_import_into_an_archived_app_is_a_409(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    build_crm(client, admin)
    package = export(client, admin)
    client.post("/api/v1/apps/crm/archive", headers=admin.headers)
    before = snapshot()
    assert (
        "restore" in assert_problem(client.post(IMPORT, json=package, headers=admin.headers), 409)["detail"]
    )
    assert snapshot() == before


def test_records_are_carried_but_ignored(client: FlaskClient, admin: Member, outsider: Member) -> None:
    build_crm(client, admin)
    package = {**export(client, admin), "records": {"customer": [{"name": "Ada"}]}}
    report = client.post(IMPORT, json=package, headers=outsider.headers).get_json()
    assert report["ignored"] == ["records"]
