"""Import runs: the log row, now (small files) or as a background job (big files), and the error file's place.

The request creates the ``ImportRun`` row. A small file runs at once in the request's
transaction; a big one is saved under ``IMPORT_FOLDER`` and ``import_job`` runs it
after the request commits (the job id is enqueued from an ``after_commit`` hook, so a
worker never looks for a run that is not there yet). The job is its own edge: a
skip-invalid run commits batch by batch, with the progress in the same commit. The
progress includes the names resolved so far (``resolved``), so a run's report shows them
whether it ran in the request or as a job, and a failed job keeps those of the rows it
counted. Only the run's importer reads it back (``find_run``), and the names were found
with their role's read scope, so the report shows nothing they could not see.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from opsloom.platform.db import get_database
from opsloom.platform.errors import NotFound
from opsloom.platform.jobs import get_runtime, job

from .import_models import ImportRun
from .import_service import BATCH_SIZE, ErrorFile, ImportOptions, ImportOutcome, ImportService
from .imports import read_sheet

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from flask import Flask

    from opsloom.platform.actor import Actor
    from opsloom.platform.jobs import JobContext

    from .imports import Sheet
    from .service import RecordService

__all__ = [
    "SYNC_MAX_ROWS",
    "find_run",
    "import_folder",
    "import_job",
    "queue_run",
    "run_json",
    "run_now",
]

log = logging.getLogger("opsloom.imports")

#: files with more rows run as a background job (setting ``IMPORT_SYNC_MAX_ROWS``)
SYNC_MAX_ROWS = 2000
_PENDING = "opsloom.import_runs.pending"


def import_folder(config: Mapping[str, Any]) -> Path:
    """``IMPORT_FOLDER``, by default ``<INSTANCE_PATH>/imports``: waiting files and error files."""
    folder = config.get("IMPORT_FOLDER") or Path(config["INSTANCE_PATH"]) / "imports"
    return Path(folder).resolve()


def batch_size(config: Mapping[str, Any]) -> int:
    return int(config.get("IMPORT_BATCH_SIZE") or BATCH_SIZE)


def _new_run(
    records: RecordService, entity: str, file_name: str, options: ImportOptions, total: int, status: str
) -> ImportRun:
    run = ImportRun(
        workspace_id=records.app.workspace_id,
        app_id=records.app.id,
        entity_key=entity,
        created_by=records.actor.user_id,
        file_name=file_name[:255],
        options=options.as_json(),
        status=status,
        total=total,
        created_at=records.now,
        errors=[],
    )
    records.session.add(run)
    records.session.flush()
    return run


def _finish(run: ImportRun, outcome: ImportOutcome, error_path: Path | None, now: datetime) -> None:
    run.status = "done"
    run.processed, run.created, run.updated, run.failed = (
        outcome.processed,
        outcome.created,
        outcome.updated,
        outcome.failed,
    )
    run.written = outcome.written
    run.errors = outcome.errors
    run.resolved = outcome.resolved_json()
    run.error_path = str(error_path) if error_path else None
    run.finished_at = now


def run_now(
    service: ImportService, entity: str, sheet: Sheet, options: ImportOptions, *, file_name: str, folder: Path
) -> ImportRun:
    """Import a small file in the caller's transaction and log it; the caller commits."""
    records = service.records
    run = _new_run(records, entity, file_name, options, sheet.total, "running")
    run.started_at = records.now
    errors = ErrorFile(folder / f"run-{run.id}-errors.csv", sheet.columns)
    try:
        outcome = service.run(entity, sheet, options, error_file=errors)
    finally:
        path = errors.close()
    _finish(run, outcome, path, records.now)
    return run


def queue_run(
    service: ImportService,
    entity: str,
    sheet: Sheet,
    options: ImportOptions,
    data: bytes,
    *,
    file_name: str,
    folder: Path,
    app: Flask,
) -> ImportRun:
    """Check the plan now (so a bad mapping is a 422 at once), keep the file, and run it after the commit."""
    model = service.check_rights(entity, options)
    service.check_plan(model, service.mapping_for(model, sheet.columns, options), options)
    records = service.records
    run = _new_run(records, entity, file_name, options, sheet.total, "queued")
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"run-{run.id}-{uuid.uuid4().hex}.source"
    source.write_bytes(data)
    run.source_path = str(source)
    records.session.info.setdefault(_PENDING, []).append((app, run.id))
    return run


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for app, run_id in session.info.pop(_PENDING, ()):
        import_job.enqueue(get_runtime(app), run_id, job_id=f"import-{run_id}")


@event.listens_for(Session, "after_rollback")
def _drop_uncommitted(session: Session) -> None:
    if not session.in_nested_transaction():
        for _app, run_id in session.info.pop(_PENDING, ()):
            log.info("import run %s was not committed; nothing to run", run_id)


def find_run(session: Session, actor: Actor, app_id: int, run_id: int) -> ImportRun:
    """The actor's own run of this app; :raises NotFound: unknown, or someone else's (one answer for both)."""
    run = session.get(ImportRun, run_id)
    if (
        run is None
        or run.app_id != app_id
        or run.created_by != actor.user_id
        or run.workspace_id != actor.workspace_id
    ):
        raise NotFound(f"There is no import run {run_id} of yours in this app.")
    return run


def run_json(run: ImportRun) -> dict[str, Any]:
    """The run as the API shows it (the error file's URL is added by the API)."""
    options = run.options or {}
    return {
        "id": run.id,
        "entity": run.entity_key,
        "file_name": run.file_name,
        "status": run.status,
        "mode": options.get("mode"),
        "dry_run": bool(options.get("dry_run")),
        "upsert_key": options.get("upsert_key") or [],
        "written": run.written,
        "total": run.total,
        "processed": run.processed,
        "created": run.created,
        "updated": run.updated,
        "failed": run.failed,
        "errors": run.errors or [],
        # as the run's importer resolved them (their read scope and clear fields); only they can read the run
        "resolved": run.resolved or {},
        "has_error_file": bool(run.error_path),
        "message": run.message,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


# ---------------------------------------------------------------- the background job


@job("default", timeout=6 * 3600, transactional=False)
def import_job(ctx: JobContext, run_id: int) -> str:
    """Run a queued import; a crash marks the run failed (and fails the job, so the monitor shows it)."""
    database = get_database(ctx.app)
    session = database.sessions()
    try:
        return _perform(ctx, session, run_id)
    except Exception as exc:
        session.rollback()
        log.exception("import run %s failed (job %s)", run_id, ctx.job_id)
        with database.session_scope() as other:
            other.execute(
                update(ImportRun)
                .where(ImportRun.id == run_id)
                .values(status="failed", message=f"{type(exc).__name__}: {exc}"[:2000], finished_at=ctx.now)
            )
        raise
    finally:
        session.close()


def _perform(ctx: JobContext, session: Session, run_id: int) -> str:
    from opsloom.platform.auth.actors import actor_for
    from opsloom.platform.models import App, User

    from .service import RecordService

    run = session.get(ImportRun, run_id)
    if run is None or run.status != "queued":
        log.warning("import run %s is not waiting (job %s); skipped", run_id, ctx.job_id)
        return "skipped"
    user = session.get(User, run.created_by)
    app = session.get(App, run.app_id)
    if user is None or app is None:
        raise NotFound(f"import run {run_id}: its user or app is gone")
    actor = actor_for(session, user, run.workspace_id, via="job")
    records = RecordService(session, actor, app, now=ctx.now)
    options = ImportOptions(
        **{k: v for k, v in (run.options or {}).items() if k != "upsert_key"},
        upsert_key=tuple((run.options or {}).get("upsert_key") or ()),
    )
    source = Path(run.source_path or "")
    sheet = read_sheet(source.read_bytes(), run.file_name, sheet=options.sheet)
    run.status, run.started_at, run.total = "running", ctx.now, sheet.total
    session.commit()
    folder = import_folder(ctx.app.config)
    errors = ErrorFile(folder / f"run-{run.id}-errors.csv", sheet.columns)
    stepwise = options.mode == "skip_invalid" and not options.dry_run
    sqlite = database_is_sqlite(session)

    def progress(outcome: ImportOutcome) -> None:
        # the resolutions go with the counts, so a run that fails later keeps those of the rows it counted
        counts = {
            "processed": outcome.processed,
            "created": outcome.created,
            "updated": outcome.updated,
            "failed": outcome.failed,
            "resolved": outcome.resolved_json(),
        }
        if stepwise:
            for name, value in counts.items():
                setattr(run, name, value)
            session.commit()
        elif not sqlite:
            # the rows wait in one open transaction; the progress goes through another one.
            # SQLite has one writer at a time, so there the count jumps at the end instead.
            with get_database(ctx.app).session_scope() as other:
                other.execute(update(ImportRun).where(ImportRun.id == run.id).values(**counts))

    service = ImportService(records, batch_size=batch_size(ctx.app.config))
    try:
        outcome = service.run(run.entity_key, sheet, options, error_file=errors, on_batch=progress)
    finally:
        path = errors.close()
    if not stepwise and not sqlite:
        session.refresh(
            run
        )  # reload what the progress session wrote, so every final count is written over it
    _finish(run, outcome, path, ctx.now)
    run.source_path = None
    session.commit()
    source.unlink(missing_ok=True)
    log.info(
        "import run %s done (job %s): %s created, %s updated, %s failed",
        run.id,
        ctx.job_id,
        outcome.created,
        outcome.updated,
        outcome.failed,
    )
    return f"created={outcome.created} updated={outcome.updated} failed={outcome.failed}"


def database_is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
