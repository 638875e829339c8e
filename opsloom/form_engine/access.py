"""Who may do what with an entity's records: grants on roles, compiled to SQL scopes and field rules.

A role's ``permissions`` (a platform column) holds grants keyed ``entity:<app>.<entity>``
(``entity:<app>.*`` and ``entity:*`` apply to every entity of an app, or of all apps;
the most specific key wins per role)::

    {"entity:crm.customer": {
        "create": "all", "read": "department", "update": "own", "delete": null,
        "import": "all", "export": {"expr": {"==": [{"var": "level"}, "vip"]}},
        "fields": {"phone": "masked", "notes": "hidden", "level": "read_only"}}}

A scope is ``all``, ``own`` (created by the user, or the entity's ``owner_field`` is the
user), ``department`` (created or owned by someone in the user's department or below),
or ``{"expr": ...}`` (an expression over the record and ``_user``); absent or null: not
allowed. Several roles add up: scopes are OR-ed, and a field gets the most open rule
(editable > read_only > masked > hidden). Administrators may do everything. A grant that
does not validate counts as no grant (fail closed); the permissions API refuses to save one.

Field rules: ``hidden`` (left out of every output, cannot be written, filtered, sorted or
searched), ``masked`` (shown masked; may be entered on a new record, not changed after;
not filterable, sortable or searchable, so the value cannot be probed), ``read_only``
and ``editable``.

Scopes become SQL through the expression language's ``to_sql``: records are never
filtered in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import false, or_, select

from opsloom.platform import expr
from opsloom.platform.models import Membership

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sqlalchemy import ColumnElement

    from opsloom.platform.actor import Actor

    from .model import EntityModel

__all__ = [
    "ACTIONS",
    "FIELD_RULES",
    "Access",
    "compile_access",
    "grant_errors",
    "grant_key",
    "substitute_user",
]

ACTIONS = ("create", "read", "update", "delete", "import", "export")
#: from most closed to most open
FIELD_RULES = ("hidden", "masked", "read_only", "editable")
_SIMPLE_SCOPES = ("all", "own", "department")


def grant_key(app_key: str, entity_key: str) -> str:
    return f"entity:{app_key}.{entity_key}"


def _scope_error(value: Any) -> str | None:
    if value is None or value in _SIMPLE_SCOPES:
        return None
    if isinstance(value, dict) and set(value) == {"expr"}:
        try:
            expr.compile(value["expr"])
        except expr.ExprError as exc:
            return f"the expression is invalid: {exc.detail}"
        return None
    return 'must be "all", "own", "department", {"expr": ...} or null'


def grant_errors(grant: Any, model: EntityModel | None = None) -> dict[str, str]:
    """Why ``grant`` (one entity's value in a role's permissions) is invalid, by pointer; {} when valid."""
    if not isinstance(grant, dict):
        return {"": "a grant must be an object of actions and field rules"}
    errors: dict[str, str] = {}
    for name, value in grant.items():
        if name == "fields":
            if not isinstance(value, dict):
                errors["/fields"] = "must be an object of field keys and rules"
                continue
            for key, rule in value.items():
                if rule not in FIELD_RULES:
                    errors[f"/fields/{key}"] = f"must be one of {', '.join(FIELD_RULES)}"
                elif model is not None and key not in model.fields:
                    errors[f"/fields/{key}"] = f"{model.key} has no field {key!r}"
        elif name in ACTIONS:
            problem = _scope_error(value)
            if problem:
                errors[f"/{name}"] = problem
            elif isinstance(value, dict) and model is not None:
                unknown = _unknown_vars(value["expr"], model)
                if unknown:
                    errors[f"/{name}"] = f"the expression uses {', '.join(unknown)}, not fields of {model.key}"
                else:
                    problem = _sql_error(value["expr"], model)
                    if problem:
                        errors[f"/{name}"] = problem
        else:
            errors[f"/{name}"] = f"unknown action (actions: {', '.join(ACTIONS)}; and fields)"
    return errors


def _unknown_vars(expression: Any, model: EntityModel) -> list[str]:
    names = set(model.fields) | {"id", "_created_by", "_created_at", "_updated_at", "_updated_by"}
    return sorted(
        v for v in expr.free_vars(expression) if v.split(".", 1)[0] not in names and not v.startswith("_user")
    )


_SAMPLE_USER = {"id": 0, "username": "", "name": "", "roles": [], "department": 0, "is_admin": False}


def _sql_error(expression: Any, model: EntityModel) -> str | None:
    """Why the scope cannot run as SQL on ``model`` (checked when saved, so reads never fail on it)."""
    from .model import sql_resolver

    try:
        expr.to_sql(substitute_user(expression, _SAMPLE_USER), sql_resolver(model))
    except expr.ExprError as exc:
        return f"the expression cannot be applied in the database: {exc.detail}"
    return None


def substitute_user(expression: Any, user: Mapping[str, Any]) -> Any:
    """``expression`` with every ``{"var": "_user..."}`` replaced by the actor's value (SQL has no ``_user``)."""
    if isinstance(expression, list):
        return [substitute_user(item, user) for item in expression]
    if not isinstance(expression, dict):
        return expression
    if set(expression) == {"var"}:
        ref = expression["var"]
        name = ref[0] if isinstance(ref, list) and ref else ref
        if isinstance(name, str) and (name == "_user" or name.startswith("_user.")):
            value: Any = user
            for part in name.split(".")[1:]:
                value = value.get(part) if isinstance(value, dict) else None
            # a list (the roles) is a list literal of constants; nothing else of ``_user`` is nested
            return None if isinstance(value, dict) else value
    return {key: substitute_user(value, user) for key, value in expression.items()}


@dataclass
class Access:
    """What one actor may do with one entity: scopes per action and a rule per field."""

    admin: bool = False
    #: action -> list of scopes granted by the actor's roles (empty: not allowed)
    scopes: dict[str, list[Any]] = field(default_factory=dict)
    #: field key -> the most open rule across roles (absent: editable)
    fields: dict[str, str] = field(default_factory=dict)

    def can(self, action: str) -> bool:
        return self.admin or bool(self.scopes.get(action))

    def rule(self, key: str) -> str:
        return "editable" if self.admin else self.fields.get(key, "editable")

    def readable(self, key: str) -> bool:
        return self.rule(key) != "hidden"

    def clear(self, key: str) -> bool:
        """The actor sees the field's real value (not hidden, not masked): filter, sort and search may use it."""
        return self.rule(key) in ("read_only", "editable")

    def writable(self, key: str) -> bool:
        return self.rule(key) == "editable"

    def scope_key(self, action: str, actor: Actor, departments: Iterable[int]) -> Any:
        """Everything ``condition`` depends on besides the model: equal keys, equal conditions."""
        if self.unrestricted(action):
            return None
        scopes = self.scopes.get(action, [])
        if not scopes:
            return False
        return (
            expr.canonical_json(scopes),
            actor.user_id,
            actor.workspace_id,
            tuple(departments) if "department" in scopes else (),
            expr.canonical_json(actor.as_expr_user()) if any(isinstance(s, dict) for s in scopes) else "",
        )

    def unrestricted(self, action: str) -> bool:
        return self.admin or "all" in self.scopes.get(action, [])

    def condition(
        self,
        action: str,
        model: EntityModel,
        actor: Actor,
        resolver: Any,
        departments: Iterable[int],
        context: Mapping[str, Any] | None = None,
    ) -> ColumnElement[bool] | None:
        """The SQL condition a record must meet for ``action`` (None: every record).

        ``context`` (``_now``, ``tz``) is what an expression scope's ``now()``/``today()`` read.
        """
        if self.unrestricted(action):
            return None
        scopes = self.scopes.get(action, [])
        if not scopes:
            return false()
        table = model.table
        owner = owner_field(model)
        parts: list[ColumnElement[bool]] = []
        for scope in scopes:
            if scope == "own":
                parts.append(table.c._created_by == actor.user_id)
                if owner is not None:
                    parts.append(table.c[owner] == actor.user_id)
            elif scope == "department":
                members = select(Membership.user_id).where(
                    Membership.workspace_id == actor.workspace_id, Membership.department_id.in_(list(departments))
                )
                parts.append(table.c._created_by.in_(members))
                if owner is not None:
                    parts.append(table.c[owner].in_(members))
            elif isinstance(scope, dict):
                parts.append(expr.to_sql(substitute_user(scope["expr"], actor.as_expr_user()), resolver, context=context))
        return or_(*parts) if parts else false()


def owner_field(model: EntityModel) -> str | None:
    """The user field that makes a record "own" besides its creator: ``owner_field``, else a user field ``owner``."""
    key = model.body.get("owner_field")
    if key is None and "owner" in model.fields and model.fields["owner"].type.name == "user":
        key = "owner"
    return key if key is not None and key in model.table.c else None


def compile_access(
    grants_by_role: Iterable[Mapping[str, Any]], app_key: str, entity_key: str, *, admin: bool
) -> Access:
    """Combine the actor's roles' permission documents into the ``Access`` for one entity."""
    access = Access(admin=admin)
    if admin:
        return access
    grants_by_role = list(grants_by_role)
    keys = (grant_key(app_key, entity_key), f"entity:{app_key}.*", "entity:*")
    for permissions in grants_by_role:
        if not isinstance(permissions, dict):
            continue
        grant = next((permissions[k] for k in keys if k in permissions), None)
        if grant is None or grant_errors(grant):
            continue
        for action in ACTIONS:
            scope = grant.get(action)
            if scope is not None:
                access.scopes.setdefault(action, []).append(scope)
        for key, rule in (grant.get("fields") or {}).items():
            current = access.fields.get(key)
            if current is None or FIELD_RULES.index(rule) > FIELD_RULES.index(current):
                access.fields[key] = rule
    # a field one role leaves unmentioned is editable for that role: the most open rule wins
    for permissions in grants_by_role:
        grant = next((permissions[k] for k in keys if isinstance(permissions, dict) and k in permissions), None)
        if isinstance(grant, dict) and not grant_errors(grant):
            mentioned = set(grant.get("fields") or {})
            for key in list(access.fields):
                if key not in mentioned:
                    del access.fields[key]
    return access
