"""The form engine's timeline sources (the record's changes, records related to it) and the app's source list.

Both read as the viewer: changes pass their field values through ``RecordService.present``
(masked stay masked, hidden are left out), related records come through
``RecordService.query`` (entity permission, read scope and field rules in SQL).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from opsloom.platform.models import AuditEntry, Membership, User

from .timeline import TimelineEntry, TimelineSource

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opsloom.platform.registry import Registry

    from .model import EntityModel, RuntimeField
    from .service import RecordService
    from .timeline import TimelinePosition

__all__ = ["BUILTIN_SOURCE_NAMES", "ChangesSource", "RelatedSource", "app_sources", "builtin_sources"]

log = logging.getLogger("opsloom.timeline")

#: ids in one ``id in [...]`` filter when following many-relation links
_CHUNK = 500
#: ``RecordService.query`` signs its own next cursor; the related source never uses it
_UNUSED_SECRET = "timeline-related-records"


def _actor(actor_id: int | None, name: str | None) -> dict[str, Any] | None:
    if actor_id is None and not name:
        return None
    return {"id": actor_id, "name": name or None}


class ChangesSource:
    """The record's audit entries (create, update, delete, restore, merge) as the viewer may see them.

    An update that touched only fields hidden from the viewer is kept, titled "changed
    hidden fields" with no names or values: leaving it out would hide that (and when)
    someone edited the record, and would make pages shorter than the sources reported.
    Values of fields the entity no longer has are left out too.
    """

    name = "changes"
    kind = "change"

    def entries(
        self,
        service: RecordService,
        model: EntityModel,
        record_id: int,
        before: TimelinePosition | None,
        limit: int,
    ) -> list[TimelineEntry]:
        stmt = select(AuditEntry).where(
            AuditEntry.workspace_id == service.app.workspace_id,
            AuditEntry.object_type == "record",
            AuditEntry.object_id == f"{service.app.key}/{model.key}/{record_id}",
        )
        if before is not None:
            stmt = stmt.where(before.boundary(self.kind, self.name).sql(AuditEntry.at, AuditEntry.id))
        stmt = stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        return [self._entry(service, model, row) for row in service.session.scalars(stmt)]

    def _entry(self, service: RecordService, model: EntityModel, row: AuditEntry) -> TimelineEntry:
        data, title = _describe(service, model, row.action, row.before or {}, row.after or {})
        return TimelineEntry(
            at=row.at,
            kind=self.kind,
            title=title,
            key=(row.id,),
            actor=_actor(row.actor_id, row.actor_name),
            data=data,
        )


def _visible(service: RecordService, model: EntityModel, values: Mapping[str, Any]) -> dict[str, Any]:
    """Field values as the viewer may see them (only fields the entity still has)."""
    return service.present(model, {k: v for k, v in values.items() if k in model.fields})


def _describe(
    service: RecordService,
    model: EntityModel,
    action: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> tuple[dict[str, Any], str]:
    """``(data, title)`` of one audit entry."""
    if action == "update":
        shown_before, shown_after = _visible(service, model, before), _visible(service, model, after)
        changed = {k for k in (*before, *after) if k in model.fields}
        shown = sorted(set(shown_before) | set(shown_after))
        hidden = bool(changed - set(shown))
        data = {
            "action": action,
            "fields": shown,
            "before": shown_before,
            "after": shown_after,
            "hidden_fields": hidden,
        }
        if shown:
            title = "changed " + ", ".join(shown) + (" and hidden fields" if hidden else "")
        else:
            title = "changed hidden fields" if hidden else "changed"
        return data, title
    if action in ("create", "restore"):
        return {"action": action, "after": _visible(service, model, after)}, f"{action}d"
    if action == "delete":
        return {"action": action, "before": _visible(service, model, before)}, "deleted"
    if action == "merge":
        readable = service.access(model.key).readable
        if "merged_into" in after:
            into = after["merged_into"]
            return {"action": action, "merged_into": into}, f"merged into {model.key} {into}"
        taken = sorted(k for k in after.get("taken") or [] if k in model.fields and readable(k))
        source = after.get("merged_from")
        return (
            {"action": action, "merged_from": source, "taken": taken},
            f"merged {model.key} {source} into this record",
        )
    # an action added later: who and when, never its raw images
    return {"action": action}, action


class RelatedSource:
    """Records of other entities whose relation (one or many) points at this record, at their creation.

    Read through ``RecordService.query``, so only entities the viewer may read, only rows
    inside the viewer's read scope, and only through relation fields the viewer sees in
    clear (a hidden or masked link does not reveal what it links to).
    """

    name = "related"
    kind = "related"

    def entries(
        self,
        service: RecordService,
        model: EntityModel,
        record_id: int,
        before: TimelinePosition | None,
        limit: int,
    ) -> list[TimelineEntry]:
        found: list[TimelineEntry] = []
        for other, relation in service._relations_to(model.key):
            if not service.can(other.key, "read") or not service.access(other.key).clear(relation.key):
                continue
            prefix = (other.key, relation.key)
            bound = before.boundary(self.kind, self.name, prefix) if before is not None else None
            for condition in _links(service, relation, record_id):
                parts = [condition] if bound is None else [condition, bound.expression()]
                page = service.query(
                    other.key,
                    filter={"and": parts} if len(parts) > 1 else parts[0],
                    sort="-_created_at",
                    limit=limit,
                    fields=[other.title_field] if other.title_field in other.fields else [],
                    secret=_UNUSED_SECRET,
                )
                found.extend(
                    self._entry(service, other, relation, item)
                    for item in page.items
                    if not (other.key == model.key and item["id"] == record_id)
                )
        found.sort(key=lambda e: (e.at, e.key), reverse=True)
        found = found[:limit]
        _name_actors(service, found)
        return found

    def _entry(
        self, service: RecordService, other: EntityModel, relation: RuntimeField, item: Mapping[str, Any]
    ) -> TimelineEntry:
        rid = item["id"]
        data: dict[str, Any] = {"entity": other.key, "id": rid, "via": relation.key}
        if other.title_field in item:
            data["record_title"] = item[other.title_field]
        creator = item.get("_created_by")
        return TimelineEntry(
            at=datetime.fromisoformat(item["_created_at"]),
            kind=self.kind,
            title=f"{other.key} {rid} created",
            key=(other.key, relation.key, rid),
            actor=None if creator is None else {"id": creator, "name": None},
            data=data,
            link={"app": service.app.key, "entity": other.key, "id": rid},
        )


def _links(service: RecordService, relation: RuntimeField, record_id: int) -> list[dict[str, Any]]:
    """Filters selecting the records whose ``relation`` points at ``record_id``.

    A one-relation is a column (``relation == id``); a many-relation lives in a link
    table, from which only the ids are read: the records themselves still come through
    ``query``, in chunks so no filter grows without bound.
    """
    if relation.storage == "column":
        return [{"==": [{"var": relation.key}, record_id]}]
    link = relation.table
    if link is None:
        return []
    ids = list(
        service.session.scalars(
            select(link.c.source_id).where(link.c.target_id == record_id).order_by(link.c.source_id.desc())
        )
    )
    return [{"in": [{"var": "id"}, ids[i : i + _CHUNK]]} for i in range(0, len(ids), _CHUNK)]


def _name_actors(service: RecordService, entries: list[TimelineEntry]) -> None:
    """Fill the creators' display names in (one query for the page), members of the workspace only."""
    ids = {e.actor["id"] for e in entries if e.actor is not None}
    if not ids:
        return
    names = {
        user_id: display or username
        for user_id, display, username in service.session.execute(
            select(User.id, User.display_name, User.username)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id.in_(ids), Membership.workspace_id == service.app.workspace_id)
        )
    }
    for entry in entries:
        if entry.actor is not None:
            entry.actor["name"] = names.get(entry.actor["id"])


def builtin_sources() -> list[TimelineSource]:
    """The form engine's own sources (to be registered through ``opsloom_register_timeline_sources``)."""
    return [ChangesSource(), RelatedSource()]


BUILTIN_SOURCE_NAMES = frozenset(source.name for source in builtin_sources())


def app_sources(registered: Registry[Any]) -> list[TimelineSource]:
    """Every timeline source of the app: the built-ins first, then the plugins' (in load order).

    A plugin's entry that is not a ``TimelineSource``, or that reuses a built-in's name,
    is skipped and logged: one bad plugin must not break every record's timeline. The
    built-ins are listed here until ``plugin.py`` returns ``builtin_sources()`` from its own
    ``opsloom_register_timeline_sources``; their registered copies are then recognised and
    not doubled.
    """
    sources: list[TimelineSource] = builtin_sources()
    for name, entry in registered.items():
        if name in BUILTIN_SOURCE_NAMES:
            if type(entry) is not type(next(s for s in sources if s.name == name)):
                log.error(
                    "timeline source %r of %s reuses a built-in name; skipped",
                    name,
                    registered.owner(name) or "a plugin",
                )
            continue  # the built-in itself, registered through the hook
        if not isinstance(entry, TimelineSource) or not isinstance(entry.kind, str) or not entry.kind:
            log.error(
                "timeline source %r of %s has no kind or entries(); skipped",
                name,
                registered.owner(name) or "a plugin",
            )
            continue
        sources.append(entry)
    return sources
