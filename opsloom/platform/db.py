"""Database plumbing: the declarative base, engines for SQLite and PostgreSQL, and the session edge.

Services receive a ``Session`` and only ``add``/``flush``; the edge (request, job, CLI
command) owns the transaction: ``session_scope`` commits once or rolls back. In a
request, ``request_session()`` gives the request's session; it is committed by the API
and view layers when the response is a success and rolled back otherwise.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from sqlalchemy.engine import Engine

__all__ = [
    "Base",
    "Database",
    "JSONType",
    "get_database",
    "request_session",
    "session_scope",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON on SQLite, JSONB on PostgreSQL
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Timezone-aware now in UTC; used as a column default (pass the function, not its result)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 10})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # let SQLAlchemy own transactions (pysqlite's implicit BEGIN defers locks badly)
        event.listen(engine, "connect", lambda conn, _rec: setattr(conn, "isolation_level", None))
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """The engine and session factory of one app."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session whose transaction commits once at the end, or rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def init_app(self, app: Flask) -> None:
        app.extensions["opsloom.db"] = self

        @app.teardown_appcontext
        def _close_request_session(_exc: BaseException | None) -> None:
            from flask import g

            session = g.pop("_opsloom_session", None)
            if session is not None:
                session.rollback()
                session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def get_database(app: Flask | None = None) -> Database:
    """The ``Database`` of ``app`` (or of the current app)."""
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return app.extensions["opsloom.db"]


def request_session() -> Session:
    """The session of the current request or app context, created on first use."""
    from flask import g

    session = g.get("_opsloom_session")
    if session is None:
        session = get_database().sessions()
        g._opsloom_session = session
    return session


@contextlib.contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """Shortcut for ``get_database(app).session_scope()`` (jobs and CLI commands)."""
    with get_database(app).session_scope() as session:
        yield session
