"""Saved list views: a user's named filter, sort, columns and search of one entity, private or shared.

A view is checked against the published model when it is saved (the filter compiles,
sorted and listed fields exist), so applying it later cannot fail on a typo; a field the
viewer may not see is still refused by the record query, which owns those rules. Never
imports flask and never commits: the caller owns the transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from opsloom.platform import expr
from opsloom.platform.errors import NotFound, PermissionDenied, ValidationError

from .models import SavedView

if TYPE_CHECKING:
    from datetime import datetime

    from .model import EntityModel
    from .service import RecordService

__all__ = ["MAX_VIEWS", "SYSTEM_SORT_KEYS", "SavedViews", "view_json"]

#: most views one user may keep per entity (shared ones count for their owner)
MAX_VIEWS = 100
#: system columns a list may be sorted by besides the fields
SYSTEM_SORT_KEYS = frozenset({"id", "_created_at", "_updated_at"})
_BODY_KEYS = frozenset({"filter", "sort", "fields", "q"})


def view_json(view: SavedView, user_id: int | None) -> dict[str, Any]:
    """A view as the API shows it; ``mine`` tells the page whether the reader may delete it."""
    return {
        "id": view.id,
        "name": view.name,
        "shared": view.shared,
        "mine": view.owner_id == user_id,
        "body": dict(view.body or {}),
    }


def check_body(model: EntityModel, body: Any) -> dict[str, Any]:
    """``body`` cleaned for storage: ``{filter, sort, fields, q}``, each optional.

    :raises ValidationError: an unknown key, a filter that does not compile or names no
        field of the entity, a sort or column on a field the entity lacks.
    """
    if not isinstance(body, dict):
        raise ValidationError(
            "A view's body is an object {filter, sort, fields, q}.", errors={"body": "not an object"}
        )
    errors: dict[str, str] = {}
    for key in sorted(set(body) - _BODY_KEYS):
        errors[f"body/{key}"] = "unknown key (a view keeps filter, sort, fields and q)"
    clean: dict[str, Any] = {}
    known = set(model.fields)
    filter_ = body.get("filter")
    if filter_ is not None:
        try:
            expr.compile(filter_)
            unknown = sorted(
                name
                for name in {v.split(".", 1)[0] for v in expr.free_vars(filter_)}
                if name not in known and name not in SYSTEM_SORT_KEYS and not name.startswith("_")
            )
        except expr.ExprError as exc:
            errors["body/filter"] = f"is not a valid expression: {exc.detail}"
        else:
            if unknown:
                errors["body/filter"] = f"uses {', '.join(unknown)}, not fields of {model.key}"
            else:
                clean["filter"] = filter_
    sort = body.get("sort")
    if sort not in (None, ""):
        if not isinstance(sort, str):
            errors["body/sort"] = 'must be text like "-field,field"'
        else:
            parts = [p.strip() for p in sort.split(",") if p.strip()]
            bad = [p for p in parts if p.lstrip("+-") not in known | SYSTEM_SORT_KEYS]
            if bad:
                errors["body/sort"] = f"{', '.join(bad)}: not fields of {model.key}"
            else:
                clean["sort"] = ",".join(parts)
    fields = body.get("fields")
    if fields not in (None, []):
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            errors["body/fields"] = "must be a list of field keys"
        else:
            bad = [f for f in fields if f not in known]
            if bad:
                errors["body/fields"] = f"{', '.join(bad)}: not fields of {model.key}"
            else:
                clean["fields"] = list(dict.fromkeys(fields))
    q = body.get("q")
    if q not in (None, ""):
        if not isinstance(q, str) or len(q) > 200:
            errors["body/q"] = "must be text of at most 200 characters"
        else:
            clean["q"] = q
    if errors:
        raise ValidationError(f"The view of {model.key} is invalid.", errors=errors)
    return clean


class SavedViews:
    """Saved views of one app's entities, as one actor may see and change them."""

    def __init__(self, records: RecordService) -> None:
        self.records = records
        self.session = records.session
        self.actor = records.actor
        self.app = records.app

    def _visible(self, entity: str) -> Any:
        return select(SavedView).where(
            SavedView.workspace_id == self.app.workspace_id,
            SavedView.app_id == self.app.id,
            SavedView.entity_key == entity,
            or_(SavedView.owner_id == self.actor.user_id, SavedView.shared.is_(True)),
        )

    def list(self, entity: str) -> list[dict[str, Any]]:
        """The actor's own views, then shared ones, by name. :raises PermissionDenied: no read on the entity."""
        self.records.model(entity)
        self.records.require(entity, "read")
        views = self.session.scalars(self._visible(entity).order_by(SavedView.name, SavedView.id))
        items = [view_json(v, self.actor.user_id) for v in views]
        return sorted(items, key=lambda item: not item["mine"])

    def get(self, entity: str, view_id: int) -> dict[str, Any]:
        """One view the actor may apply; :raises NotFound: unknown, or another user's private view."""
        self.records.require(entity, "read")
        view = self.session.scalar(self._visible(entity).where(SavedView.id == view_id))
        if view is None:
            raise NotFound(f"There is no view {view_id} of {entity} you can use.")
        return view_json(view, self.actor.user_id)

    def create(self, entity: str, *, name: str, shared: bool, body: Any, now: datetime) -> dict[str, Any]:
        """Save a view. :raises ValidationError: a bad name or body; :raises PermissionDenied: no read."""
        model = self.records.model(entity)
        self.records.require(entity, "read")
        if self.actor.user_id is None:
            raise PermissionDenied("Views belong to a user; sign in as one to save a view.")
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise ValidationError(
                "Give the view a name of 1-200 characters.", errors={"name": "1-200 characters"}
            )
        clean = check_body(model, body)
        count = len(
            list(
                self.session.scalars(
                    select(SavedView.id).where(
                        SavedView.app_id == self.app.id,
                        SavedView.entity_key == entity,
                        SavedView.owner_id == self.actor.user_id,
                    )
                )
            )
        )
        if count >= MAX_VIEWS:
            raise ValidationError(
                f"You already keep {MAX_VIEWS} views of {entity}; delete one first.",
                errors={"name": "too many views"},
            )
        view = SavedView(
            workspace_id=self.app.workspace_id,
            app_id=self.app.id,
            entity_key=entity,
            owner_id=self.actor.user_id,
            shared=bool(shared),
            name=name,
            body=clean,
            created_at=now,
            updated_at=now,
        )
        self.session.add(view)
        self.session.flush()
        return view_json(view, self.actor.user_id)

    def delete(self, entity: str, view_id: int) -> None:
        """Delete one of the actor's views (administrators may remove shared ones too).

        :raises NotFound: unknown or another user's private view. :raises PermissionDenied: a
            shared view of someone else.
        """
        self.records.require(entity, "read")
        view = self.session.scalar(self._visible(entity).where(SavedView.id == view_id))
        if view is None:
            raise NotFound(f"There is no view {view_id} of {entity} you can use.")
        if view.owner_id != self.actor.user_id and not (self.actor.is_admin or self.actor.is_superuser):
            raise PermissionDenied("Only the owner of a shared view (or an administrator) may delete it.")
        self.session.delete(view)
        self.session.flush()
