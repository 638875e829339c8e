"""RecordService's bulk writes: validated per row, written with one statement per table, errors per row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from opsloom.platform.audit import record_batch
from opsloom.platform.bulk_insert import RowWriter, json_text, reserve_ids
from opsloom.platform.errors import Conflict, NotFound, OpsloomError, PermissionDenied, ValidationError
from opsloom.platform.events import emit_many

from .file_access import file_errors
from .values import fields_json, read_input

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Table
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .fields.base import FieldContext
    from .model import EntityModel


class BulkMixin:
    """Part of ``RecordService`` (see ``service.py``); it relies on the service's other methods."""

    session: Session
    actor: Actor
    app: Any
    ctx: FieldContext
    now: datetime

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
            problems = found.errors or file_errors(self, model, found.values, None)  # type: ignore[arg-type]
            if problems:
                errors.update({f"{i}/{k}": v for k, v in problems.items()})
                continue
            prepared.append((i, found.values))
        if errors and not skip_invalid:
            raise ValidationError(f"{len({k.split('/')[0] for k in errors})} of {len(rows)} records are invalid; "
                                  "nothing was saved.", errors=errors)
        if not prepared:
            return {"created": [], "errors": errors}
        # the unique indexes check the keys as the rows go in; only a refused batch pays for
        # finding which rows repeat a key (of the batch or of a live record) to name them all
        created = self._insert_batch(model, prepared)
        if created is not None:
            return {"created": created, "errors": errors}
        dup_errors = self._batch_duplicates(model, prepared)
        if not dup_errors:
            # a key taken by a concurrent writer, or a deleted record's: one by one names it
            return self._create_one_by_one(model, prepared, errors, skip_invalid=skip_invalid)
        if not skip_invalid:
            first = min(dup_errors)
            raise Conflict(f"record {first}: {dup_errors[first][1]}",
                           errors={f"{i}/{k}": v for i, (errs, _d) in dup_errors.items() for k, v in errs.items()})
        for i, (errs, detail) in dup_errors.items():
            errors.update({f"{i}/{k}": v for k, v in errs.items()} or {str(i): detail})
        prepared = [(i, values) for i, values in prepared if i not in dup_errors]
        if not prepared:
            return {"created": [], "errors": errors}
        created = self._insert_batch(model, prepared)
        if created is None:
            return self._create_one_by_one(model, prepared, errors, skip_invalid=skip_invalid)
        return {"created": created, "errors": errors}

    def _insert_batch(self, model: EntityModel, prepared: list[tuple[int, dict[str, Any]]]) -> list[int] | None:
        """``_insert_many`` in a savepoint; None (and nothing written) when a unique index refused a row."""
        savepoint = self.session.begin_nested()
        try:
            created = self._insert_many(model, prepared)
        except IntegrityError:
            savepoint.rollback()
            return None
        savepoint.commit()
        return created

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
        from sqlalchemy import any_, bindparam, tuple_
        from sqlalchemy.dialects.postgresql import ARRAY

        found: dict[int, tuple[dict[str, str], str]] = {}
        table = model.table
        for keys in model.unique_keys():
            seen: dict[tuple[Any, ...], int] = {}
            candidates: dict[tuple[Any, ...], list[int]] = {}
            for i, values in prepared:
                value = (values.get(keys[0]),) if len(keys) == 1 else tuple(values.get(k) for k in keys)
                if None in value or i in found:
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
            # PostgreSQL takes one key column's values as a single array parameter: thousands
            # of IN parameters cost more to send and plan than the lookup itself
            as_array = len(cols) == 1 and self.session.get_bind().dialect.name == "postgresql"
            size = len(values_list) or 1 if as_array else 500
            for start in range(0, len(values_list), size):
                chunk = values_list[start:start + size]
                if as_array:
                    condition = cols[0] == any_(bindparam("keys", [v[0] for v in chunk], type_=ARRAY(cols[0].type)))
                elif len(cols) == 1:
                    condition = cols[0].in_([v[0] for v in chunk])
                else:
                    condition = tuple_(*cols).in_(chunk)
                for row in self.session.execute(
                    select(table.c.id, *cols).where(table.c._deleted_at.is_(None), condition)
                ):
                    for i in candidates.get(tuple(row[1:]), []):
                        shown = ", ".join(f"{k} {self._shown(model, k, v)}" for k, v in zip(keys, row[1:], strict=True))
                        found[i] = (dict.fromkeys(keys, f"already used by {model.key} {row[0]}"),
                                    f"another {model.key} (id {row[0]}) already has {shown}")
        return found

    def _insert_many(self, model: EntityModel, prepared: list[tuple[int, dict[str, Any]]]) -> list[int]:
        """Insert validated rows at the driver's speed (``bulk_insert``), plus their audit rows and events.

        Ids are reserved first, so the child and link rows, audit rows and events are
        built in the same pass; each record's JSON is encoded once for its audit row and
        its event.
        """
        for f in model.computed_order:
            if f.type.name == "auto_number":
                numbers = self._reserve_numbers(model, f, len(prepared))
                self._numbers[(model.entity_table_id, f.id)] = numbers[::-1]
        table = model.table
        dependents = self._has_dependents(model.key)
        ids = reserve_ids(self.session, table, len(prepared))
        writer = _writer(model, table)
        value_keys = writer.columns[len(_SYSTEM):]
        system = (1, self.now, self.actor.user_id, self.now, self.actor.user_id, None)
        rows = []
        for record_id, (_i, values) in zip(ids, prepared, strict=True):
            self._compute(model, values, None)
            rows.append((record_id, *system, *[values.get(k) for k in value_keys]))
        self._numbers.clear()
        writer.write(self.session, rows)
        for f in model.fields.values():
            if f.table is None:
                continue
            if f.storage == "child_table":
                child = _writer(model, f.table, ("parent_id", "_position", *f.sub_fields))
                child.write(self.session, [
                    (record_id, pos, *[sub.get(k) for k in f.sub_fields])
                    for record_id, (_i, values) in zip(ids, prepared, strict=True)
                    for pos, sub in enumerate(values.get(f.key) or [])
                ])
            else:
                link = _writer(model, f.table, ("source_id", "target_id"))
                link.write(self.session, [
                    (record_id, target)
                    for record_id, (_i, values) in zip(ids, prepared, strict=True)
                    for target in values.get(f.key) or []
                ])
        audits, events, stored = [], [], []
        changed_json: dict[tuple[str, ...], str] = {}  # rows of a batch mostly fill the same fields
        event_head = self._event_head(model, "record.created")
        object_prefix = self._object_id(model, "")
        for record_id, (_i, values) in zip(ids, prepared, strict=True):
            encoded = json_text(fields_json(model, values, self.ctx, record_id, 1))
            audits.append((object_prefix + str(record_id), None, encoded))
            given = tuple(k for k, v in values.items() if v is not None)
            changed = changed_json.get(given)
            if changed is None:
                changed = changed_json[given] = json_text(sorted(given))
            events.append(event_head(record_id, encoded, "null", changed))
            if dependents:
                stored.append({"id": record_id, **values})
        record_batch(self.session, self.actor, "create", "record", audits,
                     workspace_id=self.app.workspace_id, now=self.now)
        emit_many(self.session, events)
        if dependents:
            self._propagate_created(model, stored)
        return ids


_SYSTEM = ("id", "_version", "_created_at", "_created_by", "_updated_at", "_updated_by", "_deleted_at")


def _writer(model: EntityModel, table: Table, columns: tuple[str, ...] | None = None) -> RowWriter:
    """The row writer of one of ``model``'s tables, built once per published version."""
    key = ("row_writer", table.name)
    writer = model.statements.get(key)
    if writer is None:
        if columns is None:
            columns = (*_SYSTEM, *[f.key for f in model.column_fields() if f.key in table.c])
        writer = model.statements[key] = RowWriter(table, columns)
    return writer




MAX_BULK = 5000
