"""RecordService's computed values: auto numbers, formulas, lookups, and rollups and lookups kept current elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from .models import AutoNumberCounter
from .values import condition_data

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .fields.base import FieldContext
    from .model import EntityModel, RuntimeField


class ComputedMixin:
    """Part of ``RecordService`` (see ``service.py``); it relies on the service's other methods."""

    session: Session
    actor: Actor
    app: Any
    ctx: FieldContext
    now: datetime

    def _compute(
        self,
        model: EntityModel,
        values: dict[str, Any],
        current: Mapping[str, Any] | None,
        *,
        only: set[str] | None = None,
    ) -> None:
        """Fill auto numbers (create only), formulas, lookups and rollups from the merged record."""
        if not model.computed_order:
            return
        from .fields import computed as computed_types

        merged = dict(current or {})
        merged.update(values)
        for f in model.computed_order:
            if only is not None and f.key not in only:
                continue
            name = f.type.name
            if name == "auto_number":
                if current is None:
                    values[f.key] = self._next_number(model, f)
            elif name == "formula":
                data = {k: (None if v is None else model.fields[k].type.to_json(v, model.fields[k].spec, self.ctx))
                        for k, v in merged.items() if k in model.fields}
                data = condition_data(data, self.ctx, self.actor.as_expr_user())
                result = computed_types.compute(f.spec, data, {"_now": self.now, "tz": self.ctx.timezone})
                values[f.key] = result
                merged[f.key] = result
            elif name == "lookup":
                relation = f.spec.get("relation")
                if current is None or relation in values:
                    values[f.key] = self._lookup_value(model, f, merged.get(relation))
                    merged[f.key] = values[f.key]
            elif name == "rollup" and current is None:
                values[f.key] = 0 if (f.spec.get("source") or {}).get("fn", "sum") in ("sum", "count") else None
                merged[f.key] = values[f.key]

    def compute_fields(
        self, model: EntityModel, values: dict[str, Any], current: Mapping[str, Any] | None, *, only: set[str]
    ) -> None:
        """Compute the computed fields ``only`` of a record into ``values`` (used when a publish backfills)."""
        self._compute(model, values, current, only=only)

    def next_number(self, model: EntityModel, f: RuntimeField) -> str:
        """The next gap-free auto number of field ``f`` (moves the counter in this transaction)."""
        return self._next_number(model, f)

    def _lookup_value(self, model: EntityModel, f: RuntimeField, target_id: Any) -> Any:
        if target_id is None:
            return None
        relation = model.fields[f.spec["relation"]]
        target = self.model(relation.spec["target"])
        column = target.table.c.get(f.spec["field"])
        if column is None:
            return None
        return self.session.scalar(
            select(column).where(target.table.c.id == target_id, target.table.c._deleted_at.is_(None))
        )

    def _next_number(self, model: EntityModel, f: RuntimeField) -> str:
        """The next auto number, gap-free: the counter moves in this transaction or not at all."""
        pool = self._numbers.get((model.entity_table_id, f.id))
        if pool:
            return pool.pop()
        return self._reserve_numbers(model, f, 1)[0]

    def _reserve_numbers(self, model: EntityModel, f: RuntimeField, count: int) -> list[str]:
        """``count`` consecutive numbers in one counter update (returned in order)."""
        from .fields.computed import period_key, render

        pattern = f.spec.get("pattern") or "{seq:6}"
        local = self.now.astimezone(ZoneInfo(self.ctx.timezone))
        period = period_key(pattern, local)
        counters = AutoNumberCounter.__table__
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        stmt = (
            upsert(counters)
            .values(entity_table_id=model.entity_table_id, field_id=f.id, period=period, value=count)
            .on_conflict_do_update(
                index_elements=["entity_table_id", "field_id", "period"], set_={"value": counters.c.value + count}
            )
            .returning(counters.c.value)
        )
        last = self.session.execute(stmt).scalar_one()
        return [render(pattern, local, seq) for seq in range(last - count + 1, last + 1)]

    def _app_models(self) -> list[EntityModel]:
        """Every published entity of the app (once per service: a request sees one state of the app)."""
        if self._all_models is None:
            self._all_models = [self.model(key) for key in self._tables()]
        return self._all_models

    def _relations_to(self, entity: str) -> list[tuple[EntityModel, RuntimeField]]:
        return [
            (other, f)
            for other in self._app_models()
            for f in other.fields.values()
            if f.type.name == "relation" and f.spec.get("target") == entity
        ]

    # ------------------------------------------------------------------ rollups and lookups elsewhere
    def _rollups_over(self, entity: str) -> list[tuple[EntityModel, RuntimeField]]:
        """Rollup fields of any entity that aggregate records of ``entity``."""
        return [
            (other, f)
            for other in self._app_models()
            for f in other.fields.values()
            if f.type.name == "rollup" and (f.spec.get("source") or {}).get("entity") == entity
        ]

    def _lookups_into(self, entity: str) -> list[tuple[EntityModel, RuntimeField, RuntimeField]]:
        """(entity, lookup field, its relation field) for lookups that read fields of ``entity``."""
        found = []
        for other in self._app_models():
            for f in other.fields.values():
                if f.type.name != "lookup":
                    continue
                relation = other.fields.get(f.spec.get("relation", ""))
                if relation is not None and relation.spec.get("target") == entity:
                    found.append((other, f, relation))
        return found

    def _propagate(
        self, model: EntityModel, record_id: int, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
    ) -> None:
        """Keep other records' rollups and lookups current after a write to ``record_id`` of ``model``.

        ``old``/``new`` are the stored values before and after (None for a create / a delete).
        """
        if not self._has_dependents(model.key):
            return
        for target, rollup in self._rollups_over(model.key):
            link = rollup.spec["source"]["link"]
            affected = {v for v in ((old or {}).get(link), (new or {}).get(link)) if isinstance(v, int)}
            for target_id in sorted(affected):
                value = self._aggregate(model, rollup, target_id)
                self._set_computed(target, target_id, {rollup.key: value})
        changed = {k for k in model.fields if (old or {}).get(k) != (new or {}).get(k)}
        for other, lookup, relation in self._lookups_into(model.key):
            if lookup.spec.get("field") not in changed and new is not None:
                continue
            value = None if new is None else new.get(lookup.spec["field"])
            table = other.table
            ids = list(self.session.scalars(
                select(table.c.id).where(table.c[relation.key] == record_id, table.c._deleted_at.is_(None))
            ))
            for other_id in ids:
                self._set_computed(other, other_id, {lookup.key: value})

    def _has_dependents(self, entity: str) -> bool:
        if self._dependents is None:
            self._dependents = set()
            for other in self._app_models():
                for f in other.fields.values():
                    if f.type.name == "rollup":
                        self._dependents.add((f.spec.get("source") or {}).get("entity"))
                    elif f.type.name == "lookup":
                        relation = other.fields.get(f.spec.get("relation", ""))
                        if relation is not None:
                            self._dependents.add(relation.spec.get("target"))
        return entity in self._dependents

    def _aggregate(self, source: EntityModel, rollup: RuntimeField, target_id: int) -> Any:
        from opsloom.platform import expr

        spec = rollup.spec["source"]
        table = source.table
        fn = spec.get("fn", "sum")
        column = table.c.id if fn == "count" else table.c[spec["field"]]
        aggregate = {"sum": func.sum, "count": func.count, "avg": func.avg, "min": func.min, "max": func.max}[fn]
        stmt = select(aggregate(column)).where(table.c[spec["link"]] == target_id, table.c._deleted_at.is_(None))
        if spec.get("filter") is not None:
            stmt = stmt.where(expr.to_sql(spec["filter"], self.resolver(source),
                                          context={"_now": self.now, "tz": self.ctx.timezone}))
        value = self.session.scalar(stmt)
        if value is None and fn in ("sum", "count"):
            value = 0
        return float(value) if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, float)) else value

    def _set_computed(self, model: EntityModel, record_id: int, values: dict[str, Any]) -> None:
        """Store computed values of another record and recompute its formulas (no version bump: no user edit)."""
        table = model.table
        row = self.session.execute(select(table).where(table.c.id == record_id)).mappings().first()
        if row is None:
            return
        current = dict(row)
        formulas = {f.key for f in model.computed_order if f.type.name == "formula"}
        updates = dict(values)
        if formulas:
            computed: dict[str, Any] = dict(values)
            self._compute(model, computed, {**current, **values}, only=formulas)
            updates.update(computed)
        updates = {k: v for k, v in updates.items() if current.get(k) != v and k in table.c}
        if updates:
            self.session.execute(update(table).where(table.c.id == record_id).values(**updates))
            self._propagate(model, record_id, current, {**current, **updates})

    def _propagate_created(self, model: EntityModel, rows: list[dict[str, Any]]) -> None:
        """New records change only the rollups over them: recompute each affected target once."""
        if not self._has_dependents(model.key):
            return
        for target, rollup in self._rollups_over(model.key):
            link = rollup.spec["source"]["link"]
            for target_id in sorted({r.get(link) for r in rows if isinstance(r.get(link), int)}):
                self._set_computed(target, target_id, {rollup.key: self._aggregate(model, rollup, target_id)})

