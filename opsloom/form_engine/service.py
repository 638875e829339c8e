"""RecordService: the only way to read or write records.

Every write validates against the published model (``values.read_input``), computes
auto numbers and formulas, writes the row (and child and link rows), records the audit
entry and the ``record.*`` outbox event, all in the caller's transaction; every read
goes through the same model. Permissions and masking plug in here (``access``), so the
API, the pages, imports and exports cannot bypass them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from opsloom.platform.audit import audit_values, record_many
from opsloom.platform.db import utcnow
from opsloom.platform.errors import (
    BadRequest,
    Conflict,
    NotFound,
    OpsloomError,
    PermissionDenied,
    ValidationError,
)
from opsloom.platform.events import emit_many, event_values
from opsloom.platform.models import Department, Membership, Role
from opsloom.platform.pagination import Page, SortKey, paginate, parse_limit

from .access import Access, compile_access
from .fields.base import FieldContext
from .masks import mask_text
from .model import sql_resolver
from .models import AutoNumberCounter, EntityTable, StoredFile
from .registry import field_types, model_for_row
from .values import condition_data, read_input, record_json, stamp_json

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App

    from .fields.base import FieldType
    from .model import EntityModel, RuntimeField

__all__ = ["RecordService"]

#: most records one bulk call may carry
MAX_BULK = 5000


# built once: every record write runs them
_ENTITY_ROWS = select(
    EntityTable.id, EntityTable.entity_key, EntityTable.version, EntityTable.table_name
).where(EntityTable.app_id == bindparam("app_id"))
_MEMBERS = select(Membership.user_id).where(
    Membership.workspace_id == bindparam("ws"),
    Membership.user_id.in_(bindparam("ids", expanding=True)),
    Membership.is_active.is_(True),
)


def audit(session: Session, actor: Actor, action: str, object_type: str, object_id: object, **kw: Any) -> None:
    """One audit row, written at once with Core (record writes are hot; no ORM flush needed)."""
    record_many(session, [audit_values(actor, action, object_type, object_id, **kw)])


class RecordService:
    """Records of one app, as seen by one actor, in one transaction (the caller commits)."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        app: App,
        *,
        types: Mapping[str, FieldType] | None = None,
        now: datetime | None = None,
        entity_rows: Mapping[str, Any] | None = None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.app = app
        self.types = types if types is not None else field_types()
        self.now = now or utcnow()
        self._all_models: list[EntityModel] | None = None
        #: the app's entity tables by key, when the caller loaded them already (the records API does)
        self._entity_rows: dict[str, Any] | None = dict(entity_rows) if entity_rows is not None else None
        self._access: dict[str, Access] = {}
        self._grants: list[Any] | None = None
        self._department_ids: list[int] | None = None
        self._known: dict[tuple[str, str | None], set[int]] = {}
        #: auto numbers reserved by a bulk write, per (entity table, field id)
        self._numbers: dict[tuple[int, str], list[str]] = {}
        self._dependents: set[Any] | None = None
        self.ctx = FieldContext(
            timezone=actor.timezone or "UTC",
            now=self.now,
            locale=actor.locale or "en",
            lookup=self._lookup,
            types=self.types,
        )

    # ------------------------------------------------------------------ models and lookups
    def _tables(self) -> dict[str, Any]:
        """The app's entity tables by key: one query per service serves every model lookup."""
        if self._entity_rows is None:
            rows = self.session.execute(_ENTITY_ROWS, {"app_id": self.app.id})
            self._entity_rows = {row.entity_key: row for row in rows}
        return self._entity_rows

    def model(self, entity: str) -> EntityModel:
        row = self._tables().get(entity)
        if row is None:
            raise NotFound(f"App {self.app.key!r} has no published entity {entity!r}.")
        return model_for_row(self.session, self.app, row, self.types)

    # ------------------------------------------------------------------ permissions
    def access(self, entity: str) -> Access:
        """The actor's permissions on ``entity`` (roles' grants combined; administrators: everything)."""
        found = self._access.get(entity)
        if found is None:
            admin = self.actor.is_admin or self.actor.is_superuser or self.actor.is_system
            if self._grants is None:
                self._grants = [] if admin or not self.actor.role_ids else list(
                    self.session.scalars(select(Role.permissions).where(
                        Role.id.in_(self.actor.role_ids), Role.workspace_id == self.app.workspace_id))
                )
            found = compile_access(self._grants, self.app.key, entity, admin=admin)
            self._access[entity] = found
        return found

    def can(self, entity: str, action: str) -> bool:
        return self.access(entity).can(action)

    def require(self, entity: str, action: str) -> Access:
        """:raises PermissionDenied: the actor may not ``action`` records of ``entity``."""
        access = self.access(entity)
        if not access.can(action):
            raise PermissionDenied(
                f"Your roles do not allow you to {action} {entity} records in app {self.app.key!r}; "
                "ask an administrator.",
                action=action,
            )
        return access

    def _departments(self) -> list[int]:
        """The actor's department and every department below it."""
        if self._department_ids is None:
            start = self.actor.department_id
            if start is None:
                self._department_ids = []
            else:
                children: dict[int | None, list[int]] = {}
                for dept_id, parent in self.session.execute(
                    select(Department.id, Department.parent_id).where(Department.workspace_id == self.app.workspace_id)
                ):
                    children.setdefault(parent, []).append(dept_id)
                found, todo = [], [start]
                while todo:
                    current = todo.pop()
                    if current in found:
                        continue
                    found.append(current)
                    todo.extend(children.get(current, []))
                self._department_ids = found
        return self._department_ids

    def _scope(self, model: EntityModel, action: str) -> Any:
        """The SQL condition of the actor's ``action`` scope on ``model`` (None: all records)."""
        access = self.access(model.key)
        return access.condition(action, model, self.actor, self.resolver(model), self._departments())

    def scope_condition(self, entity: str, action: str) -> Any:
        """The SQL condition of the actor's ``action`` scope on ``entity`` (None: every record).

        For engine code that reads an entity's table itself (exports, duplicate finding,
        reports): add it to the WHERE clause so the role's scope holds there too.
        """
        return self._scope(self.model(entity), action)

    def load_tables(self, model: EntityModel, rows: list[dict[str, Any]]) -> None:
        """Fill subtable rows and many-relation ids into stored ``rows`` (one query per table field)."""
        self._load_tables(model, rows)

    def _check_writable(self, model: EntityModel, raw: Any, *, creating: bool = False) -> None:
        """Refuse writes to fields the role may not change (a masked field may be entered on a new record)."""
        if not isinstance(raw, dict):
            return
        access = self.access(model.key)
        refused = {
            key: f"is {access.rule(key).replace('_', '-')} for your role"
            for key in raw
            if key in model.fields
            and not access.writable(key)
            and not (creating and access.rule(key) == "masked")
        }
        if refused:
            raise PermissionDenied(
                f"Your role may not change {', '.join(sorted(refused))} of {model.key} records.", errors=refused
            )

    def present(self, model: EntityModel, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` (field key -> JSON value) as the actor may see it: hidden fields left out, masked ones masked."""
        access = self.access(model.key)
        if access.admin or not access.fields:
            return dict(record)
        out = {}
        for key, value in record.items():
            rule = access.rule(key) if key in model.fields else "editable"
            if rule == "hidden":
                continue
            if rule == "masked" and value is not None:
                f = model.fields[key]
                style = f.spec.get("mask") or _default_mask(f.type.name)
                value = mask_text(value if isinstance(value, str) else json_text(value), style)
            out[key] = value
        return out

    def _lookup(self, kind: str, target: str | None, ids: Iterable[int]) -> Any:
        """Which referenced ids exist; ids found once are remembered for this service (bulk writes repeat them)."""
        wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
        if kind != "file":
            known = self._known.setdefault((kind, target), set())
            if wanted <= known:
                return wanted
            found = self._lookup_uncached(kind, target, wanted - known)
            known.update(found)
            return (wanted & known) | found
        return self._lookup_uncached(kind, target, wanted)

    def _lookup_uncached(self, kind: str, target: str | None, wanted: set[int]) -> Any:
        if not wanted:
            return {} if kind == "file" else set()
        ws = self.app.workspace_id
        if kind == "user":
            if self.actor.membership_id is not None and self.actor.workspace_id == ws and self.actor.user_id in wanted:
                # the acting member was checked when the request authenticated: no query for "me"
                others = wanted - {self.actor.user_id}
                found = set(self.session.scalars(_MEMBERS, {"ws": ws, "ids": list(others)})) if others else set()
                return found | {self.actor.user_id}
            return set(self.session.scalars(_MEMBERS, {"ws": ws, "ids": list(wanted)}))
        if kind == "department":
            return set(
                self.session.scalars(select(Department.id).where(Department.workspace_id == ws, Department.id.in_(wanted)))
            )
        if kind == "record":
            table = self.model(target or "").table
            return set(
                self.session.scalars(select(table.c.id).where(table.c.id.in_(wanted), table.c._deleted_at.is_(None)))
            )
        if kind == "file":
            rows = self.session.scalars(
                select(StoredFile).where(StoredFile.workspace_id == ws, StoredFile.app_id == self.app.id,
                                         StoredFile.id.in_(wanted))
            )
            return {r.id: {"id": r.id, "name": r.name, "size": r.size, "content_type": r.content_type} for r in rows}
        raise ValueError(f"unknown lookup kind {kind!r}")

    def _object_id(self, model: EntityModel, record_id: int) -> str:
        return f"{self.app.key}/{model.key}/{record_id}"

    # ------------------------------------------------------------------ reading
    def _row(
        self,
        model: EntityModel,
        record_id: Any,
        *,
        deleted: bool = False,
        for_update: bool = False,
        action: str | None = "read",
    ) -> dict[str, Any]:
        """The stored row, if it exists and the actor's ``action`` scope covers it (else 404 / 403)."""
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            raise NotFound(f"There is no {model.key} {record_id!r}.")
        table = model.table
        stmt = select(table).where(table.c.id == record_id)
        if action is not None:
            visible = self._scope(model, "read")
            if visible is not None:
                stmt = stmt.where(visible)
        if not deleted:
            stmt = stmt.where(table.c._deleted_at.is_(None))
        if for_update:
            stmt = stmt.with_for_update()
        row = self.session.execute(stmt).mappings().first()
        if row is None:
            raise NotFound(f"There is no {model.key} {record_id} in app {self.app.key!r}.")
        if action not in (None, "read"):
            allowed = self._scope(model, action)
            if allowed is not None and self.session.scalar(
                select(table.c.id).where(table.c.id == record_id, allowed)
            ) is None:
                raise PermissionDenied(f"Your roles do not allow you to {action} {model.key} {record_id}.",
                                       action=action)
        values = dict(row)
        self._load_tables(model, [values])
        return values

    def _load_tables(self, model: EntityModel, rows: list[dict[str, Any]]) -> None:
        """Fill subtable rows and many-relation ids into ``rows`` (one query per table field)."""
        ids = [r["id"] for r in rows]
        for f in model.fields.values():
            if f.table is None or not ids:
                continue
            if f.storage == "child_table":
                child = f.table
                by_parent: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
                result = self.session.execute(
                    select(child).where(child.c.parent_id.in_(ids)).order_by(child.c.parent_id, child.c._position,
                                                                            child.c.id)
                ).mappings()
                for sub in result:
                    values = {"id": sub["id"]}
                    values.update({k: sub.get(k) for k in f.sub_fields})
                    by_parent[sub["parent_id"]].append(values)
                for r in rows:
                    r[f.key] = by_parent[r["id"]]
            else:
                link = f.table
                targets: dict[int, list[int]] = {i: [] for i in ids}
                for source, target in self.session.execute(
                    select(link.c.source_id, link.c.target_id).where(link.c.source_id.in_(ids))
                    .order_by(link.c.source_id, link.c.target_id)
                ):
                    targets[source].append(target)
                for r in rows:
                    r[f.key] = targets[r["id"]]

    def to_json(self, model: EntityModel, row: Mapping[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
        """The record as the actor may see it (field rules applied)."""
        return self.present(model, self.raw_json(model, row, fields))

    def raw_json(self, model: EntityModel, row: Mapping[str, Any], fields: list[str] | None = None) -> dict[str, Any]:
        """The record's full JSON, for audit entries and events (never shown to a user as is)."""
        return record_json(model, row, self.ctx, fields=fields)

    def get(
        self, entity: str, record_id: Any, *, deleted: bool = False, expand: list[str] | None = None
    ) -> dict[str, Any]:
        """Record ``record_id`` as JSON; :raises NotFound: unknown, deleted (unless asked) or another app's."""
        model = self.model(entity)
        self.require(entity, "read")
        record = self.to_json(model, self._row(model, record_id, deleted=deleted))
        if expand:
            self.expand(model, [record], expand)
        return record

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

    # ------------------------------------------------------------------ writing
    def _raise_invalid(self, model: EntityModel, errors: dict[str, str]) -> None:
        if errors:
            first = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:3])
            raise ValidationError(f"The {model.key} is invalid: {first}.", errors=errors)

    def _compute(
        self,
        model: EntityModel,
        values: dict[str, Any],
        current: Mapping[str, Any] | None,
        *,
        only: set[str] | None = None,
    ) -> None:
        """Fill auto numbers (create only), formulas, lookups and rollups from the merged record."""
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

    def _insert_tables(self, model: EntityModel, record_id: int, values: Mapping[str, Any], *, replace: bool) -> None:
        for key, value in values.items():
            f = model.fields[key]
            if f.table is None:
                continue
            if f.storage == "child_table":
                self._write_children(f, record_id, value or [], replace=replace)
            else:
                link = f.table
                if replace:
                    self.session.execute(delete(link).where(link.c.source_id == record_id))
                if value:
                    self.session.execute(insert(link), [{"source_id": record_id, "target_id": t} for t in value])

    def _write_children(self, f: RuntimeField, parent_id: int, rows: list[dict[str, Any]], *, replace: bool) -> None:
        """Subtable rows: kept ids are updated in place, new rows inserted, missing ones deleted."""
        child = f.table
        assert child is not None
        existing: set[int] = set()
        if replace:
            existing = set(self.session.scalars(select(child.c.id).where(child.c.parent_id == parent_id)))
        kept: set[int] = set()
        for position, row in enumerate(rows):
            data = {k: row.get(k) for k in f.sub_fields}
            data["_position"] = position
            row_id = row.get("id")
            if isinstance(row_id, int) and row_id in existing:
                self.session.execute(update(child).where(child.c.id == row_id).values(**data))
                kept.add(row_id)
            else:
                self.session.execute(insert(child).values(parent_id=parent_id, **data))
        gone = existing - kept
        if gone:
            self.session.execute(delete(child).where(child.c.id.in_(gone)))

    def _columns(self, model: EntityModel, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if model.fields[k].storage == "column"}

    def _unique_conflict(
        self, model: EntityModel, values: Mapping[str, Any], record_id: int | None
    ) -> Conflict | None:
        """Name the unique key a write collided with (the database refused it; this finds which)."""
        table = model.table
        for keys in model.unique_keys():
            if any(values.get(k) is None for k in keys):
                continue
            stmt = model.statements.get(("unique", keys))
            if stmt is None:
                stmt = (
                    select(table.c.id)
                    .where(table.c._deleted_at.is_(None), table.c.id != bindparam("_self"),
                           *(table.c[k] == bindparam(f"_k_{k}") for k in keys))
                    .limit(1)
                )
                model.statements[("unique", keys)] = stmt
            params = {f"_k_{k}": values[k] for k in keys}
            params["_self"] = record_id if record_id is not None else 0
            other = self.session.scalar(stmt, params)
            if other is not None:
                shown = ", ".join(f"{k} {self._shown(model, k, values[k])}" for k in keys)
                return Conflict(
                    f"Another {model.key} (id {other}) already has {shown}; {model.key} records must be unique by "
                    f"({', '.join(keys)}).",
                    errors=dict.fromkeys(keys, f"already used by {model.key} {other}"),
                    duplicate_of=other,
                )
        return None

    def _shown(self, model: EntityModel, key: str, value: Any) -> str:
        """A value for an error message, as the actor may see it (masks hold in messages too)."""
        f = model.fields[key]
        text = f.type.to_text(value, f.spec, self.ctx)
        rule = self.access(model.key).rule(key)
        if rule == "hidden":
            return "(hidden)"
        if rule == "masked":
            text = mask_text(text, f.spec.get("mask") or _default_mask(f.type.name))
        return repr(text)

    def _write_row(
        self,
        model: EntityModel,
        stmt: Any,
        values: Mapping[str, Any],
        record_id: int | None,
        *,
        returning: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run an INSERT (``returning`` the new id) or UPDATE (the row count).

        Unique keys are checked first, so the usual duplicate gets a 409 naming the other
        record; the unique index still decides a race (a plain 409 then: the transaction
        is gone on PostgreSQL, so there is nothing left to ask).
        """
        if model.unique_keys():
            conflict = self._unique_conflict(model, values, record_id)
            if conflict is not None:
                raise conflict
        try:
            result = self.session.execute(stmt, params) if params is not None else self.session.execute(stmt)
        except IntegrityError:
            raise Conflict(
                f"Another {model.key} with the same unique values was saved at the same moment; nothing was saved.",
                errors={k: "already used" for keys in model.unique_keys() for k in keys},
            ) from None
        return result.scalar_one() if returning else result.rowcount

    def create(self, entity: str, raw: Any) -> dict[str, Any]:
        """A new record from ``raw`` (JSON object); returns it as JSON.

        :raises ValidationError: (422) field errors by key. :raises Conflict: (409) a unique key is taken.
        """
        model = self.model(entity)
        self.require(entity, "create")
        self._check_writable(model, raw, creating=True)
        found = read_input(model, raw, self.ctx, user=self.actor.as_expr_user())
        self._raise_invalid(model, found.errors)
        values = found.values
        self._compute(model, values, None)
        return self._insert(model, values)

    def _insert_unique(self, model: EntityModel, params: dict[str, Any], columns: Mapping[str, Any]) -> int:
        """INSERT ... ON CONFLICT DO NOTHING: one statement when the keys are free, which is the usual case.

        No row back means a unique key is taken (by a live record; the indexes are partial):
        only then is the other record looked up, to name it in the 409.
        """
        stmt = model.statements.get("insert_unique")
        if stmt is None:
            if self.session.get_bind().dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            else:
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            stmt = dialect_insert(model.table).on_conflict_do_nothing().returning(model.table.c.id)
            model.statements["insert_unique"] = stmt
        record_id = self.session.execute(stmt, params).scalar()
        if record_id is None:
            raise self._unique_conflict(model, columns, None) or Conflict(
                f"Another {model.key} with the same unique values was saved at the same moment; nothing was saved.",
                errors={k: "already used" for keys in model.unique_keys() for k in keys},
            )
        return record_id

    def _insert(self, model: EntityModel, values: dict[str, Any]) -> dict[str, Any]:
        system = {
            "_version": 1,
            "_created_at": self.now,
            "_created_by": self.actor.user_id,
            "_updated_at": self.now,
            "_updated_by": self.actor.user_id,
        }
        columns = self._columns(model, values)
        if model.unique_keys():
            record_id = self._insert_unique(model, {**system, **columns}, columns)
        else:
            stmt = model.statements.get("insert")
            if stmt is None:
                stmt = model.statements["insert"] = insert(model.table).returning(model.table.c.id)
            record_id = self.session.execute(stmt, {**system, **columns}).scalar_one()
        self._insert_tables(model, record_id, values, replace=False)
        row = {"id": record_id, **system, "_deleted_at": None, **values}
        out = self.raw_json(model, row)
        changed = sorted(k for k in values if values[k] is not None)
        audit(self.session, self.actor, "create", "record", self._object_id(model, record_id),
              after=_fields_only(out), workspace_id=self.app.workspace_id, now=self.now)
        self._propagate(model, record_id, None, row)
        self._emit(model, "record.created", record_id, new=out, old=None, changed=changed)
        return self.present(model, out)

    def _emit(self, model: EntityModel, event: str, record_id: int, *, new: Any, old: Any, changed: list[str]) -> None:
        emit_many(self.session, [self._event(model, event, record_id, new=new, old=old, changed=changed)])

    def _event(
        self, model: EntityModel, event: str, record_id: int, *, new: Any, old: Any, changed: list[str]
    ) -> dict[str, Any]:
        return event_values(
            event,
            payload={
                "app": self.app.key,
                "app_id": self.app.id,
                "entity": model.key,
                "id": record_id,
                "version": model.version,
                "record": _fields_only(new) if new is not None else None,
                "old": _fields_only(old) if old is not None else None,
                "_changed": changed,
            },
            workspace_id=self.app.workspace_id,
            actor=self.actor,
            now=self.now,
        )

    def update(self, entity: str, record_id: Any, raw: Any, *, version: Any = None) -> dict[str, Any]:
        """PATCH: change the given fields of a record at ``version`` (or ``raw["_version"]``).

        :raises Conflict: (409) the record changed since ``version`` (the current version is in the problem).
        """
        model = self.model(entity)
        self.require(entity, "update")
        if isinstance(raw, dict) and version is None:
            version = raw.get("_version")
        if version is None:
            raise ValidationError(
                "Send the `_version` you read (or an If-Match header) so a concurrent change is not overwritten.",
                errors={"_version": "is required"},
            )
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValidationError("`_version` must be a whole number.", errors={"_version": "must be an integer"})
        current = self._row(model, record_id, action="update")
        self._check_writable(model, {k: v for k, v in raw.items() if k != "_version"} if isinstance(raw, dict) else raw)
        if current["_version"] != version:
            raise self._stale(model, record_id, current["_version"])
        old = self.raw_json(model, current)
        found = read_input(model, raw, self.ctx, existing=old, user=self.actor.as_expr_user(),
                           ignore=frozenset({"_version"}))
        self._raise_invalid(model, found.errors)
        values = found.values
        self._compute(model, values, current)
        changed = sorted(k for k, v in values.items() if _differs(v, current.get(k)))
        if not changed:
            return self.present(model, old)
        table = model.table
        columns = {k: values[k] for k in changed if model.fields[k].storage == "column"}
        stmt = (
            update(table)
            .where(table.c.id == record_id, table.c._version == version, table.c._deleted_at.is_(None))
            .values(**columns, _version=table.c._version + 1, _updated_at=self.now, _updated_by=self.actor.user_id)
        )
        count = self._write_row(model, stmt, {**current, **columns}, record_id)
        if count != 1:
            latest = self.session.scalar(select(table.c._version).where(table.c.id == record_id))
            raise self._stale(model, record_id, latest)
        self._insert_tables(model, record_id, {k: values[k] for k in changed}, replace=True)
        row = {**current, **{k: values[k] for k in changed}, "_version": version + 1, "_updated_at": self.now,
               "_updated_by": self.actor.user_id}
        out = self.raw_json(model, row)
        audit(self.session, self.actor, "update", "record", self._object_id(model, record_id),
              before={k: old.get(k) for k in changed}, after={k: out.get(k) for k in changed},
              workspace_id=self.app.workspace_id, now=self.now)
        self._propagate(model, record_id, current, row)
        self._emit(model, "record.updated", record_id, new=out, old=old, changed=changed)
        return self.present(model, out)

    def _stale(self, model: EntityModel, record_id: Any, current_version: int | None) -> Exception:
        if current_version is None:
            return NotFound(f"There is no {model.key} {record_id} in app {self.app.key!r}.")
        return Conflict(
            f"{model.key} {record_id} was changed by someone else (it is at version {current_version}); "
            "reload it and apply your change again.",
            errors={"_version": f"stale; the current version is {current_version}"},
            current_version=current_version,
        )

    def delete(self, entity: str, record_id: Any) -> dict[str, Any]:
        """Soft-delete a record (restorable); relations pointing at it follow their ``on_delete`` policy."""
        model = self.model(entity)
        self.require(entity, "delete")
        current = self._row(model, record_id, action="delete")
        self._apply_on_delete(model, record_id)
        table = model.table
        self.session.execute(
            update(table).where(table.c.id == record_id)
            .values(_deleted_at=self.now, _version=table.c._version + 1, _updated_at=self.now,
                    _updated_by=self.actor.user_id)
        )
        old = self.raw_json(model, current)
        audit(self.session, self.actor, "delete", "record", self._object_id(model, record_id),
              before=_fields_only(old), workspace_id=self.app.workspace_id, now=self.now)
        self._propagate(model, record_id, current, None)
        self._emit(model, "record.deleted", record_id, new=None, old=old, changed=[])
        return self.present(model, {**old, "_deleted_at": stamp_json(self.now), "_version": current["_version"] + 1})

    def restore(self, entity: str, record_id: Any) -> dict[str, Any]:
        """Bring a soft-deleted record back (its unique keys must still be free)."""
        model = self.model(entity)
        self.require(entity, "delete")
        current = self._row(model, record_id, deleted=True, action="delete")
        if current["_deleted_at"] is None:
            raise Conflict(f"{model.key} {record_id} is not deleted.")
        table = model.table
        stmt = (
            update(table).where(table.c.id == record_id)
            .values(_deleted_at=None, _version=table.c._version + 1, _updated_at=self.now,
                    _updated_by=self.actor.user_id)
        )
        self._write_row(model, stmt, current, record_id)
        row = {**current, "_deleted_at": None, "_version": current["_version"] + 1, "_updated_at": self.now,
               "_updated_by": self.actor.user_id}
        out = self.raw_json(model, row)
        audit(self.session, self.actor, "restore", "record", self._object_id(model, record_id),
              after=_fields_only(out), workspace_id=self.app.workspace_id, now=self.now)
        self._propagate(model, record_id, None, row)
        self._emit(model, "record.restored", record_id, new=out, old=None, changed=[])
        return self.present(model, out)

    def _apply_on_delete(self, model: EntityModel, record_id: int) -> None:
        """Other entities' one-relations to this record: restrict refuses, set_null clears, cascade deletes."""
        for other, f in self._relations_to(model.key):
            table = other.table
            if f.storage != "column":
                link = f.table
                assert link is not None
                self.session.execute(delete(link).where(link.c.target_id == record_id))
                continue
            live = table.c._deleted_at.is_(None)
            policy = f.spec.get("on_delete", "set_null")
            if policy == "restrict":
                count = self.session.scalar(select(func.count()).where(table.c[f.key] == record_id, live))
                if count:
                    raise Conflict(
                        f"{count} {other.key} record(s) still point at this {model.key} through {f.key!r}; "
                        "change or delete them first.",
                        referenced_by=other.key,
                    )
            elif policy == "cascade":
                ids = list(self.session.scalars(select(table.c.id).where(table.c[f.key] == record_id, live)))
                for child_id in ids:
                    if other.key != model.key or child_id != record_id:
                        self.delete(other.key, child_id)
            else:
                self.session.execute(
                    update(table).where(table.c[f.key] == record_id, live)
                    .values({f.key: None, "_version": table.c._version + 1})
                )

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

    # ------------------------------------------------------------------ bulk
    def bulk_create(self, entity: str, rows: Any, *, skip_invalid: bool = False) -> dict[str, Any]:
        """Many records in this transaction: all or nothing (default), or skipping invalid rows.

        :raises ValidationError: (422) with ``errors`` keyed ``"<row>/<field>"`` when any row is
            invalid and ``skip_invalid`` is false; nothing is written then.
        """
        model = self.model(entity)
        self.require(entity, "create")
        if not isinstance(rows, list) or not rows:
            raise ValidationError("Send a non-empty JSON array of records.", errors={"records": "must be a non-empty array"})
        if len(rows) > MAX_BULK:
            raise ValidationError(f"At most {MAX_BULK} records per call.", errors={"records": f"more than {MAX_BULK}"})
        prepared: list[tuple[int, dict[str, Any]]] = []
        errors: dict[str, str] = {}
        user = self.actor.as_expr_user()
        for i, raw in enumerate(rows):
            self._check_writable(model, raw, creating=True)
            found = read_input(model, raw, self.ctx, user=user)
            if found.errors:
                errors.update({f"{i}/{k}": v for k, v in found.errors.items()})
                continue
            prepared.append((i, found.values))
        if errors and not skip_invalid:
            raise ValidationError(f"{len({k.split('/')[0] for k in errors})} of {len(rows)} records are invalid; "
                                  "nothing was saved.", errors=errors)
        dup_errors = self._batch_duplicates(model, prepared)
        if dup_errors:
            if not skip_invalid:
                first = min(dup_errors)
                raise Conflict(f"record {first}: {dup_errors[first][1]}",
                               errors={f"{i}/{k}": v for i, (errs, _d) in dup_errors.items() for k, v in errs.items()})
            for i, (errs, detail) in dup_errors.items():
                errors.update({f"{i}/{k}": v for k, v in errs.items()} or {str(i): detail})
            prepared = [(i, values) for i, values in prepared if i not in dup_errors]
        if not prepared:
            return {"created": [], "errors": errors}
        savepoint = self.session.begin_nested()
        try:
            created = self._insert_many(model, prepared)
        except IntegrityError:
            # a concurrent writer took one of the keys since the check: redo one by one to name it
            savepoint.rollback()
            return self._create_one_by_one(model, prepared, errors, skip_invalid=skip_invalid)
        savepoint.commit()
        return {"created": created, "errors": errors}

    def bulk_update(self, entity: str, rows: Any, *, skip_invalid: bool = False) -> dict[str, Any]:
        """PATCH many records in this transaction; each row is ``{"id": n, "_version": v, ...changes}``.

        All or nothing by default (any row error: 422/409 listing every row's problem, nothing
        written); with ``skip_invalid`` each row is its own savepoint and bad rows are reported.
        """
        model = self.model(entity)
        self.require(entity, "update")
        if not isinstance(rows, list) or not rows:
            raise ValidationError("Send a non-empty JSON array of records.", errors={"records": "must be a non-empty array"})
        if len(rows) > MAX_BULK:
            raise ValidationError(f"At most {MAX_BULK} records per call.", errors={"records": f"more than {MAX_BULK}"})
        updated: list[int] = []
        errors: dict[str, str] = {}
        worst: type[OpsloomError] | None = None
        for i, raw in enumerate(rows):
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), int) or isinstance(raw.get("id"), bool):
                errors[f"{i}/id"] = "each record needs its `id` (a whole number)"
                worst = worst or ValidationError
                continue
            changes = {k: v for k, v in raw.items() if k != "id"}
            savepoint = self.session.begin_nested() if skip_invalid else None
            try:
                updated.append(self.update(model.key, raw["id"], changes)["id"])
            except (ValidationError, Conflict, NotFound, PermissionDenied) as exc:
                if savepoint is not None:
                    savepoint.rollback()
                errors.update({f"{i}/{k}": v for k, v in exc.errors.items()} or {str(i): exc.detail})
                worst = type(exc) if worst is None or exc.status > worst.status else worst
                continue
            if savepoint is not None:
                savepoint.commit()
        if errors and not skip_invalid:
            failed = len({k.split("/")[0] for k in errors})
            error_class = worst if worst is not None else ValidationError
            raise error_class(f"{failed} of {len(rows)} records could not be changed; nothing was saved.",
                              errors=errors)
        return {"updated": updated, "errors": errors}

    def _create_one_by_one(
        self, model: EntityModel, prepared: list[tuple[int, dict[str, Any]]], errors: dict[str, str], *,
        skip_invalid: bool,
    ) -> dict[str, Any]:
        created = []
        for i, values in prepared:
            self._compute(model, values, None)
            try:
                created.append(self._insert(model, values)["id"])
            except Conflict as exc:
                if not skip_invalid:
                    raise Conflict(f"record {i}: {exc.detail}", errors={f"{i}/{k}": v for k, v in exc.errors.items()}) \
                        from None
                errors.update({f"{i}/{k}": v for k, v in exc.errors.items()} or {str(i): exc.detail})
        return {"created": created, "errors": errors}

    def _batch_duplicates(
        self, model: EntityModel, prepared: list[tuple[int, dict[str, Any]]]
    ) -> dict[int, tuple[dict[str, str], str]]:
        """Rows whose unique keys repeat an earlier row of the batch or a live record: index -> (errors, detail)."""
        from sqlalchemy import tuple_

        found: dict[int, tuple[dict[str, str], str]] = {}
        table = model.table
        for keys in model.unique_keys():
            seen: dict[tuple[Any, ...], int] = {}
            candidates: dict[tuple[Any, ...], list[int]] = {}
            for i, values in prepared:
                value = tuple(values.get(k) for k in keys)
                if any(v is None for v in value) or i in found:
                    continue
                if value in seen:
                    shown = ", ".join(f"{k} {self._shown(model, k, values[k])}" for k in keys)
                    found[i] = (dict.fromkeys(keys, f"repeats record {seen[value]} of this batch"),
                                f"repeats {shown} of record {seen[value]} of this batch")
                    continue
                seen[value] = i
                candidates.setdefault(value, []).append(i)
            values_list = list(candidates)
            cols = [table.c[k] for k in keys]
            for start in range(0, len(values_list), 500):
                chunk = values_list[start:start + 500]
                condition = cols[0].in_([v[0] for v in chunk]) if len(cols) == 1 else tuple_(*cols).in_(chunk)
                for row in self.session.execute(
                    select(table.c.id, *cols).where(table.c._deleted_at.is_(None), condition)
                ):
                    for i in candidates.get(tuple(row[1:]), []):
                        shown = ", ".join(f"{k} {self._shown(model, k, v)}" for k, v in zip(keys, row[1:], strict=True))
                        found[i] = (dict.fromkeys(keys, f"already used by {model.key} {row[0]}"),
                                    f"another {model.key} (id {row[0]}) already has {shown}")
        return found

    def _insert_many(self, model: EntityModel, prepared: list[tuple[int, dict[str, Any]]]) -> list[int]:
        """Insert validated rows with one statement per table, plus their audit rows and events."""
        for f in model.computed_order:
            if f.type.name == "auto_number":
                numbers = self._reserve_numbers(model, f, len(prepared))
                self._numbers[(model.entity_table_id, f.id)] = numbers[::-1]
        system = {
            "_version": 1,
            "_created_at": self.now,
            "_created_by": self.actor.user_id,
            "_updated_at": self.now,
            "_updated_by": self.actor.user_id,
        }
        column_keys = [f.key for f in model.column_fields() if f.key in model.table.c]
        rows = []
        for _i, values in prepared:
            self._compute(model, values, None)
            rows.append({**system, **{k: values.get(k) for k in column_keys}})
        self._numbers.clear()
        table = model.table
        ids = list(self.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        ).scalars())
        for f in model.fields.values():
            if f.table is None:
                continue
            if f.storage == "child_table":
                children = [
                    {"parent_id": record_id, "_position": pos, **{k: sub.get(k) for k in f.sub_fields}}
                    for record_id, (_i, values) in zip(ids, prepared, strict=True)
                    for pos, sub in enumerate(values.get(f.key) or [])
                ]
                if children:
                    self.session.execute(insert(f.table), children)
            else:
                links = [
                    {"source_id": record_id, "target_id": target}
                    for record_id, (_i, values) in zip(ids, prepared, strict=True)
                    for target in values.get(f.key) or []
                ]
                if links:
                    self.session.execute(insert(f.table), links)
        audits, events, stored = [], [], []
        for record_id, (_i, values) in zip(ids, prepared, strict=True):
            row = {"id": record_id, **system, "_deleted_at": None, **values}
            stored.append(row)
            out = self.raw_json(model, row)
            audits.append(audit_values(self.actor, "create", "record", self._object_id(model, record_id),
                                       after=_fields_only(out), workspace_id=self.app.workspace_id, now=self.now))
            changed = sorted(k for k in values if values[k] is not None)
            events.append(self._event(model, "record.created", record_id, new=out, old=None, changed=changed))
        record_many(self.session, audits)
        emit_many(self.session, events)
        self._propagate_created(model, stored)
        return ids

    def _propagate_created(self, model: EntityModel, rows: list[dict[str, Any]]) -> None:
        """New records change only the rollups over them: recompute each affected target once."""
        if not self._has_dependents(model.key):
            return
        for target, rollup in self._rollups_over(model.key):
            link = rollup.spec["source"]["link"]
            for target_id in sorted({r.get(link) for r in rows if isinstance(r.get(link), int)}):
                self._set_computed(target, target_id, {rollup.key: self._aggregate(model, rollup, target_id)})

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
        table = model.table
        stmt = select(table)
        stmt = stmt.where(table.c._deleted_at.is_not(None) if deleted else table.c._deleted_at.is_(None))
        visible = self._scope(model, "read")
        if visible is not None:
            stmt = stmt.where(visible)
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
            try:
                stmt = stmt.where(expr.to_sql(filter, self.resolver(model), context={"_now": self.now,
                                                                                     "tz": self.ctx.timezone}))
            except expr.ExprError as exc:
                raise BadRequest(f"The filter is not valid: {exc.detail}",
                                 errors={f"filter{exc.path}" if exc.path else "filter": exc.detail}) from None
            scope.append(expr.canonical_json(filter))
        if q:
            stmt = stmt.where(self._search(model, q))
            scope.append("q:" + q)
        keys, extra = self._sort_keys(model, sort)
        if extra:
            stmt = stmt.add_columns(*extra)
        scope.append(sort or "")
        page = paginate(self.session, stmt, keys, secret=secret, limit=parse_limit(limit), cursor=cursor,
                        scope="|".join(scope), scalars=False)
        rows = [dict(r) for r in page.items]
        self._load_tables(model, rows)
        unknown = [f for f in fields or [] if f not in model.fields]
        if unknown:
            raise BadRequest(f"Unknown field(s) in `fields`: {', '.join(unknown)}.",
                             errors={"fields": f"unknown: {', '.join(unknown)}"})
        items = [self.to_json(model, r, fields) for r in rows]
        if expand:
            self.expand(model, items, expand)
        return Page(items=items, next_cursor=page.next_cursor)

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
        if self.session.get_bind().dialect.name == "postgresql":
            # ILIKE is what the trigram indexes made at publish serve
            return or_(*(c.ilike(pattern, escape="\\") for c in columns))
        return or_(*(func.lower(c).like(pattern, escape="\\") for c in columns))

    def _sort_keys(self, model: EntityModel, sort: str | None) -> tuple[list[SortKey], list[Any]]:
        table = model.table
        keys: list[SortKey] = []
        extra: list[Any] = []
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
            column = table.c[name]
            if not system:
                flag = cast(column.is_(None), Integer).label(f"_n_{name}")
                extra.append(flag)
                keys.append(SortKey(f"_n_{name}", flag, False))
            keys.append(SortKey(name, column, descending))
        if not keys or keys[-1].name != "id":
            keys.append(SortKey("id", table.c.id, bool(keys and keys[-1].descending)))
        return keys, extra


def _filter_vars(expression: Any) -> set[str]:
    from opsloom.platform import expr

    try:
        return set(expr.free_vars(expression))
    except expr.ExprError:
        return set()  # to_sql reports the malformed expression itself


def _default_mask(type_name: str) -> str:
    return {"phone": "phone", "email": "email"}.get(type_name, "full")


def json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _fields_only(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_") or k == "_version"}


def _differs(new: Any, old: Any) -> bool:
    return new != old

