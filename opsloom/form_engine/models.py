"""The form engine's own bookkeeping tables (the entity tables themselves are Core, built per version).

``entity_tables`` maps a published entity to its physical table and remembers the
physical layout (which column or child table holds which field id), so a publish can
diff the new version against what really exists instead of trusting the previous body.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsloom.platform.db import Base, JSONType, utcnow
from opsloom.platform.models.apps import Stamp

__all__ = ["AutoNumberCounter", "EntityTable", "SavedView", "StoredFile"]


class EntityTable(Base):
    """One published entity: its table, the version it serves and the layout on disk."""

    __tablename__ = "entity_tables"
    __table_args__ = (UniqueConstraint("app_id", "entity_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    entity_key: Mapped[str] = mapped_column(String(40))
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    #: the published definition version the table matches (records are read and written with it)
    version: Mapped[int] = mapped_column(Integer)
    #: {"columns": {field_id: column}, "tables": {field_id: table}, "tombstones": [...], "indexes": [...]}
    layout: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow, onupdate=utcnow)


class AutoNumberCounter(Base):
    """The last number given by an auto_number field in one period (gap-free: bumped in the record's transaction)."""

    __tablename__ = "auto_number_counters"

    entity_table_id: Mapped[int] = mapped_column(
        ForeignKey("entity_tables.id", ondelete="CASCADE"), primary_key=True
    )
    field_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: "" for a pattern without a date part; "2026", "202611", ... when the pattern resets per period
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class SavedView(Base):
    """A named list view (filter, sort, columns) of an entity: a user's own, or shared with the workspace."""

    __tablename__ = "saved_views"
    __table_args__ = (Index("ix_saved_views_entity", "app_id", "entity_key", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    entity_key: Mapped[str] = mapped_column(String(40))
    #: the creator; ``shared`` views are listed for everyone who may read the entity
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shared: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(200))
    #: {"filter": expr, "sort": "-field,field", "fields": [...], "q": "..."}
    body: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow, onupdate=utcnow)


class StoredFile(Base):
    """An uploaded file (attachment or image field); the bytes live under the upload folder by sha256."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    entity_key: Mapped[str] = mapped_column(String(40))
    field_key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
