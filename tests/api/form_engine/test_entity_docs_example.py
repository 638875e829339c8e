"""The example entity in docs/entities.md publishes and works as the guide says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "entities.md"


def test_the_guide_example_publishes_and_computes(client: FlaskClient, admin: Member) -> None:
    example = json.loads(re.search(r"```json\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S).group(1))
    publish_entity(client, admin, {"key": "customer", "fields": [{"key": "name", "type": "text", "max_length": 100}]})
    publish_entity(client, admin, {"key": "order", "fields": [
        {"key": "customer", "type": "relation", "target": "customer"}, {"key": "amount", "type": "number"}]})
    publish_entity(client, admin, example)
    url = "/api/v1/apps/crm/records/customer"
    made = client.post(url, json={"name": "Wang", "phone": "138 1234 5678", "level": "vip", "vip_note": "x"},
                       headers=admin.headers)
    assert made.status_code == 201, made.get_json()
    record = made.get_json()
    assert record["owner"] == admin.user_id
    assert record["vip_gap"] == 0
    assert re.fullmatch(r"C\d{4}000001", record["code"])
    missing = client.post(url, json={"name": "Li", "level": "vip"}, headers=admin.headers)
    assert missing.status_code == 422
    assert "vip_note" in missing.get_json()["errors"]
