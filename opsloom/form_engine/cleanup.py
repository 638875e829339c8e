"""Daily clean-up of what users leave behind: uploads never attached, abandoned import files.

- An uploaded file that no record holds, ``UPLOAD_RETENTION_HOURS`` (default 24) after its
  upload, is forgotten (its ``StoredFile`` row) and its bytes are removed once no other
  row shares them. A file a soft-deleted record holds is kept: the record can come back.
  Files of fields that no longer exist are kept too (their column is a tombstone that
  may be restored).
- Temporary spool files (``<UPLOAD_FOLDER>/.tmp``) older than a day are leftovers of
  interrupted uploads.
- Import files: a staged upload of the import wizard that was never run goes after
  ``UPLOAD_RETENTION_HOURS``; a finished run's error file and any source file it kept go
  after ``IMPORT_RETENTION_DAYS`` (default 7), and the run says its error file expired.

It runs as the periodic task ``form_engine.cleanup`` (daily, 03:17 UTC) and at once with
``opsloom scheduler run form_engine.cleanup``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import aliased

from opsloom.platform.db import get_database
from opsloom.platform.jobs import periodic
from opsloom.platform.models import App

from .file_access import holds_file
from .file_store import FileStore
from .import_models import ImportRun
from .import_runs import import_folder
from .models import EntityTable, StoredFile
from .registry import field_types, model_for_row

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.jobs import TaskContext

__all__ = ["clean_imports", "clean_uploads", "cleanup"]

DEFAULTS = {"UPLOAD_RETENTION_HOURS": 24, "IMPORT_RETENTION_DAYS": 7}
_FINISHED = ("done", "failed")


def _setting(config: Mapping[str, Any], name: str) -> float:
    value = config.get(name)
    return float(value) if isinstance(value, (int, float)) and value > 0 else float(DEFAULTS[name])


@periodic("form_engine.cleanup", cron="17 3 * * *", inline=False)
def cleanup(ctx: TaskContext) -> str:
    """Forget unattached uploads and remove abandoned import files (see the module)."""
    config = ctx.app.config
    with get_database(ctx.app).session_scope() as session:
        counts = clean_uploads(session, FileStore(config["UPLOAD_FOLDER"]), now=ctx.now,
                               hours=_setting(config, "UPLOAD_RETENTION_HOURS"), types=field_types(ctx.app))
        counts |= clean_imports(session, import_folder(config), now=ctx.now,
                                staged_hours=_setting(config, "UPLOAD_RETENTION_HOURS"),
                                days=_setting(config, "IMPORT_RETENTION_DAYS"))
    return " ".join(f"{name}={count}" for name, count in counts.items())


def clean_uploads(
    session: Session, store: FileStore, *, now: datetime, hours: float, types: Mapping[str, Any]
) -> dict[str, int]:
    """Forget uploads older than ``hours`` that no record holds; remove bytes no row uses any more."""
    cutoff = now - timedelta(hours=hours)
    candidates = session.scalars(select(StoredFile).where(StoredFile.created_at < cutoff)).all()
    models: dict[tuple[int, str], Any] = {}
    forgotten = 0
    digests: set[str] = set()
    for row in candidates:
        key = (row.app_id, row.entity_key)
        if key not in models:
            models[key] = _model(session, row.app_id, row.entity_key, types)
        model = models[key]
        if model is None or row.field_key not in model.table.c or row.field_key not in model.fields:
            continue  # the entity or field is gone: its column is kept, so are its files
        dialect = session.get_bind().dialect.name
        held = session.execute(
            select(model.table.c.id).where(holds_file(model, row.field_key, row.id, dialect)).limit(1)
        ).first()
        if held is None:
            digests.add(row.sha256)
            session.delete(row)
            forgotten += 1
    session.flush()
    removed = 0
    for digest in sorted(digests):
        other = aliased(StoredFile)
        if session.scalar(select(exists().where(other.sha256 == digest))):
            continue
        path = store.blob_path(digest)
        if path.is_file():
            path.unlink()
            removed += 1
    temporary = _remove_older(store.folder / ".tmp", now, timedelta(days=1))
    return {"uploads_forgotten": forgotten, "blobs_removed": removed, "temporary_removed": temporary}


def clean_imports(
    session: Session, folder: Path, *, now: datetime, staged_hours: float, days: float
) -> dict[str, int]:
    """Remove staged wizard uploads older than ``staged_hours`` and finished runs' files older than ``days``."""
    staged = _remove_older(folder / "staged", now, timedelta(hours=staged_hours))
    cutoff = now - timedelta(days=days)
    runs = session.scalars(select(ImportRun).where(
        ImportRun.status.in_(_FINISHED),
        ImportRun.finished_at < cutoff,
        or_(ImportRun.error_path.is_not(None), ImportRun.source_path.is_not(None)),
    )).all()
    expired = 0
    for run in runs:
        for attribute in ("error_path", "source_path"):
            value = getattr(run, attribute)
            if value:
                path = Path(value)
                if path.is_file() and path.resolve().is_relative_to(folder):
                    path.unlink()
                setattr(run, attribute, None)
        if run.error_path is None and run.failed:
            run.message = ((run.message or "") + " The error file expired.").strip()
        expired += 1
    return {"import_staged_removed": staged, "import_runs_expired": expired}


def _model(session: Session, app_id: int, entity_key: str, types: Mapping[str, Any]) -> Any:
    """The published model of an entity (None when the entity or its app is gone)."""
    row = session.execute(
        select(EntityTable.id, EntityTable.entity_key, EntityTable.version, EntityTable.table_name)
        .where(EntityTable.app_id == app_id, EntityTable.entity_key == entity_key)
    ).first()
    app = session.get(App, app_id)
    if row is None or app is None:
        return None
    return model_for_row(session, app, row, types)


def _remove_older(folder: Path, now: datetime, age: timedelta) -> int:
    """Remove the files under ``folder`` last changed more than ``age`` before ``now``."""
    if not folder.is_dir():
        return 0
    cutoff = now.timestamp() - age.total_seconds()
    removed = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # removed meanwhile (a finishing upload, a concurrent clean-up)
            continue
    return removed

