"""Re-pointing references: every live record that points at one record is made to point at another.

A merge needs it: orders of the merged customer become orders of the kept one. The
relations are found as ``RecordService`` finds them for ``on_delete`` (one relations in
any entity of the app, many relations through their link tables). Each changed record is
written like an edit (version bump, formulas and lookups recomputed, one audit entry and
one ``record.updated`` event), and the service's propagation keeps rollups over it right.

It is a consequence of the merge, as clearing a relation is a consequence of a delete,
so it does not ask for permissions on the referencing entities and does not re-validate
their other fields; the merge itself is permission-checked. Never imports flask and
never commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from opsloom.platform.audit import record as audit

if TYPE_CHECKING:
    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["repoint_references"]

#: referencing records read (and locked) per query
BATCH = 500


def repoint_references(
    service: RecordService, model: EntityModel, old_id: int, new_id: int
) -> dict[str, int]:
    """Point every live reference to ``model`` record ``old_id`` at ``new_id``; the changed records per entity.

    Record ``old_id`` itself is left alone (it is about to go). A reference that would
    break a unique key of the referencing entity is a ``Conflict`` (409) naming it.
    """
    by_entity: dict[str, tuple[EntityModel, list[RuntimeField]]] = {}
    for other, f in service._relations_to(model.key):
        if f.storage in ("column", "link_table"):
            by_entity.setdefault(other.key, (other, []))[1].append(f)
    counts: dict[str, int] = {}
    for key, (other, fields) in sorted(by_entity.items()):
        skip = old_id if other.key == model.key else None
        changed = _repoint_entity(service, other, fields, old_id, new_id, skip)
        if changed:
            counts[key] = changed
    return counts


def _repoint_entity(
    service: RecordService,
    other: EntityModel,
    fields: list[RuntimeField],
    old_id: int,
    new_id: int,
    skip: int | None,
) -> int:
    """Re-point the records of ``other`` in id order, ``BATCH`` at a time (locked while read)."""
    table = other.table
    conditions = []
    for f in fields:
        if f.storage == "column":
            conditions.append(table.c[f.key] == old_id)
        else:
            assert f.table is not None
            conditions.append(
                table.c.id.in_(select(f.table.c.source_id).where(f.table.c.target_id == old_id))
            )
    where = [table.c._deleted_at.is_(None), or_(*conditions)]
    if skip is not None:
        where.append(table.c.id != skip)
    count = 0
    last = 0
    while True:
        stmt = (
            select(table).where(*where, table.c.id > last).order_by(table.c.id).limit(BATCH).with_for_update()
        )
        rows = [dict(r) for r in service.session.execute(stmt).mappings()]
        if not rows:
            return count
        service._load_tables(other, rows)
        for row in rows:
            _repoint_record(service, other, fields, row, old_id, new_id)
        count += len(rows)
        last = rows[-1]["id"]


def _repoint_record(
    service: RecordService,
    other: EntityModel,
    fields: list[RuntimeField],
    row: dict[str, Any],
    old_id: int,
    new_id: int,
) -> None:
    """One referencing record: its relation values, then what follows from them, written as an edit."""
    values: dict[str, Any] = {}
    for f in fields:
        current = row.get(f.key)
        if f.storage == "column" and current == old_id:
            values[f.key] = new_id
        elif f.storage == "link_table" and old_id in (current or []):
            ids = [new_id if i == old_id else i for i in current]
            values[f.key] = sorted(set(ids))
    service._compute(other, values, row)
    changed = {k: v for k, v in values.items() if v != row.get(k)}
    if not changed:
        return
    table = other.table
    record_id = row["id"]
    columns = {k: v for k, v in changed.items() if other.fields[k].storage == "column"}
    stmt = (
        update(table)
        .where(table.c.id == record_id, table.c._version == row["_version"], table.c._deleted_at.is_(None))
        .values(
            **columns,
            _version=table.c._version + 1,
            _updated_at=service.now,
            _updated_by=service.actor.user_id,
        )
    )
    if service._write_row(other, stmt, {**row, **columns}, record_id) != 1:
        latest = service.session.scalar(select(table.c._version).where(table.c.id == record_id))
        raise service._stale(other, record_id, latest)
    service._insert_tables(
        other, record_id, {k: v for k, v in changed.items() if k not in columns}, replace=True
    )
    new_row = {
        **row,
        **changed,
        "_version": row["_version"] + 1,
        "_updated_at": service.now,
        "_updated_by": service.actor.user_id,
    }
    old = service.raw_json(other, row)
    new = service.raw_json(other, new_row)
    keys = sorted(changed)
    audit(
        service.session,
        service.actor,
        "update",
        "record",
        service._object_id(other, record_id),
        before={k: old.get(k) for k in keys},
        after={k: new.get(k) for k in keys},
        workspace_id=service.app.workspace_id,
        now=service.now,
    )
    service._propagate(other, record_id, row, new_row)
    service._emit(other, "record.updated", record_id, new=new, old=old, changed=keys)
