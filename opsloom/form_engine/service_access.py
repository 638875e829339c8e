"""RecordService's permissions: grants compiled per entity, scopes in SQL, field rules on every output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from sqlalchemy import select

from opsloom.platform.errors import PermissionDenied
from opsloom.platform.models import Department, Role

from .access import Access, compile_access
from .masks import mask_text

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .fields.base import FieldContext
    from .model import EntityModel


class AccessMixin:
    """Part of ``RecordService`` (see ``service.py``); it relies on the service's other methods."""

    session: Session
    actor: Actor
    app: Any
    ctx: FieldContext
    now: datetime

    # ------------------------------------------------------------------ permissions
    def access(self, entity: str) -> Access:
        """The actor's permissions on ``entity`` (roles' grants combined; administrators: everything)."""
        found = self._access.get(entity)
        if found is None:
            admin = self.actor.is_admin or self.actor.is_superuser or self.actor.is_system
            cache, key = _access_cache(self.actor, self.app, entity, admin)
            found = cache.get(key) if cache is not None else None
            if found is None:
                found = compile_access(self._role_grants(admin), self.app.key, entity, admin=admin)
                if cache is not None:
                    if len(cache) >= _ACCESS_KEPT:
                        cache.clear()
                    cache[key] = found
            self._access[entity] = found
        return found

    def _role_grants(self, admin: bool) -> list[Any]:
        if self._grants is None:
            self._grants = [] if admin or not self.actor.role_ids else list(
                self.session.scalars(select(Role.permissions).where(
                    Role.id.in_(self.actor.role_ids), Role.workspace_id == self.app.workspace_id))
            )
        return self._grants

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
                found, unvisited = [], [start]
                while unvisited:
                    current = unvisited.pop()
                    if current in found:
                        continue
                    found.append(current)
                    unvisited.extend(children.get(current, []))
                self._department_ids = found
        return self._department_ids

    def _scope(self, model: EntityModel, action: str, context: Mapping[str, Any] | None = None) -> Any:
        """The SQL condition of the actor's ``action`` scope on ``model`` (None: all records)."""
        access = self.access(model.key)
        return access.condition(action, model, self.actor, self.resolver(model), self._scope_departments(access, action),
                                context)

    def _scope_key(self, model: EntityModel, action: str) -> Any:
        """What ``_scope`` depends on besides the model (see ``Access.scope_key``)."""
        access = self.access(model.key)
        return access.scope_key(action, self.actor, self._scope_departments(access, action))

    def _scope_departments(self, access: Access, action: str) -> list[int]:
        # the department tree is read only for a department scope
        return self._departments() if "department" in access.scopes.get(action, ()) else []

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
        if access.admin or not access.fields:
            return  # every field is editable
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




#: ``Flask.extensions`` key of the compiled ``Access`` objects of this process
_ACCESS = "opsloom.record_access"
_ACCESS_KEPT = 4096


def _access_cache(actor: Actor, app: Any, entity: str, admin: bool) -> tuple[dict[Any, Access] | None, Any]:
    """The process's cache of compiled permissions and this actor's key in it (no cache: None).

    A role's permissions change only through an ORM flush of the ``Role``, which bumps the
    workspace's ``definitions_version`` in the same transaction (``models.identity``), and
    authentication read that number for this actor: an entry under the same number, roles
    and entity is exactly what the grants query would compile to. Actors made without the
    number (tests, jobs built by hand) always query. The ``Access`` objects are shared, so
    nothing may change them after ``compile_access``.
    """
    version = actor.definitions_version
    if version is None or app.workspace_id != actor.workspace_id or not has_app_context():
        return None, None
    cache: dict[Any, Access] = current_app.extensions.setdefault(_ACCESS, {})
    return cache, (actor.workspace_id, version, actor.role_ids, admin, app.key, entity)


def _default_mask(type_name: str) -> str:
    return {"phone": "phone", "email": "email"}.get(type_name, "full")


def json_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
