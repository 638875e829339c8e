"""Reference cells of an import given as names: users, departments and related records found by what people type.

A cell of a ``user``, ``department`` or ``relation`` column may hold an id (what exports
write) or what a person would type instead:

- ``user``: the id, the username (any case) or the display name (any case) of an active
  member of the workspace;
- ``department``: the id, the key, the name (any case) or a path of names from any
  ancestor down (``Sales/East``) of a department of the workspace;
- ``relation``: the id of a live record of the target entity, or the value of one of its
  unique fields (read by that field's text rules: ``138 1234 5678`` finds ``13812345678``)
  or of its ``title_field``, among the live records the importing actor may read. Only
  fields the actor sees in clear (not hidden, not masked) are match keys, so a file cannot
  probe values the role may not see. Many relations take several values separated by
  ``;`` (when the cell has one) or else by commas.

Matching goes by tiers: identifiers first (id, username, department key, unique values),
then names (display name, department name, then path, title). The first tier that finds
anything decides; it must find exactly one thing, otherwise the cell is ambiguous and the
row fails with the number of matches and what to give instead. Nothing else about the
matched records is ever put in a message: the error echoes the text the user typed.

Ids keep their old meaning and cost: an id is checked for existence only (as the record
service does for JSON input), a name only finds records inside the read scope.

``RefResolver.prepare`` collects the distinct texts of one batch and resolves those not
seen yet with one query per kind of reference (all user columns share one, each target
entity one, departments one per run), so the number of queries does not grow with the
rows. ``converters`` then gives ``imports.convert_row`` a function per reference column.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select

from opsloom.platform.models import Department, Membership, User

from .fields.base import FieldValueError
from .fields.refs import MAX_ID, DepartmentType, RelationType, UserType
from .fields.text import cell_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from .fields.base import FieldContext
    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["RESOLVED_SHOWN", "Match", "RefResolver", "split_many"]

#: resolutions kept per field for a run's report (the preview shows its rows' own)
RESOLVED_SHOWN = 100
#: texts per query: keeps the bound parameters far below every database's limit
_CHUNK = 2000
_SEMICOLONS = re.compile(r"[;\uff1b]")
_COMMAS = re.compile(r"[,\uff0c]")


@dataclass(frozen=True, slots=True)
class Match:
    """What one text names: an id and the key it was found by, or the reason there is none."""

    ident: int | None = None
    by: str = ""
    error: str | None = None


def _id_of(text: str) -> int | None:
    if text.isascii() and text.isdigit():
        ident = int(text)
        if 0 < ident <= MAX_ID:
            return ident
    return None


def _named(ident: int | None) -> str:
    return "named" if ident is None else "with the id or name"


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _ascii_lower(text: str) -> str:
    """What SQLite's ``lower()`` makes of ``text``: only ASCII letters change."""
    return "".join(c.lower() if c.isascii() else c for c in text)


def split_many(text: str) -> list[str]:
    """The values of a many-relation cell: split at ``;`` when there is one (names may hold commas), else at commas.

    Full-width separators (typed by Chinese input methods) count too.
    """
    pattern = _SEMICOLONS if _SEMICOLONS.search(text) else _COMMAS
    return [part.strip() for part in pattern.split(text) if part.strip()]


def _decide(tiers: Iterable[Mapping[int, str]], ambiguous: Callable[[int], str]) -> Match | None:
    """The first non-empty tier of candidates (id -> how found) decides; None when every tier is empty."""
    for tier in tiers:
        if len(tier) == 1:
            (ident, by), = tier.items()
            return Match(ident, by)
        if tier:
            return Match(error=ambiguous(len(tier)))
    return None


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# ---------------------------------------------------------------- sources: one per kind of reference


class _Users:
    """Active members of the workspace, by id, username or display name."""

    noun = "user"

    def __init__(self, records: RecordService) -> None:
        self.records = records

    def find(self, texts: list[str]) -> dict[str, Match]:
        found: dict[str, Match] = {}
        for part in _chunks(texts):
            ids = {i for i in map(_id_of, part) if i is not None}
            spaced = {b for t in part for b in (t, " ".join(t.split()))}
            variants = {v for b in spaced for v in (b, b.lower(), _ascii_lower(b))}
            stmt = (
                select(User.id, User.username, User.display_name)
                .join(Membership, Membership.user_id == User.id)
                .where(
                    Membership.workspace_id == self.records.app.workspace_id,
                    Membership.is_active.is_(True),
                    or_(
                        User.id.in_(ids),
                        func.lower(User.username).in_(variants),
                        func.lower(User.display_name).in_(variants),
                    ),
                )
            )
            rows = self.records.session.execute(stmt).all()
            for text in part:
                found[text] = self._match(text, rows)
        return found

    @staticmethod
    def _match(text: str, rows: list[Any]) -> Match:
        ident, folded = _id_of(text), _fold(text)
        first = {r.id: "id" for r in rows if r.id == ident}
        first.update({r.id: "username" for r in rows if _fold(r.username) == folded and r.id not in first})
        second = {r.id: "display_name" for r in rows if _fold(r.display_name or "") == folded}
        return _decide(
            [first, second],
            lambda n: f"'{text}' matches {n} users in this workspace; use the user's id or username instead",
        ) or Match(error=f"no user {_named(ident)} '{text}' in this workspace")


class _Departments:
    """Departments of the workspace, by id, key, name or path; the tree is read once per run (it is small)."""

    noun = "department"

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self._tree: dict[int, tuple[str, str, int | None]] | None = None

    def tree(self) -> dict[int, tuple[str, str, int | None]]:
        if self._tree is None:
            stmt = select(Department.id, Department.key, Department.name, Department.parent_id).where(
                Department.workspace_id == self.records.app.workspace_id
            )
            self._tree = {r.id: (r.key, r.name, r.parent_id) for r in self.records.session.execute(stmt)}
        return self._tree

    def find(self, texts: list[str]) -> dict[str, Match]:
        return {text: self._match(text) for text in texts}

    def _match(self, text: str) -> Match:
        tree, ident, folded = self.tree(), _id_of(text), _fold(text)
        first = {d: "id" for d in tree if d == ident}
        first.update({d: "key" for d, (key, _n, _p) in tree.items() if _fold(key) == folded and d not in first})
        names = {d: "name" for d, (_k, name, _p) in tree.items() if _fold(name) == folded}
        segments = [_fold(s) for s in text.split("/") if s.strip()]
        paths = {d: "path" for d in tree if len(segments) > 1 and self._ends_with(d, segments)}
        return _decide(
            [first, names, paths],
            lambda n: (
                f"'{text}' matches {n} departments; use the department's id, key or path "
                "(parent names and its own, separated by '/') instead"
            ),
        ) or Match(error=f"no department {_named(ident)} '{text}' in this workspace")

    def _ends_with(self, dept: int | None, segments: list[str]) -> bool:
        """Whether the names from ``dept`` up through its parents are ``segments`` read backwards."""
        tree = self.tree()
        seen: set[int] = set()
        for segment in reversed(segments):
            if dept is None or dept not in tree or dept in seen:
                return False
            seen.add(dept)
            _key, name, parent = tree[dept]
            if _fold(name) != segment:
                return False
            dept = parent
        return True


class _Records:
    """Live records of one target entity: by id (existence only), by a unique value or the title (read scope)."""

    def __init__(self, records: RecordService, target: str) -> None:
        self.records = records
        self.noun = target
        self.model: EntityModel = records.model(target)
        access = records.access(target)
        self.readable = access.can("read")
        table = self.model.table

        def usable(f: RuntimeField | None) -> bool:
            return (
                f is not None and self.readable and f.storage == "column" and f.key in table.c and access.clear(f.key)
            )

        self.unique = [f for f in self.model.fields.values() if f.spec.get("unique") and usable(f)]
        title = self.model.fields.get(self.model.title_field or "")
        self.title = title if usable(title) and title not in self.unique else None
        # a value is read by the key field's own rules, without the existence lookups of ``coerce``
        self.ctx: FieldContext = dataclasses.replace(records.ctx, lookup=None)

    @property
    def keys(self) -> list[RuntimeField]:
        return [*self.unique, *([self.title] if self.title is not None else [])]

    def _value(self, f: RuntimeField, text: str) -> Any:
        try:
            value = f.type.coerce(f.type.parse_text(text, f.spec, self.ctx), f.spec, self.ctx)
        except (FieldValueError, TypeError, ValueError):
            return None
        return None if isinstance(value, (list, dict)) else value  # only scalar values compare in SQL

    def find(self, texts: list[str]) -> dict[str, Match]:
        found: dict[str, Match] = {}
        for part in _chunks(texts):
            found.update(self._find(part))
        return found

    def _find(self, texts: list[str]) -> dict[str, Match]:
        table = self.model.table
        ids = {i for i in map(_id_of, texts) if i is not None}
        wanted = {f.key: {t: v for t in texts if (v := self._value(f, t)) is not None} for f in self.keys}
        by_name = [table.c[key].in_(set(values.values())) for key, values in wanted.items() if values]
        scope = self.records.scope_condition(self.noun, "read") if by_name else None
        conditions = []
        if ids:
            conditions.append(table.c.id.in_(ids))
        if by_name:
            conditions.append(or_(*by_name) if scope is None else and_(scope, or_(*by_name)))
        rows: list[Any] = []
        if conditions:
            # an id is found whatever the scope (as JSON input); only rows in scope may match a name
            in_scope = case((scope, 1), else_=0) if scope is not None else None
            columns = [table.c.id, *(table.c[key] for key in wanted)]
            if in_scope is not None:
                columns.append(in_scope.label("_in_scope"))
            stmt = select(*columns).where(table.c._deleted_at.is_(None), or_(*conditions))
            rows = list(self.records.session.execute(stmt).mappings())
        visible = [r for r in rows if scope is None or r["_in_scope"]]
        return {text: self._match(text, rows, visible, wanted) for text in texts}

    def _match(
        self, text: str, rows: list[Any], visible: list[Any], wanted: Mapping[str, Mapping[str, Any]]
    ) -> Match:
        ident = _id_of(text)
        first = {r["id"]: "id" for r in rows if r["id"] == ident}
        for f in self.unique:
            value = wanted[f.key].get(text)
            if value is not None:
                first.update({r["id"]: f.key for r in visible if r[f.key] == value and r["id"] not in first})
        second: dict[int, str] = {}
        if self.title is not None and (value := wanted[self.title.key].get(text)) is not None:
            second = {r["id"]: self.title.key for r in visible if r[self.title.key] == value}
        unique = ", ".join(f.key for f in self.unique)
        instead = f"the id or a unique value ({unique})" if unique else "the id"
        match = _decide(
            [first, second], lambda n: f"'{text}' matches {n} {self.noun} records; use {instead} instead"
        )
        if match is not None:
            return match
        if not self.readable and ident is None:
            return Match(
                error=f"your role may not read {self.noun} records, so '{text}' cannot be looked up; "
                f"give the {self.noun} id"
            )
        how = ", ".join(["id", *(f.key for f in self.keys)])
        return Match(error=f"no {self.noun} '{text}' among the records you can read (looked up by {how})")


# ---------------------------------------------------------------- the resolver of one run


class RefResolver:
    """Reference columns of one import run: texts -> ids, resolved batch by batch and remembered for the run."""

    def __init__(self, records: RecordService, model: EntityModel, mapping: Mapping[str, str | None]) -> None:
        self.records = records
        self._sources: dict[str, Any] = {}
        #: mapped field key -> (field, source name)
        self.fields: dict[str, tuple[RuntimeField, str]] = {}
        for key in dict.fromkeys(k for k in mapping.values() if k):
            f = model.fields[key]
            if isinstance(f.type, UserType):
                name = "user"
            elif isinstance(f.type, DepartmentType):
                name = "department"
            elif isinstance(f.type, RelationType) and f.spec.get("target"):
                name = f"record:{f.spec['target']}"
            else:
                continue
            self.fields[key] = (f, name)
        self._columns = {key: column for column, key in mapping.items() if key in self.fields}
        #: a relation to the entity being imported may name a record an earlier batch created (see ``_stale``)
        self._self_source = f"record:{model.key}"
        self._cache: dict[str, dict[str, Match]] = {}
        #: field key -> the names resolved so far (text, id, how), at most ``RESOLVED_SHOWN`` per field
        self.resolved: dict[str, list[dict[str, Any]]] = {}

    def _source(self, name: str) -> Any:
        source = self._sources.get(name)
        if source is None:
            if name == "user":
                source = _Users(self.records)
            elif name == "department":
                source = _Departments(self.records)
            else:
                source = _Records(self.records, name.split(":", 1)[1])
            self._sources[name] = source
        return source

    def texts(self, key: str, cell: Any) -> list[str]:
        """The values one cell gives a reference field (empty for a blank cell)."""
        f, _name = self.fields[key]
        text = cell_text(cell).strip()
        if not text:
            return []
        if isinstance(f.type, RelationType):
            if f.type.is_many(f.spec):
                return split_many(text)
            parts = split_many(text)
            if len(parts) > 1 and all(_id_of(p) is not None for p in parts):
                return []  # several ids in a one relation: the type's own message says so
        return [text]

    def prepare(self, rows: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """Resolve the texts of ``rows`` not seen yet in this run: one query per source that has any."""
        if not self.fields:
            return
        wanted: dict[str, set[str]] = {}
        for _number, cells in rows:
            for key, column in self._columns.items():
                name = self.fields[key][1]
                cache = self._cache.get(name, {})
                wanted.setdefault(name, set()).update(
                    t for t in self.texts(key, cells.get(column)) if self._stale(name, cache.get(t))
                )
        for name, texts in wanted.items():
            if texts:
                self._cache.setdefault(name, {}).update(self._source(name).find(sorted(texts)))

    def _stale(self, name: str, match: Match | None) -> bool:
        """Whether to look a text up (again): never seen, or a miss of a relation to the imported entity itself
        (an earlier batch may have created the record since)."""
        return match is None or (match.error is not None and name == self._self_source)

    def warm(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Ask ``ctx.lookup`` once per kind of reference about every id in the converted ``rows``.

        The record service checks each row's references while it validates the row; it
        remembers the ids it found, so asking for the whole batch first turns a query per
        row into one per batch.
        """
        lookup = self.records.ctx.lookup
        if lookup is None or not self.fields:
            return
        wanted: dict[tuple[str, str | None], set[int]] = {}
        for values in rows:
            for key, (f, _name) in self.fields.items():
                value = values.get(key)
                ids = value if isinstance(value, list) else [value]
                found = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
                if found:
                    wanted.setdefault((f.type.kind, f.type.lookup_target(f.spec)), set()).update(found)
        for (kind, target), ids in wanted.items():
            lookup(kind, target, ids)

    def converters(self) -> dict[str, Callable[[Any], Any]]:
        """Field key -> the cell's value (an id, or a list of ids), for ``convert_row``; call after ``prepare``."""
        return {key: self._converter(key) for key in self.fields}

    def _converter(self, key: str) -> Callable[[Any], Any]:
        f, name = self.fields[key]
        many = isinstance(f.type, RelationType) and f.type.is_many(f.spec)

        def convert(cell: Any) -> Any:
            texts = self.texts(key, cell)
            if not texts:
                return f.type.parse_text(cell_text(cell), f.spec, self.records.ctx)
            ids: list[int] = []
            errors: list[str] = []
            for text in texts:
                match = self._cache.get(name, {}).get(text)
                if match is None:  # not prepared (a caller skipped ``prepare``): look it up alone
                    match = self._source(name).find([text])[text]
                    self._cache.setdefault(name, {})[text] = match
                if match.error is not None:
                    errors.append(match.error)
                    continue
                assert match.ident is not None
                if match.ident not in ids:
                    ids.append(match.ident)
                self._remember(key, name, text, match)
            if errors:
                raise FieldValueError("; ".join(errors))
            return ids if many else ids[0]

        return convert

    def _remember(self, key: str, name: str, text: str, match: Match) -> None:
        if match.by == "id":
            return
        shown = self.resolved.setdefault(key, [])
        if len(shown) < RESOLVED_SHOWN and not any(item["text"] == text for item in shown):
            shown.append({"text": text, "id": match.ident, "by": match.by, "target": name.split(":")[-1]})

    def explain(self, key: str, cell: Any) -> list[dict[str, Any]]:
        """How one cell's names resolved (ids typed as ids are left out), for the preview."""
        _f, name = self.fields[key]
        out = []
        for text in self.texts(key, cell):
            match = self._cache.get(name, {}).get(text)
            if match is not None and match.error is None and match.by != "id":
                out.append({"text": text, "id": match.ident, "by": match.by, "target": name.split(":")[-1]})
        return out
