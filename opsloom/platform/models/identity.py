"""Tenancy and identity: workspaces, users, memberships, roles, departments, API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    event,
    inspect,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsloom.platform.db import Base, JSONType, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Connection

Stamp = DateTime(timezone=True)


class Workspace(Base):
    """A tenant: every app, membership and row belongs to exactly one."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(Stamp)
    # bumped in the transaction that publishes a definition or adds, archives or restores an
    # app: a process may cache what it derives from them (record tables, compiled flows)
    # for as long as the actor it authenticated still reads the same number
    definitions_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class User(Base):
    """A person who can sign in; belongs to workspaces through memberships."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    # None = follow the browser's Accept-Language
    locale: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # may create workspaces and act in any workspace (platform operator)
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(Stamp)
    # bumped when the user is deactivated or changes password: browser sessions made
    # under an older epoch end on their next request
    auth_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


membership_roles = Table(
    "membership_roles",
    Base.metadata,
    Column("membership_id", ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Membership(Base):
    """A user's place in one workspace: their roles and department there."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    workspace: Mapped[Workspace] = relationship()
    roles: Mapped[list[Role]] = relationship(secondary=membership_roles)
    department: Mapped[Department | None] = relationship(foreign_keys=[department_id])


class Role(Base):
    """A named set of permissions inside one workspace; ``is_admin`` grants workspace administration."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # engine-defined permission grants, e.g. {"entity:customer": {"read": "all"}}
    permissions: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)


@event.listens_for(Role, "before_update")
def _role_updated(_mapper: Any, connection: Connection, role: Role) -> None:
    """A role's new permissions or admin flag invalidate what processes compiled from the old ones.

    Bumping the workspace's ``definitions_version`` in the changing transaction is what
    lets the records service cache compiled permissions per (roles, version): every ORM
    write of a role passes here, so no caller can forget it.
    """
    state = inspect(role)
    if state.attrs.permissions.history.has_changes() or state.attrs.is_admin.history.has_changes():
        _bump(connection, role.workspace_id)


@event.listens_for(Role, "before_delete")
def _role_deleted(_mapper: Any, connection: Connection, role: Role) -> None:
    _bump(connection, role.workspace_id)


def _bump(connection: Connection, workspace_id: int) -> None:
    connection.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(definitions_version=Workspace.definitions_version + 1)
    )


class Department(Base):
    """A node of a workspace's department tree, with an optional head."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    head_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)

    parent: Mapped[Department | None] = relationship(remote_side=[id])


class ApiToken(Base):
    """A bearer token for one user in one workspace; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the first characters, shown in lists so a user can tell tokens apart
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(Stamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Stamp)
    last_used_at: Mapped[datetime | None] = mapped_column(Stamp)

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One sign-in attempt; failures in a window throttle an account and an address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(Stamp, default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(Integer)
