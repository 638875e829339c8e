"""File and image fields end to end: upload, attach to a record, download, and every refusal.

Uploads go to ``POST /api/v1/apps/{app}/records/{entity}/files?field=<key>``; downloads
come from ``GET /api/v1/apps/{app}/files/{id}``. A refused upload must leave neither a
row (the whole database is compared) nor a file under the upload folder.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.form_engine.models import StoredFile
from opsloom.platform.models import AuditEntry, OutboxEvent
from tests.api.test_api_base import assert_problem
from tests.conftest import make_member, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

    from tests.conftest import Member

DOC: dict[str, Any] = {
    "key": "doc",
    "title_field": "title",
    "fields": [
        {"key": "title", "type": "text"},
        {
            "key": "contract",
            "type": "file",
            "max_size": 1024,
            "accept": [".pdf", "text/plain"],
            "max_files": 2,
        },
        {"key": "photo", "type": "image", "max_size": 2048},
        {"key": "notes", "type": "file"},
    ],
}
RECORDS = "/api/v1/apps/{app}/records/doc"
PDF = b"%PDF-1.7\n" + b"x" * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 40


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, DOC)
    return admin


def upload(
    client: FlaskClient,
    member: Member | None,
    field: str | None,
    name: str,
    data: bytes,
    *,
    app: str = "crm",
    entity: str = "doc",
    headers: dict[str, str] | None = None,
) -> TestResponse:
    query = "" if field is None else f"?field={field}"
    return client.post(
        f"/api/v1/apps/{app}/records/{entity}/files{query}",
        data={"file": (io.BytesIO(data), name)},
        headers=headers if headers is not None else member.headers if member else {},
        content_type="multipart/form-data",
    )


def uploaded(
    client: FlaskClient, member: Member, field: str, name: str, data: bytes, **kwargs: Any
) -> dict[str, Any]:
    response = upload(client, member, field, name, data, **kwargs)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored_files(app: Flask) -> list[Path]:
    """Every file under the upload folder (temporary ones included)."""
    folder = Path(app.config["UPLOAD_FOLDER"])
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def blob(app: Flask, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return Path(app.config["UPLOAD_FOLDER"]) / digest[:2] / digest[2:4] / digest


def grant(client: FlaskClient, admin: Member, permissions: dict[str, Any]) -> None:
    """Give the ``staff`` role these entity grants."""
    response = client.patch("/api/v1/roles/staff", json={"permissions": permissions}, headers=admin.headers)
    assert response.status_code == 200, response.get_json()


# ---------------------------------------------------------------- the happy path


def test_upload_attach_and_download_a_unicode_named_pdf(client: FlaskClient, crm: Member, app: Flask) -> None:
    ref = uploaded(client, crm, "contract", "合同.pdf", PDF)
    assert ref == {"id": ref["id"], "name": "合同.pdf", "size": len(PDF), "content_type": "application/pdf"}
    assert blob(app, PDF).read_bytes() == PDF
    assert [p.name for p in stored_files(app)] == [hashlib.sha256(PDF).hexdigest()]

    created = client.post(
        RECORDS.format(app="crm"), json={"title": "Deal", "contract": [ref["id"]]}, headers=crm.headers
    )
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["contract"] == [ref]

    got = client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=crm.headers)
    assert got.status_code == 200
    assert got.data == PDF
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Content-Disposition"] == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C.pdf"
    )
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert "private" in got.headers["Cache-Control"]
    again = client.get(
        f"/api/v1/apps/crm/files/{ref['id']}", headers={**crm.headers, "If-None-Match": got.headers["ETag"]}
    )
    assert again.status_code == 304

    with app.extensions["opsloom.db"].session_scope() as session:
        row = session.get(StoredFile, ref["id"])
        assert (row.entity_key, row.field_key, row.sha256) == (
            "doc",
            "contract",
            hashlib.sha256(PDF).hexdigest(),
        )
        entry = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "file")).one()
        assert (entry.action, entry.object_id) == ("upload", str(ref["id"]))
        assert entry.after["name"] == "合同.pdf"
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "file.uploaded")).one()
        assert event.payload["file"] == ref
        assert (event.payload["app"], event.payload["entity"], event.payload["field"]) == (
            "crm",
            "doc",
            "contract",
        )


def test_images_are_sniffed_and_shown_inline(client: FlaskClient, crm: Member) -> None:
    # the name says JPEG, the bytes say PNG: the bytes win
    ref = uploaded(client, crm, "photo", "cat.jpg", PNG)
    assert ref["content_type"] == "image/png"
    got = client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=crm.headers)
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["Content-Disposition"].startswith('inline; filename="cat.jpg"')


def test_text_that_is_not_an_image_downloads_as_an_attachment(client: FlaskClient, crm: Member) -> None:
    ref = uploaded(client, crm, "notes", "page.html", b"<script>alert(1)</script>")
    assert ref["content_type"] == "text/html"
    got = client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=crm.headers)
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_names_lose_folders_and_invisible_characters(client: FlaskClient, crm: Member) -> None:
    assert uploaded(client, crm, "notes", "../../etc/passwd", b"x")["name"] == "passwd"
    assert uploaded(client, crm, "notes", "合同/报告.txt", b"y")["name"] == "报告.txt"
    assert uploaded(client, crm, "notes", "invoice\u202etxt.exe", b"z")["name"] == "invoicetxt.exe"


def test_the_same_bytes_are_kept_once(client: FlaskClient, crm: Member, app: Flask) -> None:
    first = uploaded(client, crm, "contract", "a.pdf", PDF)
    second = uploaded(client, crm, "contract", "b.pdf", PDF)
    assert first["id"] != second["id"]
    assert len(stored_files(app)) == 1
    for ref in (first, second):
        assert client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=crm.headers).data == PDF


def test_the_upload_folder_defaults_to_the_instance(app: Flask) -> None:
    assert app.config["UPLOAD_FOLDER"] == str(Path(app.config["INSTANCE_PATH"]) / "uploads")


def test_the_routes_are_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert (
        "multipart/form-data"
        in paths["/api/v1/apps/{app_key}/records/{entity}/files"]["post"]["requestBody"]["content"]
    )
    assert "get" in paths["/api/v1/apps/{app_key}/files/{file_id}"]


# ---------------------------------------------------------------- refused uploads leave nothing

BAD_UPLOADS = [
    # (field, name, bytes, status, error key, words of the reason)
    ("contract", "big.pdf", b"%PDF" + b"x" * 2000, 413, "contract", "at most 1 KB"),
    ("contract", "tool.exe", EXE, 422, "contract", "not accepted"),
    ("photo", "cat.png", EXE, 422, "photo", "not a PNG image"),
    ("photo", "scan.pdf", PDF, 422, "photo", "not accepted"),
    ("photo", "huge.png", PNG + b"\x00" * 4096, 413, "photo", "images may be at most 2 KB"),
    ("notes", "empty.txt", b"", 422, "notes", "empty"),
    ("nope", "a.txt", b"x", 422, "field", "not a file or image field"),
    ("title", "a.txt", b"x", 422, "field", "not a file or image field"),
    (None, "a.txt", b"x", 422, "field", "required"),
]


@pytest.mark.parametrize(("field", "name", "data", "status", "key", "reason"), BAD_UPLOADS)
def test_a_bad_upload_names_the_field_and_reason_and_leaves_nothing(
    client: FlaskClient,
    crm: Member,
    app: Flask,
    snapshot: Any,
    field: str | None,
    name: str,
    data: bytes,
    status: int,
    key: str,
    reason: str,
) -> None:
    before = snapshot()
    problem = assert_problem(upload(client, crm, field, name, data), status)
    assert reason in problem["errors"][key]
    assert snapshot() == before
    assert stored_files(app) == []


def test_malformed_upload_requests_change_nothing(
    client: FlaskClient, crm: Member, app: Flask, snapshot: Any
) -> None:
    before = snapshot()
    url = "/api/v1/apps/crm/records/doc/files?field=notes"
    as_json = client.post(url, json={"file": "x"}, headers=crm.headers)
    assert "multipart/form-data" in assert_problem(as_json, 415)["detail"]
    two = client.post(
        url,
        data={"file": [(io.BytesIO(b"a"), "a.txt"), (io.BytesIO(b"b"), "b.txt")]},
        headers=crm.headers,
        content_type="multipart/form-data",
    )
    assert "exactly one" in assert_problem(two, 422)["errors"]["file"]
    other_part = client.post(
        url,
        data={"upload": (io.BytesIO(b"a"), "a.txt")},
        headers=crm.headers,
        content_type="multipart/form-data",
    )
    assert assert_problem(other_part, 422)["errors"]["upload"] == "unknown part"
    extra_query = client.post(
        url + "&x=1",
        data={"file": (io.BytesIO(b"a"), "a.txt")},
        headers=crm.headers,
        content_type="multipart/form-data",
    )
    assert assert_problem(extra_query, 400)["errors"] == {"x": "unknown parameter"}
    assert_problem(upload(client, crm, "notes", "a.txt", b"a", entity="nothing"), 404)
    assert_problem(upload(client, crm, "notes", "a.txt", b"a", app="nothing"), 404)
    assert_problem(upload(client, None, "notes", "a.txt", b"a"), 401)
    assert snapshot() == before
    assert stored_files(app) == []


@pytest.fixture
def small_requests(app_config: dict[str, Any]) -> dict[str, Any]:
    """A server that takes request bodies up to 4 KiB, below the ``notes`` field's 20 MB."""
    app_config["MAX_CONTENT_LENGTH"] = 4096
    return app_config


def test_the_server_request_limit_caps_uploads(
    small_requests: dict[str, Any], client: FlaskClient, crm: Member, app: Flask, snapshot: Any
) -> None:
    before = snapshot()
    problem = assert_problem(upload(client, crm, "notes", "big.txt", b"x" * 8000), 413)
    assert "at most 4 KB" in problem["errors"]["notes"]
    assert problem["field"] == "notes"
    assert snapshot() == before
    assert stored_files(app) == []
    assert uploaded(client, crm, "notes", "small.txt", b"x" * 1000)["size"] == 1000


# ---------------------------------------------------------------- records refer to this app's files only


def test_a_record_refuses_files_of_another_workspace_or_app(
    client: FlaskClient, crm: Member, outsider: Member, snapshot: Any
) -> None:
    publish_entity(client, crm, DOC, app_key="hr")
    publish_entity(client, outsider, DOC)
    theirs = uploaded(client, outsider, "contract", "x.pdf", PDF)
    other_app = uploaded(client, crm, "contract", "y.pdf", PDF, app="hr")
    before = snapshot()
    for ref in (theirs, other_app):
        response = client.post(
            RECORDS.format(app="crm"), json={"title": "t", "contract": [ref["id"]]}, headers=crm.headers
        )
        problem = assert_problem(response, 422)
        assert problem["errors"]["contract"] == f"file {ref['id']} does not exist (upload it first)"
    assert snapshot() == before


def test_a_record_rechecks_the_field_a_file_goes_into(client: FlaskClient, crm: Member) -> None:
    # uploaded for "notes" (anything goes), then put into "contract" (PDF and text only)
    ref = uploaded(client, crm, "notes", "tool.exe", EXE)
    response = client.post(
        RECORDS.format(app="crm"), json={"title": "t", "contract": [ref["id"]]}, headers=crm.headers
    )
    assert "not accepted" in assert_problem(response, 422)["errors"]["contract"]


# ---------------------------------------------------------------- who may upload and download


def test_downloads_stay_inside_their_workspace_and_app(
    client: FlaskClient, crm: Member, outsider: Member
) -> None:
    ref = uploaded(client, crm, "contract", "a.pdf", PDF)
    publish_entity(client, crm, DOC, app_key="hr")
    assert_problem(client.get(f"/api/v1/apps/hr/files/{ref['id']}", headers=crm.headers), 404)
    assert_problem(client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=outsider.headers), 404)
    publish_entity(client, outsider, DOC)  # globex has its own app "crm" now
    assert_problem(client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=outsider.headers), 404)
    assert_problem(client.get("/api/v1/apps/crm/files/999999", headers=crm.headers), 404)
    assert_problem(client.get(f"/api/v1/apps/crm/files/{ref['id']}"), 401)


def test_staff_need_write_rights_to_upload(
    client: FlaskClient, crm: Member, staff: Member, snapshot: Any
) -> None:
    before = snapshot()
    assert_problem(upload(client, staff, "notes", "a.txt", b"a"), 403)
    assert snapshot() == before
    grant(client, crm, {"entity:crm.doc": {"read": "all", "update": "own"}})
    assert uploaded(client, staff, "notes", "a.txt", b"a")["size"] == 1
    grant(client, crm, {"entity:crm.doc": {"create": "all", "fields": {"notes": "hidden"}}})
    assert "hidden" in assert_problem(upload(client, staff, "notes", "a.txt", b"a"), 403)["detail"]
    assert uploaded(client, staff, "contract", "a.pdf", PDF)["size"] == len(PDF)


def test_downloads_need_read_rights_and_a_visible_field(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    contract = uploaded(client, crm, "contract", "a.pdf", PDF)
    photo = uploaded(client, crm, "photo", "p.png", PNG)
    assert_problem(client.get(f"/api/v1/apps/crm/files/{contract['id']}", headers=staff.headers), 403)
    grant(client, crm, {"entity:crm.doc": {"read": "own", "fields": {"contract": "hidden"}}})
    hidden = assert_problem(
        client.get(f"/api/v1/apps/crm/files/{contract['id']}", headers=staff.headers), 403
    )
    assert hidden["field"] == "contract"
    # the photo is on no record the staff member may read (their scope is "own")
    assert_problem(client.get(f"/api/v1/apps/crm/files/{photo['id']}", headers=staff.headers), 404)
    grant(client, crm, {"entity:crm.doc": {"read": "all", "fields": {"contract": "hidden"}}})
    assert client.get(f"/api/v1/apps/crm/files/{photo['id']}", headers=staff.headers).data == PNG


def test_a_scoped_role_downloads_only_files_of_records_in_its_scope(
    client: FlaskClient, crm: Member, staff: Member
) -> None:
    theirs = uploaded(client, crm, "contract", "boss.pdf", PDF)
    made = client.post(RECORDS.format(app="crm"), json={"title": "boss", "contract": [theirs["id"]]},
                       headers=crm.headers)
    assert made.status_code == 201, made.get_json()
    grant(client, crm, {"entity:crm.doc": {"read": "own", "create": "all", "update": "own"}})
    # a file on a record out of scope is not found, as if it did not exist
    assert_problem(client.get(f"/api/v1/apps/crm/files/{theirs['id']}", headers=staff.headers), 404)
    mine = uploaded(client, staff, "contract", "mine.pdf", PDF + b"mine")
    # the uploader sees an upload before it is on a record (the form shows it)
    assert client.get(f"/api/v1/apps/crm/files/{mine['id']}", headers=staff.headers).status_code == 200
    own = client.post(RECORDS.format(app="crm"), json={"title": "mine", "contract": [mine["id"]]},
                      headers=staff.headers)
    assert own.status_code == 201, own.get_json()
    assert client.get(f"/api/v1/apps/crm/files/{mine['id']}", headers=staff.headers).data == PDF + b"mine"
    # nor can a guessed id be attached to one's own record to read it through that record
    stolen = client.post(RECORDS.format(app="crm"), json={"title": "x", "contract": [theirs["id"]]},
                         headers=staff.headers)
    assert "not one you uploaded or can see" in assert_problem(stolen, 422)["errors"]["contract"]
    bulk = client.post(f"{RECORDS.format(app='crm')}/bulk", json={"records": [{"title": "x", "contract": [theirs["id"]]}]},
                       headers=staff.headers)
    assert "0/contract" in assert_problem(bulk, 422)["errors"]


def test_a_file_goes_only_into_the_field_it_was_uploaded_for(
    client: FlaskClient, crm: Member, staff: Member, snapshot: Any
) -> None:
    note = uploaded(client, crm, "notes", "a.pdf", PDF)
    before = snapshot()
    moved = client.post(RECORDS.format(app="crm"), json={"title": "t", "contract": [note["id"]]}, headers=crm.headers)
    assert "uploaded for another field" in assert_problem(moved, 422)["errors"]["contract"]
    assert snapshot() == before
    # a record keeps the files it holds whoever uploaded them: a PATCH may send them back
    record = client.post(RECORDS.format(app="crm"), json={"title": "t", "notes": [note["id"]]},
                         headers=crm.headers).get_json()
    grant(client, crm, {"entity:crm.doc": {"read": "all", "update": "all"}})
    patched = client.patch(f"{RECORDS.format(app='crm')}/{record['id']}",
                           json={"_version": 1, "title": "u", "notes": record["notes"]}, headers=staff.headers)
    assert patched.status_code == 200, patched.get_json()


def test_signed_in_browsers_download_with_their_session(client: FlaskClient, crm: Member) -> None:
    ref = uploaded(client, crm, "photo", "p.png", PNG)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert token
    signed = client.post(
        "/login", data={"username": crm.username, "password": crm.password, "csrf_token": token.group(1)}
    )
    assert signed.status_code == 302
    got = client.get(f"/api/v1/apps/crm/files/{ref['id']}")
    assert got.status_code == 200
    assert got.data == PNG
    # a session-authenticated upload is a write: it needs the page's CSRF token
    assert_problem(upload(client, None, "photo", "q.png", PNG, headers={}), 403)


def test_a_file_missing_from_disk_is_a_404_not_a_500(client: FlaskClient, crm: Member, app: Flask) -> None:
    ref = uploaded(client, crm, "contract", "a.pdf", PDF)
    blob(app, PDF).unlink()
    assert (
        "missing"
        in assert_problem(client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=crm.headers), 404)[
            "detail"
        ]
    )


def test_another_workspace_member_is_no_admin_here(app: Flask, client: FlaskClient, crm: Member) -> None:
    ref = uploaded(client, crm, "contract", "a.pdf", PDF)
    stranger = make_member(app, "globex", "gus", admin=False)
    assert_problem(client.get(f"/api/v1/apps/crm/files/{ref['id']}", headers=stranger.headers), 404)
