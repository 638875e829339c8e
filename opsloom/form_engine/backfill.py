"""Filling computed columns of existing records when a publish adds or changes a computed field.

A new rollup or lookup is one ``UPDATE`` with a correlated subquery (the database does
the work, whatever the table size); formulas are evaluated in Python in batches of
rows, after rollups and lookups, because they may read them; a new auto number numbers
the existing records in id order, so the sequence has no gap. Runs inside the
publishing transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, literal, select, update

from opsloom.platform.errors import NotFound

from .registry import get_model

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["backfill_computed"]

_BATCH = 500
_AGGREGATES = {"sum": func.sum, "count": func.count, "avg": func.avg, "min": func.min, "max": func.max}


def backfill_computed(service: RecordService, model: EntityModel, keys: Iterable[str]) -> list[str]:
    """Compute ``keys`` (computed fields of ``model``) for every existing record; returns report lines."""
    wanted = [model.fields[k] for k in keys if k in model.fields and model.fields[k].computed]
    if not wanted or service.session.scalar(select(func.count()).select_from(model.table)) == 0:
        return []
    report: list[str] = []
    for f in wanted:
        if f.type.name == "rollup":
            report.append(_rollup(service, model, f))
        elif f.type.name == "lookup":
            report.append(_lookup(service, model, f))
        elif f.type.name == "auto_number":
            report.append(_numbers(service, model, f))
    formulas = {f.key for f in model.computed_order if f.type.name == "formula"}
    if formulas & {f.key for f in wanted} or (formulas and any(f.type.name in ("rollup", "lookup") for f in wanted)):
        count = _formulas(service, model, formulas)
        report.append(f"computed {', '.join(sorted(formulas))} for {count} records")
    return report


def _rollup(service: RecordService, model: EntityModel, f: RuntimeField) -> str:
    from opsloom.platform import expr

    spec = f.spec["source"]
    fn = spec.get("fn", "sum")
    try:
        source = get_model(service.session, service.app, spec["entity"])
    except NotFound:
        value: Any = literal(0) if fn in ("sum", "count") else None
        service.session.execute(update(model.table).values({f.key: value}))
        return f"set {f.key!r} to its empty value ({spec['entity']} is not published yet)"
    table = source.table
    column = table.c.id if fn == "count" else table.c[spec["field"]]
    inner = select(_AGGREGATES[fn](column)).where(
        table.c[spec["link"]] == model.table.c.id, table.c._deleted_at.is_(None)
    )
    if spec.get("filter") is not None:
        inner = inner.where(expr.to_sql(spec["filter"], service.resolver(source)))
    value = inner.scalar_subquery()
    if fn in ("sum", "count"):
        value = func.coalesce(value, 0)
    service.session.execute(update(model.table).values({f.key: value}))
    return f"computed rollup {f.key!r} for every record"


def _lookup(service: RecordService, model: EntityModel, f: RuntimeField) -> str:
    relation = model.fields[f.spec["relation"]]
    target = get_model(service.session, service.app, relation.spec["target"])
    column = target.table.c.get(f.spec["field"])
    if column is None:
        return f"left {f.key!r} empty: {target.key}.{f.spec['field']} has no column"
    inner = select(column).where(
        target.table.c.id == model.table.c[relation.key], target.table.c._deleted_at.is_(None)
    )
    service.session.execute(update(model.table).values({f.key: inner.scalar_subquery()}))
    return f"copied {target.key}.{f.spec['field']} into {f.key!r} for every record"


def _numbers(service: RecordService, model: EntityModel, f: RuntimeField) -> str:
    table = model.table
    ids = list(service.session.scalars(select(table.c.id).where(table.c[f.key].is_(None)).order_by(table.c.id)))
    for record_id in ids:
        number = service.next_number(model, f)
        service.session.execute(update(table).where(table.c.id == record_id).values({f.key: number}))
    return f"numbered {len(ids)} existing records in {f.key!r}"


def _formulas(service: RecordService, model: EntityModel, formulas: set[str]) -> int:
    table = model.table
    last = 0
    count = 0
    while True:
        rows = service.session.execute(
            select(table).where(table.c.id > last).order_by(table.c.id).limit(_BATCH)
        ).mappings().all()
        if not rows:
            return count
        last = rows[-1]["id"]
        for row in rows:
            current = dict(row)
            values: dict[str, Any] = {}
            service.compute_fields(model, values, current, only=formulas)
            changed = {k: v for k, v in values.items() if current.get(k) != v}
            if changed:
                service.session.execute(update(table).where(table.c.id == row["id"]).values(**changed))
            count += 1
