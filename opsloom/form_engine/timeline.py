"""The 360° timeline of a record: entries from many sources merged newest first, in stable keyset pages.

A *source* (``TimelineSource``) knows one kind of entry: the record's changes, records
related to it, and later the flow engine's steps or the rule engine's runs. Sources
come from the ``opsloom_register_timeline_sources`` hook, so a later engine adds its
entries without touching the form engine. Entries are ordered by the tuple
``(at, kind, source, key)`` descending, where ``key`` is a tuple unique within its source;
a page's cursor is the position of its last entry, signed like every cursor
(``opsloom.platform.pagination``), and each source returns only entries strictly older
than that position, so every entry appears on exactly one page.

Never imports flask and never commits: sources read in the caller's transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import and_, literal_column, or_

from opsloom.platform.errors import BadRequest, InvalidCursor, OpsloomError
from opsloom.platform.pagination import Page, SortKey, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy import ColumnElement

    from .model import EntityModel
    from .service import RecordService

__all__ = [
    "Boundary",
    "TimelineEntry",
    "TimelinePosition",
    "TimelineSource",
    "entry_json",
    "parse_kinds",
    "timeline_page",
]

log = logging.getLogger("opsloom.timeline")

#: the order of the merged timeline; only names and directions matter (they sign the cursor)
_ORDER = tuple(SortKey(name, literal_column(name), True) for name in ("at", "kind", "source", "key"))

Key = tuple[Any, ...]


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite hands naive UTC values back)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a record's timeline.

    ``key`` is unique within its source and orders entries that share ``at`` (an audit
    entry's id; ``(entity, field, id)`` for a related record). ``source`` is filled in by
    the merger; ``kind`` must be the source's kind. ``actor`` is ``{"id", "name"}`` or None,
    ``link`` ``{"app", "entity", "id"}`` or None; ``data`` must be JSON-able and already
    passed through ``RecordService.present`` where it holds field values.
    """

    at: datetime
    kind: str
    title: str
    key: Key
    actor: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    link: dict[str, Any] | None = None
    source: str = ""

    def sort_key(self) -> tuple[datetime, str, str, Key]:
        return (as_utc(self.at), self.kind, self.source, tuple(self.key))


@dataclass(frozen=True, slots=True)
class Boundary:
    """Where one ordered stream of a source resumes: entries before ``at``, and at ``at`` itself

    all of them (``ties`` and ``below`` None), those whose last key element is below ``below``
    (``ties`` and ``below`` set), or none (``ties`` false).
    """

    at: datetime
    ties: bool
    below: Any = None

    def sql(self, at_column: ColumnElement[Any], id_column: ColumnElement[Any]) -> ColumnElement[bool]:
        """The SQL condition for a stream ordered by ``(at_column, id_column)`` descending."""
        at = self.at
        if not self.ties:
            return at_column < at
        if self.below is None:
            return at_column <= at
        return or_(at_column < at, and_(at_column == at, id_column < self.below))

    def expression(self, at_var: str = "_created_at", id_var: str = "id") -> dict[str, Any]:
        """The same condition as an expression, for ``RecordService.query(filter=...)``."""
        moment = {"var": at_var}
        stamp = self.at.isoformat().replace("+00:00", "Z")
        if not self.ties:
            return {"<": [moment, stamp]}
        if self.below is None:
            return {"<=": [moment, stamp]}
        return {
            "or": [
                {"<": [moment, stamp]},
                {"and": [{"==": [moment, stamp]}, {"<": [{"var": id_var}, self.below]}]},
            ]
        }


@dataclass(frozen=True, slots=True)
class TimelinePosition:
    """The last entry of the previous page; a source returns only entries strictly older than it."""

    at: datetime
    kind: str
    source: str
    key: Key

    def sort_key(self) -> tuple[datetime, str, str, Key]:
        return (self.at, self.kind, self.source, self.key)

    def admits(self, entry: TimelineEntry) -> bool:
        """``entry`` (with its ``source`` set) comes after this position, newest first."""
        try:
            return entry.sort_key() < self.sort_key()
        except TypeError:  # a key of another shape: another source, already decided above
            return False

    def boundary(self, kind: str, source: str, prefix: Key = ()) -> Boundary:
        """Where the stream of ``source`` whose keys are ``prefix + (id,)`` resumes.

        A source reading one table ordered by ``(at, id)`` uses ``boundary(kind, name).sql(...)``;
        one merging several streams passes each stream's ``prefix`` (the related-records
        source uses ``(entity, field)``).
        """
        here = (kind, source, *prefix)
        mine = (self.kind, self.source, *self.key[: len(prefix)])
        try:
            if here == mine and len(self.key) == len(prefix) + 1:
                return Boundary(self.at, True, self.key[len(prefix)])
            return Boundary(self.at, here < mine)
        except TypeError:
            return Boundary(self.at, False)


@runtime_checkable
class TimelineSource(Protocol):
    """Entries of one ``kind`` for a record's timeline; registered by ``opsloom_register_timeline_sources``."""

    name: str
    kind: str

    def entries(
        self,
        service: RecordService,
        model: EntityModel,
        record_id: int,
        before: TimelinePosition | None,
        limit: int,
    ) -> list[TimelineEntry]:
        """At most ``limit`` entries strictly older than ``before``, newest first.

        ``service`` is the reader's ``RecordService``: read other records through it
        (``query`` applies scopes and masks) and pass field values through ``present``.
        """
        ...


def parse_kinds(raw: str | None, sources: Iterable[TimelineSource]) -> set[str] | None:
    """The ``kinds=`` filter as a set (None: every kind); :raises BadRequest: an unknown kind."""
    if raw is None or not raw.strip():
        return None
    wanted = {part.strip() for part in raw.split(",") if part.strip()}
    known = {source.kind for source in sources}
    unknown = sorted(wanted - known)
    if unknown:
        raise BadRequest(
            f"Unknown timeline kind(s): {', '.join(unknown)}; choose from {', '.join(sorted(known))}.",
            errors={"kinds": f"unknown kind(s): {', '.join(unknown)}"},
        )
    return wanted


def _encode(secret: str, position: TimelineEntry, scope: str) -> str:
    values = [as_utc(position.at), position.kind, position.source, list(position.key)]
    return encode_cursor(secret, _ORDER, values, scope)


def _decode(secret: str, cursor: str, scope: str) -> TimelinePosition:
    at, kind, source, key = decode_cursor(secret, cursor, _ORDER, scope)
    if not (
        isinstance(at, datetime)
        and isinstance(kind, str)
        and isinstance(source, str)
        and isinstance(key, list)
    ):
        raise InvalidCursor(
            "The cursor is not a timeline position; start from the first page.",
            errors={"cursor": "not a timeline cursor"},
        )
    return TimelinePosition(as_utc(at), kind, source, tuple(key))


def _ask(
    source: TimelineSource,
    service: RecordService,
    model: EntityModel,
    record_id: int,
    before: TimelinePosition | None,
    limit: int,
    *,
    builtin: bool,
) -> list[TimelineEntry]:
    """One source's entries, stamped with its name and kind and cut to ``limit``.

    A plugin's source that fails is left out (and logged) rather than failing the whole
    view; it runs in a savepoint so a failed query cannot spoil the transaction.
    """
    if builtin:
        found = source.entries(service, model, record_id, before, limit)
    else:
        try:
            with service.session.begin_nested():
                found = source.entries(service, model, record_id, before, limit)
        except OpsloomError:
            raise
        except Exception:
            log.exception("timeline source %s failed for %s %s; left out", source.name, model.key, record_id)
            return []
    entries = []
    for entry in list(found or [])[:limit]:
        stamped = replace(
            entry, at=as_utc(entry.at), kind=source.kind, source=source.name, key=tuple(entry.key)
        )
        if before is None or before.admits(stamped):
            entries.append(stamped)
    return entries


def timeline_page(
    service: RecordService,
    entity: str,
    record_id: int,
    sources: Sequence[TimelineSource],
    *,
    secret: str,
    limit: int,
    cursor: str | None = None,
    kinds: set[str] | None = None,
    deleted: bool = False,
    builtin: frozenset[str] = frozenset(),
) -> Page:
    """One page of the record's timeline, newest first: ``{items: [entry JSON], next_cursor}``.

    Each source is asked for ``limit + 1`` entries older than the cursor, so the merger
    knows whether a further page exists; the page takes the newest ``limit`` of all.

    :raises NotFound: the record does not exist or is outside the actor's read scope.
    :raises PermissionDenied: the actor may not read records of ``entity``.
    :raises InvalidCursor: ``cursor`` is forged or belongs to another timeline or filter.
    """
    service.get(entity, record_id, deleted=deleted)  # the same 404/403 as reading the record
    model = service.model(entity)
    scope = "|".join(
        [
            "timeline",
            service.app.key,
            entity,
            str(record_id),
            ",".join(sorted(kinds or ())),
            str(service.actor.user_id),
        ]
    )
    before = _decode(secret, cursor, scope) if cursor else None
    merged: list[TimelineEntry] = []
    for source in sources:
        if kinds is not None and source.kind not in kinds:
            continue
        merged.extend(
            _ask(source, service, model, record_id, before, limit + 1, builtin=source.name in builtin)
        )
    merged.sort(key=TimelineEntry.sort_key, reverse=True)
    page = merged[:limit]
    next_cursor = _encode(secret, page[-1], scope) if len(merged) > limit else None
    return Page(items=[entry_json(e) for e in page], next_cursor=next_cursor)


def entry_json(entry: TimelineEntry) -> dict[str, Any]:
    """The API shape of an entry; ``id`` is stable across pages (source and key)."""
    return {
        "id": ":".join([entry.source, *(str(part) for part in entry.key)]),
        "at": as_utc(entry.at).isoformat().replace("+00:00", "Z"),
        "kind": entry.kind,
        "source": entry.source,
        "title": entry.title,
        "actor": entry.actor,
        "data": entry.data,
        "link": entry.link,
    }
