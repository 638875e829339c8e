"""The API base: every error is RFC 9457 problem+json, request ids travel, the OpenAPI document validates."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from opsloom import create_app
from opsloom.platform.migrations import SchemaOutdated

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["title"]
    assert body["detail"]
    return body


def test_unknown_route_is_a_404_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)


def test_missing_credentials_is_a_401_problem(client: FlaskClient) -> None:
    response = client.get("/api/v1/apps")
    body = assert_problem(response, 401)
    assert "Bearer" in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_token_is_a_401_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/apps", headers={"Authorization": "Bearer olt_nonsense"}), 401)


def test_wrong_method_is_a_405_problem(client: FlaskClient, admin: Member) -> None:
    response = client.delete("/api/v1/apps", headers=admin.headers)
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_malformed_json_is_a_400_problem(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    before = snapshot()
    response = client.post(
        "/api/v1/apps", data='{"key": "crm", ', headers={**admin.headers, "Content-Type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert "JSON" in body["detail"]
    assert snapshot() == before


def test_wrong_content_type_is_a_415_problem(client: FlaskClient, admin: Member, snapshot: Any) -> None:
    before = snapshot()
    response = client.post(
        "/api/v1/apps", data="key=crm", headers={**admin.headers, "Content-Type": "application/x-www-form-urlencoded"}
    )
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]
    assert snapshot() == before


@pytest.fixture
def small_app(app_config: dict[str, Any]) -> Flask:
    app_config["MAX_CONTENT_LENGTH"] = 1024
    return create_app(app_config)


def test_body_over_the_limit_is_a_413_problem(small_app: Flask) -> None:
    from tests.conftest import make_member

    admin = make_member(small_app, "acme", "alice", admin=True)
    client = small_app.test_client()
    response = client.post(
        "/api/v1/apps", json={"key": "crm", "label": "x" * 5000}, headers=admin.headers
    )
    assert_problem(response, 413)
    small_app.extensions["opsloom.db"].dispose()


def test_unexpected_exception_is_a_500_problem_without_internals(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/_explode")
    def explode() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    with caplog.at_level(logging.ERROR, logger="opsloom"):
        response = app.test_client().get("/api/v1/_explode", headers={"X-Request-Id": "req-42"})
    body = assert_problem(response, 500)
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "RuntimeError" not in text
    assert "req-42" in body["detail"]
    assert body["request_id"] == "req-42"
    logged = [r for r in caplog.records if "req-42" in r.getMessage() or getattr(r, "request_id", "") == "req-42"]
    assert logged, "the 500 must be logged with its request id"


def test_request_id_is_echoed_or_made(client: FlaskClient) -> None:
    given = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["X-Request-Id"] != "bad id with spaces"
    assert len(made.headers["X-Request-Id"]) == 32


def test_openapi_document_validates(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    paths = spec["paths"]
    for route in ("/api/v1/apps", "/api/v1/auth/token", "/api/v1/audit", "/api/v1/jobs"):
        assert route in paths, f"{route} is missing from the OpenAPI document"


def test_outdated_schema_refuses_to_start(tmp_path: Any) -> None:
    with pytest.raises(SchemaOutdated, match="opsloom db upgrade"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "INSTANCE_PATH": str(tmp_path)})
