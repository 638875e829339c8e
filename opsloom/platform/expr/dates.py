"""Date functions: today/now in the workspace time zone, ISO 8601 durations, differences, anniversaries.

No clock is read here: ``today`` and ``now`` come from the evaluation environment,
which takes ``_now`` and the time zone from the caller's context (and reads the clock
once per evaluation only when no ``_now`` is given). Values may be ``date`` or
``datetime`` objects or ISO 8601 text; ``null`` propagates (``year(null)`` is ``null``).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any

from dateutil.relativedelta import relativedelta

from .errors import ExprEvalError
from .values import is_nan, js_string, to_date_like, to_number

if TYPE_CHECKING:
    from .runtime import Env

__all__ = [
    "date_add",
    "date_diff",
    "day",
    "days_until",
    "make_date",
    "make_datetime",
    "month",
    "now",
    "parse_duration",
    "quarter",
    "today",
    "weekday",
    "year",
]

_DURATION = re.compile(
    r"(?P<sign>[+-])?P(?!\Z)(?:(?P<years>\d{1,4})Y)?(?:(?P<months>\d{1,5})M)?(?:(?P<weeks>\d{1,6})W)?"
    r"(?:(?P<days>\d{1,7})D)?(?:T(?=\d)(?:(?P<hours>\d{1,8})H)?(?:(?P<minutes>\d{1,10})M)?"
    r"(?:(?P<seconds>\d{1,12}(?:\.\d{1,6})?)S)?)?\Z"
)
_UNITS = {
    "y": "years",
    "year": "years",
    "years": "years",
    "m": "months",
    "month": "months",
    "months": "months",
    "w": "weeks",
    "week": "weeks",
    "weeks": "weeks",
    "d": "days",
    "day": "days",
    "days": "days",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
    "min": "minutes",
    "mi": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "s": "seconds",
    "second": "seconds",
    "seconds": "seconds",
}
_MAX_AMOUNT = 1_000_000


@functools.lru_cache(maxsize=512)
def _duration(text: str) -> relativedelta:
    return _parse_duration(text)


def parse_duration(text: Any) -> relativedelta:
    """An ISO 8601 duration (``P30D``, ``-P1Y2M``, ``PT4H``) as a relativedelta (cached).

    :raises ExprEvalError: the text is not such a duration.
    """
    if type(text) is str and len(text) <= 64:
        return _duration(text)
    return _parse_duration(text)


def _parse_duration(text: Any) -> relativedelta:
    """An ISO 8601 duration (``P30D``, ``-P1Y2M``, ``PT4H``) as a relativedelta.

    :raises ExprEvalError: the text is not such a duration.
    """
    match = _DURATION.match(text.strip().upper()) if type(text) is str else None
    if match is None:
        raise ExprEvalError(
            f'expected an ISO 8601 duration such as "P30D" or "-P1M"; got {js_string(text)!r}'
        )
    parts = match.groupdict()
    sign = -1 if parts.pop("sign") == "-" else 1
    seconds = float(parts.pop("seconds") or 0)
    amounts = {name: int(value) for name, value in parts.items() if value}
    try:
        return relativedelta(
            seconds=sign * seconds, **{name: sign * value for name, value in amounts.items()}
        )
    except (OverflowError, ValueError) as exc:
        raise ExprEvalError(f"duration {text!r} is out of range") from exc


def _unit(unit: Any, op: str) -> str:
    name = _UNITS.get(js_string(unit).strip().lower()) if unit is not None else None
    if name is None:
        raise ExprEvalError(f"`{op}` does not know the unit {js_string(unit)!r}; use y, m, w, d, h, min or s")
    return name


def _shift(value: date, delta: relativedelta, op: str) -> date:
    has_time = bool(delta.hours or delta.minutes or delta.seconds or delta.microseconds)
    if has_time and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    try:
        return value + delta
    except (OverflowError, ValueError) as exc:
        raise ExprEvalError(f"`{op}` went outside the supported dates (years 1 to 9999)") from exc


def date_add(value: Any = None, amount: Any = None, unit: Any = None) -> date | None:
    """``value`` moved by an ISO 8601 duration, or by ``amount`` units (days by default)."""
    moment = to_date_like(value)
    if moment is None or amount is None:
        return None
    if unit is None and type(amount) is str:
        return _shift(moment, parse_duration(amount), "date_add")
    number = to_number(amount)
    if is_nan(number) or abs(number) > _MAX_AMOUNT:
        raise ExprEvalError(f"`date_add` needs a whole number of units; got {js_string(amount)!r}")
    name = _unit("d" if unit is None else unit, "date_add")
    if name in ("years", "months", "weeks", "days") and number != int(number):
        raise ExprEvalError(f"`date_add` needs a whole number of {name}; got {js_string(amount)!r}")
    count = int(number) if number == int(number) else float(number)
    return _shift(moment, relativedelta(**{name: count}), "date_add")


def _as_datetime(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def date_diff(start: Any = None, end: Any = None, unit: Any = "d") -> int | None:
    """Whole ``unit`` s from ``start`` to ``end`` (negative when ``end`` is earlier), like DATEDIF."""
    a, b = to_date_like(start), to_date_like(end)
    if a is None or b is None:
        return None
    key = js_string(unit).strip().lower() if unit is not None else "d"
    if isinstance(a, datetime) != isinstance(b, datetime) or (
        isinstance(a, datetime) and isinstance(b, datetime) and (a.tzinfo is None) != (b.tzinfo is None)
    ):
        a, b = _as_datetime(a), _as_datetime(b)
        if (a.tzinfo is None) != (b.tzinfo is None):
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    if key in ("ym", "md"):
        delta = relativedelta(b, a)
        return delta.months if key == "ym" else delta.days
    name = _unit(key, "date_diff")
    if name in ("years", "months"):
        delta = relativedelta(b, a)
        return delta.years if name == "years" else delta.years * 12 + delta.months
    span = b - a
    seconds = span.days * 86_400 + span.seconds
    per = {"weeks": 604_800, "days": 86_400, "hours": 3_600, "minutes": 60, "seconds": 1}[name]
    whole = abs(seconds) // per
    return whole if seconds >= 0 else -whole


def _part(value: Any, attribute: str) -> int | None:
    moment = to_date_like(value)
    return None if moment is None else getattr(moment, attribute)


def year(value: Any = None) -> int | None:
    return _part(value, "year")


def month(value: Any = None) -> int | None:
    return _part(value, "month")


def day(value: Any = None) -> int | None:
    return _part(value, "day")


def quarter(value: Any = None) -> int | None:
    number = _part(value, "month")
    return None if number is None else (number - 1) // 3 + 1


def weekday(value: Any = None) -> int | None:
    """ISO weekday: Monday is 1, Sunday is 7."""
    moment = to_date_like(value)
    return None if moment is None else moment.isoweekday()


def make_date(*args: Any) -> date | None:
    """``date(text_or_datetime)`` or ``date(year, month, day)``; ``null`` when it is not a date."""
    if len(args) >= 3:
        try:
            return date(*(int(to_number(arg)) for arg in args[:3]))
        except (TypeError, ValueError, OverflowError):
            return None
    moment = to_date_like(args[0] if args else None)
    if isinstance(moment, datetime):
        return moment.date()
    return moment


# ------------------------------------------------------------------ environment-aware


def today(env: Env, data: Any) -> date:
    return env.today


def now(env: Env, data: Any) -> datetime:
    return env.now


def make_datetime(env: Env, data: Any, value: Any = None) -> datetime | None:
    """A datetime in the workspace time zone (naive text and dates are taken as local time)."""
    moment = to_date_like(value)
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=env.tz)
    return moment


def _anniversary(original: date, year_: int) -> date:
    try:
        return original.replace(year=year_)
    except ValueError:  # 29 February in a common year: celebrate on the 28th
        return date(year_, 2, 28)


def days_until(env: Env, data: Any, value: Any = None, options: Any = None) -> int | None:
    """Days from today to ``value``; with ``{"anniversary": true}`` to its next yearly recurrence."""
    moment = to_date_like(value)
    if moment is None:
        return None
    if isinstance(moment, datetime):
        moment = (moment.astimezone(env.tz) if moment.tzinfo else moment).date()
    anniversary = options is True or (type(options) is dict and options.get("anniversary") is True)
    current = env.today
    if anniversary:
        upcoming = _anniversary(moment, current.year)
        if upcoming < current:
            upcoming = _anniversary(moment, current.year + 1)
        return (upcoming - current).days
    return (moment - current).days
