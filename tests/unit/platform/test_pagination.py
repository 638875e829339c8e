"""Keyset pagination: every row exactly once, in order, and forged cursors refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.orm import Session

from opsloom.platform.errors import BadRequest, InvalidCursor
from opsloom.platform.pagination import (
    SortKey,
    decode_cursor,
    encode_cursor,
    page_statements,
    paginate,
    parse_limit,
)

meta = MetaData()
people = Table(
    "people",
    meta,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    Column("joined", DateTime(timezone=True)),
)


@pytest.fixture
def session() -> Session:
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(people),
            # names repeat so that the id tie-breaker matters
            [{"id": i, "name": f"n{i % 7}", "joined": base + timedelta(days=i % 5)} for i in range(1, 101)],
        )
    return Session(engine)


def _walk(session: Session, keys: list[SortKey], limit: int) -> list[int]:
    seen, cursor = [], None
    while True:
        page = paginate(session, select(people), keys, secret="s", limit=limit, cursor=cursor, scalars=False)
        seen.extend(row["id"] for row in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 7, 50, 100, 500])
@pytest.mark.parametrize("descending", [False, True])
def test_every_row_once_in_sort_order(session: Session, limit: int, descending: bool) -> None:
    keys = [SortKey("name", people.c.name, descending), SortKey("id", people.c.id, descending)]
    seen = _walk(session, keys, limit)
    rows = session.execute(select(people.c.id, people.c.name)).all()
    expected = [r.id for r in sorted(rows, key=lambda r: (r.name, r.id), reverse=descending)]
    assert seen == expected


def test_dates_survive_the_cursor(session: Session) -> None:
    keys = [SortKey("joined", people.c.joined, True), SortKey("id", people.c.id)]
    seen = _walk(session, keys, 9)
    assert len(seen) == len(set(seen)) == 100


def test_forged_cursor_is_refused() -> None:
    keys = [SortKey("id", people.c.id)]
    cursor = encode_cursor("secret", keys, [5])
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    with pytest.raises(InvalidCursor) as err:
        decode_cursor("secret", tampered, keys)
    assert err.value.status == 400
    assert "cursor" in err.value.errors
    with pytest.raises(InvalidCursor):
        decode_cursor("another-secret", cursor, keys)


def test_cursor_of_another_query_is_refused() -> None:
    by_id = [SortKey("id", people.c.id)]
    by_name = [SortKey("name", people.c.name), SortKey("id", people.c.id)]
    cursor = encode_cursor("secret", by_id, [5], scope="workspace=1")
    with pytest.raises(InvalidCursor, match="another query"):
        decode_cursor("secret", cursor, by_name, scope="workspace=1")
    with pytest.raises(InvalidCursor):
        decode_cursor("secret", cursor, by_id, scope="workspace=2")
    assert decode_cursor("secret", cursor, by_id, scope="workspace=1") == [5]


@pytest.mark.parametrize("raw", ["x", "0", "-3", "501", "1.5"])
def test_bad_limits(raw: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_limit(raw, maximum=500)
    assert "limit" in err.value.errors


def test_limit_default_and_range() -> None:
    assert parse_limit(None, default=25) == 25
    assert parse_limit("500", maximum=500) == 500


@pytest.mark.parametrize(("dialect", "descending", "parts"),
                         [("sqlite", True, 1), ("sqlite", False, 2), ("postgresql", False, 1), ("postgresql", True, 2)])
def test_empty_values_the_database_puts_first_come_from_a_second_statement(
    dialect: str, descending: bool, parts: int
) -> None:
    """No ``NULLS LAST`` against the database's own order: an index serves both statements."""
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("spent", Integer))
    keys = [SortKey("spent", table.c.spent, descending, nullable=True), SortKey("id", table.c.id, descending)]
    statements = page_statements(select(table), keys, dialect=dialect, limit=10)
    sql = [str(s.compile(compile_kwargs={"literal_binds": True})) for s in statements]
    assert len(sql) == parts
    assert not any("NULLS LAST" in text for text in sql)
    if parts == 2:
        assert "t.spent IS NOT NULL" in sql[0]
        assert "t.spent IS NULL" in sql[1]
        assert "ORDER BY t.id" in sql[1]
        # after an empty value only the empty ones remain
        after_empty = page_statements(select(table), keys, dialect=dialect, limit=10, after=[None, 5])
        assert len(after_empty) == 1
        assert "t.spent IS NULL" in str(after_empty[0].compile(compile_kwargs={"literal_binds": True}))
