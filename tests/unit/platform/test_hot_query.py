"""``HotQuery``: a SELECT on the driver's cursor gives what ``session.execute`` gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, bindparam, select
from sqlalchemy.exc import DBAPIError

from opsloom.platform.db import Database
from opsloom.platform.hot_query import HotQuery
from opsloom.platform.models.identity import Stamp

if TYPE_CHECKING:
    from collections.abc import Iterator

METADATA = MetaData()
THINGS = Table(
    "hot_things",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("at", Stamp, nullable=False),
    Column("note", String(40), nullable=True),
    Column("size", Integer, nullable=True),
)

AT = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
ROWS = [
    {"id": 1, "name": "alpha", "active": True, "at": AT, "note": "first", "size": 10},
    {"id": 2, "name": "beta", "active": False, "at": AT + timedelta(days=1), "note": None, "size": None},
    {
        "id": 3,
        "name": "gamma",
        "active": True,
        "at": datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))),
        "note": "二 😀",
        "size": -5,
    },
]

BY_NAME = HotQuery(
    select(
        THINGS.c.id,
        THINGS.c.name.label("label"),
        THINGS.c.active,
        THINGS.c.at,
        THINGS.c.note,
        THINGS.c.size,
    )
    .where(THINGS.c.name != bindparam("skip"))
    .order_by(THINGS.c.id)
)
ACTIVE_SINCE = HotQuery(
    select(THINGS.c.id, THINGS.c.at.label("when"))
    .where(THINGS.c.active == bindparam("active"), THINGS.c.at >= bindparam("since"))
    .order_by(THINGS.c.id)
)


@pytest.fixture
def things(database_url: str) -> Iterator[Database]:
    """A migrated database (SQLite or PostgreSQL) with ``hot_things`` and three rows."""
    database = Database(database_url)
    METADATA.create_all(database.engine)
    with database.session_scope() as session:
        session.execute(THINGS.insert(), ROWS)
    yield database
    METADATA.drop_all(database.engine)
    database.dispose()


def _typed(rows: Any) -> list[list[tuple[str, Any]]]:
    """Every value with its type: True and 1, aware and naive datetimes must not pass for each other."""
    return [
        [(type(value).__name__, value, getattr(value, "tzinfo", None) is not None) for value in row]
        for row in rows
    ]


def test_rows_are_what_session_execute_gives(things: Database) -> None:
    with things.session_scope() as session:
        expected = session.execute(BY_NAME.stmt, {"skip": "nobody"}).all()
        got = BY_NAME.all(session, skip="nobody")
    assert len(got) == 3
    assert [tuple(row) for row in got] == [tuple(row) for row in expected]
    assert _typed(got) == _typed(expected)
    assert [type(row.active) for row in got] == [bool, bool, bool]  # not 0/1 on SQLite
    assert all(isinstance(row.at, datetime) for row in got)


def test_datetimes_come_back_as_the_instants_stored(things: Database) -> None:
    with things.session_scope() as session:
        got = BY_NAME.all(session, skip="nobody")
    if things.dialect == "postgresql":
        assert all(row.at.tzinfo is not None for row in got)
        assert [row.at for row in got] == [r["at"] for r in ROWS]
    else:
        # SQLite stores the wall time as given (the project writes UTC): what SQLAlchemy reads back
        assert [row.at for row in got] == [r["at"].replace(tzinfo=None) for r in ROWS]


def test_columns_are_read_by_their_labels(things: Database) -> None:
    with things.session_scope() as session:
        first = BY_NAME.all(session, skip="beta")[0]
        expected = session.execute(BY_NAME.stmt, {"skip": "beta"}).first()
    assert expected is not None
    assert (first.id, first.label, first.active, first.note, first.size) == (1, "alpha", True, "first", 10)
    assert first.label == expected.label
    assert first._fields == ("id", "label", "active", "at", "note", "size")
    assert not hasattr(first, "name")


def test_parameters_go_through_their_types(things: Database) -> None:
    with things.session_scope() as session:
        since = AT + timedelta(hours=1)
        got = ACTIVE_SINCE.all(session, active=False, since=since)
        expected = session.execute(ACTIVE_SINCE.stmt, {"active": False, "since": since}).all()
        assert [row.id for row in got] == [2]
        assert [tuple(row) for row in got] == [tuple(row) for row in expected]
        assert [row.id for row in ACTIVE_SINCE.all(session, active=True, since=AT)] == [1]
        assert ACTIVE_SINCE.all(session, active=True, since=AT + timedelta(seconds=1)) == []


def test_nulls_come_back_as_none(things: Database) -> None:
    with things.session_scope() as session:
        beta = next(row for row in BY_NAME.all(session, skip="nobody") if row.id == 2)
    assert beta.note is None
    assert beta.size is None
    assert beta.active is False


def test_it_sees_the_uncommitted_rows_of_its_own_transaction(things: Database) -> None:
    later = AT + timedelta(days=30)
    with things.session_scope() as session:
        session.execute(
            THINGS.insert(), {"id": 4, "name": "delta", "active": False, "at": later, "note": None, "size": 0}
        )
        session.execute(THINGS.update().where(THINGS.c.id == 1).values(name="alpha2"))
        got = BY_NAME.all(session, skip="nobody")
        assert [row.id for row in got] == [1, 2, 3, 4]
        assert got[0].label == "alpha2"
        assert [tuple(row) for row in got] == [
            tuple(row) for row in session.execute(BY_NAME.stmt, {"skip": "x"})
        ]
        session.rollback()
        assert [row.id for row in BY_NAME.all(session, skip="nobody")] == [1, 2, 3]
        assert BY_NAME.all(session, skip="nobody")[0].label == "alpha"


def test_it_sees_what_the_orm_session_has_flushed(things: Database) -> None:
    with things.session_scope() as session:
        session.execute(THINGS.delete().where(THINGS.c.id == 3))
        session.flush()
        assert [row.id for row in BY_NAME.all(session, skip="nobody")] == [1, 2]


def test_no_rows_is_an_empty_list(things: Database) -> None:
    with things.session_scope() as session:
        assert ACTIVE_SINCE.all(session, active=True, since=AT + timedelta(days=3650)) == []
        session.execute(THINGS.delete())
        assert BY_NAME.all(session, skip="nobody") == []


def test_a_driver_error_is_sqlalchemy_s_exception(things: Database) -> None:
    METADATA.drop_all(things.engine)
    with things.session_scope() as session:
        with pytest.raises(DBAPIError) as expected:
            session.execute(BY_NAME.stmt, {"skip": "nobody"})
        session.rollback()
        with pytest.raises(DBAPIError) as got:
            BY_NAME.all(session, skip="nobody")
        session.rollback()
    assert type(got.value) is type(expected.value)  # OperationalError on SQLite, ProgrammingError on PG
    assert type(got.value.orig) is type(expected.value.orig)
    assert "hot_things" in str(got.value)
    METADATA.create_all(things.engine)  # for the fixture's teardown


def test_the_session_stays_usable_after_a_driver_error_and_a_rollback(things: Database) -> None:
    missing = HotQuery(select(Column("id", Integer)).select_from(Table("hot_missing", MetaData())))
    with things.session_scope() as session:
        with pytest.raises(DBAPIError):
            missing.all(session)
        session.rollback()
        assert [row.id for row in BY_NAME.all(session, skip="nobody")] == [1, 2, 3]


def test_repeated_calls_answer_for_their_own_parameters(things: Database) -> None:
    # the compiled plan is kept: later calls must not reuse an earlier call's values
    query = HotQuery(select(THINGS.c.name).where(THINGS.c.id == bindparam("id")))
    with things.session_scope() as session:
        assert [row.name for row in query.all(session, id=1)] == ["alpha"]
        assert [row.name for row in query.all(session, id=3)] == ["gamma"]
        assert query.all(session, id=99) == []


def test_values_the_statement_fixes_itself_are_kept(things: Database) -> None:
    """Literals in conditions and a LIMIT are parameters the caller does not give."""
    fixed = HotQuery(
        select(THINGS.c.id, THINGS.c.name)
        .where(THINGS.c.active.is_(True), THINGS.c.name != "nobody", THINGS.c.size > bindparam("smallest"))
        .order_by(THINGS.c.id)
        .limit(1)
    )
    with things.session_scope() as session:
        expected = session.execute(fixed.stmt, {"smallest": -1}).all()
        assert [tuple(row) for row in fixed.all(session, smallest=-1)] == [tuple(row) for row in expected]
        assert len(expected) == 1


def test_cursor_listeners_see_the_statement(things: Database) -> None:
    """SQL logging and tracing hook ``before/after_cursor_execute``; the driver path still reaches them."""
    from sqlalchemy import event

    seen: list[tuple[str, str]] = []
    before = lambda *args: seen.append(("before", args[2]))  # noqa: E731
    after = lambda *args: seen.append(("after", args[2]))  # noqa: E731
    event.listen(things.engine, "before_cursor_execute", before)
    event.listen(things.engine, "after_cursor_execute", after)
    try:
        with things.session_scope() as session:
            BY_NAME.all(session, skip="nobody")
    finally:
        event.remove(things.engine, "before_cursor_execute", before)
        event.remove(things.engine, "after_cursor_execute", after)
    mine = [(when, sql) for when, sql in seen if "hot_things" in sql]
    assert [when for when, _ in mine] == ["before", "after"]
    assert mine[0][1].lstrip().upper().startswith("SELECT")


def test_dicts_and_value_rows_keep_every_column_key_even_underscored(things: Database) -> None:
    """The record list reads ``_version`` and the stamps; a named tuple cannot carry such names."""
    query = HotQuery(select(THINGS.c.id, THINGS.c.name.label("_name"), THINGS.c.at).order_by(THINGS.c.id).limit(2))
    with things.session_scope() as session:
        expected = [dict(row) for row in session.execute(query.stmt).mappings()]
        assert query.dicts(session) == expected
        columns, values = query.fetch(session)
    assert columns == ("id", "_name", "at")
    assert [dict(zip(columns, row, strict=True)) for row in values] == expected
    assert len(expected) == 2  # the LIMIT the statement fixes itself


def test_an_expanding_in_list_is_refused_before_it_runs(things: Database) -> None:
    from opsloom.platform.hot_query import NotHot

    query = HotQuery(select(THINGS.c.id).where(THINGS.c.name.in_(["alpha", "beta"])))
    with pytest.raises(NotHot):
        query.check(things.engine.dialect)
