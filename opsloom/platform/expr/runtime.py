"""The per-evaluation environment: context, resolver, clock, and the dynamic limits.

One ``Env`` is made per call of a compiled expression. It holds what the caller passed
explicitly (the context with ``_now``, the time zone, ``_user``, ``_old``, ``_changed``;
the relation resolver) and counts loop iterations against ``Limits``. ``var`` lookups
that the record cannot answer fall back to the context for ``_`` names and to the
resolver for relation paths such as ``customer.level``.
"""

from __future__ import annotations

import time as _time
from datetime import UTC, date, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from .errors import ExprEvalError, ExprLimitError
from .values import js_string

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .limits import Limits

__all__ = ["MISSING", "Env", "ValueResolver", "get_path"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class ValueResolver(Protocol):
    """Answers relation paths the record does not hold itself (``customer.level``).

    ``resolve(path, record)`` returns the value, or raises ``LookupError`` when the path
    leads nowhere. A plain callable with the same signature works too.
    """

    def resolve(self, path: str, record: Any) -> Any: ...


def _step(current: Any, part: str) -> Any:
    cls = type(current)
    if cls is dict:
        return current.get(part, MISSING)
    if cls is list or cls is tuple:
        if part.isdigit() and (part == "0" or part[0] != "0"):
            index = int(part)
            return current[index] if index < len(current) else MISSING
        return MISSING
    if current is not None and hasattr(current, "keys") and hasattr(current, "get"):  # other Mappings
        return current.get(part, MISSING)
    return MISSING


def get_path(data: Any, parts: list[str]) -> Any:
    """Walk ``parts`` into ``data`` the way JSON Logic's ``var`` does; ``MISSING`` when it fails."""
    current = data
    for part in parts:
        if current is None:
            return MISSING
        current = _step(current, part)
        if current is MISSING:
            return MISSING
    return current


_ZONES: dict[str, tzinfo] = {}


def _zone(value: Any) -> tzinfo:
    if value is None:
        return UTC
    if isinstance(value, tzinfo):
        return value
    if type(value) is str:
        zone = _ZONES.get(value)
        if zone is None:
            try:
                zone = ZoneInfo(value)
            except Exception as exc:  # ZoneInfoNotFoundError, ValueError for malformed keys
                raise ExprEvalError(
                    f'unknown time zone {value!r}; use an IANA name such as "Asia/Shanghai"'
                ) from exc
            _ZONES[value] = zone
        return zone
    raise ExprEvalError(f"the time zone must be an IANA name; got {type(value).__name__}")


class Env:
    """State of one evaluation. Not shared between threads or calls."""

    __slots__ = ("_now", "_tz", "context", "deadline", "iterations", "limits", "resolve")

    def __init__(
        self, limits: Limits, context: Mapping[str, Any] | None = None, resolver: Any = None
    ) -> None:
        self.limits = limits
        self.context = context if context is not None else {}
        if resolver is not None and not callable(resolver):
            resolver = resolver.resolve
        self.resolve = resolver
        self.iterations = 0
        self.deadline = 0.0
        self._now: datetime | None = None
        self._tz: tzinfo | None = None

    # ------------------------------------------------------------ limits

    def tick(self, count: int = 1) -> None:
        """Count ``count`` loop steps; raise when the iteration or time budget is spent."""
        self.iterations += count
        if self.iterations > self.limits.max_iterations:
            raise ExprLimitError(
                f"the expression took more than {self.limits.max_iterations} loop steps "
                "(map, filter, reduce, all, some, none)"
            )
        now = _time.monotonic()
        if not self.deadline:
            self.deadline = now + self.limits.max_seconds
        elif now > self.deadline:
            raise ExprLimitError(f"the expression ran longer than {self.limits.max_seconds:g} seconds")

    # ------------------------------------------------------------ clock

    @property
    def tz(self) -> tzinfo:
        if self._tz is None:
            context = self.context
            self._tz = _zone(context.get("tz", context.get("_tz")))
        return self._tz

    @property
    def now(self) -> datetime:
        """``_now`` from the context (made aware in the workspace zone), else the clock, read once."""
        if self._now is None:
            given = self.context.get("_now")
            if given is None:
                moment = datetime.now(self.tz)
            elif isinstance(given, datetime):
                moment = given.replace(tzinfo=self.tz) if given.tzinfo is None else given.astimezone(self.tz)
            elif isinstance(given, date):
                moment = datetime(given.year, given.month, given.day, tzinfo=self.tz)
            elif type(given) is str:
                try:
                    parsed = datetime.fromisoformat(given[:-1] + "+00:00" if given.endswith("Z") else given)
                except ValueError as exc:
                    raise ExprEvalError(f"`_now` must be an ISO 8601 date-time; got {given!r}") from exc
                moment = (
                    parsed.replace(tzinfo=self.tz) if parsed.tzinfo is None else parsed.astimezone(self.tz)
                )
            else:
                raise ExprEvalError("`_now` must be a datetime")
            self._now = moment
        return self._now

    def clock_key(self) -> tuple[datetime, tzinfo]:
        """What ``today()``/``now()`` depend on; results of clock-only sub-expressions are cached by it."""
        return self.now, self.tz

    @property
    def today(self) -> date:
        return self.now.date()

    # ------------------------------------------------------------ data

    def lookup(self, data: Any, key: Any, default: Any = None) -> Any:
        """JSON Logic ``var``: ``key`` is a dotted path; ``""``/``null`` is the whole data."""
        if key is None or key == "":
            return data
        path = key if type(key) is str else js_string(key)
        parts = path.split(".")
        value = get_path(data, parts)
        if value is not MISSING:
            return value
        return self.fallback(data, path, parts, default)

    def fallback(self, data: Any, path: str, parts: list[str], default: Any) -> Any:
        """What ``var`` returns when the record itself has no value at ``path``."""
        head = parts[0]
        if head[:1] == "_" and head in self.context and not (type(data) is dict and head in data):
            value = get_path(self.context, parts)
            return default if value is MISSING else value
        if self.resolve is not None and len(parts) > 1:
            try:
                value = self.resolve(path, data)
            except LookupError:
                return default
            return default if value is MISSING else value
        return default
