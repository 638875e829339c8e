"""The import log: one row per import run (who, what file, how it went), also the progress of a background run.

Kept apart from ``models.py`` because it changes for a different reason (the import
feature), and so its table can be dropped or grown without touching the entity tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsloom.platform.db import Base, JSONType, utcnow
from opsloom.platform.models.apps import Stamp

__all__ = ["RUN_STATUSES", "ImportRun"]

#: queued (waiting for a worker), running, done (finished; see ``written``), failed (crashed: see ``message``)
RUN_STATUSES = ("queued", "running", "done", "failed")


class ImportRun(Base):
    """One import of a file into one entity, by one user; the error file is theirs alone to download."""

    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_owner", "workspace_id", "created_by"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    entity_key: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255), default="")
    #: {"mapping": {column: key}, "mode": ..., "upsert_key": [...], "dry_run": bool, "sheet": str | None}
    options: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: whether the records were kept (false for a dry run and for a rejected all-or-nothing run)
    written: Mapped[bool] = mapped_column(default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: the uploaded file while a background run waits for it (removed when the run ends)
    source_path: Mapped[str | None] = mapped_column(String(500))
    #: the rows that failed plus an ``error`` column (CSV, UTF-8 with BOM)
    error_path: Mapped[str | None] = mapped_column(String(500))
    #: the first errors, for the report: [{row, column, field, message}]
    errors: Mapped[list] = mapped_column(JSONType, default=list)
    #: how names in reference columns resolved, as the importer's role found them (``RefResolver.resolved``):
    #: {field: [{text, id, by, target}]}, at most ``RESOLVED_SHOWN`` per field; written with the progress
    #: and at the end, so a failed run keeps those of the rows it counted. None: logged before revision fe_0003
    resolved: Mapped[dict | None] = mapped_column(JSONType)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Stamp)
    finished_at: Mapped[datetime | None] = mapped_column(Stamp)
