"""The import wizard: upload a file, map its columns, preview, run, follow the run and fetch its error file.

Page views are an edge like ``import_api``: the same ``start_import`` does the work, so
the page and the API cannot disagree. Between steps the uploaded file waits under
``IMPORT_FOLDER/staged/<user id>/`` by a random token (a hidden field), so a user can
only reach their own upload. No script is needed: every step is a plain form post, and
the run page refreshes its progress panel with htmx while the run is not finished.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext

from opsloom.platform.db import request_session
from opsloom.platform.errors import OpsloomError
from opsloom.platform.web.guards import form_list, form_text, is_htmx, login_required, page_actor

from .import_api import records_for, report, start_import
from .import_refs import RESOLVED_SHOWN
from .import_runs import find_run, import_folder
from .imports import importable_fields

if TYPE_CHECKING:
    from pathlib import Path

    from flask.typing import ResponseReturnValue

    from .service import RecordService

__all__ = ["bp"]

bp = Blueprint("form_engine_imports", __name__, template_folder="templates")

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
#: the mapping select's value for "do not import this column"
SKIP = ""


def _staged(token: str) -> Path | None:
    """The signed-in user's staged upload for ``token`` (None for a malformed or foreign token)."""
    if not _TOKEN.match(token or ""):
        return None
    path = import_folder(current_app.config) / "staged" / str(page_actor().user_id) / f"{token}.upload"
    return path if path.is_file() else None


def _fields(records: RecordService, entity: str) -> list[tuple[str, Any]]:
    model = records.model(entity)
    return [(key, model.fields[key].spec.get("label")) for key in importable_fields(model)]


def _options(preview: bool) -> dict[str, Any]:
    """The wizard's form as the API's ``options`` object."""
    mapping = {}
    for name, value in request.form.items(multi=True):
        if name.startswith("map:"):
            mapping[name[4:]] = value or None
    options: dict[str, Any] = {"mapping": mapping, "preview": preview, "sheet": form_text("sheet") or None}
    if not preview:
        options.update(
            mode=form_text("mode") or "all_or_nothing",
            upsert_key=form_list("upsert_key") or None,
            dry_run=form_text("dry_run") == "1",
        )
    return options


def _render(
    step: str, app_key: str, entity: str, records: RecordService | None, status: int = 200, **context: Any
) -> ResponseReturnValue:
    app = records.app if records is not None else None
    fields = _fields(records, entity) if records is not None else []
    return render_template(
        "form_engine/import.html",
        step=step,
        app=app,
        app_key=app_key,
        entity=entity,
        fields=fields,
        skip=SKIP,
        **context,
    ), status


@bp.route("/apps/<app_key>/records/<entity>/import", methods=["GET", "POST"])
@login_required
def wizard(app_key: str, entity: str) -> ResponseReturnValue:
    """GET: the upload form. POST (a file): keep it, then show the mapping and the preview."""
    try:
        records = records_for(app_key)
        records.require(entity, "import")
    except OpsloomError as exc:
        return _render("upload", app_key, entity, None, exc.status, error=exc.detail)
    if request.method == "GET":
        return _render("upload", app_key, entity, records)
    part = request.files.get("file")
    if part is None or not part.filename:
        return _render("upload", app_key, entity, records, 422, error=gettext("Choose a CSV or Excel file."))
    token = uuid.uuid4().hex
    path = import_folder(current_app.config) / "staged" / str(page_actor().user_id) / f"{token}.upload"
    path.parent.mkdir(parents=True, exist_ok=True)
    part.save(path)
    return _preview(
        app_key, entity, records, token, part.filename, {"preview": True, "sheet": form_text("sheet") or None}
    )


@bp.post("/apps/<app_key>/records/<entity>/import/preview")
@login_required
def preview(app_key: str, entity: str) -> ResponseReturnValue:
    """The mapping step again, with the mapping the user chose."""
    records = records_for(app_key)
    return _preview(app_key, entity, records, form_text("token"), form_text("file_name"), _options(True))


def _preview(
    app_key: str, entity: str, records: RecordService, token: str, file_name: str, options: dict[str, Any]
) -> ResponseReturnValue:
    path = _staged(token)
    if path is None:
        return _render(
            "upload",
            app_key,
            entity,
            records,
            404,
            error=gettext("The uploaded file is gone; upload it again."),
        )
    try:
        found, _status = start_import(records, entity, path.read_bytes(), file_name, options)
    except OpsloomError as exc:
        path.unlink(missing_ok=True)
        return _render("upload", app_key, entity, records, exc.status, error=exc.detail, errors=exc.errors)
    return _render(
        "map",
        app_key,
        entity,
        records,
        preview=found,
        token=token,
        file_name=file_name,
        sheet=options.get("sheet") or "",
        chosen=request.form,
    )


@bp.post("/apps/<app_key>/records/<entity>/import/run")
@login_required
def run(app_key: str, entity: str) -> ResponseReturnValue:
    """Start the import; then follow it on the run page (a refused plan shows the mapping step again)."""
    records = records_for(app_key)
    token, file_name = form_text("token"), form_text("file_name")
    path = _staged(token)
    if path is None:
        return _render(
            "upload",
            app_key,
            entity,
            records,
            404,
            error=gettext("The uploaded file is gone; upload it again."),
        )
    data = path.read_bytes()
    try:
        found, _status = start_import(records, entity, data, file_name, _options(False))
    except OpsloomError as exc:
        request_session().rollback()
        shown, _ = start_import(records, entity, data, file_name, _options(True))
        return _render(
            "map",
            app_key,
            entity,
            records,
            exc.status,
            preview=shown,
            token=token,
            file_name=file_name,
            sheet=form_text("sheet"),
            chosen=request.form,
            error=exc.detail,
            errors=exc.errors,
        )
    path.unlink(missing_ok=True)
    return redirect(url_for("form_engine_imports.run_page", app_key=app_key, run_id=found["id"]))


@bp.get("/apps/<app_key>/imports/<int:run_id>")
@login_required
def run_page(app_key: str, run_id: int) -> ResponseReturnValue:
    """The run's progress (an htmx poll gets the panel alone) and, when done, its error file."""
    records = records_for(app_key)
    found = report(app_key, find_run(request_session(), records.actor, records.app.id, run_id))
    template = "form_engine/_import_progress.html" if is_htmx() else "form_engine/import_run.html"
    return render_template(template, app=records.app, run=found, resolved_shown=RESOLVED_SHOWN)
