"""The import reader: encodings, CSV dialects, XLSX, headers, mapping suggestions, cell conversion; and export escaping."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest

from opsloom.form_engine.exports import neutralise
from opsloom.form_engine.fields import builtin_field_types
from opsloom.form_engine.fields.base import FieldContext
from opsloom.form_engine.imports import ImportFileError, convert_row, decode_csv, read_sheet, suggest_mapping

TYPES = {t.name: t for t in builtin_field_types()}


def _model(*specs: dict[str, Any]) -> Any:
    fields = {
        s["key"]: SimpleNamespace(
            key=s["key"], spec=s, type=TYPES[s["type"]], computed=TYPES[s["type"]].computed
        )
        for s in specs
    }
    return SimpleNamespace(key="customer", fields=fields)


MODEL = _model(
    {"key": "name", "type": "text", "label": {"zh": "姓名", "en": "Name"}},
    {"key": "phone", "type": "phone"},
    {"key": "level", "type": "select", "options": ["normal", "vip"]},
    {"key": "amount", "type": "number"},
    {"key": "code", "type": "auto_number"},
)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("姓名,phone\n王五,138\n".encode(), "utf-8"),
        ("\ufeff姓名,phone\n王五,138\n".encode(), "utf-8-sig"),
        ("姓名,phone\n王五,138\n".encode("gbk"), "gb18030"),
        ("姓名\tphone\n王五\t138\n".encode("utf-16"), "utf-16"),
    ],
)
def test_encodings_are_detected(data: bytes, encoding: str) -> None:
    sheet = read_sheet(data, "x.csv")
    assert sheet.encoding == encoding
    assert sheet.columns == ["姓名", "phone"]
    assert list(sheet.records()) == [(2, {"姓名": "王五", "phone": "138"})]


@pytest.mark.parametrize("data", ["name,phone\nWang,1\n".encode("utf-16-le"), bytes(range(128, 256)) * 3])
def test_undecodable_bytes_name_the_encoding(data: bytes) -> None:
    with pytest.raises(ImportFileError) as caught:
        decode_csv(data)
    assert "encoding" in caught.value.errors["file"]


def test_semicolons_blank_rows_and_row_numbers() -> None:
    sheet = read_sheet(b"\nname;amount\nA;1\n;\nB;2\n", "x.csv")
    assert sheet.columns == ["name", "amount"]
    assert [n for n, _ in sheet.records()] == [3, 5]


def test_bad_files() -> None:
    for data, where in [(b"", "file"), (b"a,a\n1,2\n", "file"), (b"\xd0\xcf\x11\xe0rest", "file")]:
        with pytest.raises(ImportFileError) as caught:
            read_sheet(data, "x.csv")
        assert where in caught.value.errors


def test_xlsx_first_sheet_or_named_one() -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["name", "amount"])
    book.active.append(["Wang", 12.0])
    other = book.create_sheet("other")
    other.append(["phone"])
    other.append([13812345678])
    buffer = io.BytesIO()
    book.save(buffer)
    data = buffer.getvalue()
    assert list(read_sheet(data, "x.xlsx").records()) == [(2, {"name": "Wang", "amount": 12})]
    assert read_sheet(data, "x.xlsx", sheet="other").columns == ["phone"]
    with pytest.raises(ImportFileError) as caught:
        read_sheet(data, "x.xlsx", sheet="nope")
    assert "sheet" in caught.value.errors


def test_mapping_by_key_label_case_and_export_header() -> None:
    mapping = suggest_mapping(["姓名", "PHONE", "Level (level)", "code", "other"], MODEL)
    assert mapping == {
        "姓名": "name",
        "PHONE": "phone",
        "Level (level)": "level",
        "code": None,
        "other": None,
    }


def test_cells_convert_with_the_field_types() -> None:
    mapping = {"姓名": "name", "amount": "amount", "level": "level"}
    values, errors = convert_row(
        {"姓名": "=1+1", "amount": "abc", "level": "VIP"}, mapping, MODEL, FieldContext(), 7
    )
    assert values == {"name": "=1+1", "level": "vip"}  # a formula-looking cell is data on import
    assert [(e.row, e.column, e.field) for e in errors] == [(7, "amount", "amount")]


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-5", "-5"),
        ("+3.5", "+3.5"),
        ("plain", "plain"),
    ],
)
def test_export_neutralises_formulas(text: str, safe: str) -> None:
    assert neutralise(text) == safe
