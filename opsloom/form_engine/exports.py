"""Exports: records as CSV or XLSX, page by page (constant memory), as the actor may see them.

Records come from ``RecordService.query`` (filter, search, sort, read scope, hidden and
masked fields exactly as the API applies them); the export scope of the actor's roles
narrows each page further. Cells are the field types' ``to_text`` of the stored value,
except masked fields, which show the API's masked text. Any text cell a spreadsheet
would run as a formula (starting with ``= + - @``, a tab or a carriage return) gets a
leading apostrophe, so a value typed by a customer cannot execute on an admin's machine.

Never imports flask: the API wraps these generators in a streamed response.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .fields.text import localized

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["ExportPlan", "csv_chunks", "header", "neutralise", "plan_export", "rows", "xlsx_chunks"]

#: records per page read (the query's maximum page size)
PAGE = 500
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def neutralise(text: str) -> str:
    """``text`` safe to open in a spreadsheet: a leading formula character is escaped with ``'``.

    A plain number (``-5``, ``+3.2``) is left alone: it is not a formula and the apostrophe would
    turn it into text.
    """
    if text.startswith(_TRIGGERS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


@dataclass
class ExportPlan:
    """What one export reads: the entity, its visible fields (in order) and the query's arguments."""

    model: EntityModel
    fields: list[RuntimeField]
    masked: set[str]
    query: dict[str, Any]
    first: Any = None  # the first page, read before the response starts so its errors are problems


def plan_export(
    records: RecordService,
    entity: str,
    *,
    filter: Any,  # noqa: A002 - the API's parameter name
    sort: str | None,
    q: str | None,
    fields: list[str] | None,
    secret: str,
) -> ExportPlan:
    """Check the rights and read the first page (a bad filter or sort raises here, before any byte is sent).

    :raises PermissionDenied: no ``read`` or ``export`` right.
    :raises BadRequest: a bad filter, sort, search or field list.
    """
    model = records.model(entity)
    records.require(entity, "export")
    access = records.require(entity, "read")
    chosen = [model.fields[k] for k in fields] if fields and all(k in model.fields for k in fields) else None
    visible = [f for f in (chosen or model.fields.values()) if access.readable(f.key)]
    query = {"filter": filter, "sort": sort, "q": q, "fields": fields, "secret": secret, "limit": PAGE}
    plan = ExportPlan(model, visible, {f.key for f in visible if access.rule(f.key) == "masked"}, query)
    plan.first = records.query(entity, **query)
    return plan


def header(plan: ExportPlan, locale: str) -> list[str]:
    """``id`` then each field as "label (key)" in the actor's language (the import reads the key back)."""
    names = ["id"]
    for f in plan.fields:
        label = localized(f.spec.get("label"), locale, "") if f.spec.get("label") else ""
        names.append(f"{label} ({f.key})" if label and label != f.key else f.key)
    return names


def rows(records: RecordService, plan: ExportPlan) -> Iterator[list[Any]]:
    """Every exported record as a list of cells (text, or a number for numeric values), page by page."""
    model = plan.model
    table = model.table
    scope = records.scope_condition(model.key, "export")  # the export scope narrows the read scope the query applied
    page = plan.first
    while True:
        ids = [item["id"] for item in page.items]
        if ids:
            stmt = select(table).where(table.c.id.in_(ids))
            if scope is not None:
                stmt = stmt.where(scope)
            stored = {r["id"]: dict(r) for r in records.session.execute(stmt).mappings()}
            records.load_tables(model, list(stored.values()))
            for item in page.items:
                row = stored.get(item["id"])
                if row is not None:
                    yield [
                        item["id"],
                        *(_cell(records, f, row.get(f.key), item, plan.masked) for f in plan.fields),
                    ]
        if not page.next_cursor:
            return
        page = records.query(model.key, **plan.query, cursor=page.next_cursor)


def _cell(
    records: RecordService, f: RuntimeField, value: Any, presented: dict[str, Any], masked: set[str]
) -> Any:
    if value is None:
        return ""
    if f.key in masked:
        shown = presented.get(f.key)
        return neutralise("" if shown is None else str(shown))
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    return neutralise(f.type.to_text(value, f.spec, records.ctx))


def csv_chunks(names: list[str], cells: Iterator[list[Any]], *, every: int = 200) -> Iterator[bytes]:
    """CSV bytes (UTF-8 with BOM, so Excel reads Chinese), a chunk per ``every`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralise(n) for n in names])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(cells, start=1):
        writer.writerow(_plain(c) for c in row)
        if count % every == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _plain(cell: Any) -> Any:
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    return cell


def xlsx_chunks(
    names: list[str], cells: Iterator[list[Any]], *, sheet: str = "records", chunk: int = 64 * 1024
) -> Iterator[bytes]:
    """An XLSX workbook (openpyxl write-only, spooled to disk past 8 MiB), then its bytes in chunks.

    openpyxl takes a string starting with ``=`` for a formula; ``neutralise`` has already
    escaped every such cell, so strings are written as they are.
    """
    from tempfile import SpooledTemporaryFile

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(title=sheet[:31] or "records")
    ws.append([neutralise(n) for n in names])
    for row in cells:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in row])
    with SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        book.save(spool)
        spool.seek(0)
        while True:
            data = spool.read(chunk)
            if not data:
                return
            yield data
