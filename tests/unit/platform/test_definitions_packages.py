"""App package validation: format version, envelope, every body against its kind, all before writing."""

from __future__ import annotations

from typing import Any

import pytest

from opsloom.platform.definitions import PACKAGE_FORMAT, DefinitionKind, validate_package
from opsloom.platform.definitions.app_kind import APP_KIND
from opsloom.platform.errors import ValidationError
from opsloom.platform.models import App
from opsloom.platform.registry import Registries

FORM = DefinitionKind(
    name="form",
    plural="forms",
    order=10,
    schema={
        "type": "object",
        "required": ["key", "title"],
        "properties": {"key": {"type": "string"}, "title": {"type": "string", "maxLength": 10}},
    },
)
REPORT = DefinitionKind(
    name="report",
    plural="reports",
    order=20,
    schema={"type": "object", "required": ["key", "form"]},
    check=lambda body, ctx: [] if ctx.lookup("form", body["form"]) else [("/form", "no such form")],
)


@pytest.fixture
def registries() -> Registries:
    registries = Registries()
    for kind in (APP_KIND, FORM, REPORT):
        registries.definition_kinds.register(kind)
    return registries


def _package(**changes: Any) -> dict[str, Any]:
    package = {
        "format": PACKAGE_FORMAT,
        "app": {"key": "crm", "label": "CRM"},
        "definitions": [
            {
                "kind": "app",
                "key": "crm",
                "version": 1,
                "body": {"key": "crm", "label": "CRM", "navigation": [{"kind": "form", "key": "customer"}]},
            },
            {
                "kind": "report",
                "key": "summary",
                "version": 2,
                "body": {"key": "summary", "form": "customer"},
            },
            {
                "kind": "form",
                "key": "customer",
                "version": 3,
                "body": {"key": "customer", "title": "Customer"},
            },
        ],
    }
    package.update(changes)
    return package


def _errors(package: Any, registries: Registries) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_package(package, registries=registries, app=App(key="crm", label="CRM"))
    return caught.value.errors


def test_a_good_package_comes_back_in_publish_order(registries: Registries) -> None:
    plans = validate_package(_package(), registries=registries, app=App(key="crm", label="CRM"))
    assert [(p.kind.name, p.key, p.version) for p in plans] == [
        ("form", "customer", 3),
        ("report", "summary", 2),
        ("app", "crm", 1),
    ]


def test_unknown_format_names_the_supported_one(registries: Registries) -> None:
    errors = _errors(_package(format="opsloom.app/2"), registries)
    assert errors == {
        "/format": f"unsupported package format 'opsloom.app/2'; this opsloom reads '{PACKAGE_FORMAT}'"
    }


def test_missing_format_and_parts(registries: Registries) -> None:
    errors = _errors({"app": {"key": "Bad"}, "definitions": {}}, registries)
    assert errors["/"] == "'format' is a required property"
    assert "/app" in errors
    assert "does not match" in errors["/app/key"]
    assert errors["/definitions"] == "{} is not of type 'array'"


def test_not_an_object(registries: Registries) -> None:
    assert _errors([1], registries) == {"/": "an app package must be a JSON object"}


def test_broken_definitions_are_keyed_by_their_place_in_the_package(registries: Registries) -> None:
    package = _package()
    package["definitions"][2]["body"]["title"] = "far too long a title"
    package["definitions"].append({"kind": "widget", "key": "w", "body": {}})
    package["definitions"].append({"kind": "form", "key": "customer", "version": 4, "body": {}})
    package["definitions"].append({"kind": "form", "key": "Bad", "body": {}})
    errors = _errors(package, registries)
    assert errors == {
        "/definitions/2/body/title": "'far too long a title' is too long",
        "/definitions/3/kind": "unknown definition kind 'widget'; installed kinds: app, form, report",
        "/definitions/4": "form 'customer' is already in the package at /definitions/2",
        "/definitions/5/key": errors["/definitions/5/key"],
    }
    assert "does not match" in errors["/definitions/5/key"]


def test_cross_checks_see_the_package_itself(registries: Registries) -> None:
    package = _package()
    del package["definitions"][2]  # the form the report and the navigation need
    errors = _errors(package, registries)
    assert errors == {
        "/definitions/0/body/navigation/0/key": "this app has no form 'customer'",
        "/definitions/1/body/form": "no such form",
    }


def test_the_app_settings_key_must_be_the_app_key(registries: Registries) -> None:
    package = _package()
    package["definitions"][0]["key"] = "other"
    errors = _errors(package, registries)
    assert list(errors) == ["/definitions/0/key"]


def test_a_draft_and_a_published_version_of_one_key_may_travel_together(registries: Registries) -> None:
    package = _package()
    package["definitions"].append(
        {
            "kind": "form",
            "key": "customer",
            "version": "draft",
            "body": {"key": "customer", "title": "Client"},
        }
    )
    plans = validate_package(package, registries=registries, app=App(key="crm", label="CRM"))
    assert [(p.key, p.draft) for p in plans][:2] == [("customer", False), ("customer", True)]
