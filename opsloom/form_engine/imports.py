"""Reading import files: CSV (encoding detected) or XLSX -> a header and numbered rows; mapping; cell conversion.

Pure: no Flask, no session, no clock. The import service (``import_service``) feeds the
converted rows to ``RecordService``. A text cell starting with ``=`` is data here and is
stored as it is; exports neutralise such cells (``exports.neutralise``).

Row numbers are the spreadsheet's: the header is row 1, the first record row 2, so an
error report points at the row the user sees in Excel.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opsloom.platform.errors import ValidationError

from .fields.base import FieldValueError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from .fields.base import FieldContext
    from .model import EntityModel

__all__ = [
    "ImportFileError",
    "RowError",
    "Sheet",
    "convert_row",
    "decode_csv",
    "importable_fields",
    "read_sheet",
    "suggest_mapping",
]

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls
#: a trailing "(key)" in a header, as exports write it: "客户名称 (name)"
_KEY_SUFFIX = re.compile(r"\(\s*([a-z][a-z0-9_]{0,39})\s*\)\s*$")


class ImportFileError(ValidationError):
    """The file cannot be read as a table (encoding, format, header); ``errors`` names ``file``."""

    slug = "import-file"
    title = "Unreadable import file"


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of one row: the row number in the file, the column (header text) and why."""

    row: int
    column: str
    message: str
    field: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "field": self.field, "message": self.message}


@dataclass
class Sheet:
    """A table read from a file: its column names and rows of cells (row number, values by column)."""

    columns: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    encoding: str | None = None

    @property
    def total(self) -> int:
        return len(self.rows)

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each row as (row number, {column: cell})."""
        for number, cells in self.rows:
            yield number, {name: cells[i] if i < len(cells) else None for i, name in enumerate(self.columns)}


# ---------------------------------------------------------------- files -> sheets


def decode_csv(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was in: UTF-8 (with or without BOM), UTF-16 with BOM, GB18030.

    GB18030 is a superset of GBK and GB2312, what Excel on a Chinese Windows saves as "CSV".

    :raises ImportFileError: the bytes are none of these, or decode to control characters
        (a UTF-16 file without its byte-order mark decodes as UTF-8 full of NUL characters).
    """
    if data.startswith(_UTF8_BOM):
        candidates = ["utf-8-sig"]
    elif data.startswith(_UTF16_BOMS):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _looks_binary(text):
            break
        return text, encoding
    message = (
        "is not text in UTF-8, UTF-8 with BOM, UTF-16 with BOM or GBK/GB18030; "
        'save it again as "CSV UTF-8" (or as .xlsx) and upload that'
    )
    raise ImportFileError(f"The file {message}.", errors={"file": f"unknown encoding: the file {message}"})


def _looks_binary(text: str) -> bool:
    """Control characters other than tab and line breaks mean the guess was wrong (or the file is not text)."""
    sample = text[:100_000]
    return any(unicodedata.category(c) == "Cc" and c not in "\t\r\n" for c in sample)


def read_sheet(data: bytes, filename: str = "", *, sheet: str | None = None) -> Sheet:
    """The table in ``data``: an XLSX workbook (by content), else CSV text.

    :raises ImportFileError: an empty file, an old .xls, an unknown sheet, no header row,
        duplicate column names, or text in no known encoding.
    """
    if not data or data.isspace():  # isspace: no copy of a big upload
        raise ImportFileError("The file is empty.", errors={"file": "is empty"})
    if data.startswith(_OLE_MAGIC) or filename.lower().endswith(".xls"):
        raise ImportFileError(
            "Old Excel files (.xls) are not supported; save the sheet as .xlsx or as CSV UTF-8.",
            errors={"file": "an .xls file; save it as .xlsx or CSV"},
        )
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data, sheet)
    text, encoding = decode_csv(data)
    return _read_csv(text, encoding)


def _read_csv(text: str, encoding: str) -> Sheet:
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ImportFileError(
            f"The CSV file is malformed near line {reader.line_num}: {exc}.",
            errors={"file": f"malformed CSV near line {reader.line_num}"},
        ) from None
    return _sheet(rows, encoding)


def _read_xlsx(data: bytes, name: str | None) -> Sheet:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(
            f"The file is not a readable .xlsx workbook ({exc}).",
            errors={"file": "not a readable .xlsx workbook"},
        ) from None
    try:
        if name:
            if name not in book.sheetnames:
                raise ImportFileError(
                    f"The workbook has no sheet {name!r}; its sheets are {', '.join(book.sheetnames)}.",
                    errors={"sheet": f"no sheet {name!r}"},
                )
            worksheet = book[name]
        else:
            worksheet = book.worksheets[0]
        rows = [list(values) for values in worksheet.iter_rows(values_only=True)]
    finally:
        book.close()
    return _sheet(rows, None)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _sheet(rows: list[list[Any]], encoding: str | None) -> Sheet:
    """The first non-empty row is the header; fully empty rows are skipped but keep their numbers."""
    start = next((i for i, row in enumerate(rows) if not all(_blank(c) for c in row)), None)
    if start is None:
        raise ImportFileError("The file has no header row.", errors={"file": "no header row"})
    header = list(rows[start])
    while header and _blank(header[-1]):
        header.pop()
    columns: list[str] = []
    for i, cell in enumerate(header):
        name = "" if cell is None else str(cell).strip()
        columns.append(name or f"column {i + 1}")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise ImportFileError(
            f"Column names must be unique; repeated: {', '.join(duplicates)}.",
            errors={"file": f"repeated column names: {', '.join(duplicates)}"},
        )
    sheet = Sheet(columns=columns, encoding=encoding)
    for i in range(start + 1, len(rows)):
        cells = rows[i]
        if all(_blank(c) for c in cells):
            continue
        sheet.rows.append((i + 1, cells if isinstance(cells, list) else list(cells)))
    return sheet


# ---------------------------------------------------------------- mapping


def importable_fields(model: EntityModel) -> list[str]:
    """Keys of the fields a file may fill (computed fields cannot be imported)."""
    return [key for key, f in model.fields.items() if not f.computed]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _labels(spec: Mapping[str, Any]) -> list[str]:
    label = spec.get("label")
    if isinstance(label, str):
        return [label]
    if isinstance(label, dict):
        return [v for v in label.values() if isinstance(v, str)]
    return []


def suggest_mapping(columns: list[str], model: EntityModel) -> dict[str, str | None]:
    """Column -> field key: by key, by ``(key)`` at the end (our exports), by a label in any locale, any case."""
    names: dict[str, str] = {}
    for key in importable_fields(model):
        spec = model.fields[key].spec
        for text in [key, *_labels(spec)]:
            names.setdefault(_fold(text), key)
    mapping: dict[str, str | None] = {}
    taken: set[str] = set()
    for column in columns:
        suffix = _KEY_SUFFIX.search(column)
        candidates = [suffix.group(1)] if suffix else []
        candidates.append(_fold(column))
        found = next((names[c] for c in candidates if c in names and names[c] not in taken), None)
        mapping[column] = found
        if found is not None:
            taken.add(found)
    return mapping


# ---------------------------------------------------------------- cells -> input


def convert_row(
    cells: Mapping[str, Any],
    mapping: Mapping[str, str | None],
    model: EntityModel,
    ctx: FieldContext,
    row: int,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
) -> tuple[dict[str, Any], list[RowError]]:
    """One row's mapped cells through each field type's ``parse_text``: record input and the cells' errors.

    ``convert`` replaces ``parse_text`` for some fields (field key -> cell -> value, raising
    ``FieldValueError``): the import service resolves names in reference columns that way
    (``import_refs``), which needs the database this module may not touch.

    An empty cell gives no key at all, so a new record takes the field's default and an
    upsert leaves the stored value alone.
    """
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for column, key in mapping.items():
        if not key:
            continue
        cell = cells.get(column)
        if _blank(cell):
            continue
        f = model.fields[key]
        own = convert.get(key) if convert else None
        try:
            value = own(cell) if own is not None else f.type.parse_text(cell, f.spec, ctx)
        except FieldValueError as exc:
            errors.append(RowError(row, column, str(exc), key))
            continue
        if value is not None:
            values[key] = value
    return values, errors
