"""Who may attach and download an uploaded file: the record scope holds for files too.

A file belongs to the entity and field it was uploaded for (``StoredFile.entity_key`` and
``field_key``). Reading it needs more than read permission on the entity: a role scoped
to its own records must not fetch the contract of a colleague's customer by guessing its
id. So a download is allowed to an actor whose read scope covers every record, to the
uploader, and otherwise only when a record within the actor's read scope holds the file.
Attaching follows the same idea: a record takes only files uploaded for its entity and
field, which the writer uploaded or can already see on a record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import case, cast, exists, func, literal, select
from sqlalchemy.types import JSON, Integer

from .models import StoredFile

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy.sql.elements import ColumnElement

    from .model import EntityModel
    from .service import RecordService

__all__ = ["file_errors", "held_in_scope", "holds_file", "may_download"]


def holds_file(model: EntityModel, field_key: str, file_id: int, dialect: str) -> ColumnElement[bool]:
    """SQL: the record's ``field_key`` (a JSON list of file refs) holds a ref to ``file_id``."""
    column = model.table.c[field_key]
    if dialect == "postgresql":
        # json_array_elements fails on a JSON null or scalar: such values hold nothing
        listed = case((func.json_typeof(column) == "array", column), else_=cast(literal("[]"), JSON))
        items = func.json_array_elements(listed).table_valued("value").alias("held")
        match = cast(items.c.value.op("->>")("id"), Integer) == file_id
    else:
        items = func.json_each(column).table_valued("value").alias("held")
        match = func.json_extract(items.c.value, "$.id") == file_id
    return exists(select(1).select_from(items).where(match))


def held_in_scope(records: RecordService, model: EntityModel, field_key: str, file_id: int) -> bool:
    """Whether a record the actor may read holds file ``file_id`` in ``field_key``."""
    if field_key not in model.table.c:
        return False
    dialect = records.session.get_bind().dialect.name
    stmt = select(model.table.c.id).where(holds_file(model, field_key, file_id, dialect)).limit(1)
    scope = records.scope_condition(model.key, "read")
    if scope is not None:
        stmt = stmt.where(scope)
    return records.session.execute(stmt).first() is not None


def may_download(records: RecordService, model: EntityModel, row: StoredFile) -> bool:
    """The record-scope part of a download check (entity read permission and field rules come first)."""
    if records.access(model.key).unrestricted("read") or row.created_by == records.actor.user_id:
        return True
    return held_in_scope(records, model, row.field_key, row.id)


def file_errors(
    records: RecordService, model: EntityModel, values: Mapping[str, Any], current: Mapping[str, Any] | None
) -> dict[str, str]:
    """Errors by field for files a write attaches that the record may not take.

    Only files new to the record are checked: the ones it holds already stay, whoever
    uploaded them.
    """
    keys = model.statements.get("file_fields")
    if keys is None:
        keys = model.statements["file_fields"] = [
            k for k, f in model.fields.items() if f.storage == "column" and callable(getattr(f.type, "check_upload", None))
        ]
    wanted: dict[str, set[int]] = {}
    for key in keys:
        value = values.get(key)
        if not value:
            continue
        held = _ids((current or {}).get(key))
        new = _ids(value) - held
        if new:
            wanted[key] = new
    if not wanted:
        return {}
    every = set().union(*wanted.values())
    rows = {
        row.id: row
        for row in records.session.scalars(select(StoredFile).where(
            StoredFile.id.in_(every), StoredFile.app_id == records.app.id
        ))
    }
    unrestricted = records.access(model.key).unrestricted("read")
    errors: dict[str, str] = {}
    for key, ids in wanted.items():
        for file_id in sorted(ids):
            row = rows.get(file_id)
            if row is None:
                continue  # the field type already said it does not exist
            if (row.entity_key, row.field_key) != (model.key, key):
                errors[key] = (f"file {file_id} was uploaded for another field; upload it to "
                               f"{model.key}.{key} to attach it here")
                break
            if not (unrestricted or row.created_by == records.actor.user_id
                    or held_in_scope(records, model, key, file_id)):
                errors[key] = f"file {file_id} is not one you uploaded or can see on a record; upload it again"
                break
    return errors


def _ids(value: Iterable[Any] | None) -> set[int]:
    out = set()
    for ref in value or ():
        ident = ref.get("id") if isinstance(ref, dict) else ref
        if isinstance(ident, int) and not isinstance(ident, bool):
            out.add(ident)
    return out
