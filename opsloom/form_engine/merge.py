"""Merging two records of an entity into one: chosen values, re-pointed relations, the audit trail.

One call, one savepoint: either the kept record has its new values, every live record
that pointed at the merged one points at the kept one, and the merged record is
soft-deleted (audit ``merge``, event ``record.merged``), or nothing changed.

The order of the steps is what makes it safe. Relations are re-pointed first, so the
merged record's ``on_delete`` policy finds nothing left to clear, refuse or cascade;
the merged record is deleted next, which frees its unique values (unique indexes cover
live rows only); only then does the kept record take values from it, through
``RecordService.update`` (validation, field rules, audit and events as any edit).

Never imports flask and never commits: the caller owns the transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from opsloom.platform.audit import record as audit
from opsloom.platform.errors import Conflict, ValidationError
from opsloom.platform.events import emit

from .repoint import repoint_references

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .model import EntityModel
    from .service import RecordService

__all__ = ["TAKE_CHOICES", "merge_records"]

#: what ``take`` may say per field: keep the kept record's value, or take the merged record's
TAKE_CHOICES = ("keep", "merge")


def _check_ids(keep_id: Any, merge_id: Any) -> None:
    errors: dict[str, str] = {}
    for name, value in (("keep", keep_id), ("merge", merge_id)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors[name] = "must be a record id (a positive whole number)"
    if not errors and keep_id == merge_id:
        errors["merge"] = "must be another record than `keep`"
    if errors:
        raise ValidationError("Name two different records to merge: `keep` and `merge`.", errors=errors)


def _check_take(model: EntityModel, take: Any) -> dict[str, str]:
    """``take`` as ``{field key: "keep"|"merge"}``; :raises ValidationError: keys under ``take/<key>``."""
    if take is None:
        return {}
    if not isinstance(take, dict):
        raise ValidationError(
            '`take` must be an object of field keys and "keep" or "merge".',
            errors={"take": "must be an object"},
        )
    errors: dict[str, str] = {}
    for key, choice in take.items():
        f = model.fields.get(key) if isinstance(key, str) else None
        if f is None:
            errors[f"take/{key}"] = (
                f"unknown field (the fields of {model.key} are: {', '.join(model.fields)})"
            )
        elif f.computed or f.storage == "none":
            errors[f"take/{key}"] = "is computed and follows the kept record"
        elif choice not in TAKE_CHOICES:
            errors[f"take/{key}"] = 'must be "keep" or "merge"'
    if errors:
        raise ValidationError("`take` names fields or choices that do not exist.", errors=errors)
    return dict(take)


def _check_version(model: EntityModel, name: str, record_id: int, expected: Any, current: int) -> None:
    if expected is None:
        return
    if not isinstance(expected, int) or isinstance(expected, bool):
        raise ValidationError(f"`{name}` must be a whole number.", errors={name: "must be an integer"})
    if expected != current:
        raise Conflict(
            f"{model.key} {record_id} was changed by someone else (it is at version {current}); "
            "reload both records and merge again.",
            errors={name: f"stale; the current version is {current}"},
            current_version=current,
        )


def _taken(
    service: RecordService,
    model: EntityModel,
    take: Mapping[str, str],
    kept: Mapping[str, Any],
    merged: Mapping[str, Any],
) -> dict[str, Any]:
    """The PATCH for the kept record: the merged record's values, subtable rows appended."""
    keep_json = service.raw_json(model, kept)
    merge_json = service.raw_json(model, merged)
    changes: dict[str, Any] = {}
    for key, choice in take.items():
        if choice != "merge":
            continue
        f = model.fields[key]
        if f.storage == "child_table":
            added = [{k: v for k, v in row.items() if k != "id"} for row in merge_json.get(key) or []]
            if added:
                changes[key] = [*(keep_json.get(key) or []), *added]
        elif merge_json.get(key) != keep_json.get(key):
            changes[key] = merge_json.get(key)
    return changes


def _locked_rows(
    service: RecordService, model: EntityModel, keep_id: int, merge_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both stored rows, locked in id order (two merges of one pair cannot deadlock; SQLite locks the file).

    The actor's scopes apply: update on the kept record, delete on the merged one.
    """
    rows: dict[int, dict[str, Any]] = {}
    for record_id in sorted((keep_id, merge_id)):
        action = "update" if record_id == keep_id else "delete"
        rows[record_id] = service._row(model, record_id, for_update=True, action=action)
    return rows[keep_id], rows[merge_id]


def merge_records(
    service: RecordService,
    entity: str,
    keep_id: Any,
    merge_id: Any,
    *,
    take: Mapping[str, str] | None = None,
    keep_version: Any = None,
    merge_version: Any = None,
) -> dict[str, Any]:
    """Merge record ``merge_id`` into ``keep_id`` and return the kept record as the actor sees it.

    ``take`` chooses per field whose value survives (default ``"keep"``); for a subtable
    ``"merge"`` appends the merged record's rows to the kept record's.

    :raises ValidationError: (422) bad ids, ``keep == merge``, unknown ``take`` keys or
        choices, or a taken value the kept record cannot hold.
    :raises PermissionDenied: (403) no update permission on the kept record or no delete
        permission on the merged one.
    :raises NotFound: (404) either record is unknown, deleted, another app's or out of scope.
    :raises Conflict: (409) a version given is stale, or re-pointing would break a unique key.
    """
    model = service.model(entity)
    service.require(entity, "update")
    service.require(entity, "delete")
    _check_ids(keep_id, merge_id)
    plan = _check_take(model, take)
    with service.session.begin_nested():
        kept, merged = _locked_rows(service, model, keep_id, merge_id)
        _check_version(model, "keep_version", keep_id, keep_version, kept["_version"])
        _check_version(model, "merge_version", merge_id, merge_version, merged["_version"])
        changes = _taken(service, model, plan, kept, merged)
        repointed = repoint_references(service, model, merge_id, keep_id)
        service.delete(entity, merge_id)
        audit(
            service.session,
            service.actor,
            "merge",
            "record",
            service._object_id(model, merge_id),
            after={"merged_into": keep_id},
            workspace_id=service.app.workspace_id,
            now=service.now,
        )
        if changes:
            # re-pointing may have touched the kept record (a relation to its own entity)
            version = service.session.scalar(
                select(model.table.c._version).where(model.table.c.id == keep_id)
            )
            service.update(entity, keep_id, changes, version=version)
        audit(
            service.session,
            service.actor,
            "merge",
            "record",
            service._object_id(model, keep_id),
            after={"merged_from": merge_id, "taken": sorted(changes), "repointed": repointed},
            workspace_id=service.app.workspace_id,
            now=service.now,
        )
        emit(
            service.session,
            "record.merged",
            payload={
                "app": service.app.key,
                "app_id": service.app.id,
                "entity": model.key,
                "keep": keep_id,
                "merged": merge_id,
                "repointed": repointed,
                "taken": sorted(changes),
            },
            workspace_id=service.app.workspace_id,
            actor=service.actor,
            now=service.now,
        )
        return service.get(entity, keep_id)
