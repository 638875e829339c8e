"""Bulk creates write every kind of value as single creates do, by COPY and by INSERT alike.

The bulk path writes rows at the driver (``bulk_insert``): COPY on PostgreSQL from 64
rows, INSERTs in one pipeline below that, ``executemany`` on SQLite. Whatever the path,
a record read back must be the record a single create makes from the same input.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.form_engine.test_openapi_entities import CUSTOMER
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.conftest import Member

RECORDS = "/api/v1/apps/crm/records/customer"
PARTNER: dict[str, Any] = {"key": "partner", "title_field": "name", "fields": [{"key": "name", "type": "text"}]}


def _values(i: int, owner: int, partners: list[int]) -> dict[str, Any]:
    return {
        "name": f"客户 {i} \"quoted\"\\ tab-free",
        "phone": f"138{i:08d}",
        "level": "vip",
        "vip_note": "line one\nline two\t(tab)",
        "birthday": "1990-02-28",
        "spent": "1234.56",
        "score": 12.5,
        "owner": owner,
        "tags": ["new", "churn_risk"],
        "contacts": [{"name": "Li", "email": "li@example.com"}, {"name": "Zhao"}],
        "active": True,
        "met_at": "2026-11-23T09:30:00+08:00",
        "calls_from": "09:00",
        "site": "https://example.com/a?b=c",
        "rating": 4,
        "share": 33.3,
        "extra": {"nested": [1, "二", None, {"deep": True}], "big": 2**60},
        "partners": partners,
    }


@pytest.mark.parametrize("count", [2, 70], ids=["pipeline", "copy"])
def test_bulk_records_equal_single_ones_for_every_type(
    client: FlaskClient, admin: Member, count: int
) -> None:
    publish_entity(client, admin, PARTNER)
    body = copy.deepcopy(CUSTOMER)
    body["fields"] = [f for f in body["fields"] if f["type"] != "file"]
    body["fields"].append({"key": "partners", "type": "relation", "target": "partner", "many": True})
    publish_entity(client, admin, body)
    partners = [client.post("/api/v1/apps/crm/records/partner", json={"name": n}, headers=admin.headers).get_json()["id"]
                for n in ("A", "B")]
    single = client.post(RECORDS, json=_values(0, admin.user_id, partners), headers=admin.headers)
    assert single.status_code == 201, single.get_json()
    rows = [_values(i, admin.user_id, partners) for i in range(1, count + 1)]
    bulk = client.post(f"{RECORDS}/bulk", json={"records": rows}, headers=admin.headers)
    assert bulk.status_code == 200, bulk.get_json()
    created = bulk.get_json()["created"]
    assert len(created) == count

    def comparable(record: dict[str, Any]) -> dict[str, Any]:
        different = ("id", "name", "phone", "code", "_created_at", "_updated_at")
        out = {k: v for k, v in record.items() if k not in different}
        out["contacts"] = [{k: v for k, v in row.items() if k != "id"} for row in out["contacts"]]  # child row ids
        return out

    expected = comparable(client.get(f"{RECORDS}/{single.get_json()['id']}", headers=admin.headers).get_json())
    assert expected["contacts"][0]["email"] == "li@example.com"
    assert expected["partners"] == partners
    for i, record_id in enumerate(created, start=1):
        got = client.get(f"{RECORDS}/{record_id}", headers=admin.headers).get_json()
        assert comparable(got) == expected, record_id
        assert (got["name"], got["phone"]) == (rows[i - 1]["name"], rows[i - 1]["phone"])
    codes = [client.get(f"{RECORDS}/{rid}", headers=admin.headers).get_json()["code"] for rid in created]
    assert codes == [f"C{n:04d}" for n in range(2, count + 2)]  # gap-free, in the order of the rows
