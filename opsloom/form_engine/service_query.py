"""RecordService's reads of many records: filter, search, sort and keyset pages in SQL; relation expansion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from opsloom.platform.errors import BadRequest
from opsloom.platform.hot_query import HotQuery, NotHot
from opsloom.platform.pagination import Page, SortKey, page_of, page_statements, paginate, parse_limit

from .model import sql_resolver
from .values import row_converter

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import ColumnElement, Select
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .fields.base import FieldContext
    from .model import EntityModel


class QueryMixin:
    """Part of ``RecordService`` (see ``service.py``); it relies on the service's other methods."""

    session: Session
    actor: Actor
    app: Any
    ctx: FieldContext
    now: datetime

    # ------------------------------------------------------------------ queries
    def query(
        self,
        entity: str,
        *,
        filter: Any = None,  # noqa: A002 - the API's parameter name
        sort: str | None = None,
        limit: Any = None,
        cursor: str | None = None,
        q: str | None = None,
        fields: list[str] | None = None,
        secret: str,
        deleted: bool = False,
        expand: list[str] | None = None,
    ) -> Page:
        """One page of records: ``filter`` (an expression) and ``q`` in SQL, keyset-paginated."""
        from opsloom.platform import expr

        model = self.model(entity)
        access = self.require(entity, "read")
        if deleted:
            self.require(entity, "delete")
        scope = [entity, str(model.version), "deleted" if deleted else "live", str(self.actor.user_id)]
        if filter is not None:
            hidden = sorted(
                {v.split(".", 1)[0] for v in _filter_vars(filter)} & {k for k in model.fields if not access.clear(k)}
            )
            if hidden:
                raise BadRequest(
                    f"The filter uses {', '.join(hidden)}, which your role cannot see in clear.",
                    errors={"filter": f"cannot filter on {', '.join(hidden)}"},
                )
            scope.append(expr.canonical_json(filter))
        if q:
            scope.append("q:" + q)
        keys = self._sort_keys(model, sort)
        scope.append(sort or "")
        unknown = [f for f in fields or [] if f not in model.fields]
        if unknown:
            raise BadRequest(f"Unknown field(s) in `fields`: {', '.join(unknown)}.",
                             errors={"fields": f"unknown: {', '.join(unknown)}"})
        listing = self._listing(model, filter=filter, q=q, deleted=deleted,
                                filter_key=scope[4] if filter is not None else None)
        size = parse_limit(limit)
        first = listing.first_page(self.session, keys, sort or "", size) if cursor is None else None
        if first is not None and fields is None and not any(f.table is not None for f in model.fields.values()):
            # the common first page: value rows from the driver, JSON from the compiled converter
            columns, values = first.fetch(self.session)
            page = page_of(values, keys, limit=size, secret=secret, scope="|".join(scope), columns=columns)
            convert, ctx = row_converter(model, columns), self.ctx
            items = [self.present(model, convert(r, ctx)) for r in page.items]
        else:
            if first is not None:
                page = page_of(first.dicts(self.session), keys, limit=size, secret=secret, scope="|".join(scope))
            else:
                page = paginate(self.session, listing.stmt, keys, secret=secret, limit=size, cursor=cursor,
                                scope="|".join(scope), scalars=False)
            rows = page.items
            self._load_tables(model, rows)
            items = [self.to_json(model, r, fields) for r in rows]
        if expand:
            self.expand(model, items, expand)
        return Page(items=items, next_cursor=page.next_cursor)

    def _listing(
        self,
        model: EntityModel,
        *,
        filter: Any,  # noqa: A002
        q: str | None,
        deleted: bool,
        filter_key: str | None,
    ) -> _Listing:
        """The list query before paging: deleted or live, the read scope, the filter and the search.

        Built once per model version, scope, filter and search while its SQL cannot change:
        a statement whose filter or scope read the clock (``now()``, ``today()``) is built
        again for every page.
        """
        from opsloom.platform import expr

        cache: dict[Any, Any] = model.statements.setdefault("pages", {})
        access = self.access(model.key)
        # the search reads only the fields the role sees in clear: its field rules shape the SQL too
        rules = tuple(sorted(access.fields.items())) if q else ()
        cache_key = (deleted, filter_key, q, self._scope_key(model, "read"), rules, self.ctx.timezone)
        listing = cache.get(cache_key)
        if listing is not None:
            return listing
        context = _ClockWatch({"_now": self.now, "tz": self.ctx.timezone})
        table = model.table
        stmt = select(table)
        stmt = stmt.where(table.c._deleted_at.is_not(None) if deleted else table.c._deleted_at.is_(None))
        visible = self._scope(model, "read", context)
        if visible is not None:
            stmt = stmt.where(visible)
        if filter is not None:
            try:
                stmt = stmt.where(expr.to_sql(filter, self.resolver(model), context=context))
            except expr.ExprError as exc:
                raise BadRequest(f"The filter is not valid: {exc.detail}",
                                 errors={f"filter{exc.path}" if exc.path else "filter": exc.detail}) from None
        if q:
            stmt = stmt.where(self._search(model, q))
        listing = _Listing(stmt, kept=not context.read_clock)
        if listing.kept:
            if len(cache) >= _PAGES_KEPT:
                cache.clear()
            cache[cache_key] = listing
        return listing

    def resolver(self, model: EntityModel) -> Any:
        return sql_resolver(model)

    def _search(self, model: EntityModel, q: str) -> ColumnElement[bool]:
        needle = q.strip().lower()
        if not needle or len(needle) > 200:
            raise BadRequest("`q` must be 1-200 characters.", errors={"q": "must be 1-200 characters"})
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        access = self.access(model.key)
        columns = [
            model.table.c[f.key]
            for f in model.column_fields()
            if f.type.searchable and f.key in model.table.c and access.clear(f.key)
        ]
        if not columns:
            raise BadRequest(f"{model.key} has no text fields to search.", errors={"q": "nothing searchable"})
        # lower(column) LIKE: the expression the trigram indexes made at publish serve on PostgreSQL
        return or_(*(func.lower(c).like(pattern, escape="\\") for c in columns))

    def _sort_keys(self, model: EntityModel, sort: str | None) -> list[SortKey]:
        table = model.table
        keys: list[SortKey] = []
        for part in [p.strip() for p in (sort or "-id").split(",") if p.strip()]:
            descending = part.startswith("-")
            name = part.lstrip("-+")
            if name == "id":
                keys.append(SortKey("id", table.c.id, descending))
                continue
            f = model.fields.get(name)
            system = name in ("_created_at", "_updated_at")
            if f is not None and not self.access(model.key).clear(name):
                raise BadRequest(f"Cannot sort by {name!r}: your role cannot see it in clear.",
                                 errors={"sort": f"{name!r} is hidden or masked for your role"})
            if not system and (f is None or not f.type.sortable or name not in table.c):
                raise BadRequest(f"Cannot sort by {name!r}.", errors={"sort": f"{name!r} is not a sortable field"})
            # field values may be empty (they come last); the system stamps never are
            keys.append(SortKey(name, table.c[name], descending, nullable=not system))
        if not keys or keys[-1].name != "id":
            keys.append(SortKey("id", table.c.id, bool(keys and keys[-1].descending)))
        return keys


    def expand(self, model: EntityModel, records: list[dict[str, Any]], keys: list[str]) -> None:
        """Replace relation ids by ``{"id", "title"}`` of the related records, as the actor may see them.

        A related record outside the actor's read scope (or of an entity they may not read)
        stays ``{"id": n}``: the id was visible already, the rest is not.
        """
        access = self.access(model.key)
        bad = [k for k in keys if k not in model.fields or model.fields[k].type.name != "relation"
               or not access.clear(k)]
        if bad:
            raise BadRequest(f"Cannot expand {', '.join(bad)}: only relation fields you can see may be expanded.",
                             errors={"expand": f"not expandable: {', '.join(bad)}"})
        for key in keys:
            target = self.model(model.fields[key].spec["target"])
            ids: set[int] = set()
            for record in records:
                value = record.get(key)
                ids.update(value if isinstance(value, list) else [value] if isinstance(value, int) else [])
            titles = self._titles(target, ids)
            for record in records:
                value = record.get(key)
                if isinstance(value, list):
                    record[key] = [titles.get(v, {"id": v}) for v in value]
                elif isinstance(value, int):
                    record[key] = titles.get(value, {"id": value})

    def _titles(self, model: EntityModel, ids: set[int]) -> dict[int, dict[str, Any]]:
        if not ids or not self.can(model.key, "read"):
            return {}
        table = model.table
        title = model.title_field if model.title_field in model.fields else None
        stmt = select(table).where(table.c.id.in_(sorted(ids)), table.c._deleted_at.is_(None))
        visible = self._scope(model, "read")
        if visible is not None:
            stmt = stmt.where(visible)
        found = {}
        for row in self.session.execute(stmt).mappings():
            shown = self.to_json(model, row)
            found[row["id"]] = {"id": row["id"], "title": shown.get(title) if title else None}
        return found




#: list statements kept per model version (filters, scopes and searches in use)
_PAGES_KEPT = 256


class _Listing:
    """A list statement and, once kept, its first pages as ``HotQuery``s by (dialect, sort, limit).

    The first page is what nearly every list request asks for; with its SQL fixed it runs
    on the driver's cursor. Pages after a cursor carry the cursor's values in their SQL
    and go through SQLAlchemy.
    """

    __slots__ = ("first_pages", "kept", "stmt")

    def __init__(self, stmt: Select[Any], *, kept: bool) -> None:
        self.stmt = stmt
        self.kept = kept
        self.first_pages: dict[tuple[str, str, int], _FirstPage | None] = {}

    def first_page(self, session: Session, keys: list[SortKey], sort: str, limit: int) -> _FirstPage | None:
        """The first page's queries (None: run it through SQLAlchemy: not kept, or an IN list)."""
        if not self.kept:
            return None
        dialect = session.get_bind().dialect
        key = (dialect.name, sort, limit)
        if key in self.first_pages:
            return self.first_pages[key]
        parts = [HotQuery(part) for part in page_statements(self.stmt, keys, dialect=dialect.name, limit=limit)]
        first: _FirstPage | None = _FirstPage(parts, limit)
        try:
            for part in parts:
                part.check(dialect)
        except NotHot:
            first = None
        if len(self.first_pages) >= _PAGES_KEPT:
            self.first_pages.clear()
        self.first_pages[key] = first
        return first


class _FirstPage:
    """The ``HotQuery``s of a first page (see ``page_statements``), run in turn until the page is full."""

    __slots__ = ("limit", "parts")

    def __init__(self, parts: list[HotQuery], limit: int) -> None:
        self.parts = parts
        self.limit = limit

    def fetch(self, session: Session) -> tuple[tuple[str, ...], list[Any]]:
        """The columns and up to ``limit + 1`` value rows."""
        columns: tuple[str, ...] = ()
        rows: list[Any] = []
        for part in self.parts:
            columns, got = part.fetch(session)
            rows += got
            if len(rows) > self.limit:
                break
        return columns, rows

    def dicts(self, session: Session) -> list[dict[str, Any]]:
        columns, rows = self.fetch(session)
        return [dict(zip(columns, row, strict=True)) for row in rows]


class _ClockWatch(dict):  # type: ignore[type-arg]
    """An expression context that notes whether the expression read the clock (``_now``)."""

    read_clock = False

    def get(self, key: str, default: Any = None) -> Any:
        if key == "_now":
            self.read_clock = True
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key == "_now":
            self.read_clock = True
        return super().__getitem__(key)


def _filter_vars(expression: Any) -> set[str]:
    from opsloom.platform import expr

    try:
        return set(expr.free_vars(expression))
    except expr.ExprError:
        return set()  # to_sql reports the malformed expression itself
