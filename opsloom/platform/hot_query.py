"""The hottest SELECTs on the driver's cursor: compiled once per dialect, rows typed by the statement's own columns.

Authentication runs one query before every API request. Through SQLAlchemy's execution
layer the query costs about three times what the driver needs for it (an execution
context, parameter and result processing per call), which on a single small write is a
tenth of the whole request. A ``HotQuery`` keeps the SQL text the dialect compiled, the
order of its parameters and each column's result processor, and runs it on the session's
own connection, so it sees the transaction as any other statement of the request does.

Use it for a few fixed statements on the request path, not as a general query API: it
takes named ``bindparam``s and the values a statement fixes itself (literals, a LIMIT), but
not expanding ``IN`` lists, whose SQL depends on the call.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import TYPE_CHECKING, Any

from .bulk_insert import announce, driver_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Select
    from sqlalchemy.engine import Dialect
    from sqlalchemy.orm import Session

__all__ = ["HotQuery"]


class _Plan:
    __slots__ = ("binds", "fixed", "positional", "processors", "row", "sql")

    def __init__(
        self,
        sql: str,
        binds: list[tuple[str, Callable[[Any], Any] | None]],
        fixed: dict[str, Any],
        positional: bool,
        processors: list[tuple[int, Callable[[Any], Any]]],
        row: type,
    ) -> None:
        self.sql, self.binds, self.fixed, self.positional = sql, binds, fixed, positional
        self.processors, self.row = processors, row


class HotQuery:
    """``stmt`` (a Core SELECT with named ``bindparam``s) run as ``all(session, **params)``.

    Rows are named tuples of the selected columns' keys, with the values SQLAlchemy would
    have given (its result processors: datetimes from SQLite text, say).
    """

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        compiled = self.stmt.compile(dialect=dialect)
        names = list(compiled.positiontup or []) if dialect.positional else list(compiled.binds)
        binds = [(name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
        # parameters the statement fixes itself (a literal in a condition, say) keep their value
        fixed = {name: compiled.binds[name].effective_value for name in names if not compiled.binds[name].required}
        columns = list(self.stmt.selected_columns)
        processors = []
        for i, column in enumerate(columns):
            process = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                processors.append((i, process))
        row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        plan = _Plan(compiled.string, binds, fixed, dialect.positional, processors, row)
        with self._lock:
            self._plans[dialect.name] = plan
        return plan

    def all(self, session: Session, **params: Any) -> list[Any]:
        """The rows for ``params``, in the session's transaction."""
        connection = session.connection()
        plan = self._plan(connection.dialect)
        given = {**plan.fixed, **params} if plan.fixed else params
        values = [given[name] if process is None else process(given[name]) for name, process in plan.binds]
        args: Any = values if plan.positional else dict(zip((name for name, _ in plan.binds), values, strict=True))
        raw_connection = connection.connection
        cursor = raw_connection.driver_connection.cursor()
        dialect = connection.dialect
        try:
            announce(connection, cursor, plan.sql, args, many=False)
            cursor.execute(plan.sql, args)
            fetched = cursor.fetchall()
            announce(connection, cursor, plan.sql, args, many=False, after=True)
        except dialect.loaded_dbapi.Error as error:
            raise driver_error(connection, error, plan.sql, args, cursor) from error
        finally:
            cursor.close()
        make, processors = plan.row._make, plan.processors
        if not processors:
            return [make(r) for r in fetched]
        rows = []
        for raw in fetched:
            values = list(raw)
            for i, process in processors:
                values[i] = process(values[i])
            rows.append(make(values))
        return rows
