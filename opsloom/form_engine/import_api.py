"""The import and export API: ``POST .../records/{entity}/import``, run progress and error files, ``GET .../export``.

Thin: read the multipart body or the query, call ``ImportService`` / ``exports``, shape
the answer. A file of up to ``IMPORT_SYNC_MAX_ROWS`` rows is imported in the request
(200 with the report); a bigger one becomes a background run (202 with its id).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, request, send_file, stream_with_context, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from opsloom.platform.api import current_actor
from opsloom.platform.api.base import accepts_files
from opsloom.platform.db import get_database, request_session, utcnow
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import BadRequest, NotFound, PermissionDenied, ValidationError
from opsloom.platform.web.i18n import locale_code

from . import exports
from .file_rules import content_disposition
from .import_models import RUN_STATUSES
from .import_refs import RESOLVED_SHOWN
from .import_runs import SYNC_MAX_ROWS, batch_size, find_run, import_folder, queue_run, run_json, run_now
from .import_service import MODES, ImportService, parse_options
from .imports import read_sheet
from .service import RecordService

if TYPE_CHECKING:
    from werkzeug.datastructures import FileStorage

    from .import_models import ImportRun

__all__ = ["ImportRunSchema", "blp", "records_for", "report", "start_import"]

blp = Blueprint(
    "imports", __name__, description="Import records from CSV/XLSX files; export them as CSV/XLSX."
)

FILE_PART = "file"
OPTIONS_PART = "options"
_EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ImportRowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "The row in the file (the header is row 1)."})
    column = fields.String(metadata={"description": "The column's header text; empty for the whole row."})
    field = fields.String(allow_none=True)
    message = fields.String()


class ImportResolutionSchema(Schema):
    """One name found in a reference column: ``Wang Fang`` -> user 7."""

    text = fields.String(metadata={"description": "The text of the cell (one value of a many relation)."})
    id = fields.Integer(metadata={"description": "The user, department or record it names."})
    by = fields.String(
        metadata={
            "description": "What matched: username, display_name, key, name, path, or the key of the "
            "target's unique or title field."
        }
    )
    target = fields.String(metadata={"description": "user, department, or the related entity's key."})


class ImportRunSchema(Schema):
    """An import run: what was asked, how far it got, and how it went."""

    id = fields.Integer()
    entity = fields.String()
    file_name = fields.String()
    status = fields.String(metadata={"enum": list(RUN_STATUSES)})
    mode = fields.String(metadata={"enum": list(MODES)})
    dry_run = fields.Boolean()
    upsert_key = fields.List(fields.String())
    written = fields.Boolean(metadata={"description": "Whether the records were kept."})
    total = fields.Integer()
    processed = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(
        fields.Nested(ImportRowErrorSchema),
        metadata={"description": "The first errors; the error file has them all."},
    )
    resolved = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(ImportResolutionSchema)),
        metadata={
            "description": "Names found in user, department and relation columns, by field key (the first "
            f"{RESOLVED_SHOWN} per field; ids typed as ids are left out), as the importer's role could find "
            "them. A background run stores them with its progress counts, so a failed run keeps those of "
            "the rows it counted; `{}` while nothing is resolved."
        },
    )
    has_error_file = fields.Boolean()
    error_file = fields.String(allow_none=True, metadata={"description": "The URL of the failed rows (CSV)."})
    message = fields.String(allow_none=True, metadata={"description": "Why a failed run failed."})
    created_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    finished_at = fields.String(allow_none=True, metadata={"format": "date-time"})


def records_for(app_key: str) -> RecordService:
    """The record service of the caller in ``app_key``."""
    actor = current_actor()
    if actor.workspace_id is None:
        raise PermissionDenied("Choose a workspace first: records belong to a workspace's apps.")
    app = definitions.get_app(request_session(), actor, app_key)
    return RecordService(request_session(), actor, app)


def _upload() -> tuple[FileStorage, Any]:
    """The file part and the parsed ``options`` part of the multipart body."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            f"Send the file as multipart/form-data in a part named {FILE_PART!r}, with the options as JSON in a "
            f"part named {OPTIONS_PART!r} (got {request.mimetype or 'no content type'})."
        )
    try:
        parts, form = request.files, request.form
    except RequestEntityTooLarge:
        raise ValidationError(
            "The file is larger than this server accepts; split it or raise MAX_CONTENT_LENGTH.",
            errors={FILE_PART: "too large"},
        ) from None
    unknown = sorted({*parts.keys(), *form.keys()} - {FILE_PART, OPTIONS_PART})
    if unknown:
        raise ValidationError(
            f"Unknown part(s): {', '.join(unknown)}.", errors=dict.fromkeys(unknown, "unknown part")
        )
    found = parts.getlist(FILE_PART)
    if len(found) != 1:
        raise ValidationError(
            f"Send exactly one file in the part named {FILE_PART!r}.",
            errors={FILE_PART: "exactly one file is required"},
        )
    raw = form.get(OPTIONS_PART)
    if raw is None and OPTIONS_PART in parts:
        raw = parts[OPTIONS_PART].read().decode("utf-8", "replace")
    try:
        options = json.loads(raw) if raw else {}
    except ValueError:
        raise ValidationError(
            "The `options` part must be a JSON object.", errors={OPTIONS_PART: "malformed JSON"}
        ) from None
    return found[0], options


def report(app_key: str, run: ImportRun) -> dict[str, Any]:
    """The run as JSON, with the URL of its error file when there is one."""
    body = run_json(run)
    body["error_file"] = (
        url_for("imports.errors_file", app_key=app_key, run_id=run.id) if run.error_path else None
    )
    return body


def start_import(
    records: RecordService, entity: str, data: bytes, file_name: str, raw_options: Any
) -> tuple[dict[str, Any], int]:
    """Preview (200), import a small file (200) or queue a big one (202); shared by the API and the wizard page."""
    options = parse_options(raw_options)
    sheet = read_sheet(data, file_name, sheet=options.sheet)
    config = current_app.config
    service = ImportService(records, batch_size=batch_size(config))
    if options.preview:
        return service.preview(entity, sheet, options), 200
    folder = import_folder(config)
    if sheet.total > int(config.get("IMPORT_SYNC_MAX_ROWS") or SYNC_MAX_ROWS):
        run = queue_run(
            service,
            entity,
            sheet,
            options,
            data,
            file_name=file_name,
            folder=folder,
            app=current_app._get_current_object(),
        )  # type: ignore[attr-defined]
        return report(records.app.key, run), 202
    run = run_now(service, entity, sheet, options, file_name=file_name, folder=folder)
    # the report lists the names found in user, department and relation columns ("Wang Fang" -> user 7),
    # kept on the run's log row, so a dry run and a background run show them as well
    return report(records.app.key, run), 200


@blp.route("/apps/<app_key>/records/<entity>/import", methods=["POST"])
@accepts_files
@blp.doc(
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        FILE_PART: {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (UTF-8, UTF-8 BOM, GBK) or XLSX",
                        },
                        OPTIONS_PART: {
                            "type": "string",
                            "description": "JSON: {mapping: {column: field}, mode: all_or_nothing|"
                            "skip_invalid, upsert_key: [field], dry_run: bool, preview: bool, sheet: name}",
                        },
                    },
                    "required": [FILE_PART],
                }
            }
        },
    }
)
@blp.response(
    200,
    description="The preview (`preview: true`) or the report of a finished run (as `GET /apps/{app}/imports/{id}`).",
)
@blp.alt_response(
    202,
    schema=ImportRunSchema,
    description="A big file: the queued run; follow `GET /apps/{app}/imports/{id}`.",
)
def import_records(app_key: str, entity: str) -> Any:
    """Import records from a CSV or XLSX file (requires the import and create rights; update for upserts)."""
    records = records_for(app_key)
    records.model(entity)  # 404 for an unknown app or entity before the body is looked at
    part, raw_options = _upload()
    return start_import(records, entity, part.read(), part.filename or "", raw_options)


@blp.route("/apps/<app_key>/imports/<int:run_id>", methods=["GET"])
@blp.response(
    200,
    ImportRunSchema,
    description="The run: status (queued, running, done, failed), counts, first errors, resolved names.",
)
def import_progress(app_key: str, run_id: int) -> dict[str, Any]:
    """Progress of one of your import runs."""
    records = records_for(app_key)
    return report(app_key, find_run(request_session(), records.actor, records.app.id, run_id))


@blp.route("/apps/<app_key>/imports/<int:run_id>/errors.csv", methods=["GET"])
@blp.doc(
    responses={
        "200": {
            "description": "The failed rows plus an `error` column (CSV, UTF-8 with BOM).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
def errors_file(app_key: str, run_id: int) -> Response:
    """Download the error file of one of your import runs (404 for anyone else)."""
    records = records_for(app_key)
    run = find_run(request_session(), records.actor, records.app.id, run_id)
    path = import_folder(current_app.config) / f"run-{run.id}-errors.csv"
    if not run.error_path or not path.is_file():
        raise NotFound(f"Import run {run_id} has no error file (no row failed, or it was cleaned up).")
    response = send_file(path, mimetype="text/csv", conditional=False)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = content_disposition(f"import-{run.id}-errors.csv", inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _filter_arg() -> Any:
    raw = request.args.get("filter")
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest(
            "`filter` must be an expression in JSON.", errors={"filter": "malformed JSON"}
        ) from None


@blp.route("/apps/<app_key>/records/<entity>/export", methods=["GET"])
@blp.doc(
    parameters=[
        {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["csv", "xlsx"]}},
        {
            "name": "filter",
            "in": "query",
            "schema": {"type": "string"},
            "description": "An expression (JSON).",
        },
        {"name": "sort", "in": "query", "schema": {"type": "string"}},
        {"name": "q", "in": "query", "schema": {"type": "string"}},
        {
            "name": "fields",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Comma-separated keys.",
        },
    ],
    responses={
        "200": {
            "description": "The file, streamed.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                _EXPORT_TYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def export_records(app_key: str, entity: str) -> Response:
    """Export records (requires the export right): filters, masks and hidden fields apply as in the API."""
    unknown = sorted(set(request.args) - {"format", "filter", "sort", "q", "fields"})
    if unknown:
        raise BadRequest(
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            errors=dict.fromkeys(unknown, "unknown parameter"),
        )
    kind = request.args.get("format", "csv")
    if kind not in _EXPORT_TYPES:
        raise BadRequest("`format` must be csv or xlsx.", errors={"format": "must be csv or xlsx"})
    records = records_for(app_key)
    fields = [f.strip() for f in request.args.get("fields", "").split(",") if f.strip()] or None
    plan = exports.plan_export(
        records,
        entity,
        filter=_filter_arg(),
        sort=request.args.get("sort"),
        q=request.args.get("q"),
        fields=fields,
        secret=current_app.config["SECRET_KEY"],
    )
    names = exports.header(plan, locale_code())  # the page's language, as the API's messages
    actor, app_id = records.actor, records.app.id
    database = get_database()

    def generate() -> Any:
        # the request's session is closed once the response starts: the pages after the first use their own
        from opsloom.platform.models import App

        session = database.sessions()
        try:
            streaming = RecordService(session, actor, session.get(App, app_id), now=records.now)
            cells = exports.rows(streaming, plan)
            chunks = exports.csv_chunks(names, cells) if kind == "csv" else exports.xlsx_chunks(names, cells)
            yield from chunks
        finally:
            session.rollback()
            session.close()

    stamp = utcnow().strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(generate()), mimetype=_EXPORT_TYPES[kind].split(";")[0])
    response.headers["Content-Type"] = _EXPORT_TYPES[kind]
    response.headers["Content-Disposition"] = content_disposition(f"{entity}-{stamp}.{kind}", inline=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response
