"""Imports: check a file's mapping, preview it, and write its rows through ``RecordService``.

Never imports flask and never commits: the request commits a small run once; the
background job (``import_jobs``) commits a skip-invalid run batch by batch through
``on_batch``. All-or-nothing runs and dry runs work inside one savepoint that is rolled
back when anything failed (or always, for a dry run), so "nothing written" holds even
though the import log row itself is kept.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from marshmallow import RAISE, Schema, fields, validate
from marshmallow import ValidationError as SchemaError
from sqlalchemy import and_, or_, select

from opsloom.platform.errors import OpsloomError, PermissionDenied, ValidationError

from .fields.base import FieldValueError
from .fields.text import cell_text
from .import_refs import RefResolver
from .imports import RowError, convert_row, importable_fields, suggest_mapping
from .values import read_input

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

    from .imports import Sheet
    from .model import EntityModel
    from .service import RecordService

__all__ = [
    "MODES",
    "ErrorFile",
    "ImportOptions",
    "ImportOutcome",
    "ImportService",
    "parse_options",
]

MODES = ("all_or_nothing", "skip_invalid")
#: rows written per bulk call (and per commit of a background skip-invalid run)
BATCH_SIZE = 500
#: errors kept in the report itself; the error file has them all
REPORT_ERRORS = 100
#: rows the preview converts
PREVIEW_ROWS = 20


class _OptionsSchema(Schema):
    class Meta:
        unknown = RAISE

    mapping = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), load_default=None)
    mode = fields.String(validate=validate.OneOf(MODES), load_default="all_or_nothing")
    upsert_key = fields.List(fields.String(), load_default=None, allow_none=True)
    dry_run = fields.Boolean(load_default=False)
    preview = fields.Boolean(load_default=False)
    sheet = fields.String(load_default=None, allow_none=True)


@dataclass(frozen=True)
class ImportOptions:
    """What the user chose: column -> field key (None: suggested), mode, dedup key, dry run, preview, sheet."""

    mapping: dict[str, str | None] | None = None
    mode: str = "all_or_nothing"
    upsert_key: tuple[str, ...] = ()
    dry_run: bool = False
    preview: bool = False
    sheet: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping,
            "mode": self.mode,
            "upsert_key": list(self.upsert_key),
            "dry_run": self.dry_run,
            "sheet": self.sheet,
        }


def parse_options(raw: Any) -> ImportOptions:
    """The ``options`` JSON object; :raises ValidationError: unknown keys or wrong values, keyed ``options/<name>``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError(
            "`options` must be a JSON object.", errors={"options": "expected a JSON object"}
        )
    try:
        data = _OptionsSchema().load(raw)
    except SchemaError as exc:
        messages = exc.normalized_messages()
        errors = {
            f"options/{k}": "; ".join(map(str, v)) if isinstance(v, list) else str(v)
            for k, v in messages.items()
        }
        raise ValidationError(
            f"The import options are invalid: {', '.join(sorted(messages))}.", errors=errors
        ) from None
    return ImportOptions(
        mapping=data["mapping"],
        mode=data["mode"],
        upsert_key=tuple(data["upsert_key"] or ()),
        dry_run=data["dry_run"],
        preview=data["preview"],
        sheet=data["sheet"] or None,
    )


# ---------------------------------------------------------------- the error file


class ErrorFile:
    """The failed rows as they were in the file plus an ``error`` column: CSV, UTF-8 with BOM (Excel reads Chinese).

    Opened on the first error, so a clean run leaves no file behind.
    """

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path = path
        self.columns = columns
        self._handle: Any = None
        self._writer: Any = None
        self.count = 0

    def write(self, cells: Mapping[str, Any], errors: list[RowError]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle)
            name = "error" if "error" not in self.columns else "import error"
            self._writer.writerow([*self.columns, name])
        message = "; ".join(f"{e.column}: {e.message}" if e.column else e.message for e in errors)
        self._writer.writerow([*(cell_text(cells.get(c)) for c in self.columns), message])
        self.count += 1

    def close(self) -> Path | None:
        """Close the file; its path, or None when no row failed."""
        if self._handle is None:
            return None
        self._handle.close()
        return self.path


# ---------------------------------------------------------------- outcome


@dataclass
class ImportOutcome:
    """How a run went: counts, the first errors, whether the records were kept, how names resolved."""

    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    written: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: names found in reference columns so far, by field key (the run's ``RefResolver.resolved``, live)
    resolved: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def resolved_json(self) -> dict[str, list[dict[str, Any]]]:
        """A copy of ``resolved`` to store: the resolver keeps appending to its lists."""
        return {key: list(items) for key, items in self.resolved.items()}

    def fail(self, errors: list[RowError]) -> None:
        self.failed += 1
        room = REPORT_ERRORS - len(self.errors)
        self.errors.extend(e.as_json() for e in errors[: max(room, 0)])


# ---------------------------------------------------------------- the service


class ImportService:
    """Imports into one app's entities, as the actor of ``records`` (whose permissions apply)."""

    def __init__(self, records: RecordService, *, batch_size: int = BATCH_SIZE) -> None:
        self.records = records
        self.session = records.session
        self.batch_size = batch_size

    # ------------------------------------------------------------ checks
    def check_rights(self, entity: str, options: ImportOptions) -> EntityModel:
        """:raises PermissionDenied: no ``import`` or ``create`` right (nor ``update`` for an upsert)."""
        model = self.records.model(entity)
        self.records.require(entity, "import")
        self.records.require(entity, "create")
        if options.upsert_key:
            self.records.require(entity, "update")
        return model

    def mapping_for(
        self, model: EntityModel, columns: list[str], options: ImportOptions
    ) -> dict[str, str | None]:
        """The effective mapping (the user's, else the suggested one), checked against the file and the entity.

        :raises ValidationError: unknown columns or fields, computed fields, a field mapped twice.
        :raises PermissionDenied: a mapped field is hidden or read-only for the actor's role.
        """
        if options.mapping is None:
            return suggest_mapping(columns, model)
        errors: dict[str, str] = {}
        importable = set(importable_fields(model))
        used: dict[str, str] = {}
        mapping: dict[str, str | None] = dict.fromkeys(columns)
        for column, key in options.mapping.items():
            where = f"options/mapping/{column}"
            if column not in columns:
                errors[where] = f"the file has no column {column!r} (its columns: {', '.join(columns)})"
            elif not key:
                continue
            elif key not in model.fields:
                errors[where] = f"{model.key} has no field {key!r}"
            elif key not in importable:
                errors[where] = f"{key!r} is computed and cannot be imported"
            elif key in used:
                errors[where] = f"{key!r} is already filled from column {used[key]!r}"
            else:
                used[key] = column
                mapping[column] = key
        if errors:
            raise ValidationError(
                f"The column mapping is invalid: {'; '.join(errors.values())}.", errors=errors
            )
        return mapping

    def check_plan(
        self, model: EntityModel, mapping: Mapping[str, str | None], options: ImportOptions
    ) -> None:
        """Before any row: writable fields, required columns present, the dedup key mapped.

        :raises PermissionDenied: a mapped field the role may not write.
        :raises ValidationError: required columns missing (named), a bad dedup key.
        """
        access = self.records.access(model.key)
        refused = {
            column: key
            for column, key in mapping.items()
            if key and not access.writable(key) and access.rule(key) != "masked"
        }
        if refused:
            raise PermissionDenied(
                f"Your role may not import into {', '.join(sorted(refused.values()))}; leave those columns unmapped.",
                errors={
                    f"options/mapping/{column}": f"{key!r} is {access.rule(key).replace('_', '-')} for your role"
                    for column, key in refused.items()
                },
            )
        mapped = {key for key in mapping.values() if key}
        if not options.upsert_key:
            missing = self.missing_required(model, mapped)
            if missing:
                raise ValidationError(
                    f"Required columns are missing: {', '.join(missing)}. Add them to the file or map a column "
                    "to each.",
                    errors={f"columns/{key}": "is required but no column is mapped to it" for key in missing},
                    missing=missing,
                )
            return
        for key in options.upsert_key:
            if key not in model.fields:
                problem = f"{model.key} has no field {key!r}"
            elif key not in mapped:
                problem = f"{key!r} is part of the dedup key but no column is mapped to it"
            else:
                continue
            raise ValidationError(
                f"The dedup key is invalid: {problem}.", errors={"options/upsert_key": problem}
            )

    @staticmethod
    def missing_required(model: EntityModel, mapped: set[str]) -> list[str]:
        """Required fields (no default, not conditional) that no column fills."""
        return [
            key
            for key, f in model.fields.items()
            if f.spec.get("required")
            and not f.computed
            and f.spec.get("default") is None
            and key not in mapped
            and key not in model.visible_if
        ]

    # ------------------------------------------------------------ preview
    def preview(
        self, entity: str, sheet: Sheet, options: ImportOptions, *, rows: int = PREVIEW_ROWS
    ) -> dict[str, Any]:
        """Columns, the suggested and effective mapping, the first rows converted (with their errors), the row count.

        Writes nothing; unique keys are checked only by a run (a dry run shows them).
        """
        model = self.check_rights(entity, options)
        suggested = suggest_mapping(sheet.columns, model)
        mapping = self.mapping_for(model, sheet.columns, options)
        ctx = self.records.ctx
        user = self.records.actor.as_expr_user()
        sample = []
        shown_rows = list(sheet.records())[:rows]
        refs = RefResolver(self.records, model, mapping)
        refs.prepare(shown_rows)
        convert = refs.converters()
        columns = {k: c for c, k in mapping.items() if k}
        for number, cells in shown_rows:
            values, errors = convert_row(cells, mapping, model, ctx, number, convert)
            found = read_input(model, values, ctx, user=user)
            errors += self._field_errors(found.errors, mapping, number, skip={e.field for e in errors})
            shown = {
                k: model.fields[k].type.to_json(v, model.fields[k].spec, ctx)
                for k, v in found.values.items()
                if k in values
            }
            sample.append(
                {
                    "row": number,
                    "cells": {c: cell_text(v) for c, v in cells.items()},
                    "values": shown,
                    "errors": [e.as_json() for e in errors],
                    # names found in reference columns: [{text, id, by, target}] per field
                    "resolved": {
                        key: found
                        for key in refs.fields
                        if key in shown and (found := refs.explain(key, cells.get(columns[key])))
                    },
                }
            )
        mapped = {key for key in mapping.values() if key}
        return {
            "columns": sheet.columns,
            "suggested_mapping": suggested,
            "mapping": mapping,
            "fields": [
                {
                    "key": k,
                    "label": model.fields[k].spec.get("label"),
                    "type": model.fields[k].type.name,
                    "required": bool(model.fields[k].spec.get("required")),
                }
                for k in importable_fields(model)
            ],
            "missing_required": [] if options.upsert_key else self.missing_required(model, mapped),
            "total_rows": sheet.total,
            "encoding": sheet.encoding,
            "sample": sample,
        }

    # ------------------------------------------------------------ run
    def run(
        self,
        entity: str,
        sheet: Sheet,
        options: ImportOptions,
        *,
        error_file: ErrorFile | None = None,
        on_batch: Callable[[ImportOutcome], None] | None = None,
    ) -> ImportOutcome:
        """Import every row; see the module docstring for what is kept when.

        ``on_batch`` is called after each batch (a skip-invalid background run commits there).
        :raises PermissionDenied, ValidationError: the checks of ``check_rights`` / ``check_plan``.
        """
        model = self.check_rights(entity, options)
        mapping = self.mapping_for(model, sheet.columns, options)
        self.check_plan(model, mapping, options)
        if not sheet.rows:
            raise ValidationError(
                "The file has a header but no rows to import.", errors={"file": "has no rows"}
            )
        refs = RefResolver(self.records, model, mapping)
        outcome = ImportOutcome(total=sheet.total, resolved=refs.resolved)
        atomic = options.mode == "all_or_nothing" or options.dry_run
        savepoint = self.session.begin_nested() if atomic else None
        try:
            batch: list[tuple[int, dict[str, Any]]] = []
            for number, cells in sheet.records():
                batch.append((number, cells))
                if len(batch) >= self.batch_size:
                    self._batch(model, mapping, options, batch, outcome, error_file, refs)
                    batch = []
                    if on_batch is not None:
                        on_batch(outcome)
            if batch:
                self._batch(model, mapping, options, batch, outcome, error_file, refs)
            keep = not options.dry_run and not (options.mode == "all_or_nothing" and outcome.failed)
            if savepoint is not None:
                if keep:
                    savepoint.commit()
                else:
                    savepoint.rollback()
            outcome.written = keep
            if not keep and not options.dry_run:
                outcome.created = outcome.updated = 0  # rolled back; a dry run reports what it would do
        except BaseException:
            if savepoint is not None and savepoint.is_active:
                savepoint.rollback()
            raise
        return outcome

    def _batch(
        self,
        model: EntityModel,
        mapping: Mapping[str, str | None],
        options: ImportOptions,
        rows: list[tuple[int, dict[str, Any]]],
        outcome: ImportOutcome,
        error_file: ErrorFile | None,
        refs: RefResolver,
    ) -> None:
        ctx = self.records.ctx
        refs.prepare(rows)  # names in reference columns: one query per kind of reference, not per row
        convert = refs.converters()
        failures: list[tuple[int, Mapping[str, Any], list[RowError]]] = []

        def fail(cells: Mapping[str, Any], errors: list[RowError]) -> None:
            failures.append((errors[0].row, cells, errors))

        ready: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        for number, cells in rows:
            values, errors = convert_row(cells, mapping, model, ctx, number, convert)
            if errors:
                fail(cells, errors)
            else:
                ready.append((number, cells, values))
        refs.warm(values for _n, _c, values in ready)
        if options.upsert_key:
            self._upsert(model, mapping, options.upsert_key, ready, outcome, fail)
        else:
            self._create(model, mapping, ready, outcome, fail)
        # conversion errors are found before write errors: report them in file order
        for _row, cells, errors in sorted(failures, key=lambda item: item[0]):
            outcome.fail(errors)
            if error_file is not None:
                error_file.write(cells, errors)
        outcome.processed += len(rows)

    def _create(
        self,
        model: EntityModel,
        mapping: Mapping[str, str | None],
        rows: list[tuple[int, dict[str, Any], dict[str, Any]]],
        outcome: ImportOutcome,
        fail: Callable[[Mapping[str, Any], list[RowError]], None],
    ) -> list[int | None]:
        """Create ``rows`` in one bulk call; the new ids in order (None where the row failed)."""
        if not rows:
            return []
        result = self.records.bulk_create(model.key, [values for _n, _c, values in rows], skip_invalid=True)
        by_index: dict[int, dict[str, str]] = {}
        for where, message in result["errors"].items():
            index, _sep, path = where.partition("/")
            by_index.setdefault(int(index), {})[path] = message
        created = iter(result["created"])
        ids: list[int | None] = []
        for i, (number, cells, _values) in enumerate(rows):
            if i in by_index:
                fail(cells, self._field_errors(by_index[i], mapping, number))
                ids.append(None)
            else:
                ids.append(next(created))
                outcome.created += 1
        return ids

    def _upsert(
        self,
        model: EntityModel,
        mapping: Mapping[str, str | None],
        key: tuple[str, ...],
        rows: list[tuple[int, dict[str, Any], dict[str, Any]]],
        outcome: ImportOutcome,
        fail: Callable[[Mapping[str, Any], list[RowError]], None],
    ) -> None:
        """Rows whose dedup key matches a live record update it (at its ``_version``); the others are created.

        A key repeated within the batch is created once, then updated by the later rows.
        """
        keyed: list[tuple[int, dict[str, Any], dict[str, Any], tuple[Any, ...]]] = []
        for number, cells, values in rows:
            found, problem = self._key_of(model, mapping, key, values, number)
            if problem is not None:
                fail(cells, [problem])
            else:
                keyed.append((number, cells, values, found))
        known = self._existing(model, key, {k for *_rest, k in keyed})
        pending: list[tuple[int, dict[str, Any], dict[str, Any], tuple[Any, ...]]] = []

        def flush() -> None:
            ids = self._create(model, mapping, [(n, c, v) for n, c, v, _k in pending], outcome, fail)
            for (_n, _c, _v, k), new_id in zip(pending, ids, strict=True):
                if new_id is not None:
                    known[k] = [(new_id, 1)]
            pending.clear()

        for number, cells, values, k in keyed:
            if any(k == other for *_rest, other in pending):
                flush()
            matches = known.get(k)
            if not matches:
                pending.append((number, cells, values, k))
                continue
            if len(matches) > 1:
                fail(
                    cells,
                    [RowError(number, "", f"{len(matches)} records match the dedup key; it must be unique")],
                )
                continue
            record_id, version = matches[0]
            try:
                with self.session.begin_nested():
                    out = self.records.update(model.key, record_id, values, version=version)
            except OpsloomError as exc:
                fail(
                    cells,
                    self._field_errors(exc.errors, mapping, number) or [RowError(number, "", exc.detail)],
                )
                continue
            known[k] = [(record_id, out["_version"])]
            outcome.updated += 1
        flush()

    def _key_of(
        self,
        model: EntityModel,
        mapping: Mapping[str, str | None],
        key: tuple[str, ...],
        values: Mapping[str, Any],
        number: int,
    ) -> tuple[tuple[Any, ...], RowError | None]:
        """The stored values of the dedup key in this row (coerced like the write will), or the reason it has none."""
        columns = {k: c for c, k in mapping.items() if k}
        found = []
        for k in key:
            f = model.fields[k]
            if values.get(k) is None:
                return (), RowError(number, columns[k], "is part of the dedup key and cannot be empty", k)
            try:
                found.append(f.type.coerce(values[k], f.spec, self.records.ctx))
            except FieldValueError as exc:
                return (), RowError(number, columns[k], str(exc), k)
        return tuple(found), None

    def _existing(
        self, model: EntityModel, key: tuple[str, ...], wanted: Iterable[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], list[tuple[int, int]]]:
        """Live records by dedup-key value, for the keys in ``wanted`` (one query)."""
        wanted = list(wanted)
        if not wanted:
            return {}
        table = model.table
        columns = [table.c[k] for k in key]
        match = or_(*(and_(*(c == v for c, v in zip(columns, values, strict=True))) for values in wanted))
        found: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
        stmt = select(table.c.id, table.c._version, *columns).where(table.c._deleted_at.is_(None), match)
        for row in self.session.execute(stmt):
            found.setdefault(tuple(row[2:]), []).append((row[0], row[1]))
        return found

    @staticmethod
    def _field_errors(
        errors: Mapping[str, str],
        mapping: Mapping[str, str | None],
        number: int,
        *,
        skip: set[Any] | None = None,
    ) -> list[RowError]:
        """Service errors keyed by field (or ``field/sub``) as row errors naming the file's column."""
        columns = {k: c for c, k in mapping.items() if k}
        out = []
        for where, message in errors.items():
            key = where.split("/", 1)[0]
            if skip and key in skip:
                continue
            out.append(RowError(number, columns.get(key, key), message, key or None))
        return out
