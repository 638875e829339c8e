"""Definition bodies meet their kind's JSON Schema; errors are keyed by JSON pointer, best first."""

from __future__ import annotations

from typing import Any

import pytest

from opsloom.platform.definitions import CheckContext, DefinitionKind
from opsloom.platform.definitions.app_kind import APP_KIND
from opsloom.platform.definitions.validation import (
    identifier_error,
    pointer,
    raise_if_errors,
    schema_errors,
    validate_body,
    validator_for,
)
from opsloom.platform.errors import PluginError, ValidationError
from opsloom.platform.registry import Registries

IDENT = "^[a-z][a-z0-9_]{0,39}$"

FORM = DefinitionKind(
    name="form",
    plural="forms",
    schema={
        "type": "object",
        "required": ["key", "fields"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string", "pattern": IDENT},
            "label": {"type": "string"},
            "fields": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "type"],
                    "properties": {
                        "key": {"type": "string", "pattern": IDENT},
                        "type": {"enum": ["text", "number"]},
                        "max_length": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
    },
    check=lambda body, _ctx: (
        (f"/fields/{i}/key", "duplicate field key")
        for i, f in enumerate(body["fields"])
        if [g["key"] for g in body["fields"]].index(f["key"]) != i
    ),
)


def _context(lookup: dict[tuple[str, str], Any] | None = None) -> CheckContext:
    registries = Registries()
    registries.definition_kinds.register(APP_KIND)
    registries.definition_kinds.register(FORM)
    found = lookup or {}
    return CheckContext(
        session=None,
        app=None,
        registries=registries,  # type: ignore[arg-type]
        lookup=lambda kind, key: found.get((kind, key)),
    )


def test_errors_are_keyed_by_json_pointer() -> None:
    body = {
        "key": "customer",
        "fields": [
            {"key": "name", "type": "text"},
            {"key": "x", "type": "text"},
            {"key": "Bad Key", "type": "text"},
        ],
    }
    errors = schema_errors(FORM, body)
    assert errors == {"/fields/2/key": f"'Bad Key' does not match '{IDENT}'"}


def test_errors_come_best_first() -> None:
    body = {
        "key": "customer",
        "extra": 1,
        "fields": [{"key": "a", "type": "date"}, {"type": "text", "max_length": 0}],
    }
    errors = schema_errors(FORM, body)
    # shallow errors first (more is wrong there), siblings in document order
    assert list(errors) == ["/", "/fields/1", "/fields/0/type", "/fields/1/max_length"]
    assert "extra" in errors["/"]
    assert "'key' is a required property" in errors["/fields/1"]


def test_prefix_places_errors_inside_a_larger_document() -> None:
    errors = schema_errors(FORM, {"key": 3, "fields": []}, prefix="/definitions/4/body")
    assert errors == {"/definitions/4/body/key": "3 is not of type 'string'"}


def test_check_runs_only_on_a_schema_valid_body() -> None:
    dup = {"key": "c", "fields": [{"key": "a", "type": "text"}, {"key": "a", "type": "number"}]}
    assert validate_body(FORM, dup, key="c", context=_context()) == {"/fields/1/key": "duplicate field key"}
    broken = {"key": "c", "fields": [{"key": "a", "type": "text"}, {"key": "a", "type": "nope"}]}
    assert list(validate_body(FORM, broken, key="c", context=_context())) == ["/fields/1/type"]


def test_key_field_must_equal_the_definition_key() -> None:
    errors = validate_body(FORM, {"key": "other", "fields": []}, key="customer", context=_context())
    assert errors == {"/key": "must equal the definition key 'customer' (got 'other')"}


def test_a_body_must_be_an_object() -> None:
    assert validate_body(FORM, [1, 2], key="c") == {"/": "a form definition must be a JSON object"}


def test_validators_are_compiled_once() -> None:
    assert validator_for(FORM) is validator_for(FORM)


def test_an_invalid_kind_schema_is_a_plugin_error() -> None:
    broken = DefinitionKind(name="broken", plural="brokens", schema={"type": "no-such-type"})
    with pytest.raises(PluginError, match="broken"):
        validator_for(broken)


def test_raise_if_errors_gives_a_422_naming_the_first_problems() -> None:
    raise_if_errors({}, "nothing")
    with pytest.raises(ValidationError) as caught:
        raise_if_errors({"/a": "bad", "/b": "worse"}, "form 'x'")
    assert caught.value.status == 422
    assert caught.value.errors == {"/a": "bad", "/b": "worse"}
    assert "/a: bad" in caught.value.detail


@pytest.mark.parametrize("value", ["a", "customer", "a1_b2", "x" * 40])
def test_good_identifiers(value: str) -> None:
    assert identifier_error(value) is None


@pytest.mark.parametrize("value", ["", "A", "1a", "_a", "a-b", "a b", "x" * 41, 7, None, "é"])
def test_bad_identifiers(value: object) -> None:
    assert "not a valid identifier" in (identifier_error(value) or "")


def test_pointer_escapes_per_rfc_6901() -> None:
    assert pointer(["a/b", "m~n", 0]) == "/a~1b/m~0n/0"
    assert pointer([]) == ""


def test_app_kind_accepts_settings_and_checks_navigation() -> None:
    context = _context({("form", "customer"): {"key": "customer"}})
    good = {
        "key": "crm",
        "label": {"zh": "客户管理", "en": "CRM"},
        "default_locale": "zh_CN",
        "navigation": [{"kind": "form", "key": "customer"}],
        "home": {"kind": "form", "key": "customer"},
    }
    assert validate_body(APP_KIND, good, key="crm", context=context) == {}
    bad = {
        "key": "crm",
        "label": "CRM",
        "navigation": [
            {"kind": "form", "key": "ticket"},
            {"kind": "flow", "key": "x"},
            {"kind": "form", "key": "ticket"},
        ],
        "home": {"kind": "form", "key": "nope"},
    }
    assert validate_body(APP_KIND, bad, key="crm", context=context) == {
        "/navigation/0/key": "this app has no form 'ticket'",
        "/navigation/1/kind": "unknown definition kind 'flow'",
        "/navigation/2": "form 'ticket' is already in the navigation",
        "/home": "must be one of the navigation items",
    }


def test_app_label_is_text_or_per_locale_text() -> None:
    for label in ("", {}, {"zh": ""}, {"Chinese!": "x"}, 5):
        errors = validate_body(APP_KIND, {"key": "crm", "label": label}, key="crm")
        assert len(errors) == 1, label
        assert next(iter(errors)).startswith("/label"), label
