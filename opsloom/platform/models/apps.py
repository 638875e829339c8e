"""Apps and the definitions store: drafts and immutable published versions of every kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsloom.platform.db import Base, JSONType, utcnow

Stamp = DateTime(timezone=True)


class App(Base):
    """An app of a workspace: the unit that groups definitions and moves as a package."""

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    # free text or {"zh": ..., "en": ...}
    label: Mapped[dict | str] = mapped_column(JSONType)
    description: Mapped[str] = mapped_column(String(2000), default="")
    icon: Mapped[str] = mapped_column(String(40), default="")
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow, onupdate=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(Stamp)


class Definition(Base):
    """One version of a definition: ``status`` is ``draft`` (version 0, mutable) or ``published``.

    A published row is never updated; publishing copies the draft into a new row with the
    next version number. The draft row, if any, is the working copy an admin edits.
    """

    __tablename__ = "definitions"
    __table_args__ = (
        UniqueConstraint("app_id", "kind", "key", "version"),
        Index("ix_definitions_lookup", "workspace_id", "app_id", "kind", "key", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(40))
    # 0 for the draft; 1, 2, ... for published versions
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict] = mapped_column(JSONType)
    # sha256 of the canonical JSON body: tells identical versions apart from changed ones
    checksum: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(Stamp)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # optional publish note shown in history
    note: Mapped[str] = mapped_column(String(1000), default="")
