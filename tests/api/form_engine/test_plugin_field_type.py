"""A field type from a plugin, written against the façade only, works like a built-in one."""

from __future__ import annotations

import re
import sys
import types
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import String

from tests.api.test_api_base import assert_problem
from tests.conftest import make_member, publish_entity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask


def _vin_plugin() -> types.ModuleType:
    from opsloom.plugins.api import FieldType, FieldValueError, hookimpl

    class VinType(FieldType):
        """A vehicle identification number: 17 characters, no I, O or Q, stored upper-case."""

        name = "vin"
        label = {"en": "VIN", "zh": "车架号"}
        expr_type = "text"
        searchable = True
        widget = "input"
        masks = ("full",)

        def column_type(self, field: Any) -> Any:
            return String(17)

        def json_schema(self, field: Any) -> dict[str, Any]:
            return {"type": ["string", "null"], "pattern": "^[A-HJ-NPR-Z0-9]{17}$"}

        def coerce(self, value: Any, field: Any, ctx: Any) -> Any:
            if value is None:
                return None
            text = str(value).strip().upper()
            if not re.fullmatch(r"[A-HJ-NPR-Z0-9]{17}", text):
                raise FieldValueError("is not a VIN (17 letters and digits, without I, O or Q)")
            return text

    module = types.ModuleType("vin_plugin")

    @hookimpl
    def opsloom_register_field_types() -> list[Any]:
        return [VinType()]

    module.opsloom_register_field_types = opsloom_register_field_types  # type: ignore[attr-defined]
    module.name = "vin_plugin"  # type: ignore[attr-defined]
    return module


@pytest.fixture
def vin_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    from opsloom import create_app

    module = _vin_plugin()
    sys.modules["vin_plugin"] = module
    app_config["PLUGINS"] = [module]
    application = create_app(app_config)
    yield application
    application.extensions["opsloom.db"].dispose()
    sys.modules.pop("vin_plugin", None)


def test_a_plugin_field_type_validates_stores_and_filters(vin_app: Flask) -> None:
    client = vin_app.test_client()
    admin = make_member(vin_app, "acme", "alice", admin=True)
    publish_entity(client, admin, {"key": "car", "fields": [{"key": "vin", "type": "vin", "unique": True}]})
    url = "/api/v1/apps/crm/records/car"
    made = client.post(url, json={"vin": "1hgcm82633a004352"}, headers=admin.headers)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["vin"] == "1HGCM82633A004352"
    problem = assert_problem(client.post(url, json={"vin": "IOQ"}, headers=admin.headers), 422)
    assert "VIN" in problem["errors"]["vin"]
    assert_problem(client.post(url, json={"vin": "1HGCM82633A004352"}, headers=admin.headers), 409)
    found = client.get(url, query_string={"q": "a0043"}, headers=admin.headers).get_json()["items"]
    assert [r["vin"] for r in found] == ["1HGCM82633A004352"]
