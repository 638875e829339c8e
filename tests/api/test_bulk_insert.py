"""The driver-level row writer behind the bulk paths, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    select,
    text,
)
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
    at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    writer = RowWriter(ITEMS, ("code", "at", "amount", "doc", "raw"), encoded=("raw",))
    with items.session_scope() as session:
        writer.write(
            session,
            [
                ("a", at, Decimal("12.50"), {"x": [1, "二"]}, json_text({"y": None})),
                ("b", None, None, None, json_text(None)),
            ],
        )
        session.execute(
            ITEMS.insert(),
            {"code": "c", "at": at, "amount": Decimal("12.50"), "doc": {"x": [1, "二"]}, "raw": {"y": None}},
        )
    with items.session_scope() as session:
        rows = {r.code: r for r in session.execute(select(ITEMS))}
    assert (rows["a"].at, rows["a"].amount, rows["a"].doc, rows["a"].raw) == (
        rows["c"].at,
        rows["c"].amount,
        rows["c"].doc,
        rows["c"].raw,
    )
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


# ---------------------------------------------------------------- insert_one

STRICT_METADATA = MetaData()
STRICT = Table(
    "bulk_strict",
    STRICT_METADATA,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("code", String(20), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    # unique among the rows not deleted, as record tables keep unique fields
    Index(
        "uq_bulk_strict_code_live",
        "code",
        unique=True,
        sqlite_where=text("NOT deleted"),
        postgresql_where=text("NOT deleted"),
    ),
)


@pytest.fixture
def strict(db: Database) -> Iterator[Database]:
    STRICT_METADATA.create_all(db.engine)
    yield db
    STRICT_METADATA.drop_all(db.engine)


def _codes(database: Database) -> dict[str, int]:
    with database.session_scope() as session:
        return {row.code: row.id for row in session.execute(select(ITEMS.c.code, ITEMS.c.id))}


def test_insert_one_returns_the_new_row_s_id(items: Database) -> None:
    writer = RowWriter(ITEMS, ("code", "amount"))
    with items.session_scope() as session:
        first = writer.insert_one(session, ("a", Decimal("1.00")))
        second = writer.insert_one(session, ("b", None))
        third = writer.insert_one(session, ("c", Decimal("3")), skip_conflicts=True)
        # the new rows are part of the session's transaction at once
        assert session.execute(select(ITEMS.c.code).where(ITEMS.c.id == second)).scalar_one() == "b"
    assert all(isinstance(new_id, int) for new_id in (first, second, third))
    assert len({first, second, third}) == 3
    assert _codes(items) == {"a": first, "b": second, "c": third}


def test_a_duplicate_with_skip_conflicts_inserts_nothing_and_answers_none(items: Database) -> None:
    writer = RowWriter(ITEMS, ("code", "amount"))
    with items.session_scope() as session:
        kept = writer.insert_one(session, ("a", Decimal("1.00")))
        assert writer.insert_one(session, ("a", Decimal("2.00")), skip_conflicts=True) is None
        # the transaction goes on (no aborted transaction on PostgreSQL)
        other = writer.insert_one(session, ("b", Decimal("3.00")), skip_conflicts=True)
    assert other is not None
    assert _codes(items) == {"a": kept, "b": other}
    with items.session_scope() as session:
        assert session.execute(select(ITEMS.c.amount).where(ITEMS.c.code == "a")).scalar_one() == Decimal(
            "1.00"
        )


def test_a_duplicate_without_skip_conflicts_is_an_integrity_error_and_the_savepoint_survives(
    items: Database,
) -> None:
    writer = RowWriter(ITEMS, ("code",))
    with items.session_scope() as session:
        kept = writer.insert_one(session, ("a",))
        savepoint = session.begin_nested()
        with pytest.raises(IntegrityError):
            writer.insert_one(session, ("a",))
        savepoint.rollback()
        after = writer.insert_one(session, ("b",))
    assert _codes(items) == {"a": kept, "b": after}


def test_skip_conflicts_skips_only_unique_conflicts_of_a_partial_index(strict: Database) -> None:
    writer = RowWriter(STRICT, ("code", "deleted"))
    with strict.session_scope() as session:
        live = writer.insert_one(session, ("a", False), skip_conflicts=True)
        assert writer.insert_one(session, ("a", False), skip_conflicts=True) is None
        # a deleted row does not hold the key: both may exist
        gone = writer.insert_one(session, ("a", True), skip_conflicts=True)
        assert gone is not None
        savepoint = session.begin_nested()
        with pytest.raises(IntegrityError):  # NOT NULL is no conflict to skip
            writer.insert_one(session, (None, False), skip_conflicts=True)
        savepoint.rollback()
    with strict.session_scope() as session:
        rows = sorted(
            tuple(row) for row in session.execute(select(STRICT.c.id, STRICT.c.code, STRICT.c.deleted))
        )
    assert rows == sorted([(live, "a", False), (gone, "a", True)])


def test_insert_one_stores_what_a_core_insert_stores(items: Database) -> None:
    at = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
    doc = {"x": [1, "二", 2.5, None, True], "nested": {"k": "😀"}, "big": 2**40}
    writer = RowWriter(ITEMS, ("code", "at", "amount", "doc", "raw"), encoded=("raw",))
    with items.session_scope() as session:
        one = writer.insert_one(session, ("one", at, Decimal("12.50"), doc, json_text({"y": None, "z": [1]})))
        empty = writer.insert_one(session, ("one-null", None, None, None, json_text(None)))
        session.execute(
            ITEMS.insert(),
            [
                {
                    "code": "core",
                    "at": at,
                    "amount": Decimal("12.50"),
                    "doc": doc,
                    "raw": {"y": None, "z": [1]},
                },
                {"code": "core-null", "at": None, "amount": None, "doc": None, "raw": None},
            ],
        )
    with items.session_scope() as session:
        rows = {row.code: row for row in session.execute(select(ITEMS))}
    assert rows["one"].id == one
    assert rows["one-null"].id == empty

    def stored(row: Any) -> tuple[Any, ...]:
        return (row.at, row.amount, row.doc, row.raw)

    assert stored(rows["one"]) == stored(rows["core"])
    assert stored(rows["one-null"]) == stored(rows["core-null"])
    assert [type(value) for value in stored(rows["one"])] == [type(value) for value in stored(rows["core"])]
    assert rows["one"].at.replace(tzinfo=rows["one"].at.tzinfo or UTC) == at
    assert rows["one"].amount == Decimal("12.50")
    assert rows["one"].doc == doc
    assert rows["one"].raw == {"y": None, "z": [1]}
    with items.session_scope() as session:
        # the database itself sees the JSON as JSON (not a string holding JSON), as for the Core insert
        found = session.execute(
            select(ITEMS.c.code).where(ITEMS.c.doc["nested"]["k"].as_string() == "😀")
        ).all()
    assert sorted(code for (code,) in found) == ["core", "one"]
