"""Import (CSV/XLSX, mapping, preview, modes, upsert, dry run, background runs) and export (CSV/XLSX, rules)."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_api_base import assert_problem
from tests.conftest import publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

IMPORT = "/api/v1/apps/crm/records/customer/import"
EXPORT = "/api/v1/apps/crm/records/customer/export"
RECORDS = "/api/v1/apps/crm/records/customer"

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "label": {"zh": "客户", "en": "Customer"},
    "fields": [
        {"key": "name", "type": "text", "required": True, "label": {"zh": "姓名", "en": "Name"}},
        {"key": "phone", "type": "phone", "unique": True, "label": {"zh": "电话", "en": "Phone"}},
        {"key": "level", "type": "select", "options": ["normal", "vip"], "default": "normal"},
        {"key": "amount", "type": "number"},
        {"key": "notes", "type": "textarea"},
    ],
}


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, CUSTOMER)
    return admin


def _post(
    client: FlaskClient,
    member: Member,
    data: bytes,
    options: dict[str, Any] | None = None,
    name: str = "customers.csv",
) -> TestResponse:
    body: dict[str, Any] = {"file": (io.BytesIO(data), name)}
    if options is not None:
        body["options"] = json.dumps(options)
    return client.post(IMPORT, data=body, headers=member.headers, content_type="multipart/form-data")


def _names(client: FlaskClient, member: Member) -> list[str]:
    items = client.get(f"{RECORDS}?limit=500&sort=id", headers=member.headers).get_json()["items"]
    return [item["name"] for item in items]


def _without_log(state: dict[str, Any]) -> dict[str, Any]:
    # the import log row is how the error file stays downloadable; everything else must be untouched
    return {name: table for name, table in state.items() if name != "import_runs"}


# ---------------------------------------------------------------- reading files


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_each_encoding(client: FlaskClient, crm: Member, encoding: str) -> None:
    data = "姓名,电话,level\n王五,13812345678,VIP\n赵六,13912345678,\n".encode(encoding)
    response = _post(client, crm, data)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["status"], report["created"], report["failed"], report["written"]) == ("done", 2, 0, True)
    assert _names(client, crm) == ["王五", "赵六"]
    items = client.get(RECORDS, headers=crm.headers).get_json()["items"]
    assert {i["name"]: i["level"] for i in items} == {"王五": "vip", "赵六": "normal"}


def test_xlsx_import(client: FlaskClient, crm: Member) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Name", "Phone", "amount"])
    book.active.append(["Wang", 13812345678, 12.5])
    buffer = io.BytesIO()
    book.save(buffer)
    response = _post(client, crm, buffer.getvalue(), name="customers.xlsx")
    assert response.status_code == 200, response.get_json()
    item = client.get(RECORDS, headers=crm.headers).get_json()["items"][0]
    assert (item["name"], item["phone"], item["amount"]) == ("Wang", "13812345678", 12.5)


def test_undecodable_file_is_a_422_naming_the_encoding(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    before = snapshot()
    body = assert_problem(_post(client, crm, "name,phone\nWang,138\n".encode("utf-16-le")), 422)
    assert "encoding" in body["errors"]["file"]
    assert snapshot() == before


def test_missing_required_columns_are_named(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    before = snapshot()
    body = assert_problem(_post(client, crm, b"phone\n13812345678\n"), 422)
    assert body["errors"] == {"columns/name": "is required but no column is mapped to it"}
    assert "name" in body["detail"]
    assert snapshot() == before


def test_bad_options_and_mapping(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    before = snapshot()
    data = b"who,phone\nWang,138\n"
    assert "options/mode" in assert_problem(_post(client, crm, data, {"mode": "maybe"}), 422)["errors"]
    assert "options/colour" in assert_problem(_post(client, crm, data, {"colour": 1}), 422)["errors"]
    body = assert_problem(_post(client, crm, data, {"mapping": {"who": "nope", "ghost": "name"}}), 422)
    assert set(body["errors"]) == {"options/mapping/who", "options/mapping/ghost"}
    body = assert_problem(
        _post(client, crm, data, {"mapping": {"who": "name"}, "upsert_key": ["phone"]}), 422
    )
    assert "options/upsert_key" in body["errors"]
    assert snapshot() == before


def test_preview_suggests_a_mapping_and_shows_row_errors(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    before = snapshot()
    data = "客户名,电话,amount\n王五,13812345678,12\n,abc,x\n".encode()
    response = _post(client, crm, data, {"preview": True})
    assert response.status_code == 200, response.get_json()
    preview = response.get_json()
    assert preview["suggested_mapping"] == {"客户名": None, "电话": "phone", "amount": "amount"}
    assert preview["missing_required"] == ["name"]
    assert preview["total_rows"] == 2
    mapped = _post(
        client,
        crm,
        data,
        {"preview": True, "mapping": {"客户名": "name", "电话": "phone", "amount": "amount"}},
    ).get_json()
    first, second = mapped["sample"]
    assert first["errors"] == []
    assert first["values"]["name"] == "王五"
    assert {e["column"] for e in second["errors"]} == {"客户名", "电话", "amount"}
    assert snapshot() == before


# ---------------------------------------------------------------- modes


BAD_ROWS = (
    "name,phone,amount\nGood,13812345678,1\n,13912345678,2\nAlso good,13712345678,abc\nFine,13612345678,\n"
)


def test_all_or_nothing_writes_nothing_and_lists_the_errors(
    client: FlaskClient, crm: Member, snapshot: Any
) -> None:
    before = snapshot()
    response = _post(client, crm, BAD_ROWS.encode())
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["written"], report["created"], report["failed"]) == (False, 0, 2)
    assert [(e["row"], e["column"]) for e in report["errors"]] == [(3, "name"), (4, "amount")]
    assert _without_log(snapshot()) == _without_log(before)
    errors = client.get(report["error_file"], headers=crm.headers)
    assert errors.status_code == 200
    assert errors.data.startswith(b"\xef\xbb\xbf")


def test_skip_invalid_writes_the_good_rows_and_the_error_file_has_the_bad(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    response = _post(client, crm, BAD_ROWS.encode(), {"mode": "skip_invalid"})
    report = response.get_json()
    assert (report["written"], report["created"], report["failed"]) == (True, 2, 2)
    assert _names(client, crm) == ["Good", "Fine"]
    download = client.get(report["error_file"], headers=crm.headers)
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert rows[0] == ["name", "phone", "amount", "error"]
    assert [r[:3] for r in rows[1:]] == [["", "13912345678", "2"], ["Also good", "13712345678", "abc"]]
    assert rows[1][3].startswith("name: is required")
    # the importing user's alone
    assert_problem(client.get(report["error_file"], headers=staff.headers), 404)
    assert_problem(client.get(f"/api/v1/apps/crm/imports/{report['id']}", headers=staff.headers), 404)


def test_a_duplicate_unique_value_is_a_row_error(client: FlaskClient, crm: Member) -> None:
    client.post(RECORDS, json={"name": "Old", "phone": "13812345678"}, headers=crm.headers)
    data = b"name,phone\nNew,13812345678\nOther,13900000000\n"
    report = _post(client, crm, data, {"mode": "skip_invalid"}).get_json()
    assert (report["created"], report["failed"]) == (1, 1)
    assert report["errors"][0]["column"] == "phone"


def test_upsert_by_a_unique_key_updates_instead_of_duplicating(client: FlaskClient, crm: Member) -> None:
    client.post(
        RECORDS, json={"name": "Old name", "phone": "13812345678", "notes": "kept"}, headers=crm.headers
    )
    data = b"name,phone\nNew name,138 1234 5678\nFresh,13900000000\nFresh again,13900000000\n"
    report = _post(client, crm, data, {"upsert_key": ["phone"]}).get_json()
    assert (report["created"], report["updated"], report["failed"]) == (1, 2, 0), report
    items = client.get(f"{RECORDS}?sort=id", headers=crm.headers).get_json()["items"]
    assert [(i["name"], i["phone"], i["notes"]) for i in items] == [
        ("New name", "13812345678", "kept"),
        ("Fresh again", "13900000000", None),
    ]
    assert items[0]["_version"] == 2


def test_dry_run_writes_nothing(client: FlaskClient, crm: Member, snapshot: Any) -> None:
    before = snapshot()
    report = _post(client, crm, BAD_ROWS.encode(), {"mode": "skip_invalid", "dry_run": True}).get_json()
    assert (report["written"], report["created"], report["failed"], report["dry_run"]) == (False, 2, 2, True)
    assert _without_log(snapshot()) == _without_log(before)


def test_formula_cells_are_stored_as_text(client: FlaskClient, crm: Member) -> None:
    _post(client, crm, b"name,notes\n=1+1,@SUM(A1)\n")
    item = client.get(RECORDS, headers=crm.headers).get_json()["items"][0]
    assert (item["name"], item["notes"]) == ("=1+1", "@SUM(A1)")


def test_import_needs_the_import_right(
    client: FlaskClient, crm: Member, staff: Member, snapshot: Any
) -> None:
    grants = "/api/v1/apps/crm/permissions/staff/customer"
    client.put(grants, json={"read": "all", "create": "all"}, headers=crm.headers)
    before = snapshot()
    assert_problem(_post(client, staff, b"name\nWang\n"), 403)
    client.put(
        grants,
        json={"read": "all", "create": "all", "import": "all", "fields": {"notes": "read_only"}},
        headers=crm.headers,
    )
    before = snapshot()
    body = assert_problem(_post(client, staff, b"name,notes\nWang,x\n"), 403)
    assert "options/mapping/notes" in body["errors"]
    assert snapshot() == before
    assert _post(client, staff, b"name\nWang\n").get_json()["created"] == 1


# ---------------------------------------------------------------- background runs


@pytest.fixture
def small_sync(app_config: dict[str, Any]) -> None:
    app_config.update(IMPORT_SYNC_MAX_ROWS=5, IMPORT_BATCH_SIZE=4)


@pytest.mark.usefixtures("small_sync")
@pytest.mark.parametrize("mode", ["skip_invalid", "all_or_nothing"])
def test_a_big_file_runs_as_a_job_with_progress(
    app: Flask, client: FlaskClient, crm: Member, mode: str
) -> None:
    from opsloom.platform.jobs import run_jobs

    lines = ["name,phone"] + [f"Person {i},1380000{i:04d}" for i in range(10)] + [",13999999999"]
    response = _post(client, crm, "\n".join(lines).encode(), {"mode": mode})
    assert response.status_code == 202, response.get_json()
    run = response.get_json()
    assert (run["status"], run["total"], run["processed"]) == ("queued", 11, 0)
    url = f"/api/v1/apps/crm/imports/{run['id']}"
    assert client.get(url, headers=crm.headers).get_json()["status"] == "queued"
    assert run_jobs(app) >= 1
    done = client.get(url, headers=crm.headers).get_json()
    assert (done["status"], done["processed"], done["failed"]) == ("done", 11, 1)
    if mode == "skip_invalid":
        assert (done["created"], done["written"]) == (10, True)
        assert len(_names(client, crm)) == 10
    else:
        assert (done["created"], done["written"]) == (0, False)
        assert _names(client, crm) == []
    rows = client.get(done["error_file"], headers=crm.headers).data.decode("utf-8-sig").splitlines()
    assert rows[1].startswith(",13999999999,")


# ---------------------------------------------------------------- export


@pytest.fixture
def exported(client: FlaskClient, crm: Member, staff: Member) -> Member:
    for name, phone, level, amount in [
        ("Wang", "13812345678", "vip", 10),
        ("=1+1", "13912345678", "vip", -5),
        ("Zhao", "13712345678", "normal", 1),
    ]:
        client.post(
            RECORDS,
            json={"name": name, "phone": phone, "level": level, "amount": amount, "notes": "secret"},
            headers=crm.headers,
        )
    client.put(
        "/api/v1/apps/crm/permissions/staff/customer",
        json={"read": "all", "export": "all", "fields": {"phone": "masked", "notes": "hidden"}},
        headers=crm.headers,
    )
    return staff


VIP = json.dumps({"==": [{"var": "level"}, "vip"]})


def test_export_csv_with_a_filter_masks_hidden_fields_and_injection(
    client: FlaskClient, exported: Member
) -> None:
    response = client.get(
        EXPORT,
        query_string={"format": "csv", "filter": VIP, "sort": "id"},
        headers={**exported.headers, "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:3] == ["id", "姓名 (name)", "电话 (phone)"]
    assert "notes" not in ",".join(header)
    body = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [r["姓名 (name)"] for r in body] == ["Wang", "'=1+1"]
    assert [r["电话 (phone)"] for r in body] == ["138****5678", "139****5678"]
    assert [r["amount"] for r in body] == ["10", "-5"]


def test_export_xlsx(client: FlaskClient, exported: Member, crm: Member) -> None:
    from openpyxl import load_workbook

    response = client.get(
        EXPORT, query_string={"format": "xlsx", "filter": VIP, "sort": "id"}, headers=exported.headers
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][1:3] == ["Name (name)", "Phone (phone)"]
    assert not any("notes" in str(v) for v in values[0])
    assert [r[1] for r in values[1:]] == ["Wang", "'=1+1"]
    assert values[1][2] == "138****5678"
    assert sheet.cell(row=3, column=2).data_type == "s"
    # an administrator sees everything in clear
    full = (
        client.get(EXPORT, query_string={"format": "csv"}, headers=crm.headers).get_data().decode("utf-8-sig")
    )
    assert "13812345678" in full
    assert "secret" in full


def test_export_needs_the_export_right(client: FlaskClient, exported: Member, crm: Member) -> None:
    client.put("/api/v1/apps/crm/permissions/staff/customer", json={"read": "all"}, headers=crm.headers)
    assert_problem(client.get(EXPORT, headers=exported.headers), 403)
    assert_problem(client.get(EXPORT, query_string={"format": "pdf"}, headers=crm.headers), 400)
    assert_problem(client.get(EXPORT, query_string={"filter": "{"}, headers=crm.headers), 400)
    assert_problem(client.get(EXPORT, query_string={"sort": "nope"}, headers=crm.headers), 400)


def test_export_pages_through_many_records(client: FlaskClient, crm: Member) -> None:
    records = [{"name": f"P{i}", "phone": f"1380000{i:04d}"} for i in range(1203)]
    assert client.post(f"{RECORDS}/bulk", json={"records": records}, headers=crm.headers).status_code == 200
    text = client.get(EXPORT, headers=crm.headers).get_data().decode("utf-8-sig")
    assert len(text.strip().splitlines()) == 1204


@pytest.mark.usefixtures("small_sync")
def test_a_skip_invalid_job_commits_its_progress_batch_by_batch(
    app: Flask, client: FlaskClient, crm: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine, text

    from opsloom.form_engine.import_service import ImportService
    from opsloom.platform.jobs import run_jobs

    seen: list[tuple[int, int]] = []
    original = ImportService._batch
    outside = create_engine(app.config["DATABASE_URL"])

    def spy(self: ImportService, *args: Any) -> None:
        with outside.connect() as conn:  # what another request sees while the job runs
            seen.append(tuple(conn.execute(text("SELECT processed, created FROM import_runs")).one()))
        original(self, *args)

    monkeypatch.setattr(ImportService, "_batch", spy)
    lines = ["name,phone"] + [f"Person {i},1380000{i:04d}" for i in range(10)]
    assert _post(client, crm, "\n".join(lines).encode(), {"mode": "skip_invalid"}).status_code == 202
    run_jobs(app)
    outside.dispose()
    assert seen == [(0, 0), (4, 4), (8, 8)]
