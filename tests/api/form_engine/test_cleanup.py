"""The daily clean-up: unattached uploads, leftover spool files, abandoned import files."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from opsloom.form_engine.cleanup import clean_imports, clean_uploads
from opsloom.form_engine.file_store import FileStore
from opsloom.form_engine.import_models import ImportRun
from opsloom.form_engine.import_runs import import_folder
from opsloom.form_engine.models import StoredFile
from opsloom.form_engine.registry import field_types
from opsloom.platform.jobs.commands import register_commands
from tests.api.form_engine.test_files_api import DOC, PDF, blob, uploaded
from tests.conftest import command_line, publish_entity

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.conftest import Member

RECORDS = "/api/v1/apps/crm/records/doc"


@pytest.fixture
def crm(client: FlaskClient, admin: Member) -> Member:
    publish_entity(client, admin, DOC)
    return admin


def _clean_uploads(app: Flask, now: datetime) -> dict[str, int]:
    with app.app_context(), app.extensions["opsloom.db"].session_scope() as session:
        return clean_uploads(session, FileStore(app.config["UPLOAD_FOLDER"]), now=now, hours=24,
                             types=field_types(app))


def _stored(app: Flask) -> set[int]:
    with app.extensions["opsloom.db"].session_scope() as session:
        return set(session.scalars(select(StoredFile.id)))


def test_uploads_no_record_holds_are_forgotten_after_a_day(client: FlaskClient, crm: Member, app: Flask) -> None:
    attached = uploaded(client, crm, "contract", "kept.pdf", PDF)
    uploaded(client, crm, "notes", "loose.pdf", PDF + b"loose")
    shared = uploaded(client, crm, "notes", "copy.pdf", PDF)  # the same bytes as the attached one
    on_deleted = uploaded(client, crm, "notes", "deleted.pdf", PDF + b"deleted")
    assert client.post(RECORDS, json={"title": "a", "contract": [attached["id"]]}, headers=crm.headers).status_code == 201
    gone = client.post(RECORDS, json={"title": "b", "notes": [on_deleted["id"]]}, headers=crm.headers).get_json()
    assert client.delete(f"{RECORDS}/{gone['id']}", headers=crm.headers).status_code == 200
    spool = Path(app.config["UPLOAD_FOLDER"]) / ".tmp" / "interrupted"
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_bytes(b"half an upload")
    now = datetime.now(UTC)

    # young uploads are left alone: a form may be about to save them
    assert _clean_uploads(app, now)["uploads_forgotten"] == 0
    os.utime(spool, (now.timestamp() - 2 * 86400,) * 2)
    counts = _clean_uploads(app, now + timedelta(hours=25))
    assert counts == {"uploads_forgotten": 2, "blobs_removed": 1, "temporary_removed": 1}
    assert _stored(app) == {attached["id"], on_deleted["id"]}
    assert not blob(app, PDF + b"loose").exists()
    assert blob(app, PDF).exists()  # still the bytes of the attached file
    assert not spool.exists()
    assert client.get(f"/api/v1/apps/crm/files/{attached['id']}", headers=crm.headers).data == PDF
    assert client.get(f"/api/v1/apps/crm/files/{shared['id']}", headers=crm.headers).status_code == 404
    # the soft-deleted record comes back with its file
    assert client.post(f"{RECORDS}/{gone['id']}/restore", headers=crm.headers).status_code == 200
    assert client.get(f"/api/v1/apps/crm/files/{on_deleted['id']}", headers=crm.headers).status_code == 200


def test_abandoned_import_files_go_and_the_run_says_its_error_file_expired(
    client: FlaskClient, admin: Member, app: Flask
) -> None:
    from tests.api.form_engine.test_import_export import CUSTOMER, IMPORT

    publish_entity(client, admin, CUSTOMER)
    data = b"name,phone\nWang,13812345678\n,13912345678\n"
    report = client.post(IMPORT, data={"file": (io.BytesIO(data), "c.csv"),
                                       "options": '{"mode": "skip_invalid"}'},
                         headers=admin.headers, content_type="multipart/form-data").get_json()
    assert report["has_error_file"], report
    folder = import_folder(app.config)
    staged = folder / "staged" / "1" / "abandoned.upload"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(b"name\nx\n")
    with app.extensions["opsloom.db"].session_scope() as session:
        error_file = Path(session.get(ImportRun, report["id"]).error_path)
    assert error_file.is_file()
    now = datetime.now(UTC)

    with app.extensions["opsloom.db"].session_scope() as session:
        assert clean_imports(session, folder, now=now, staged_hours=24, days=7) == {
            "import_staged_removed": 0, "import_runs_expired": 0}
    os.utime(staged, (now.timestamp() - 2 * 86400,) * 2)
    with app.extensions["opsloom.db"].session_scope() as session:
        counts = clean_imports(session, folder, now=now + timedelta(days=8), staged_hours=24, days=7)
    assert counts == {"import_staged_removed": 1, "import_runs_expired": 1}
    assert not staged.exists()
    assert not error_file.exists()
    run = client.get(f"/api/v1/apps/crm/imports/{report['id']}", headers=admin.headers).get_json()
    assert run["has_error_file"] is False
    assert "expired" in run["message"]


def test_the_clean_up_is_a_periodic_task_that_can_run_at_once(
    app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    run = command_line(app_config, monkeypatch, register_commands, "scheduler")
    listed = run("list")
    assert listed.exit_code == 0, listed.output
    assert "form_engine.cleanup: cron 17 3 * * * (UTC), as a job" in listed.output
    result = run("run", "form_engine.cleanup")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("form_engine.cleanup: ran (uploads_forgotten=0 ")
    unknown = run("run", "nope")
    assert unknown.exit_code == 2
    assert "There is no periodic task 'nope'" in unknown.output
