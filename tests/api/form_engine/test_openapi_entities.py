"""``GET /api/v1/openapi.json`` documents the records of each published entity of the caller's workspace."""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

import pytest
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from opsloom.form_engine import openapi_contributor
from tests.conftest import make_member, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

SPEC = "/api/v1/openapi.json"
RECORDS = "/api/v1/apps/crm/records/customer"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"en": "Customer", "zh": "客户"},
    "title_field": "name",
    "fields": [
        {"key": "name", "type": "text", "required": True, "max_length": 100, "label": {"en": "Name"}},
        {"key": "phone", "type": "phone", "unique": True, "help": "Mobile first."},
        {
            "key": "level",
            "type": "select",
            "options": ["normal", "silver", "gold", "vip"],
            "default": "normal",
            "required": True,
        },
        {"key": "birthday", "type": "date"},
        {"key": "spent", "type": "currency"},
        {"key": "score", "type": "number"},
        {"key": "gap", "type": "formula", "formula": "10000 - score"},
        {"key": "code", "type": "auto_number", "pattern": "C{seq:4}"},
        {"key": "owner", "type": "user"},
        {"key": "tags", "type": "multi_select", "options": ["new", "churn_risk"]},
        {"key": "vip_note", "type": "textarea"},
        {
            "key": "contacts",
            "type": "subtable",
            "fields": [{"key": "name", "type": "text", "required": True}, {"key": "email", "type": "email"}],
        },
        {"key": "active", "type": "boolean"},
        {"key": "met_at", "type": "datetime"},
        {"key": "calls_from", "type": "time"},
        {"key": "site", "type": "url"},
        {"key": "rating", "type": "rating"},
        {"key": "share", "type": "percent"},
        {"key": "extra", "type": "json"},
        {"key": "contract", "type": "file"},
    ],
    "visible_if": {"vip_note": {"==": [{"var": "level"}, "vip"]}},
    "required_if": {"vip_note": {"==": [{"var": "level"}, "vip"]}},
}
ORDER: dict[str, Any] = {
    "key": "order",
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer"},
        {"key": "amount", "type": "number"},
        {"key": "customer_level", "type": "lookup", "relation": "customer", "field": "level"},
    ],
}


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    publish_entity(client, admin, ORDER)
    return admin


def _spec(client: FlaskClient, member: Member | None = None) -> dict[str, Any]:
    response = client.get(SPEC, headers=member.headers if member else {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["schemas"]


def _entity_names(spec: dict[str, Any]) -> set[str]:
    return {name for name in _schemas(spec) if name.startswith(("Record_", "RecordInput_", "RecordPatch_"))}


def _validator(spec: dict[str, Any], name: str, cls: Any) -> Any:
    """A validator of component ``name`` that resolves the document's ``$ref``s."""
    registry = Registry().with_resource("urn:spec", Resource(contents=spec, specification=DRAFT4))
    return cls({"$ref": f"urn:spec#/components/schemas/{name}"}, registry=registry)


# ---------------------------------------------------------------- the schemas


def test_the_document_has_a_record_schema_per_entity(client: FlaskClient, crm: Member) -> None:
    spec = _spec(client, crm)
    validate(spec)
    record = _schemas(spec)["Record_crm_customer"]
    props = record["properties"]
    assert record["title"] == "Customer"
    assert props["level"]["type"] == "string"
    assert [v for v in props["level"]["enum"] if v is not None] == ["normal", "silver", "gold", "vip"]
    assert props["birthday"] == {**props["birthday"], "type": "string", "format": "date"}
    assert props["phone"]["type"] == "string"
    assert "Mobile first." in props["phone"]["description"]
    assert props["name"]["title"] == "Name"
    assert props["gap"]["type"] == "number"
    assert props["gap"]["readOnly"] is True
    assert props["code"]["readOnly"] is True
    assert props["score"]["type"] == "number"
    assert props["met_at"]["format"] == "date-time"
    assert props["tags"]["type"] == "array"
    assert props["tags"]["items"]["enum"] == ["new", "churn_risk"]
    assert props["contacts"]["items"]["properties"]["email"]["format"] == "email"
    assert props["active"]["type"] == "boolean"
    for system in (
        "id",
        "_version",
        "_created_at",
        "_created_by",
        "_updated_at",
        "_updated_by",
        "_deleted_at",
    ):
        assert props[system]["readOnly"] is True, system
    assert props["level"]["x-opsloom-field-type"] == "select"
    # a lookup takes its target's schema, a relation an id
    order = _schemas(spec)["Record_crm_order"]["properties"]
    assert order["customer_level"]["readOnly"] is True
    assert "vip" in order["customer_level"]["enum"]
    assert order["customer"]["nullable"] is True


def test_input_and_patch_schemas(client: FlaskClient, crm: Member) -> None:
    schemas = _schemas(_spec(client, crm))
    new = schemas["RecordInput_crm_customer"]
    # level is required but has a default; vip_note is required only when shown
    assert new["required"] == ["name"]
    assert new["additionalProperties"] is False
    assert not {"gap", "code", "id", "_version", "_created_at"} & set(new["properties"])
    assert "nullable" not in new["properties"]["name"]  # a required field cannot be sent empty
    assert "vip_note" in new["description"]
    patch = schemas["RecordPatch_crm_customer"]
    assert patch["required"] == ["_version"]
    assert patch["properties"]["_version"]["type"] == "integer"
    assert not {"gap", "code", "id"} & set(patch["properties"])


def test_concrete_paths_with_problem_answers(client: FlaskClient, crm: Member) -> None:
    spec = _spec(client, crm)
    paths = spec["paths"]
    listing = paths[RECORDS]
    page = listing["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Record_crm_customer"}
    assert page["required"] == ["items", "next_cursor"]
    create = listing["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RecordInput_crm_customer"
    }
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "Record_crm_customer"
    )
    for status in ("404", "409", "422"):
        problem = create["responses"][status]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
    one = paths[f"{RECORDS}/{{record_id}}"]
    assert set(one) == {"parameters", "get", "patch", "delete"}
    assert one["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "RecordPatch_crm_customer"
    )
    assert "409" in one["patch"]["responses"]
    bulk = paths[f"{RECORDS}/bulk"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert bulk["properties"]["records"]["items"]["$ref"].endswith("RecordInput_crm_customer")
    assert f"{RECORDS}/{{record_id}}/restore" in paths
    assert "/api/v1/apps/crm/records/order" in paths
    # the generic templated routes stay for other clients
    assert "/api/v1/apps/{app_key}/records/{entity}" in paths
    assert {"name": "records: crm/customer", "description": "Records of Customer (app `crm`)."} in spec[
        "tags"
    ]
    operation_ids = [
        op["operationId"]
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(operation_ids) == len(set(operation_ids))


def test_real_records_match_their_schemas(client: FlaskClient, crm: Member) -> None:
    spec = _spec(client, crm)
    body = {
        "name": "Wang",
        "phone": "13812345678",
        "level": "vip",
        "vip_note": "prefers calls",
        "birthday": "1990-05-01",
        "spent": "12.50",
        "score": 1200,
        "owner": crm.user_id,
        "tags": ["new"],
        "contacts": [{"name": "Li", "email": "li@example.com"}],
        "active": True,
        "met_at": "2026-01-02T03:04:05Z",
        "calls_from": "09:30",
        "site": "https://example.com",
        "rating": 4,
        "share": 12.5,
        "extra": {"a": [1, 2]},
    }
    _validator(spec, "RecordInput_crm_customer", OAS30WriteValidator).validate(body)
    created = client.post(RECORDS, json=body, headers=crm.headers)
    assert created.status_code == 201, created.get_json()
    empty = client.post(RECORDS, json={"name": "Zhao"}, headers=crm.headers)
    assert empty.status_code == 201, empty.get_json()
    order = client.post(
        "/api/v1/apps/crm/records/order",
        json={"customer": created.get_json()["id"], "amount": 5},
        headers=crm.headers,
    )
    assert order.status_code == 201, order.get_json()

    reader = _validator(spec, "Record_crm_customer", OAS30ReadValidator)
    page = client.get(RECORDS, headers=crm.headers).get_json()
    assert len(page["items"]) == 2
    for record in page["items"]:
        reader.validate(record)
    assert list(reader.iter_errors({**page["items"][0], "level": "platinum"}))  # the validator does check
    _validator(spec, "Record_crm_order", OAS30ReadValidator).validate(order.get_json())
    record = created.get_json()
    _validator(spec, "RecordPatch_crm_customer", OAS30WriteValidator).validate(
        {"_version": record["_version"], "score": 10}
    )
    bad = {"name": None}  # a required field cannot be emptied, and the schema says so
    assert list(_validator(spec, "RecordInput_crm_customer", OAS30WriteValidator).iter_errors(bad))


# ---------------------------------------------------------------- who sees what, and when it changes


def test_a_publish_regenerates_the_document(client: FlaskClient, crm: Member) -> None:
    before = _spec(client, crm)
    assert "loyalty" not in _schemas(before)["Record_crm_customer"]["properties"]
    body = copy.deepcopy(CUSTOMER)
    body["fields"].append({"key": "loyalty", "type": "select", "options": ["bronze", "gold"]})
    publish_entity(client, crm, body)
    after = _spec(client, crm)
    validate(after)
    loyalty = _schemas(after)["Record_crm_customer"]["properties"]["loyalty"]
    assert [v for v in loyalty["enum"] if v is not None] == ["bronze", "gold"]
    assert "version 2" in _schemas(after)["Record_crm_customer"]["description"]
    assert "loyalty" in _schemas(after)["RecordInput_crm_customer"]["properties"]


def test_another_workspace_sees_only_its_own_entities(
    client: FlaskClient, crm: Member, outsider: Member
) -> None:
    assert _entity_names(_spec(client, outsider)) == set()
    publish_entity(
        client, outsider, {"key": "lead", "fields": [{"key": "title", "type": "text"}]}, app_key="sales"
    )
    theirs = _spec(client, outsider)
    assert _entity_names(theirs) == {"Record_sales_lead", "RecordInput_sales_lead", "RecordPatch_sales_lead"}
    assert not [path for path in theirs["paths"] if "/apps/crm/" in path]
    ours = _spec(client, crm)
    assert "Record_sales_lead" not in _schemas(ours)
    assert not [path for path in ours["paths"] if "/apps/sales/" in path]


def test_anonymous_callers_get_the_base_document(app: Flask, client: FlaskClient, crm: Member) -> None:
    assert "Record_crm_customer" in _schemas(_spec(client, crm))
    anonymous = client.get(SPEC)
    assert "Authorization" in anonymous.headers["Vary"]
    spec = anonymous.get_json()
    validate(spec)
    assert _entity_names(spec) == set()
    assert not [path for path in spec["paths"] if "/apps/crm/" in path]
    # the per-workspace document was built on a copy: flask-smorest's spec is untouched
    shared = app.extensions["opsloom.api"].spec.to_dict()
    assert "Record_crm_customer" not in shared["components"]["schemas"]
    assert RECORDS not in shared["paths"]


def test_a_signed_in_browser_gets_its_workspace_document(client: FlaskClient, crm: Member) -> None:
    from tests.api.test_web_shell import sign_in

    assert sign_in(client, crm).status_code == 302
    response = client.get(SPEC)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Record_crm_customer" in _schemas(response.get_json())


def test_a_bad_token_is_a_problem_not_the_base_document(client: FlaskClient, crm: Member) -> None:
    from tests.api.test_api_base import assert_problem

    assert_problem(client.get(SPEC, headers={"Authorization": "Bearer nope"}), 401)


def test_the_document_is_built_once_per_published_state(
    app: Flask, client: FlaskClient, crm: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    real = openapi_contributor.add_entities

    def counting(document: dict[str, Any], models: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real(document, models, **kwargs)

    monkeypatch.setattr(openapi_contributor, "add_entities", counting)
    first = client.get(SPEC, headers=crm.headers).get_data()
    assert client.get(SPEC, headers=crm.headers).get_data() == first
    staff = make_member(app, "acme", "sam", admin=False)
    assert client.get(SPEC, headers=staff.headers).get_data() == first  # one document per workspace
    assert len(built) == 1
    body = copy.deepcopy(ORDER)
    body["fields"].append({"key": "note", "type": "text"})
    publish_entity(client, crm, body)
    assert "note" in _schemas(_spec(client, staff))["Record_crm_order"]["properties"]
    assert len(built) == 2


def test_a_cached_document_costs_one_query_of_the_form_engine(
    app: Flask, client: FlaskClient, crm: Member
) -> None:
    from sqlalchemy import event

    _spec(client, crm)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.extensions["opsloom.db"].engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        _spec(client, crm)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "entity_tables" in s]) == 1
    assert not [s for s in statements if "FROM definitions" in s]


def test_an_entity_that_cannot_load_is_left_out(
    client: FlaskClient, crm: Member, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = openapi_contributor.model_for_row

    def broken(session: Any, app: Any, row: Any, types: Any) -> Any:
        if row.entity_key == "order":
            raise KeyError("a field type whose plugin was removed")
        return real(session, app, row, types)

    monkeypatch.setattr(openapi_contributor, "model_for_row", broken)
    with caplog.at_level(logging.ERROR, logger="opsloom"):
        spec = _spec(client, crm)
    validate(spec)
    assert "Record_crm_customer" in _schemas(spec)
    assert "Record_crm_order" not in _schemas(spec)
    assert any("crm.order" in r.getMessage() for r in caplog.records)
