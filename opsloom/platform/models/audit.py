"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opsloom.platform.db import Base, JSONType, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")


class AuditEntry(Base):
    """Who did what to which object, when, from where; before/after images as JSON.

    Rows are only ever inserted (a listener refuses updates and deletes through the ORM).
    ``workspace_id`` is nullable for platform-level actions (user created by ``opsloom init``).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_object", "workspace_id", "object_type", "object_id", "id"),
        Index("ix_audit_actor", "workspace_id", "actor_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(Integer, index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    object_type: Mapped[str] = mapped_column(String(80))
    object_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    request_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
