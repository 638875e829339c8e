"""The runtime form of one published entity version: its fields with their types, and its Core tables.

Built once per (entity table, version) and cached: every record read and write uses the
same compiled conditions, resolved computed fields and ``Table`` objects, so a request
pays for a dictionary lookup, not for interpreting the definition again.

Physical naming (``entity_tables.table_name`` is ``e<id>_<entity key>``): field key =
column name; a subtable's rows live in ``e<id>s_<field id>``, a many relation's links in
``e<id>l_<field id>`` (field ids never change, so renaming a field renames only a
column). Entity tables carry no database foreign keys: SQLite's batch mode recreates a
table to alter a column, and a cascading key would empty the child table on the way;
the record service enforces the relations instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, Table

from opsloom.platform import expr

from .definition import schema_context

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .fields.base import FieldType

__all__ = [
    "EntityModel",
    "RuntimeField",
    "build_model",
    "child_table_name",
    "index_name",
    "link_table_name",
    "system_columns",
]

Id = BigInteger().with_variant(Integer(), "sqlite")
Stamp = DateTime(timezone=True)

#: the system fields of every record, in output order
SYSTEM_FIELDS = ("id", "_version", "_created_at", "_created_by", "_updated_at", "_updated_by", "_deleted_at")


def system_columns() -> list[Column[Any]]:
    return [
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("_version", Integer, nullable=False, default=1),
        Column("_created_at", Stamp, nullable=False),
        Column("_created_by", Integer),
        Column("_updated_at", Stamp, nullable=False),
        Column("_updated_by", Integer),
        Column("_deleted_at", Stamp),
    ]


def child_table_name(table_name: str, field_id: str) -> str:
    return f"{table_name.split('_', 1)[0]}s_{field_id}"


def link_table_name(table_name: str, field_id: str) -> str:
    return f"{table_name.split('_', 1)[0]}l_{field_id}"


def index_name(table_name: str, columns: tuple[str, ...], unique: bool) -> str:
    """A short, deterministic name (PostgreSQL keeps 63 characters) that changes when the columns do."""
    digest = hashlib.sha1(("u:" if unique else "i:").encode() + ",".join(columns).encode()).hexdigest()[:10]
    return f"{table_name.split('_', 1)[0]}_{'ux' if unique else 'ix'}_{digest}"


@dataclass(frozen=True)
class RuntimeField:
    """A field of a published version as the runtime uses it (definition merged with resolved facts)."""

    key: str
    id: str
    type: FieldType
    spec: Mapping[str, Any]
    storage: str
    #: the child or link table of a subtable or many relation
    table: Table | None = None
    #: a subtable's own fields (columns of ``table``), by key
    sub_fields: Mapping[str, RuntimeField] = field(default_factory=dict)

    @property
    def computed(self) -> bool:
        return self.type.computed


@dataclass
class EntityModel:
    """One published entity version, ready to serve records."""

    app_id: int
    app_key: str
    key: str
    version: int
    entity_table_id: int
    body: Mapping[str, Any]
    table: Table
    fields: dict[str, RuntimeField]
    visible_if: dict[str, expr.Compiled] = field(default_factory=dict)
    required_if: dict[str, expr.Compiled] = field(default_factory=dict)
    #: computed fields in the order they must be computed (formulas after what they read)
    computed_order: list[RuntimeField] = field(default_factory=list)
    #: statements built once per version by the services that use it (name -> statement)
    statements: dict[Any, Any] = field(default_factory=dict)

    @property
    def title_field(self) -> str | None:
        return self.body.get("title_field")

    @property
    def label(self) -> Any:
        return self.body.get("label") or self.key

    def column_fields(self) -> list[RuntimeField]:
        return [f for f in self.fields.values() if f.storage == "column"]

    def unique_keys(self) -> list[tuple[str, ...]]:
        """Every unique key: each ``unique`` field alone, then each ``dedup`` list."""
        keys = [(f.key,) for f in self.fields.values() if f.spec.get("unique")]
        keys += [tuple(k) for k in self.body.get("dedup") or [] if tuple(k) not in keys]
        return keys


def sql_resolver(model: EntityModel) -> Any:
    """The expression language's SQL resolver for ``model``: its columns with their expression types (one per version).

    Reference fields (user, department, one relation) hold integer ids, so SQL compares
    them as numbers; JSON columns stay ``any``, which ``to_sql`` refuses to guess about.
    """
    from sqlalchemy import Integer, String, Text

    from opsloom.platform.expr.sql import TableResolver

    cached = model.statements.get("sql_resolver")
    if cached is not None:
        return cached
    types: dict[str, str] = {}
    for f in model.column_fields():
        if f.key not in model.table.c:
            continue
        kind = f.spec.get("result_type") or f.type.expr_type
        if kind in ("any", "list"):
            column_type = model.table.c[f.key].type
            if isinstance(column_type, Integer):
                kind = "number"
            elif isinstance(column_type, (String, Text)):
                kind = "text"
        types[f.key] = kind
    types.update({"id": "number", "_created_at": "datetime", "_updated_at": "datetime", "_created_by": "number",
                  "_updated_by": "number", "_version": "number"})
    resolver = model.statements["sql_resolver"] = TableResolver(model.table, types)
    return resolver


def _resolved_spec(
    raw: Mapping[str, Any], types: Mapping[str, FieldType], ctx: Any
) -> dict[str, Any]:
    field_type = types[raw["type"]]
    return {**raw, **field_type.resolve(raw, ctx)}


def field_columns(fields: list[tuple[Mapping[str, Any], FieldType]]) -> list[Column[Any]]:
    """The columns of ``fields`` that live in the table (resolved specs)."""
    columns = []
    for spec, field_type in fields:
        if field_type.storage_for(spec) != "column":
            continue
        column_type = field_type.column_type(spec)
        if column_type is None:
            continue
        columns.append(Column(spec["key"], column_type, nullable=True))
    return columns


def table_indexes(table: Table, body: Mapping[str, Any], unique_fields: list[str]) -> list[Index]:
    """The indexes a version asks for: unique fields and dedup keys (live rows only), plain indexes."""
    live = table.c._deleted_at.is_(None)
    made: list[Index] = []
    seen: set[tuple[tuple[str, ...], bool]] = set()
    wanted = [((key,), True) for key in unique_fields]
    wanted += [(tuple(keys), True) for keys in body.get("dedup") or []]
    wanted += [(tuple(keys), False) for keys in body.get("indexes") or []]
    for columns, unique in wanted:
        if (columns, unique) in seen:
            continue
        seen.add((columns, unique))
        cols = [table.c[name] for name in columns]
        if unique:
            made.append(
                Index(index_name(table.name, columns, True), *cols, unique=True, sqlite_where=live, postgresql_where=live)
            )
        else:
            made.append(Index(index_name(table.name, columns, False), *cols))
    return made


def child_table(metadata: MetaData, name: str, sub_fields: list[tuple[Mapping[str, Any], FieldType]]) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("parent_id", Id, nullable=False, index=True),
        Column("_position", Integer, nullable=False, default=0),
        *field_columns(sub_fields),
    )


def link_table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("source_id", Id, primary_key=True),
        Column("target_id", Id, primary_key=True, index=True),
    )


def _computed_order(fields: dict[str, RuntimeField]) -> list[RuntimeField]:
    """Computed fields, each after the computed fields it reads (cycles were refused at publish)."""
    pending = {f.key: f for f in fields.values() if f.computed}
    done: list[RuntimeField] = []
    placed: set[str] = set()
    while pending:
        progressed = False
        for key, f in list(pending.items()):
            needs = {d for d in f.spec.get("depends_on", ()) if d in pending and d != key}
            if not needs:
                done.append(f)
                placed.add(key)
                del pending[key]
                progressed = True
        if not progressed:  # a cycle slipped through: keep definition order rather than loop
            done.extend(pending.values())
            break
    return done


def build_model(
    *,
    app_id: int,
    app_key: str,
    body: Mapping[str, Any],
    version: int,
    entity_table_id: int,
    table_name: str,
    types: Mapping[str, FieldType],
    lookup: Callable[[str, str], dict[str, Any] | None],
) -> EntityModel:
    """The runtime model of ``body`` stored in ``table_name``."""
    ctx = schema_context(body, types, lookup)
    metadata = MetaData()
    specs = [(_resolved_spec(raw, types, ctx), types[raw["type"]]) for raw in body["fields"]]
    table = Table(table_name, metadata, *system_columns(), *field_columns(specs))
    unique_fields = [spec["key"] for spec, _t in specs if spec.get("unique")]
    table_indexes(table, body, unique_fields)
    fields: dict[str, RuntimeField] = {}
    for spec, field_type in specs:
        storage = field_type.storage_for(spec)
        extra = None
        subs: dict[str, RuntimeField] = {}
        if storage == "child_table":
            sub = [(_resolved_spec(s, types, ctx), types[s["type"]]) for s in spec.get("fields", [])]
            extra = child_table(metadata, child_table_name(table_name, spec["id"]), sub)
            subs = {
                s["key"]: RuntimeField(key=s["key"], id=f"{spec['id']}.{s['key']}", type=t, spec=s, storage="column")
                for s, t in sub
            }
        elif storage == "link_table":
            extra = link_table(metadata, link_table_name(table_name, spec["id"]))
        fields[spec["key"]] = RuntimeField(
            key=spec["key"], id=spec["id"], type=field_type, spec=spec, storage=storage, table=extra, sub_fields=subs
        )
    model = EntityModel(
        app_id=app_id,
        app_key=app_key,
        key=body["key"],
        version=version,
        entity_table_id=entity_table_id,
        body=body,
        table=table,
        fields=fields,
    )
    model.visible_if = {k: expr.compile(v) for k, v in (body.get("visible_if") or {}).items()}
    model.required_if = {k: expr.compile(v) for k, v in (body.get("required_if") or {}).items()}
    model.computed_order = _computed_order(fields)
    return model
