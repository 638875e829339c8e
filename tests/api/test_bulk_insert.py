"""The driver-level row writer behind the bulk paths, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Numeric, String, Table, select
from sqlalchemy.exc import IntegrityError

from opsloom.platform.bulk_insert import JSONText, RowWriter, json_text, reserve_ids
from opsloom.platform.db import JSONType

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opsloom.platform.db import Database

METADATA = MetaData()
ITEMS = Table(
    "bulk_items",
    METADATA,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("code", String(20), unique=True),
    Column("at", DateTime(timezone=True)),
    Column("amount", Numeric(10, 2)),
    Column("doc", JSONType),
    Column("raw", JSONType),
)


@pytest.fixture
def items(db: Database) -> Iterator[Database]:
    METADATA.create_all(db.engine)
    yield db
    METADATA.drop_all(db.engine)


def test_rows_are_written_as_a_core_insert_would_write_them(items: Database) -> None:
    from decimal import Decimal

    at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    writer = RowWriter(ITEMS, ("code", "at", "amount", "doc", "raw"), encoded=("raw",))
    with items.session_scope() as session:
        writer.write(session, [
            ("a", at, Decimal("12.50"), {"x": [1, "二"]}, json_text({"y": None})),
            ("b", None, None, None, json_text(None)),
        ])
        session.execute(ITEMS.insert(), {"code": "c", "at": at, "amount": Decimal("12.50"), "doc": {"x": [1, "二"]},
                                         "raw": {"y": None}})
    with items.session_scope() as session:
        rows = {r.code: r for r in session.execute(select(ITEMS))}
    assert (rows["a"].at, rows["a"].amount, rows["a"].doc, rows["a"].raw) == (
        rows["c"].at, rows["c"].amount, rows["c"].doc, rows["c"].raw)
    assert rows["a"].at.replace(tzinfo=UTC) == at
    assert rows["b"].at is None
    assert rows["b"].doc is None
    assert rows["b"].raw is None


def test_a_broken_unique_key_is_an_integrity_error_and_the_savepoint_survives(items: Database) -> None:
    writer = RowWriter(ITEMS, ("code",))
    with items.session_scope() as session:
        writer.write(session, [("a",)])
        savepoint = session.begin_nested()
        with pytest.raises(IntegrityError):
            writer.write(session, [("b",), ("a",)])
        savepoint.rollback()
        writer.write(session, [("c",)])
    with items.session_scope() as session:
        assert sorted(session.scalars(select(ITEMS.c.code))) == ["a", "c"]


def test_reserved_ids_are_new_ascending_and_used_by_explicit_inserts(items: Database) -> None:
    writer = RowWriter(ITEMS, ("id", "code"))
    with items.session_scope() as session:
        session.execute(ITEMS.insert(), {"code": "first"})
        ids = reserve_ids(session, ITEMS, 3)
        assert ids == sorted(ids)
        assert len(set(ids)) == 3
        writer.write(session, [(i, f"r{i}") for i in ids])
        assert reserve_ids(session, ITEMS, 0) == []
        session.execute(ITEMS.insert(), {"code": "after"})  # the table's own numbering goes on past them
    with items.session_scope() as session:
        got = {row.code: row.id for row in session.execute(select(ITEMS.c.code, ITEMS.c.id))}
    assert [got[f"r{i}"] for i in ids] == ids
    assert got["first"] < ids[0]
    assert got["after"] > ids[-1]


def test_json_text_matches_the_standard_encoder_and_keeps_what_orjson_refuses() -> None:
    import json

    for value in [{"a": [1, 2.5, None, True, "二"]}, [], "x", 3, None, {"n": 2**70}, {1: "int key"}]:
        text = json_text(value)
        assert isinstance(text, JSONText)
        assert json.loads(text) == json.loads(json.dumps(value))
    with pytest.raises(TypeError):
        json_text({"at": datetime(2026, 1, 1, tzinfo=UTC)})  # refused as the standard encoder refuses it


def test_a_writer_refuses_unknown_columns_and_encoded_non_json_columns() -> None:
    with pytest.raises(ValueError, match="no column nope"):
        RowWriter(ITEMS, ("code", "nope"))
    with pytest.raises(ValueError, match="must be JSON columns: code"):
        RowWriter(ITEMS, ("code",), encoded=("code",))
