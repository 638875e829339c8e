"""RecordService: the only way to read or write records.

Every write validates against the published model (``values.read_input``), computes
auto numbers and formulas, writes the row (and child and link rows), records the audit
entry and the ``record.*`` outbox event, all in the caller's transaction; every read
goes through the same model. Permissions and masking plug in here (``access``), so the
API, the pages, imports and exports cannot bypass them.

The class is assembled from parts with one job each: ``service_access`` (grants, scopes,
field rules), ``service_computed`` (auto numbers, formulas, rollups and lookups kept
current), ``service_bulk`` (batched writes) and ``service_query`` (lists and expansion);
this module keeps single-record reads and writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from opsloom.platform.audit import audit_rows, audit_values, record_many
from opsloom.platform.bulk_insert import JSONText, RowWriter, json_text, write_together
from opsloom.platform.db import utcnow
from opsloom.platform.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from opsloom.platform.events import emit_many, event_rows, event_values
from opsloom.platform.models import Department, Membership
from opsloom.platform.trail_insert import IdInJSON, IdText, insert_with_trail

from .fields.base import FieldContext
from .file_access import file_errors
from .masks import mask_text
from .models import EntityTable, StoredFile
from .registry import field_types, model_for_row
from .service_access import AccessMixin, _default_mask
from .service_bulk import MAX_BULK, BulkMixin
from .service_computed import ComputedMixin
from .service_query import QueryMixin
from .values import fields_only, read_input, record_json, stamp_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App

    from .access import Access
    from .fields.base import FieldType
    from .model import EntityModel, RuntimeField

__all__ = ["MAX_BULK", "RecordService"]



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


class RecordService(AccessMixin, ComputedMixin, BulkMixin, QueryMixin):
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

    def _core(self) -> Connection:
        """The session's connection, for Core statements on the hot write path.

        ``Session.execute`` would run them through the ORM's execution layer, which costs
        more than the INSERT itself; pending ORM objects (uploads, say) are flushed first,
        as the session would have.
        """
        session = self.session
        if session.new or session.dirty or session.deleted:
            session.flush()
        return session.connection()

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

    def _object_id(self, model: EntityModel, record_id: int | str) -> str:
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

    # ------------------------------------------------------------------ writing
    def _raise_invalid(self, model: EntityModel, errors: dict[str, str]) -> None:
        if errors:
            first = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:3])
            raise ValidationError(f"The {model.key} is invalid: {first}.", errors=errors)

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
        self._raise_invalid(model, found.errors or file_errors(self, model, found.values, None))
        values = found.values
        self._compute(model, values, None)
        return self._insert(model, values)

    def _insert_row(self, model: EntityModel, params: dict[str, Any], columns: Mapping[str, Any]) -> int:
        """INSERT the record's row on the driver's cursor (``RowWriter.insert_one``); its new id.

        With unique keys it is ``ON CONFLICT DO NOTHING``: one statement when the keys are
        free, which is the usual case. No row back means a key is taken (by a live record;
        the indexes are partial): only then is the other record looked up, to name it in the 409.
        """
        names = tuple(params)
        writer = model.statements.get(("writer", names))
        if writer is None:
            writer = model.statements[("writer", names)] = RowWriter(model.table, names)
        self._core()  # flushes pending ORM objects first
        unique = bool(model.unique_keys())
        record_id = writer.insert_one(self.session, tuple(params.values()), skip_conflicts=unique)
        if record_id is None:
            raise self._taken(model, columns)
        return record_id

    def _taken(self, model: EntityModel, columns: Mapping[str, Any]) -> Conflict:
        """The 409 for a create whose unique key was taken: naming the other record when it can be found."""
        return self._unique_conflict(model, columns, None) or Conflict(
            f"Another {model.key} with the same unique values was saved at the same moment; nothing was saved.",
            errors={k: "already used" for keys in model.unique_keys() for k in keys},
        )

    def _insert(self, model: EntityModel, values: dict[str, Any]) -> dict[str, Any]:
        system = {
            "_version": 1,
            "_created_at": self.now,
            "_created_by": self.actor.user_id,
            "_updated_at": self.now,
            "_updated_by": self.actor.user_id,
        }
        columns = self._columns(model, values)
        if self._trail_in_one_statement(model, values):
            return self._insert_with_trail(model, system, columns, values)
        record_id = self._insert_row(model, {**system, **columns}, columns)
        self._insert_tables(model, record_id, values, replace=False)
        row = {"id": record_id, **system, "_deleted_at": None, **values}
        out = self.raw_json(model, row)
        changed = sorted(k for k in values if values[k] is not None)
        self._propagate(model, record_id, None, row)
        # the audit row and the event in one go (one round trip on PostgreSQL)
        write_together(self.session, [
            audit_rows([audit_values(self.actor, "create", "record", self._object_id(model, record_id),
                                     after=fields_only(out), workspace_id=self.app.workspace_id, now=self.now)]),
            event_rows([self._event(model, "record.created", record_id, new=out, old=None, changed=changed)]),
        ])
        return self.present(model, out)

    def _trail_in_one_statement(self, model: EntityModel, values: Mapping[str, Any]) -> bool:
        """On PostgreSQL a record with nothing to write elsewhere goes out with its audit row and event at once."""
        if self.session.get_bind().dialect.name != "postgresql":
            return False
        return all(model.fields[k].table is None for k in values) and not self._has_dependents(model.key)

    def _insert_with_trail(
        self, model: EntityModel, system: dict[str, Any], columns: dict[str, Any], values: dict[str, Any]
    ) -> dict[str, Any]:
        """``_insert`` in one statement (``trail_insert``): the JSON is made with id 0 and the database sets it."""
        out = self.raw_json(model, {"id": 0, **system, "_deleted_at": None, **values})
        changed = sorted(k for k in values if values[k] is not None)
        audit_writer, (audit_row,) = audit_rows([audit_values(
            self.actor, "create", "record", "", after=json_text(fields_only(out)),
            workspace_id=self.app.workspace_id, now=self.now,
        )])
        with_id = {"object_id": lambda _: IdText(self._object_id(model, "")), "after": lambda v: IdInJSON(v, (("id",),))}
        audit_row = tuple(
            with_id[c](v) if c in with_id else v for c, v in zip(audit_writer.columns, audit_row, strict=True)
        )
        event_writer, (event_row,) = event_rows([self._event(model, "record.created", 0, new=out, old=None,
                                                             changed=changed)])
        event_row = tuple(
            IdInJSON(v, (("id",), ("record", "id"))) if c == "payload" else v
            for c, v in zip(event_writer.columns, event_row, strict=True)
        )
        self._core()  # flushes pending ORM objects first
        record_id = insert_with_trail(
            self.session, model.table, {**system, **columns},
            [(audit_writer, audit_row), (event_writer, event_row)],
            skip_conflicts=bool(model.unique_keys()),
        )
        if record_id is None:
            raise self._taken(model, columns)
        return self.present(model, {**out, "id": record_id})

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
                "record": fields_only(new) if new is not None else None,
                "old": fields_only(old) if old is not None else None,
                "_changed": changed,
            },
            workspace_id=self.app.workspace_id,
            actor=self.actor,
            now=self.now,
        )

    def _event_head(self, model: EntityModel, event: str) -> Callable[[int, str, str, str], dict[str, Any]]:
        """``_event`` for many records of a bulk write, taking their JSON already encoded.

        Returns ``make(record_id, record, old, changed)`` (the last three as JSON text)
        giving the outbox row whose payload is the text ``_event`` would have encoded.
        """
        head = json_text({"app": self.app.key, "app_id": self.app.id, "entity": model.key})[:-1]
        tail = f',"version":{model.version},'
        actor = json_text({"id": self.actor.user_id, "username": self.actor.username})
        row = event_values(event, payload={}, workspace_id=self.app.workspace_id, actor=self.actor, now=self.now)

        def make(record_id: int, record: str, old: str, changed: str) -> dict[str, Any]:
            payload = JSONText(f'{head},"id":{record_id}{tail}"record":{record},"old":{old},'
                               f'"_changed":{changed},"_actor":{actor}}}')
            return {**row, "payload": payload}

        return make

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
        self._raise_invalid(model, found.errors or file_errors(self, model, found.values, current))
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
              before=fields_only(old), workspace_id=self.app.workspace_id, now=self.now)
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
              after=fields_only(out), workspace_id=self.app.workspace_id, now=self.now)
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





def _differs(new: Any, old: Any) -> bool:
    return new != old
