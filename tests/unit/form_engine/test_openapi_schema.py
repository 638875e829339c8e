"""Field types' JSON Schema as OpenAPI 3.0, and the per-entity schemas and paths (pure, no database)."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest
from openapi_spec_validator import validate

from opsloom.form_engine import openapi, openapi_schema
from opsloom.form_engine.fields import builtin_types
from opsloom.form_engine.model import build_model
from opsloom.form_engine.openapi import add_entities
from opsloom.form_engine.openapi_schema import not_null, to_openapi30


def document(schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": dict(schemas or {})},
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"type": ["string", "null"], "maxLength": 5}, {"type": "string", "nullable": True, "maxLength": 5}),
        (
            {"type": ["string", "null"], "enum": ["a", None]},
            {"type": "string", "nullable": True, "enum": ["a", None]},
        ),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, {"type": "integer", "nullable": True}),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
            {
                "nullable": True,
                "anyOf": [{"type": "integer", "nullable": True}, {"type": "string", "nullable": True}],
            },
        ),
        ({"const": 3}, {"enum": [3]}),
        (
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        ),
        ({"type": "number", "minimum": 5, "exclusiveMinimum": 0}, {"type": "number", "minimum": 5}),
        (
            {"type": "integer", "maximum": "10", "minimum": 1.5},
            {"type": "integer", "maximum": 10, "minimum": 1.5},
        ),
        ({"type": "array"}, {"type": "array", "items": {}}),
        ({"type": ["integer", "number"]}, {"type": "number"}),
        ({"type": ["string", "boolean"]}, {"anyOf": [{"type": "string"}, {"type": "boolean"}]}),
        ({"type": "null"}, {"nullable": True, "enum": [None]}),
        (
            {"$ref": "#/$defs/x", "$defs": {"x": {}}, "if": {}, "prefixItems": [], "examples": [1]},
            {"example": 1},
        ),
        (
            {
                "type": "object",
                "patternProperties": {"^a": {}},
                "additionalProperties": False,
                "required": [],
            },
            {"type": "object"},
        ),
        (True, {}),
        (False, {"not": {}}),
        ({"type": "string", "maxLength": -1, "minLength": True, "format": 3}, {"type": "string"}),
    ],
)
def test_json_schema_becomes_openapi_30(given: Any, expected: dict[str, Any]) -> None:
    converted = to_openapi30(given)
    assert converted == expected
    validate(document({"X": converted}))


def test_not_null_drops_null_everywhere() -> None:
    schema = to_openapi30(
        {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["a", None]}, {"type": "null"}]}
    )
    assert not_null(schema) == {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["a"]}]}
    assert not_null({"type": "string", "nullable": True, "enum": [None]}) == {"type": "string"}


@pytest.mark.parametrize("name", sorted(builtin_types()))
def test_every_builtin_field_type_converts_to_a_valid_schema(name: str) -> None:
    field_type = builtin_types()[name]
    spec = {
        "key": "x",
        "type": name,
        "options": ["a", "b"],
        "fields": [{"key": "y", "type": "text"}],
        "min": 1,
        "max": 9,
    }
    converted = to_openapi30(field_type.json_schema(spec))
    validate(document({"X": converted, "Y": not_null(converted)}))


CUSTOMER = {
    "key": "customer",
    "fields": [
        {"id": "f1", "key": "name", "type": "text", "required": True},
        {"id": "f2", "key": "level", "type": "select", "options": ["normal", "vip"]},
        {"id": "f3", "key": "score", "type": "number"},
        {"id": "f4", "key": "gap", "type": "formula", "formula": "10 - score"},
    ],
}


def model(app_key: str, body: dict[str, Any], version: int = 1) -> Any:
    return build_model(
        app_id=1,
        app_key=app_key,
        body=body,
        version=version,
        entity_table_id=1,
        table_name=f"e1_{body['key']}",
        types=builtin_types(),
        lookup=lambda kind, key: None,
    )


def test_add_entities_makes_a_valid_document_and_avoids_name_clashes() -> None:
    doc = document({"Existing": {"type": "object"}})
    clash = {**CUSTOMER, "key": "b_c"}
    names = add_entities(
        doc,
        [model("a", clash), model("a_b", {**CUSTOMER, "key": "c"}), model("crm", CUSTOMER)],
        prefix="/api/v1",
        max_bulk=10,
    )
    validate(doc)
    assert [n.record for n in names] == ["Record_a_b_c", "Record_a_b.c", "Record_crm_customer"]
    schemas = doc["components"]["schemas"]
    assert {"Existing", "Problem", "RecordInput_a_b.c", "RecordPatch_a_b.c"} <= set(schemas)
    assert schemas["Record_crm_customer"]["properties"]["gap"] == {
        "type": "number",
        "nullable": True,
        "readOnly": True,
        "description": "Field type `formula` (computed).",
        "x-opsloom-field-type": "formula",
    }
    assert "/api/v1/apps/a_b/records/c/{record_id}" in doc["paths"]
    bulk = doc["paths"]["/api/v1/apps/crm/records/customer/bulk"]["post"]["requestBody"]
    assert bulk["content"]["application/json"]["schema"]["properties"]["records"]["maxItems"] == 10


def test_the_pure_modules_import_no_flask_and_no_database() -> None:
    forbidden = ("flask", "sqlalchemy", "opsloom.form_engine.service", "opsloom.form_engine.registry")
    for module in (openapi, openapi_schema):
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.level:
                    names = [f"opsloom.form_engine.{node.module or ''}"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(forbidden), f"{module.__name__} imports {name}"
