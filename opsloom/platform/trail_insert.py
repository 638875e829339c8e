"""PostgreSQL: a new row and the rows that name it (its audit entry, its event) in one statement.

A single record create writes three rows: the record, then its audit entry and its event,
which both carry the new id. Sent one after the other that is two round trips to the
server, and on PostgreSQL a round trip costs more than the work of all three rows. Here
the record INSERT becomes a data-modifying CTE and the trail rows are INSERT ... SELECT
from it, so the id the database assigns goes straight into them.

Trail rows are given as for ``RowWriter`` (tuples in the writer's column order, JSON
columns as ``JSONText``), with markers where the new id belongs: ``IdText`` for a text
column (a prefix followed by the id) and ``IdInJSON`` for a JSON column whose object has
the id at some paths (written as 0, set to the id by ``jsonb_set``). The stored rows are
exactly what ``write_together`` would have written with the id known beforehand.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, Text, bindparam, cast, func, insert, literal, select
from sqlalchemy.dialects import postgresql

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from .bulk_insert import RowWriter
    from .fastjson import JSONText

__all__ = ["IdInJSON", "IdText", "insert_with_trail"]


@dataclass(frozen=True, slots=True)
class IdText:
    """A text value that is ``prefix`` followed by the new row's id (an audit entry's object id)."""

    prefix: str


@dataclass(frozen=True, slots=True)
class IdInJSON:
    """A JSON value (``text``, encoded) whose ``paths`` hold the new row's id once written."""

    text: JSONText
    paths: tuple[tuple[str, ...], ...]


_KEPT = 256
_lock = threading.Lock()
_statements: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def _shape(value: Any) -> Any:
    if isinstance(value, IdText):
        return "id_text"
    if isinstance(value, IdInJSON):
        return ("id_json", value.paths)
    return None


def _trail_expression(writer: RowWriter, column: str, shape: Any, name: str, new_id: Any) -> Any:
    target = writer.table.c[column]
    if shape == "id_text":
        return bindparam(name, type_=String()) + cast(new_id, String())
    if column in writer.encoded:
        value = cast(bindparam(name, type_=Text()), postgresql.JSONB)
        if shape is not None:
            for path in shape[1]:
                value = func.jsonb_set(value, literal(list(path), postgresql.ARRAY(Text())), func.to_jsonb(new_id))
        return value
    return bindparam(name, type_=target.type)


def _statement(
    table: Table, columns: tuple[str, ...], trail: tuple[tuple[RowWriter, tuple[Any, ...]], ...], skip_conflicts: bool
) -> Any:
    key = (table, columns, trail, skip_conflicts)
    with _lock:
        stmt = _statements.get(key)
        if stmt is not None:
            _statements.move_to_end(key)
            return stmt
    record = postgresql.insert(table).values(
        {column: bindparam(f"r{i}", type_=table.c[column].type) for i, column in enumerate(columns)}
    )
    if skip_conflicts:
        record = record.on_conflict_do_nothing()
    new = record.returning(table.c.id).cte("new_row")
    written = []
    for n, (writer, shapes) in enumerate(trail):
        values = [
            _trail_expression(writer, column, shape, f"t{n}_{j}", new.c.id)
            for j, (column, shape) in enumerate(zip(writer.columns, shapes, strict=True))
        ]
        rows = insert(writer.table).from_select(list(writer.columns), select(*values).select_from(new))
        written.append(rows.cte(f"trail_{n}"))
    stmt = select(new.c.id).add_cte(*written)
    with _lock:
        _statements[key] = stmt
        while len(_statements) > _KEPT:
            _statements.popitem(last=False)
    return stmt


def insert_with_trail(
    session: Session,
    table: Table,
    values: Mapping[str, Any],
    trail: Sequence[tuple[RowWriter, Sequence[Any]]],
    *,
    skip_conflicts: bool = False,
) -> int | None:
    """INSERT ``values`` into ``table`` and each trail row, in one statement; the new id.

    ``skip_conflicts``: a broken unique key writes nothing at all and answers None (as
    ``ON CONFLICT DO NOTHING``); otherwise it raises ``IntegrityError`` as an INSERT does.
    PostgreSQL only: SQLite has no data-modifying CTEs and no round trips to save.
    """
    columns = tuple(values)
    shapes = tuple((writer, tuple(_shape(v) for v in row)) for writer, row in trail)
    stmt = _statement(table, columns, shapes, skip_conflicts)
    params = {f"r{i}": values[column] for i, column in enumerate(columns)}
    for n, (_writer, row) in enumerate(trail):
        for j, value in enumerate(row):
            if isinstance(value, IdText):
                value = value.prefix
            elif isinstance(value, IdInJSON):
                value = value.text
            params[f"t{n}_{j}"] = value
    return session.connection().execute(stmt, params).scalar()
