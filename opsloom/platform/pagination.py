"""Keyset pagination with opaque, signed cursors.

A cursor holds the sort values of the last row shown plus a fingerprint of the query
(sort order and filters), signed with the app's secret: a forged, damaged or reused-
elsewhere cursor is refused with ``InvalidCursor`` (400) instead of silently skipping rows.
Keyset (``WHERE (a, id) > (:a, :id)``) keeps every page as cheap as the first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, or_

from .errors import BadRequest, InvalidCursor

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.orm import Session

__all__ = [
    "Page",
    "SortKey",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "page_statement",
    "page_statements",
    "paginate",
    "parse_limit",
]

SALT = "opsloom.cursor.v1"


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of the ordering; the last key must be unique (normally ``id``)."""

    name: str
    column: ColumnElement[Any]
    descending: bool = False
    #: the column may be NULL: empty values come last in either direction
    nullable: bool = False


# where each database puts NULLs by itself: after the other values when descending on
# SQLite, when ascending on PostgreSQL; there a plain ORDER BY lets an index serve the sort
_NULLS_LAST_BY_ITSELF = {"sqlite": True, "postgresql": False}


def _ordering(key: SortKey, dialect: str) -> ColumnElement[Any]:
    term = key.column.desc() if key.descending else key.column.asc()
    if not key.nullable:
        return term
    natural = _NULLS_LAST_BY_ITSELF.get(dialect)
    if natural is not None and natural == key.descending:
        return term
    return term.nulls_last()


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    next_cursor: str | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict):
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$d" in value:
            return date.fromisoformat(value["$d"])
        if "$dec" in value:
            return Decimal(value["$dec"])
    return value


def _fingerprint(keys: Sequence[SortKey], scope: str) -> str:
    order = ",".join(("-" if k.descending else "") + k.name + ("?" if k.nullable else "") for k in keys)
    return hashlib.sha256(f"{order}|{scope}".encode()).hexdigest()[:16]


@lru_cache(maxsize=16)
def _serializer(secret: str) -> URLSafeSerializer:
    """One signer per secret: building it derives the key, which every page would repeat."""
    return URLSafeSerializer(secret, salt=SALT)


def encode_cursor(secret: str, keys: Sequence[SortKey], values: Sequence[Any], scope: str = "") -> str:
    """A signed cursor pointing after a row whose sort values are ``values``."""
    payload = {"f": _fingerprint(keys, scope), "v": [_jsonable(v) for v in values]}
    return _serializer(secret).dumps(payload)  # type: ignore[return-value]


def decode_cursor(secret: str, cursor: str, keys: Sequence[SortKey], scope: str = "") -> list[Any]:
    """The sort values inside ``cursor``; :raises InvalidCursor: forged, damaged or foreign."""
    try:
        payload = _serializer(secret).loads(cursor)
    except BadSignature as exc:
        raise InvalidCursor(
            "The cursor is not valid; request the first page again without `cursor`.",
            errors={"cursor": "forged or damaged cursor"},
        ) from exc
    if (
        not isinstance(payload, dict)
        or payload.get("f") != _fingerprint(keys, scope)
        or not isinstance(payload.get("v"), list)
        or len(payload["v"]) != len(keys)
    ):
        raise InvalidCursor(
            "The cursor belongs to another query (sort or filter changed); start from the first page.",
            errors={"cursor": "cursor does not match this query"},
        )
    return [_unjson(v) for v in payload["v"]]


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """``(k1, k2, ...) > (v1, v2, ...)`` honouring each key's direction, empty values last.

    After a value of a nullable key come the greater (or smaller) values and then every
    empty one; after an empty value only the later keys can decide. ``column == None``
    is ``IS NULL`` in SQLAlchemy, so the equalities hold for empty values too.
    """
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j].column == values[j] for j in range(i)]
        value = values[i]
        if value is None:
            continue
        step = key.column < value if key.descending else key.column > value
        if key.nullable:
            step = or_(step, key.column.is_(None))
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def parse_limit(raw: Any, default: int = 50, maximum: int = 500) -> int:
    """A page size from a query parameter; :raises BadRequest: not an integer in range."""
    if raw in (None, ""):
        return default
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(
            f"`limit` must be a whole number; got {raw!r}.", errors={"limit": "not an integer"}
        ) from None
    if not 1 <= limit <= maximum:
        raise BadRequest(
            f"`limit` must be between 1 and {maximum}; got {limit}.",
            errors={"limit": f"must be between 1 and {maximum}"},
        )
    return limit


def page_statement(stmt: Select[Any], keys: Sequence[SortKey], *, dialect: str, limit: int,
                   after: Sequence[Any] | None = None) -> Select[Any]:
    """``stmt`` ordered by ``keys``, from after the sort values ``after``, one row past ``limit``."""
    if after is not None:
        stmt = stmt.where(_after(keys, after))
    return stmt.order_by(*[_ordering(k, dialect) for k in keys]).limit(limit + 1)


def page_statements(
    stmt: Select[Any], keys: Sequence[SortKey], *, dialect: str, limit: int, after: Sequence[Any] | None = None
) -> list[Select[Any]]:
    """The statements whose rows, one after the other, make the page (each fetching up to ``limit + 1``).

    One, unless the first key may be empty and the database would put its empty values
    first in that direction (ascending on SQLite, descending on PostgreSQL). ``NULLS LAST``
    there would make the database sort every matching row, since no index is in that
    order; instead the values come from one statement (``IS NOT NULL``, which an index on
    the column serves in either direction) and the empty ones from a second, run only when
    the first leaves the page short.
    """
    first = keys[0]
    natural = _NULLS_LAST_BY_ITSELF.get(dialect)
    if not first.nullable or natural is None or natural == first.descending:
        return [page_statement(stmt, keys, dialect=dialect, limit=limit, after=after)]
    statements = []
    if after is None or after[0] is not None:
        valued = [replace(first, nullable=False), *keys[1:]]
        statements.append(
            page_statement(stmt.where(first.column.is_not(None)), valued, dialect=dialect, limit=limit, after=after)
        )
    # after a value come all the empty ones; after an empty one, the later keys decide
    rest_after = after[1:] if after is not None and after[0] is None else None
    statements.append(
        page_statement(stmt.where(first.column.is_(None)), keys[1:], dialect=dialect, limit=limit, after=rest_after)
    )
    return statements


def page_of(
    rows: list[Any],
    keys: Sequence[SortKey],
    *,
    limit: int,
    secret: str,
    scope: str = "",
    columns: Sequence[str] | None = None,
) -> Page:
    """The page of ``rows`` (fetched by ``page_statement``, so one more than ``limit`` means more follow).

    Rows are dicts, objects with the keys as attributes, or value sequences in ``columns`` order.
    """
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        if columns is not None:
            values = [last[columns.index(k.name)] for k in keys]
        else:
            values = [last[k.name] if isinstance(last, dict) else getattr(last, k.name) for k in keys]
        next_cursor = encode_cursor(secret, keys, values, scope)
    return Page(items=rows, next_cursor=next_cursor)


def paginate(
    session: Session,
    stmt: Select[Any],
    keys: Sequence[SortKey],
    *,
    secret: str,
    limit: int,
    cursor: str | None = None,
    scope: str = "",
    scalars: bool = True,
) -> Page:
    """Run ``stmt`` ordered by ``keys`` from ``cursor`` and return one page plus the next cursor.

    ``scope`` should describe everything else that shapes the result (filters, the
    workspace), so that a cursor cannot be replayed against a different query. Rows are
    the ORM objects (``scalars``) or dicts of the selected columns.
    """
    after = decode_cursor(secret, cursor, keys, scope) if cursor else None
    rows: list[Any] = []
    for part in page_statements(stmt, keys, dialect=session.get_bind().dialect.name, limit=limit, after=after):
        if scalars:
            rows += session.scalars(part)
        else:
            result = session.execute(part)
            names = tuple(result.keys())
            rows += [dict(zip(names, row, strict=True)) for row in result]
        if len(rows) > limit:
            break
    return page_of(rows, keys, limit=limit, secret=secret, scope=scope)
