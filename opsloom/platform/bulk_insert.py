"""Many rows into one table at the driver's speed: ``executemany`` of tuples on SQLite, ``COPY`` on PostgreSQL.

SQLAlchemy's ``executemany`` builds a parameter dictionary per row and runs every value
through the bind processors of its type; on the bulk paths (bulk record writes, their
audit rows and events, imports) that costs more than the database's own work. A
``RowWriter`` takes rows as tuples in a fixed column order, runs only the processors of
the columns that have one (datetimes and JSON on SQLite), and JSON columns named
``encoded`` take JSON text made by ``json_text``, so a record's JSON is encoded once for
both its audit row and its event.

It writes on the session's own connection, inside the caller's transaction and
savepoints; a broken unique key raises SQLAlchemy's ``IntegrityError`` like any insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.types import JSON

from .fastjson import JSONText, json_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Dialect
    from sqlalchemy.orm import Session

__all__ = ["JSONText", "RowWriter", "announce", "driver_error", "json_text", "reserve_ids", "write_together"]


class RowWriter:
    """INSERT many rows of ``columns`` into ``table``; build once per table and reuse.

    Values are Python values as for a Core insert, except the JSON columns in ``encoded``,
    which take JSON text (``json_text``). The writer keeps one plan per dialect.
    """

    def __init__(self, table: Table, columns: Sequence[str], *, encoded: Iterable[str] = ()) -> None:
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        self.table = table
        self.columns = tuple(columns)
        self.encoded = frozenset(encoded)
        wrong = [c for c in self.encoded if not isinstance(table.c[c].type, JSON)]
        if wrong:
            raise ValueError(f"encoded columns must be JSON columns: {', '.join(wrong)}")
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        preparer = dialect.identifier_preparer
        names = ", ".join(preparer.quote(c) for c in self.columns)
        table = preparer.format_table(self.table)
        mark = "%s" if dialect.name == "postgresql" else "?"
        insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join(mark for _ in self.columns)})"
        copy = f"COPY {table} ({names}) FROM STDIN" if dialect.name == "postgresql" else None
        processors: list[tuple[int, Callable[[Any], Any], bool]] = []
        for i, name in enumerate(self.columns):
            if name in self.encoded:
                continue
            column_type = self.table.c[name].type.dialect_impl(dialect)
            process = column_type.bind_processor(dialect)
            if process is not None:
                # a batch stamps its rows with a few datetimes: each is converted once
                processors.append((i, process, _python_type(column_type) is datetime))
        plan = self._plans[dialect.name] = _Plan(insert, copy, processors)
        return plan

    def _processed(self, plan: _Plan, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        if not plan.processors:
            return rows
        # column by column: map() over a column runs in C, a loop over rows would not
        columns = list(zip(*rows, strict=True))
        for i, process, few in plan.processors:
            column = columns[i]
            if few:
                done = {value: process(value) for value in set(column)}
                columns[i] = tuple(map(done.__getitem__, column))
            else:
                columns[i] = tuple(map(process, column))
        return list(zip(*columns, strict=True))

    def write(self, session: Session, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) in the session's transaction."""
        write_together(session, [(self, rows)])

    def insert_one(self, session: Session, row: Sequence[Any], *, skip_conflicts: bool = False) -> int | None:
        """Insert one row and return its ``id``: a single record create on the driver's cursor.

        ``skip_conflicts``: a broken unique key inserts nothing and answers None (``ON
        CONFLICT DO NOTHING``); otherwise it raises SQLAlchemy's ``IntegrityError``.
        """
        connection = session.connection()
        dialect = connection.dialect
        plan = self._plan(dialect)
        sql = plan.insert_returning[skip_conflicts]
        values = list(row)
        for i, process, _few in plan.processors:
            values[i] = process(values[i])
        raw = connection.connection
        cursor = raw.driver_connection.cursor()
        try:
            announce(connection, cursor, sql, values, many=False)
            cursor.execute(sql, values)
            got = cursor.fetchone()
            announce(connection, cursor, sql, values, many=False, after=True)
        except dialect.loaded_dbapi.Error as error:
            raise driver_error(connection, error, sql, values, cursor) from error
        finally:
            cursor.close()
        return None if got is None else got[0]


class _Plan:
    __slots__ = ("copy", "insert", "insert_returning", "processors")

    def __init__(self, insert: str, copy: str | None, processors: list[tuple[int, Callable[[Any], Any], bool]]) -> None:
        self.insert, self.copy, self.processors = insert, copy, processors
        # by skip_conflicts (both databases take ON CONFLICT without a target, partial indexes included)
        self.insert_returning = {
            False: f"{insert} RETURNING id",
            True: f"{insert} ON CONFLICT DO NOTHING RETURNING id",
        }


def announce(
    connection: Connection, cursor: Any, sql: str, params: Any, *, many: bool, after: bool = False
) -> None:
    """Tell the engine's cursor listeners about a statement we run on the driver ourselves.

    SQL logging, tracing (OpenTelemetry, Sentry) and statement counters listen to
    ``before_cursor_execute`` / ``after_cursor_execute``; statements that skip SQLAlchemy's
    execution layer still reach them. They see the statement; they cannot rewrite it.
    """
    listeners = connection.dispatch.after_cursor_execute if after else connection.dispatch.before_cursor_execute
    if listeners:
        listeners(connection, cursor, sql, params, None, many)


def driver_error(connection: Connection, error: Exception, sql: str, params: Any, cursor: Any) -> Exception:
    """The SQLAlchemy exception for a driver ``error`` raised on our own cursor, as SQLAlchemy would give it.

    A lost connection is invalidated, so the pool does not hand it out again.
    """
    dialect = connection.dialect
    if dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor):
        connection.invalidate(error)
    return sa_exc.DBAPIError.instance(sql, params, error, dialect.loaded_dbapi.Error)


#: below this many rows PostgreSQL gets INSERTs in one pipeline: COPY costs more round trips than it saves
COPY_FROM = 64


def write_together(session: Session, batches: Sequence[tuple[RowWriter, Sequence[Sequence[Any]]]]) -> None:
    """Several writers' rows in one go: a record's audit row and its event, say.

    On PostgreSQL small batches go out in one pipeline (one round trip for all of them)
    and big ones by COPY; SQLite runs one ``executemany`` per batch.
    """
    batches = [(writer, rows) for writer, rows in batches if rows]
    if not batches:
        return
    connection = session.connection()
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    work = []
    for writer, rows in batches:
        plan = writer._plan(dialect)
        work.append((plan, writer._processed(plan, rows)))
    sql = work[0][0].insert
    try:
        if dialect.name != "postgresql":
            for plan, rows in work:
                sql = plan.insert
                announce(connection, None, sql, rows, many=True)
                driver.executemany(sql, rows)
                announce(connection, None, sql, rows, many=True, after=True)
            return
        small = [(plan, rows) for plan, rows in work if len(rows) < COPY_FROM]
        if small:
            with driver.pipeline(), driver.cursor() as cursor:
                for plan, rows in small:
                    sql = plan.insert
                    announce(connection, cursor, sql, rows, many=True)
                    cursor.executemany(sql, rows)
                    announce(connection, cursor, sql, rows, many=True, after=True)
        for plan, rows in work:
            if len(rows) >= COPY_FROM and plan.copy is not None:
                sql = plan.copy
                with driver.cursor() as cursor, cursor.copy(sql) as copy:
                    announce(connection, cursor, sql, rows, many=True)
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
                announce(connection, cursor, sql, rows, many=True, after=True)
    except dialect.loaded_dbapi.IntegrityError as error:
        raise sa_exc.IntegrityError(sql, None, error) from error


def _python_type(column_type: Any) -> type | None:
    try:
        return column_type.python_type
    except NotImplementedError:
        return None


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new primary keys of ``table`` for rows this transaction is about to insert.

    PostgreSQL draws them from the column's sequence. SQLite transactions here begin with
    ``BEGIN IMMEDIATE`` (see ``db.make_engine``), so no other writer can insert until this
    one ends: the next ids after the current maximum are free, and they are the ones
    SQLite would pick itself (the tables have no AUTOINCREMENT).
    """
    if count <= 0:
        return []
    connection = session.connection()
    name = connection.dialect.identifier_preparer.format_table(table)
    if connection.dialect.name == "postgresql":
        sequence = connection.exec_driver_sql(
            "SELECT pg_get_serial_sequence(%(table)s, 'id')", {"table": name}
        ).scalar()
        got = connection.exec_driver_sql(
            "SELECT array_agg(nextval(%(sequence)s)) FROM generate_series(1, %(count)s)",
            {"sequence": sequence, "count": count},
        ).scalar()
        return sorted(got)
    top = connection.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {name}").scalar()
    return list(range(top + 1, top + 1 + count))
