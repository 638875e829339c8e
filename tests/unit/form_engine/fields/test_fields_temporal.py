"""Date and time field types: date, datetime and time."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import Column, Date, DateTime, Integer, MetaData, Table, Time, create_engine, insert, select

from opsloom.form_engine.fields.base import FieldContext, FieldType, FieldValueError, SchemaContext
from opsloom.form_engine.fields.numbers import NUMERIC_OPERATORS
from opsloom.form_engine.fields.temporal import DateTimeType, DateType, TimeType, parse_date_text

if TYPE_CHECKING:
    from collections.abc import Mapping

SHANGHAI = FieldContext(timezone="Asia/Shanghai")
UTC_CTX = FieldContext()
SCHEMA_CTX = SchemaContext(entity={}, types={})
DATE, DATETIME, TIME = DateType(), DateTimeType(), TimeType()


def valid(ftype: FieldType, field: Mapping[str, Any], value: Any) -> bool:
    schema = ftype.json_schema(field)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(value)


def refused(ftype: FieldType, value: Any, field: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        ftype.coerce(value, field or {}, SHANGHAI)
    return str(info.value)


def unparsable(ftype: FieldType, text: str, field: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        ftype.coerce(ftype.parse_text(text, field or {}, SHANGHAI), field or {}, SHANGHAI)
    return str(info.value)


def stored(ftype: FieldType, value: Any) -> Any:
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("v", ftype.column_type({})))
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v=value))
        return conn.execute(select(table.c.v)).scalar_one()


def test_shared_facts() -> None:
    for ftype in (DATE, DATETIME, TIME):
        assert ftype.filter_operators == NUMERIC_OPERATORS
        assert ftype.group == "date"
        assert set(ftype.options_schema) == {"min", "max"}
    assert (DATE.expr_type, DATETIME.expr_type, TIME.expr_type) == ("date", "datetime", "text")
    assert (DATE.widget, DATETIME.widget, TIME.widget) == ("date", "datetime", "time")


# ---------------------------------------------------------------------- date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-28", date(2026, 2, 28)),
        (" 2024-02-29 ", date(2024, 2, 29)),
        (date(2026, 1, 1), date(2026, 1, 1)),
        (datetime(2026, 1, 1, 0, 0), date(2026, 1, 1)),  # how openpyxl gives a date cell
        (datetime(2026, 1, 1, 20, 0, tzinfo=UTC), date(2026, 1, 2)),  # 04:00 next day in Shanghai
        ("", None),
    ],
)
def test_date_accepts(value: Any, expected: date | None) -> None:
    assert DATE.coerce(value, {}, SHANGHAI) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30", "2026-02-30 is not a date (February 2026 has 28 days)"),
        ("2024-02-30", "2024-02-30 is not a date (February 2024 has 29 days)"),
        ("2026-04-31", "2026-04-31 is not a date (April 2026 has 30 days)"),
        ("2026-13-01", "2026-13-01 is not a date (there is no month 13)"),
        ("2026-00-10", "2026-00-10 is not a date (there is no month 0)"),
        ("2026-01-00", "2026-01-00 is not a date (January 2026 has 31 days)"),
        ("0000-01-01", "0000-01-01 is not a date (years start at 1)"),
        ("2026/02/28", "'2026/02/28' is not a date; write it as 2026-02-28"),  # loose forms: parse_text only
        ("28.02.2026", "'28.02.2026' is not a date; write it as 2026-02-28"),
        ("2026-2-28", "'2026-2-28' is not a date; write it as 2026-02-28"),
        (20260228, "expects a date like 2026-02-28; got the number 20260228"),
        (True, "expects a date like 2026-02-28; got true"),
        (time(9, 30), "expects a date like 2026-02-28; got a time"),
    ],
)
def test_date_refuses(value: Any, message: str) -> None:
    assert refused(DATE, value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-28", date(2026, 2, 28)),
        ("2026/2/28", date(2026, 2, 28)),
        ("2026.2.28", date(2026, 2, 28)),
        ("2026-2-8", date(2026, 2, 8)),
        ("20260228", date(2026, 2, 28)),
        ("2026年2月28日", date(2026, 2, 28)),
        ("2026年2月28", date(2026, 2, 28)),
        ("2026-02-28 00:00:00", date(2026, 2, 28)),  # a spreadsheet's date-as-datetime
        ("2026-02-28T00:00", date(2026, 2, 28)),
        ("\uff12\uff10\uff12\uff16/2/28", date(2026, 2, 28)),  # full-width digits
        ("", None),
    ],
)
def test_date_parse_text(text: str, expected: date | None) -> None:
    assert DATE.coerce(DATE.parse_text(text, {}, SHANGHAI), {}, SHANGHAI) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026/2/30", "2026-02-30 is not a date (February 2026 has 28 days)"),
        ("20261301", "2026-13-01 is not a date (there is no month 13)"),
        ("28/02/2026", "'28/02/2026' is not a date; write it as 2026-02-28"),
        ("02/28/2026", "'02/28/2026' is not a date; write it as 2026-02-28"),
        ("2026/2-28", "'2026/2-28' is not a date; write it as 2026-02-28"),  # one separator throughout
        ("2026-02-28 10:30", "'2026-02-28 10:30' is not a date; write it as 2026-02-28"),
        ("tomorrow", "'tomorrow' is not a date; write it as 2026-02-28"),
    ],
)
def test_date_parse_text_refuses(text: str, message: str) -> None:
    assert unparsable(DATE, text) == message


def test_date_parse_text_takes_spreadsheet_values() -> None:
    assert DATE.parse_text(datetime(2026, 3, 1), {}, SHANGHAI) == datetime(2026, 3, 1)  # type: ignore[arg-type]
    assert DATE.coerce(DATE.parse_text(date(2026, 3, 1), {}, SHANGHAI), {}, SHANGHAI) == date(2026, 3, 1)  # type: ignore[arg-type]


_DATES = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


@given(day=_DATES, form=st.sampled_from(["iso", "slash", "dot", "dash", "compact", "chinese"]))
def test_date_parsing_round_trips(day: date, form: str) -> None:
    written = {
        "iso": day.isoformat(),
        "slash": f"{day.year:04d}/{day.month}/{day.day}",
        "dot": f"{day.year:04d}.{day.month}.{day.day}",
        "dash": f"{day.year:04d}-{day.month}-{day.day}",
        "compact": f"{day.year:04d}{day.month:02d}{day.day:02d}",
        "chinese": f"{day.year:04d}年{day.month}月{day.day}日",
    }[form]
    assert parse_date_text(written) == day
    coerced = DATE.coerce(DATE.parse_text(written, {}, SHANGHAI), {}, SHANGHAI)
    assert DATE.coerce(DATE.to_json(coerced, {}, SHANGHAI), {}, SHANGHAI) == day
    assert (
        DATE.coerce(DATE.parse_text(DATE.to_text(coerced, {}, SHANGHAI), {}, SHANGHAI), {}, SHANGHAI) == day
    )
    assert valid(DATE, {}, DATE.to_json(coerced, {}, SHANGHAI))


@given(year=st.integers(1, 9999), month=st.integers(1, 12), extra=st.integers(1, 5))
def test_impossible_days_name_the_month_length(year: int, month: int, extra: int) -> None:
    days = calendar.monthrange(year, month)[1]
    text = f"{year:04d}-{month:02d}-{days + extra:02d}"
    with pytest.raises(FieldValueError, match=rf"^{text} is not a date \(\w+ {year} has {days} days\)$"):
        DATE.coerce(text, {}, SHANGHAI)


def test_date_bounds_and_check() -> None:
    field = {"min": "2026-01-01", "max": "2026-12-31"}
    assert DATE.coerce("2026-06-01", field, SHANGHAI) == date(2026, 6, 1)
    assert refused(DATE, "2025-12-31", field) == "2025-12-31 is before 2026-01-01, the earliest allowed date"
    assert refused(DATE, "2027-01-01", field) == "2027-01-01 is after 2026-12-31, the latest allowed date"
    assert list(DATE.check(field, SCHEMA_CTX)) == []
    assert list(DATE.check({"min": "2026-02-30", "max": "soon"}, SCHEMA_CTX)) == [
        ("/min", "2026-02-30 is not a date (February 2026 has 28 days)"),
        ("/max", "'soon' is not a date; write it as 2026-02-28"),
    ]
    assert list(DATE.check({"min": "2026-02-01", "max": "2026-01-01"}, SCHEMA_CTX)) == [
        ("/max", "is before min (2026-02-01)")
    ]
    assert DATE.coerce("1999-01-01", {"min": "bad"}, SHANGHAI) == date(
        1999, 1, 1
    )  # check() reports the bound


def test_date_definition() -> None:
    assert isinstance(DATE.column_type({}), Date)
    assert DATE.json_schema({}) == {"type": ["string", "null"], "format": "date"}
    assert DATE.to_json(date(2026, 2, 28), {}, SHANGHAI) == "2026-02-28"
    assert DATE.to_json(datetime(2026, 2, 28, 5), {}, SHANGHAI) == "2026-02-28"
    assert DATE.to_text(date(33, 2, 1), {}, SHANGHAI) == "0033-02-01"
    assert DATE.type_change({}, {"min": "2026-01-01"}) == "same"
    assert DATE.default({"default": "2026-01-01"}, SHANGHAI) == date(2026, 1, 1)
    assert stored(DATE, date(2026, 2, 28)) == date(2026, 2, 28)
    assert not valid(DATE, {}, "2026-02-30")


# ---------------------------------------------------------------------- datetime


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T11:04:05+08:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T11:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),  # naive: workspace zone
        ("2026-01-02 11:04", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026-01-02T03:04:05.999Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),  # to the second
        ("2026-01-02", datetime(2026, 1, 1, 16, 0, tzinfo=UTC)),  # local midnight
        (datetime(2026, 1, 2, 11, 4, 5), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 1, 2, 8, 4, 5, tzinfo=UTC),
        ),
        (date(2026, 1, 2), datetime(2026, 1, 1, 16, 0, tzinfo=UTC)),
        ("", None),
    ],
)
def test_datetime_accepts(value: Any, expected: datetime | None) -> None:
    coerced = DATETIME.coerce(value, {}, SHANGHAI)
    assert coerced == expected
    if coerced is not None:
        assert coerced.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30T10:00:00Z", "2026-02-30 is not a date (February 2026 has 28 days)"),
        (
            "2026-01-02T25:00:00",
            "'2026-01-02T25:00:00' has no valid time of day; write it as 2026-01-02T11:04:00",
        ),
        ("yesterday", "'yesterday' is not a date-time; write it as 2026-01-02T11:04:00+08:00"),
        ("2026/01/02 10:00", "'2026/01/02 10:00' is not a date-time; write it as 2026-01-02T11:04:00+08:00"),
        (1767322800, "expects a date-time like 2026-01-02T11:04:00+08:00; got the number 1767322800"),
        (time(10, 0), "expects a date-time like 2026-01-02T11:04:00+08:00; got a time"),
        ("0001-01-01T00:00:00+08:00", "0001-01-01T00:00:00+08:00 is out of the supported range"),
    ],
)
def test_datetime_refuses(value: Any, message: str) -> None:
    assert refused(DATETIME, value) == message


def test_datetime_json_and_text() -> None:
    value = DATETIME.coerce("2026-01-02T03:04:05Z", {}, SHANGHAI)
    assert DATETIME.to_json(value, {}, SHANGHAI) == "2026-01-02T03:04:05Z"
    assert DATETIME.to_text(value, {}, SHANGHAI) == "2026-01-02 11:04"
    assert DATETIME.to_text(value, {}, UTC_CTX) == "2026-01-02 03:04"
    naive_from_sqlite = datetime(2026, 1, 2, 3, 4, 5)
    assert DATETIME.to_json(naive_from_sqlite, {}, SHANGHAI) == "2026-01-02T03:04:05Z"
    assert DATETIME.to_text(naive_from_sqlite, {}, SHANGHAI) == "2026-01-02 11:04"
    other_zone = datetime(2026, 1, 2, 11, 4, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert DATETIME.to_json(other_zone, {}, UTC_CTX) == "2026-01-02T03:04:05Z"
    assert DATETIME.to_json(datetime(5, 1, 1, tzinfo=UTC), {}, UTC_CTX) == "0005-01-01T00:00:00Z"
    assert valid(DATETIME, {}, DATETIME.to_json(value, {}, SHANGHAI))
    assert DATETIME.to_json(stored(DATETIME, value), {}, SHANGHAI) == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02 11:04", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026/1/2 11:04", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026.1.2 11:04:30", datetime(2026, 1, 2, 3, 4, 30, tzinfo=UTC)),
        ("20260102 11:04", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026年1月2日 11:04", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026/1/2", datetime(2026, 1, 1, 16, 0, tzinfo=UTC)),
        ("2026/1/2 03:04Z", datetime(2026, 1, 2, 3, 4, tzinfo=UTC)),
        ("2026/1/2 03:04 +0100", datetime(2026, 1, 2, 2, 4, tzinfo=UTC)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("", None),
    ],
)
def test_datetime_parse_text(text: str, expected: datetime | None) -> None:
    assert DATETIME.coerce(DATETIME.parse_text(text, {}, SHANGHAI), {}, SHANGHAI) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026/2/30 10:00", "2026-02-30 is not a date (February 2026 has 28 days)"),
        ("2026/1/2 24:00", "'24:00' is not a time of day (hours go from 0 to 23)"),
        ("2026/1/2 10:61", "'10:61' is not a time of day (minutes go from 0 to 59)"),
        ("2026/1/2 10:00 +25:00", "'2026/1/2 10:00 +25:00' has an invalid UTC offset"),
        ("next friday", "'next friday' is not a date-time; write it as 2026-01-02 11:04"),
        ("02/01/2026 10:00", "'02/01/2026' is not a date; write it as 2026-02-28"),
    ],
)
def test_datetime_parse_text_refuses(text: str, message: str) -> None:
    assert unparsable(DATETIME, text) == message


_ZONES = st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
_MOMENTS = st.datetimes(
    # from 1970: older local mean time offsets have seconds, which a to-the-minute text cannot keep
    min_value=datetime(1970, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=0))


@given(moment=_MOMENTS, zone=_ZONES)
def test_datetime_round_trips(moment: datetime, zone: str) -> None:
    ctx = FieldContext(timezone=zone)
    coerced = DATETIME.coerce(moment.astimezone(ZoneInfo(zone)).isoformat(), {}, ctx)
    assert coerced == moment
    as_json = DATETIME.to_json(coerced, {}, ctx)
    assert valid(DATETIME, {}, as_json)
    assert DATETIME.coerce(as_json, {}, ctx) == coerced
    assert DATETIME.coerce(as_json, {}, UTC_CTX) == coerced  # the JSON form carries its zone
    # the text form is local and to the minute: it reads back in the same zone, seconds dropped
    back = DATETIME.coerce(DATETIME.parse_text(DATETIME.to_text(coerced, {}, ctx), {}, ctx), {}, ctx)
    local = coerced.astimezone(ZoneInfo(zone))
    if local.fold == 0 and ZoneInfo(zone).utcoffset(local.replace(tzinfo=None)) == local.utcoffset():
        assert back == coerced.replace(second=0)


def test_datetime_bounds_and_check() -> None:
    field = {"min": "2026-01-01T00:00:00", "max": "2026-12-31T23:59:59Z"}
    assert DATETIME.coerce("2026-06-01T00:00:00Z", field, SHANGHAI) is not None
    # a naive bound is read in the workspace zone: midnight in Shanghai is 16:00 UTC the day before
    assert DATETIME.coerce("2025-12-31T16:00:00Z", field, SHANGHAI) == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert (
        refused(DATETIME, "2025-12-31T15:59:59Z", field)
        == "2025-12-31 23:59 is before 2026-01-01 00:00, the earliest allowed time"
    )
    assert (
        refused(DATETIME, "2027-01-01T00:00:00Z", field)
        == "2027-01-01 08:00 is after 2027-01-01 07:59, the latest allowed time"
    )
    assert list(DATETIME.check(field, SCHEMA_CTX)) == []
    assert list(DATETIME.check({"min": "2026-02-30T00:00:00"}, SCHEMA_CTX)) == [
        ("/min", "2026-02-30 is not a date (February 2026 has 28 days)")
    ]
    assert list(
        DATETIME.check({"min": "2026-02-01T00:00:00Z", "max": "2026-01-01T00:00:00Z"}, SCHEMA_CTX)
    ) == [("/max", "is before min (2026-02-01T00:00:00Z)")]


def test_datetime_definition() -> None:
    column = DATETIME.column_type({})
    assert isinstance(column, DateTime)
    assert column.timezone
    assert DATETIME.json_schema({}) == {"type": ["string", "null"], "format": "date-time"}
    assert DATETIME.default({"default": "2026-01-01T00:00:00Z"}, SHANGHAI) == datetime(2026, 1, 1, tzinfo=UTC)
    assert DATETIME.type_change({}, {}) == "same"


# ---------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("09:30", time(9, 30)),
        ("9:30", time(9, 30)),
        ("23:59:59", time(23, 59, 59)),
        ("00:00", time(0, 0)),
        (time(9, 30, 15, 500), time(9, 30, 15)),
        (time(9, 30, tzinfo=UTC), time(9, 30)),
        ("", None),
    ],
)
def test_time_accepts(value: Any, expected: time | None) -> None:
    assert TIME.coerce(value, {}, SHANGHAI) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("25:00", "'25:00' is not a time of day (hours go from 0 to 23)"),
        ("24:00", "'24:00' is not a time of day (hours go from 0 to 23)"),
        ("12:60", "'12:60' is not a time of day (minutes go from 0 to 59)"),
        ("12:00:60", "'12:00:60' is not a time of day (seconds go from 0 to 59)"),
        ("9.30", "'9.30' is not a time; write it as HH:MM, e.g. 09:30"),
        ("9:30 pm", "'9:30 pm' is not a time; write it as HH:MM, e.g. 09:30"),
        ("0930", "'0930' is not a time; write it as HH:MM, e.g. 09:30"),
        (930, "expects a time like 09:30; got the number 930"),
        (datetime(2026, 1, 1, 9, 30), "expects a time like 09:30; got a datetime"),
    ],
)
def test_time_refuses(value: Any, message: str) -> None:
    assert refused(TIME, value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:30", time(9, 30)),
        ("9.30", time(9, 30)),
        ("9:30 pm", time(21, 30)),
        ("9:30PM", time(21, 30)),
        ("12:15 am", time(0, 15)),
        ("12:15 p.m.", time(12, 15)),
        ("21:30:00.000", time(21, 30)),
        ("\uff10\uff19:\uff13\uff10", time(9, 30)),  # full-width
        ("", None),
    ],
)
def test_time_parse_text(text: str, expected: time | None) -> None:
    assert TIME.coerce(TIME.parse_text(text, {}, SHANGHAI), {}, SHANGHAI) == expected


def test_time_parse_text_refuses() -> None:
    assert (
        unparsable(TIME, "13:00 pm") == "'13:00 pm' is not a time of day (with am/pm, hours go from 1 to 12)"
    )
    assert unparsable(TIME, "noon") == "'noon' is not a time; write it as HH:MM, e.g. 09:30"
    assert TIME.parse_text(time(8, 0), {}, SHANGHAI) == time(8, 0)  # type: ignore[arg-type]


@given(st.times().map(lambda clock: clock.replace(microsecond=0)))
def test_time_round_trips(clock: time) -> None:
    coerced = TIME.coerce(clock, {}, SHANGHAI)
    as_json = TIME.to_json(coerced, {}, SHANGHAI)
    assert valid(TIME, {}, as_json)
    assert TIME.coerce(as_json, {}, SHANGHAI) == clock
    assert (
        TIME.coerce(TIME.parse_text(TIME.to_text(coerced, {}, SHANGHAI), {}, SHANGHAI), {}, SHANGHAI) == clock
    )


def test_time_text_bounds_and_definition() -> None:
    assert TIME.to_json(time(9, 5), {}, SHANGHAI) == "09:05:00"
    assert TIME.to_text(time(9, 5), {}, SHANGHAI) == "09:05"
    assert TIME.to_text(time(9, 5, 7), {}, SHANGHAI) == "09:05:07"
    field = {"min": "09:00", "max": "18:00"}
    assert TIME.coerce("18:00", field, SHANGHAI) == time(18, 0)
    assert refused(TIME, "08:59", field) == "08:59 is before 09:00, the earliest allowed time"
    assert refused(TIME, "18:00:01", field) == "18:00:01 is after 18:00, the latest allowed time"
    assert list(TIME.check(field, SCHEMA_CTX)) == []
    assert list(TIME.check({"min": "9am"}, SCHEMA_CTX)) == [
        ("/min", "'9am' is not a time; write it as HH:MM, e.g. 09:30")
    ]
    assert list(TIME.check({"min": "18:00", "max": "09:00"}, SCHEMA_CTX)) == [
        ("/max", "is before min (18:00)")
    ]
    assert isinstance(TIME.column_type({}), Time)
    assert TIME.json_schema({})["type"] == ["string", "null"]
    assert not valid(TIME, {}, "24:00")
    assert valid(TIME, {}, "9:30")
    assert stored(TIME, time(9, 30)) == time(9, 30)
    assert TIME.default({"default": "09:00"}, SHANGHAI) == time(9, 0)
