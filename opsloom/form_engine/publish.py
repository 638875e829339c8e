"""Publishing an entity: create or alter its tables so they match the new version, in the publishing transaction.

The diff is by field id against the layout recorded in ``entity_tables`` (what exists),
not against the previous body alone. Steps, in an order that never collides on a name:

1. drop the indexes the new version no longer wants;
2. tombstone the columns of removed fields (renamed ``_x<version>_<key>``: data kept);
3. rename the columns of renamed fields (through temporary names, so swaps work);
4. widen columns in place; convert narrowing or type-changing fields (needs ``force``):
   the old column is tombstoned, a new one is added and every value converted with the
   new type, values that do not fit are left empty and reported by record id;
5. add the columns, child tables and link tables of new fields;
6. create the wanted indexes (a unique one only after checking for duplicates).

PostgreSQL and SQLite both run DDL inside the transaction, so a failure anywhere rolls
the whole publish back: the old version keeps serving from an unchanged table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, and_, bindparam, column, func, inspect, select, table, update

from opsloom.platform.definitions.service import definition_lookup
from opsloom.platform.errors import Conflict, ValidationError

from .fields.base import FieldContext, FieldValueError
from .model import build_model
from .models import EntityTable
from .registry import invalidate_models

if TYPE_CHECKING:
    from sqlalchemy import Connection, Index, Table

    from opsloom.platform.definitions.kinds import PublishContext

    from .model import EntityModel, RuntimeField

__all__ = ["publish_entity", "tombstone_name"]

_BATCH = 1000


def tombstone_name(key: str, version: int) -> str:
    return f"_x{version}_{key}"


def _types(context: PublishContext) -> dict[str, Any]:
    return dict(context.registries.field_types.items())


def publish_entity(context: PublishContext) -> None:
    """The entity kind's publish hook."""
    session = context.session
    app = context.app
    definition = context.definition
    key = definition.key
    types = _types(context)
    lookup = definition_lookup(session, app)
    row = session.scalar(
        select(EntityTable).where(EntityTable.app_id == app.id, EntityTable.entity_key == key).with_for_update()
    )
    conn = session.connection()
    recompute: set[str] = set()
    if row is None:
        row = EntityTable(
            workspace_id=app.workspace_id,
            app_id=app.id,
            entity_key=key,
            table_name=f"pending_{key}",
            version=definition.version,
            layout={},
            created_at=context.now,
            updated_at=context.now,
        )
        session.add(row)
        session.flush()
        row.table_name = f"e{row.id}_{key}"
        model = _model(app, definition.body, definition.version, row, types, lookup)
        model.table.metadata.create_all(conn)
        context.report.append(f"created table {row.table_name} with {len(model.column_fields())} field columns")
    else:
        assert context.previous is not None, "an entity table exists only for a published entity"
        old = _model(app, context.previous.body, context.previous.version, row, types, lookup)
        model = _model(app, definition.body, definition.version, row, types, lookup)
        migration = _Migration(conn, old, model, context)
        migration.run()
        recompute = migration.recompute
    _trigram_indexes(conn, model, context.report)
    row.version = definition.version
    row.layout = _layout(model)
    row.updated_at = context.now
    session.flush()
    invalidate_models(app.id, key)
    if context.previous is not None:
        changed = _changed_computed(context.previous.body, definition.body) | recompute
        if changed:
            from .backfill import backfill_computed
            from .service import RecordService

            service = RecordService(session, context.actor, app, types=types, now=context.now)
            context.report.extend(backfill_computed(service, service.model(key), changed))


def _trigram_indexes(conn: Connection, model: EntityModel, report: list[str]) -> None:
    """On PostgreSQL, a trigram GIN index on ``lower(column)`` per searchable text column, for ``q``.

    The index is on the expression, not the column: ``gin_trgm_ops`` also answers ``=``,
    and on a bare column the planner would pick it for equality lookups (the unique-key
    check of a bulk write took seconds per 500 keys instead of the btree's milliseconds).
    ``q`` searches with ``lower(column) LIKE``, which only this index serves.

    Named ``e<id>tl_<key>`` (outside the ``e<id>_`` names the migration manages); the
    column indexes of earlier versions (``e<id>tg_<key>``) are dropped. Needs the
    ``pg_trgm`` extension: created when the database allows it, else search falls back to
    scanning, and the report says so. SQLite searches with LIKE.
    """
    if conn.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    where = text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    schema = conn.execute(where).scalar()
    if schema is None:
        savepoint = conn.begin_nested()
        try:
            # in public: a schema of its own per tenant or test run would take the operators with it
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
            savepoint.commit()
        except Exception:  # no privilege, not installed, or created at this moment by another publish
            savepoint.rollback()
        schema = conn.execute(where).scalar()
        if schema is None:
            report.append("text search has no trigram index: the pg_trgm extension is not available")
            return
    table_id = model.table.name.split("_", 1)[0]
    prefix, legacy = table_id + "tl_", table_id + "tg_"
    wanted = {
        f"{prefix}{f.key}": f.key
        for f in model.column_fields()
        if f.type.searchable and f.key in model.table.c
    }
    names = {i["name"] or "" for i in inspect(conn).get_indexes(model.table.name)}
    existing = {name for name in names if name.startswith(prefix)}
    for name in sorted(existing - set(wanted) | {name for name in names if name.startswith(legacy)}):
        conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    for name, key in sorted(wanted.items()):
        if name not in existing:
            conn.execute(text(f'CREATE INDEX "{name}" ON "{model.table.name}" USING gin (lower("{key}") "{schema}".gin_trgm_ops)'))
            report.append(f"added a trigram search index on {key!r}")


_COSMETIC = frozenset({"label", "help", "placeholder", "width"})


def _changed_computed(old_body: Any, new_body: Any) -> set[str]:
    """Keys of computed fields that are new, or whose definition changed beyond labels."""
    computed = {"formula", "rollup", "lookup", "auto_number"}
    old = {f.get("id"): f for f in old_body.get("fields", [])}
    changed = set()
    for f in new_body.get("fields", []):
        if f.get("type") not in computed:
            continue
        before = old.get(f.get("id"))
        strip = lambda d: {k: v for k, v in d.items() if k not in _COSMETIC and k != "key"}  # noqa: E731
        if before is None or before.get("type") != f.get("type") or strip(before) != strip(f):
            changed.add(f["key"])
    return changed


def _model(app: Any, body: Any, version: int, row: EntityTable, types: Any, lookup: Any) -> EntityModel:
    return build_model(
        app_id=app.id,
        app_key=app.key,
        body=body,
        version=version,
        entity_table_id=row.id,
        table_name=row.table_name,
        types=types,
        lookup=lookup,
    )


def _layout(model: EntityModel) -> dict[str, Any]:
    return {
        "columns": {f.id: f.key for f in model.fields.values() if f.storage == "column"},
        "tables": {f.id: f.table.name for f in model.fields.values() if f.table is not None},
        "indexes": sorted(index.name for index in model.table.indexes if index.name),
    }


def _column_sql(col: Column[Any] | None, conn: Connection) -> str | None:
    return None if col is None else str(col.type.compile(dialect=conn.dialect))


class _Migration:
    """One publish's DDL and data moves from ``old`` to ``new`` (same physical table)."""

    def __init__(self, conn: Connection, old: EntityModel, new: EntityModel, context: PublishContext) -> None:
        self.conn = conn
        self.old = old
        self.new = new
        self.context = context
        self.op = Operations(MigrationContext.configure(conn))
        self.force = bool(context.options.get("force"))
        self.report = context.report
        self.version = new.version
        self.sqlite = conn.dialect.name == "sqlite"
        #: computed fields whose column was re-created and must be filled again
        self.recompute: set[str] = set()

    # ------------------------------------------------------------------ plan
    def run(self) -> None:
        old_by_id = {f.id: f for f in self.old.fields.values()}
        new_by_id = {f.id: f for f in self.new.fields.values()}
        self._refuse_storage_changes(old_by_id, new_by_id)
        conversions = self._conversions(old_by_id, new_by_id)
        self._drop_indexes(self.old.table, self.new.table)
        self._tombstone_removed(old_by_id, new_by_id)
        self._rename(old_by_id, new_by_id)
        for old_field, new_field in conversions:
            self._convert(self.new.table.name, old_field, new_field)
        self._widen(old_by_id, new_by_id, {n.id for _o, n in conversions})
        self._add_new(old_by_id, new_by_id)
        self._subtables(old_by_id, new_by_id)
        self._create_indexes(self.new.table)

    def _pointer(self, field_id: str) -> str:
        for i, raw in enumerate(self.new.body["fields"]):
            if raw.get("id") == field_id:
                return f"/fields/{i}"
        return "/fields"

    def _refuse_storage_changes(self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField]) -> None:
        errors = {
            self._pointer(fid): (
                f"{new.key!r} cannot change from {old.storage.replace('_', ' ')} storage to "
                f"{new.storage.replace('_', ' ')} storage ({old.type.name} to {new.type.name}); "
                "add a new field instead and remove this one"
            )
            for fid, new in new_by_id.items()
            if (old := old_by_id.get(fid)) is not None and old.storage != new.storage
        }
        if errors:
            raise ValidationError("This change needs a new field.", errors=errors)

    def _conversions(
        self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField]
    ) -> list[tuple[RuntimeField, RuntimeField]]:
        """Kept column fields whose values must be converted; refused without ``force``."""
        moves: list[tuple[RuntimeField, RuntimeField]] = []
        refused: dict[str, str] = {}
        for fid, new in new_by_id.items():
            old = old_by_id.get(fid)
            if old is None or new.storage != "column":
                continue
            if new.computed or old.computed:
                if old.type is not new.type or _column_sql(self.old.table.c.get(old.key), self.conn) != _column_sql(
                    self.new.table.c.get(new.key), self.conn
                ):
                    moves.append((old, new))
                continue
            if old.type is new.type:
                change = new.type.type_change(old.spec, new.spec)
                if change != "narrow":
                    continue
                why = f"narrowing {new.key!r} ({new.type.name}) may not fit every stored value"
            else:
                why = f"changing {new.key!r} from {old.type.name} to {new.type.name} converts every stored value"
            moves.append((old, new))
            if not self.force:
                refused[self._pointer(fid)] = why
        if refused:
            raise ValidationError(
                "This publish changes stored data; publish again with force to convert the values "
                "(the old values are kept in a tombstoned column).",
                errors=refused,
                needs_force=True,
            )
        return moves

    # ------------------------------------------------------------------ steps
    def _existing_indexes(self, table_name: str) -> set[str]:
        prefix = table_name.split("_", 1)[0] + "_"
        return {
            index["name"]
            for index in inspect(self.conn).get_indexes(table_name)
            if index["name"] and index["name"].startswith(prefix)
        }

    def _drop_indexes(self, old_table: Table, new_table: Table) -> None:
        wanted = {index.name for index in new_table.indexes}
        for name in sorted(self._existing_indexes(old_table.name) - wanted):
            self.op.drop_index(name, table_name=old_table.name)

    def _tombstone_removed(self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField]) -> None:
        for fid, old in old_by_id.items():
            if fid in new_by_id:
                continue
            if old.storage == "column" and old.key in self.old.table.c:
                self.op.alter_column(self.new.table.name, old.key, new_column_name=tombstone_name(old.key, self.version))
                self.report.append(
                    f"removed field {old.key!r}: its column was kept as {tombstone_name(old.key, self.version)}"
                )
            else:
                self.report.append(f"removed field {old.key!r}: its rows were kept in {old.table.name}")

    def _rename(self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField]) -> None:
        renames = [
            (old, new_by_id[fid])
            for fid, old in old_by_id.items()
            if fid in new_by_id and old.key != new_by_id[fid].key and old.storage == "column"
            and old.key in self.old.table.c
        ]
        for old, _new in renames:
            self.op.alter_column(self.new.table.name, old.key, new_column_name=f"_r_{old.id}")
        for old, new in renames:
            self.op.alter_column(self.new.table.name, f"_r_{old.id}", new_column_name=new.key)
            self.report.append(f"renamed field {old.key!r} to {new.key!r} (data kept)")
        for fid, old in old_by_id.items():
            new = new_by_id.get(fid)
            if new is not None and old.key != new.key and old.storage != "column":
                self.report.append(f"renamed field {old.key!r} to {new.key!r} (data kept)")

    def _widen(
        self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField], converted: set[str]
    ) -> None:
        for fid, new in new_by_id.items():
            old = old_by_id.get(fid)
            if old is None or fid in converted or new.storage != "column" or old.type is not new.type:
                continue
            if new.type.type_change(old.spec, new.spec) != "widen":
                continue
            new_col = self.new.table.c[new.key]
            # SQLite stores by type affinity: a longer VARCHAR or more decimals needs no DDL there
            if not self.sqlite:
                self.op.alter_column(self.new.table.name, new.key, type_=new_col.type, existing_nullable=True)
            self.report.append(f"widened {new.key!r} to {_column_sql(new_col, self.conn)}")

    def _convert(self, table_name: str, old: RuntimeField, new: RuntimeField) -> None:
        """Tombstone the old column, add the new one, and carry every value over with the new type."""
        kept = tombstone_name(old.key, self.version)
        self.op.alter_column(table_name, new.key, new_column_name=kept)
        new_col = self.new.table.c[new.key]
        self.op.add_column(table_name, Column(new.key, new_col.type, nullable=True))
        if new.computed:
            self.recompute.add(new.key)
            self.report.append(f"re-created column {new.key!r} ({new.type.name}); the old one is kept as {kept}")
            return
        source = table(table_name, column("id"), column(kept, self.old.table.c[old.key].type))
        target = table(table_name, column("id"), column(new.key, new_col.type))
        ctx = FieldContext(timezone=self.context.actor.timezone, now=self.context.now, types=_ctx_types(self.context))
        converted = failed = 0
        failures: list[int] = []
        last = 0
        while True:
            rows = self.conn.execute(
                select(source.c.id, source.c[kept])
                .where(and_(source.c.id > last, source.c[kept].is_not(None)))
                .order_by(source.c.id)
                .limit(_BATCH)
            ).all()
            if not rows:
                break
            last = rows[-1][0]
            updates = []
            for record_id, value in rows:
                try:
                    updates.append({"_id": record_id, "_v": _convert_value(old, new, value, ctx)})
                    converted += 1
                except FieldValueError:
                    failed += 1
                    if len(failures) < 10:
                        failures.append(record_id)
            if updates:
                self.conn.execute(
                    update(target).where(target.c.id == bindparam("_id")).values({new.key: bindparam("_v")}), updates
                )
        line = f"converted {converted} values of {new.key!r} to {new.type.name}; the old column is kept as {kept}"
        if failed:
            line += f"; {failed} did not fit and were left empty (records {', '.join(map(str, failures))}"
            line += ", …)" if failed > len(failures) else ")"
        self.report.append(line)

    def _add_new(self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField]) -> None:
        for fid, new in new_by_id.items():
            if fid in old_by_id:
                continue
            if new.storage == "column":
                col = self.new.table.c.get(new.key)
                if col is not None:
                    self.op.add_column(self.new.table.name, Column(new.key, col.type, nullable=True))
                    self.report.append(f"added column {new.key!r} ({_column_sql(col, self.conn)})")
            elif new.table is not None:
                new.table.create(self.conn, checkfirst=True)
                self.report.append(f"added table {new.table.name} for {new.key!r}")

    def _subtables(self, old_by_id: dict[str, RuntimeField], new_by_id: dict[str, RuntimeField]) -> None:
        """Sub-fields are matched by key: add columns for new ones, tombstone removed ones, convert changed ones."""
        for fid, new in new_by_id.items():
            old = old_by_id.get(fid)
            if old is None or new.storage != "child_table" or old.table is None or new.table is None:
                continue
            old_subs = {s["key"]: s for s in old.spec.get("fields", [])}
            new_subs = {s["key"]: s for s in new.spec.get("fields", [])}
            name = new.table.name
            for key in old_subs.keys() - new_subs.keys():
                if key in old.table.c:
                    self.op.alter_column(name, key, new_column_name=tombstone_name(key, self.version))
                    self.report.append(f"removed {new.key}.{key}: its column was kept")
            for key in new_subs.keys() - old_subs.keys():
                col = new.table.c.get(key)
                if col is not None:
                    self.op.add_column(name, Column(key, col.type, nullable=True))
                    self.report.append(f"added column {new.key}.{key}")
            for key in new_subs.keys() & old_subs.keys():
                old_sql = _column_sql(old.table.c.get(key), self.conn)
                new_sql = _column_sql(new.table.c.get(key), self.conn)
                if old_sql != new_sql:
                    if not self.force:
                        raise ValidationError(
                            "This publish changes stored data; publish again with force.",
                            errors={self._pointer(fid): f"changing {new.key}.{key} converts stored values"},
                            needs_force=True,
                        )
                    self._convert_sub(name, old.sub_fields[key], new.sub_fields[key], old.table, new.table)

    def _convert_sub(self, name: str, old: RuntimeField, new: RuntimeField, old_table: Table, new_table: Table) -> None:
        saved = (self.old.table, self.new.table)
        self.old.table, self.new.table = old_table, new_table
        try:
            self._convert(name, old, new)
        finally:
            self.old.table, self.new.table = saved

    def _create_indexes(self, new_table: Table) -> None:
        existing = self._existing_indexes(new_table.name)
        for index in sorted(new_table.indexes, key=lambda i: i.name or ""):
            if index.name in existing:
                continue
            if index.unique:
                self._refuse_duplicates(new_table, index)
            index.create(self.conn)
            columns = ", ".join(c.name for c in index.columns)
            self.report.append(f"added {'unique key' if index.unique else 'index'} on ({columns})")

    def _refuse_duplicates(self, new_table: Table, index: Index) -> None:
        cols = list(index.columns)
        query = (
            select(*cols, func.count().label("n"))
            .where(new_table.c._deleted_at.is_(None), *(c.is_not(None) for c in cols))
            .group_by(*cols)
            .having(func.count() > 1)
            .limit(1)
        )
        duplicate = self.conn.execute(query).first()
        if duplicate is not None:
            names = ", ".join(c.name for c in cols)
            values = ", ".join(repr(v) for v in duplicate[:-1])
            raise Conflict(
                f"Cannot make ({names}) unique: {duplicate[-1]} live records share ({values}). "
                "Merge or change them first; nothing was published.",
                fields=[c.name for c in cols],
            )


def _ctx_types(context: PublishContext) -> dict[str, Any]:
    return dict(context.registries.field_types.items())


def _convert_value(old: RuntimeField, new: RuntimeField, value: Any, ctx: FieldContext) -> Any:
    """A stored value of ``old`` as a stored value of ``new``: through JSON first, then through text."""
    as_json = old.type.to_json(value, old.spec, ctx)
    try:
        return new.type.coerce(as_json, new.spec, ctx)
    except FieldValueError:
        text = old.type.to_text(value, old.spec, ctx)
        return new.type.coerce(new.type.parse_text(text, new.spec, ctx), new.spec, ctx)
