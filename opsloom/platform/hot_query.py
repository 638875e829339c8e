"""The hottest SELECTs on the driver's cursor: compiled once per dialect, rows typed by the statement's own columns.

Authentication runs one query before every API request. Through SQLAlchemy's execution
layer the query costs about three times what the driver needs for it (an execution
context, parameter and result processing per call), which on a single small write is a
tenth of the whole request. A ``HotQuery`` keeps the SQL text the dialect compiled, the
order of its parameters and each column's result processor, and runs it on the session's
own connection, so it sees the transaction as any other statement of the request does.

Use it for a few fixed statements on the request path, not as a general query API: it
takes named ``bindparam``s and the values a statement fixes itself (literals, a LIMIT), but
not expanding ``IN`` lists, whose SQL depends on the call (``check`` raises ``NotHot``).
The record list runs its first pages this way, one ``HotQuery`` per cached list statement.
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

__all__ = ["HotQuery", "NotHot"]


class NotHot(ValueError):
    """The statement cannot run as a ``HotQuery``; run it through SQLAlchemy instead."""


class _Plan:
    __slots__ = ("binds", "fixed", "names", "positional", "processors", "row", "sql")

    def __init__(
        self,
        sql: str,
        binds: list[tuple[str, Callable[[Any], Any] | None]],
        fixed: dict[str, Any],
        positional: bool,
        processors: list[tuple[int, Callable[[Any], Any]]] | None,
        names: tuple[str, ...],
    ) -> None:
        self.sql, self.binds, self.fixed, self.positional = sql, binds, fixed, positional
        self.processors, self.names = processors, names
        # ``all`` gives named tuples; a column key such as ``_version`` cannot name a field
        self.row: type | None = None


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
        if any(bind.expanding for bind in compiled.binds.values()):
            raise NotHot("an expanding IN list renders differently for each call")
        # ``binds`` also holds anonymous parameters under their unresolved keys; the
        # statement's own names are the resolved ones
        names = (list(compiled.positiontup or []) if dialect.positional
                 else list(dict.fromkeys(compiled.bind_names.values())))
        binds = [(name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
        # parameters the statement fixes itself (a literal in a condition, say) keep their value
        fixed = {name: compiled.binds[name].effective_value for name in names if not compiled.binds[name].required}
        names = tuple(column.key for column in self.stmt.selected_columns)
        # result processors are chosen on the first run: some depend on the type the driver
        # reports for the column (PostgreSQL's numeric or float for a Numeric, say)
        plan = _Plan(compiled.string, binds, fixed, dialect.positional, None, names)
        with self._lock:
            self._plans[dialect.name] = plan
        return plan

    def all(self, session: Session, **params: Any) -> list[Any]:
        """The rows for ``params``, in the session's transaction."""
        plan, fetched = self._fetch(session, params)
        if plan.row is None:
            plan.row = namedtuple("Row", plan.names)  # type: ignore[misc]
        make = plan.row._make  # type: ignore[attr-defined]
        return [make(values) for values in fetched]

    def dicts(self, session: Session, **params: Any) -> list[dict[str, Any]]:
        """The rows for ``params`` as dicts keyed by the selected columns' keys."""
        plan, fetched = self._fetch(session, params)
        names = plan.names
        return [dict(zip(names, values, strict=True)) for values in fetched]

    def _processors(self, dialect: Dialect, description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
        processors = []
        for i, column in enumerate(self.stmt.selected_columns):
            type_code = description[i][1] if description is not None else None
            process = column.type.dialect_impl(dialect).result_processor(dialect, type_code)
            if process is not None:
                processors.append((i, process))
        return processors

    def fetch(self, session: Session, **params: Any) -> tuple[tuple[str, ...], list[Any]]:
        """The selected columns' keys and the rows for ``params`` as value sequences in that order."""
        plan, fetched = self._fetch(session, params)
        return plan.names, fetched

    def check(self, dialect: Dialect) -> None:
        """:raises NotHot: the statement cannot run on the driver's cursor (an expanding IN list)."""
        self._plan(dialect)

    def _fetch(self, session: Session, params: dict[str, Any]) -> tuple[_Plan, list[Any]]:
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
            if plan.processors is None:
                plan.processors = self._processors(dialect, cursor.description)
            announce(connection, cursor, plan.sql, args, many=False, after=True)
        except dialect.loaded_dbapi.Error as error:
            raise driver_error(connection, error, plan.sql, args, cursor) from error
        finally:
            cursor.close()
        processors = plan.processors
        if not processors:
            return plan, fetched
        rows = []
        for raw in fetched:
            row = list(raw)
            for i, process in processors:
                row[i] = process(row[i])
            rows.append(row)
        return plan, rows
