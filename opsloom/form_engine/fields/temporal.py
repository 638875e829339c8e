"""Date and time field types: date, datetime and time.

A ``datetime`` is an instant: stored as an aware UTC value (to the second), written in
JSON as ``2026-01-02T03:04:05Z`` and shown in the workspace time zone. A value without
an offset is read in ``FieldContext.timezone``, since that is where the person typing
it lives. A ``date`` and a ``time`` are wall-clock values with no zone. Pure code: no
Flask, no database I/O, no clock (``ctx.now`` is not needed here).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import Date, DateTime, Time

from .base import FieldContext, FieldType, FieldValueError
from .numbers import NUMERIC_OPERATORS
from .text import cell_text, describe_value

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.types import TypeEngine

    from .base import SchemaContext

__all__ = ["FIELD_TYPES", "DateTimeType", "DateType", "TemporalType", "TimeType", "parse_date_text"]

_MONTHS = (
    "",
    *("January", "February", "March", "April", "May", "June"),
    *("July", "August", "September", "October", "November", "December"),
)
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# 2026-2-28, 2026/2/28, 2026.2.28 (one separator throughout), 20260228, 2026年2月28日
_LOOSE_DATE = re.compile(
    r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})|(\d{4})(\d{2})(\d{2})|(\d{4})年(\d{1,2})月(\d{1,2})日?"
)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")
_LOOSE_DATETIME = re.compile(
    r"(?P<date>\S+?)(?:[ T]+(?P<clock>\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_MERIDIEM = re.compile(r"(.*?)\s*([ap])\.?m\.?", re.IGNORECASE)


def _make_date(year: int, month: int, day: int) -> date:
    """The date, or a ``FieldValueError`` saying which part is impossible."""
    shown = f"{year:04d}-{month:02d}-{day:02d}"
    if year < 1:
        raise FieldValueError(f"{shown} is not a date (years start at 1)")
    if not 1 <= month <= 12:
        raise FieldValueError(f"{shown} is not a date (there is no month {month})")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise FieldValueError(f"{shown} is not a date ({_MONTHS[month]} {year} has {days} days)")
    return date(year, month, day)


def _iso_date(text: str) -> date | None:
    match = _ISO_DATE.fullmatch(text)
    return None if match is None else _make_date(*(int(part) for part in match.groups()))


def parse_date_text(text: str) -> date | None:
    """A date as people type it (``2026-02-28``, ``2026/2/28``, ``2026.2.28``, ``20260228``, ``2026年2月28日``).

    Day-first and month-first forms (``28/02/2026``, ``02/28/2026``) are refused: each is
    the other's valid date often enough that guessing would corrupt an import. A
    ``00:00`` time after the date (how spreadsheets export dates) is ignored.

    :raises FieldValueError: not a date, or an impossible one (``2026-02-30``).
    """
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw:
        return None
    raw = re.sub(r"[ T]00:00(?::00(?:\.0+)?)?$", "", raw)
    match = _LOOSE_DATE.fullmatch(raw)
    if match is None:
        raise FieldValueError(f"{describe_value(raw)} is not a date; write it as 2026-02-28")
    if match[1]:
        parts = match[1], match[3], match[4]
    elif match[5]:
        parts = match[5], match[6], match[7]
    else:
        parts = match[8], match[9], match[10]
    return _make_date(*(int(part) for part in parts))


def _zone(ctx: FieldContext) -> ZoneInfo:
    return ZoneInfo(ctx.timezone or "UTC")


class TemporalType(FieldType):
    """What date, datetime and time share: ordered filters and ``min``/``max`` given as ISO text."""

    group = "date"
    filter_operators = NUMERIC_OPERATORS
    options_schema = {"min": {"type": "string"}, "max": {"type": "string"}}
    #: how a bound is described in messages ("the earliest allowed date")
    noun: ClassVar[str] = "date"

    def bound(self, field: Mapping[str, Any], key: str, ctx: FieldContext) -> Any:
        """The ``min`` or ``max`` of ``field`` as a stored value (``None`` when not set)."""
        raw = field.get(key)
        return None if raw is None else self.coerce(raw, {}, ctx)

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        utc, bounds = FieldContext(), {}
        for key in ("min", "max"):
            if field.get(key) is None:
                continue
            try:
                bounds[key] = self.bound(field, key, utc)
            except FieldValueError as exc:
                yield f"/{key}", str(exc)
        if len(bounds) == 2 and bounds["min"] > bounds["max"]:
            yield "/max", f"is before min ({field['min']})"

    def check_bounds(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> None:
        try:
            low, high = self.bound(field, "min", ctx), self.bound(field, "max", ctx)
        except FieldValueError:
            return  # a bad bound is reported by check() when the definition is published
        if low is not None and value < low:
            raise FieldValueError(
                f"{self.show(value, ctx)} is before {self.show(low, ctx)}, the earliest allowed {self.noun}"
            )
        if high is not None and value > high:
            raise FieldValueError(
                f"{self.show(value, ctx)} is after {self.show(high, ctx)}, the latest allowed {self.noun}"
            )

    def show(self, value: Any, ctx: FieldContext) -> str:
        """``value`` as written in messages."""
        return self.to_text(value, {}, ctx)

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return "" if value is None else str(self.to_json(value, field, ctx))


class DateType(TemporalType):
    """A calendar date: ISO ``2026-02-28`` in JSON; forms and imports may also use the loose forms."""

    name = "date"
    label = {"en": "Date", "zh": "日期"}
    expr_type = "date"
    widget = "date"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Date()

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": ["string", "null"], "format": "date"}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):  # spreadsheet readers give date cells as datetimes
            day = (value.astimezone(_zone(ctx)) if value.tzinfo else value).date()
        elif isinstance(value, date):
            day = value
        elif isinstance(value, str):
            if not value.strip():
                return None
            parsed = _iso_date(value.strip())
            if parsed is None:
                raise FieldValueError(f"{describe_value(value)} is not a date; write it as 2026-02-28")
            day = parsed
        else:
            raise FieldValueError(f"expects a date like 2026-02-28; got {describe_value(value)}")
        self.check_bounds(day, field, ctx)
        return day

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if isinstance(text, (date, datetime)):
            return text
        return parse_date_text(cell_text(text))

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            value = value.date()
        return value.isoformat()


class DateTimeType(TemporalType):
    """An instant, stored as aware UTC to the second; see the module docstring.

    Some databases (SQLite) hand the column back naive: a naive stored value is UTC.
    Sub-second digits are dropped on input, so the JSON form round-trips exactly.
    Options ``min``/``max`` without an offset are read in the workspace time zone.
    """

    name = "datetime"
    label = {"en": "Date and time", "zh": "日期时间"}
    expr_type = "datetime"
    widget = "datetime"
    noun = "time"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return DateTime(timezone=True)

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": ["string", "null"], "format": "date-time"}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value, time())
        elif isinstance(value, str):
            if not value.strip():
                return None
            moment = self._parse_iso(value.strip())
        else:
            raise FieldValueError(
                f"expects a date-time like 2026-01-02T11:04:00+08:00; got {describe_value(value)}"
            )
        stored = self._to_utc(moment, ctx)
        self.check_bounds(stored, field, ctx)
        return stored

    def _parse_iso(self, text: str) -> datetime:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
        head = _ISO_DATE.match(text)
        if head is not None:
            _make_date(*(int(part) for part in head.groups()))  # names an impossible day precisely
            raise FieldValueError(
                f"{describe_value(text)} has no valid time of day; write it as 2026-01-02T11:04:00"
            )
        raise FieldValueError(
            f"{describe_value(text)} is not a date-time; write it as 2026-01-02T11:04:00+08:00"
        )

    def _to_utc(self, moment: datetime, ctx: FieldContext) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            moment = moment.replace(tzinfo=_zone(ctx))
        try:
            return moment.astimezone(UTC).replace(microsecond=0)
        except OverflowError:
            raise FieldValueError(f"{moment.isoformat()} is out of the supported range") from None

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Also ``2026/1/2 11:04``, ``20260102 11:04``, ``2026年1月2日 11:04`` and a date alone (midnight)."""
        if isinstance(text, (date, datetime)):
            return text
        raw = unicodedata.normalize("NFKC", cell_text(text)).strip()
        if not raw:
            return None
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
        match = _LOOSE_DATETIME.fullmatch(raw)
        if match is None:
            raise FieldValueError(f"{describe_value(raw)} is not a date-time; write it as 2026-01-02 11:04")
        day = parse_date_text(match["date"])
        clock = _clock(match["clock"]) if match["clock"] else time()
        moment = datetime.combine(day, clock)
        if match["zone"]:
            try:
                offset = datetime.fromisoformat(f"2000-01-01T00:00{match['zone']}").tzinfo
            except ValueError:
                raise FieldValueError(f"{describe_value(raw)} has an invalid UTC offset") from None
            moment = moment.replace(tzinfo=offset)
        return moment

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
        )

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """``2026-01-02 11:04`` in the workspace time zone (seconds left out, as people write it)."""
        if value is None:
            return ""
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        local = moment.astimezone(_zone(ctx))
        return f"{local.year:04d}-{local.month:02d}-{local.day:02d} {local.hour:02d}:{local.minute:02d}"


def _clock(text: str) -> time:
    """``HH:MM[:SS[.ffffff]]`` as a time, with a message naming the part out of range."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise FieldValueError(f"{describe_value(text)} is not a time; write it as HH:MM, e.g. 09:30")
    hour, minute = int(match[1]), int(match[2])
    second = int(match[3] or 0)
    if hour > 23:
        raise FieldValueError(f"{describe_value(text)} is not a time of day (hours go from 0 to 23)")
    if minute > 59:
        raise FieldValueError(f"{describe_value(text)} is not a time of day (minutes go from 0 to 59)")
    if second > 59:
        raise FieldValueError(f"{describe_value(text)} is not a time of day (seconds go from 0 to 59)")
    return time(hour, minute, second)


class TimeType(TemporalType):
    """A time of day without a date or zone (opening hours, a preferred call time), to the second."""

    name = "time"
    label = {"en": "Time", "zh": "时间"}
    expr_type = "text"
    widget = "time"
    noun = "time"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Time()

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        # not "format": "time": RFC 3339 full-time requires an offset, which a wall-clock time has not
        return {"type": ["string", "null"], "pattern": r"^([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if isinstance(value, time):
            clock = value.replace(tzinfo=None, microsecond=0)
        elif isinstance(value, str):
            if not value.strip():
                return None
            if not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
                raise FieldValueError(f"{describe_value(value)} is not a time; write it as HH:MM, e.g. 09:30")
            clock = _clock(value.strip())
        else:
            raise FieldValueError(f"expects a time like 09:30; got {describe_value(value)}")
        self.check_bounds(clock, field, ctx)
        return clock

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Also ``9.30``, ``9:30 pm`` and ``21:30:00.000`` (spreadsheet exports)."""
        if isinstance(text, time):
            return text
        raw = unicodedata.normalize("NFKC", cell_text(text)).strip()
        if not raw:
            return None
        meridiem = _MERIDIEM.fullmatch(raw)
        body = meridiem[1] if meridiem else raw
        if re.fullmatch(r"\d{1,2}\.\d{2}", body):
            body = body.replace(".", ":")
        clock = _clock(body)
        if meridiem:
            if not 1 <= clock.hour <= 12:
                raise FieldValueError(
                    f"{describe_value(raw)} is not a time of day (with am/pm, hours go from 1 to 12)"
                )
            clock = clock.replace(hour=clock.hour % 12 + (12 if meridiem[2].lower() == "p" else 0))
        return clock

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """``09:30``, or ``09:30:15`` when there are seconds."""
        if value is None:
            return ""
        text = f"{value.hour:02d}:{value.minute:02d}"
        return text if not value.second else f"{text}:{value.second:02d}"


FIELD_TYPES: tuple[FieldType, ...] = (
    DateType(),
    DateTimeType(),
    TimeType(),
)
