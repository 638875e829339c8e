"""The permissions pages: an app's role-by-entity matrix, one grant's form, and "view as this role".

Page views are an edge like ``api.py``: they read the signed-in administrator, save
through ``permissions.set_grant`` (which validates, audits and emits like every role
change) and preview through ``RecordService`` with ``permissions.actor_as_role``, so the
preview is exactly what the role gets from the API. A refused save answers 422 with the
form again, so the request rolls back and nothing is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from opsloom.platform import expr
from opsloom.platform.db import request_session
from opsloom.platform.definitions import service as definitions
from opsloom.platform.errors import NotFound, OpsloomError, ValidationError
from opsloom.platform.web.guards import admin_required, form_text, now, page_actor

from . import permissions
from .access import ACTIONS, FIELD_RULES, grant_errors
from .registry import get_model
from .service import RecordService

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask.typing import ResponseReturnValue

    from opsloom.platform.models import App

    from .model import EntityModel

__all__ = ["bp"]

#: records the "view as this role" list shows
PREVIEW_SIZE = 10
#: longest cell text in the preview list; the record's own panel shows the whole value
CELL_CHARS = 80
#: the scope select's values: "" is no access, "expr" takes the formula beside it
SCOPE_CHOICES = ("", "all", "own", "department", "expr")

bp = Blueprint(
    "form_engine_permissions",
    __name__,
    template_folder="templates",
    # another form-engine blueprint may serve this folder too: a URL of our own avoids a clash
    static_folder="static",
    static_url_path="/static/form-engine/permissions",
)


# ---------------------------------------------------------------- words shown on the pages


def action_names() -> dict[str, str]:
    return {
        "create": gettext("create"),
        "read": gettext("read"),
        "update": gettext("update"),
        "delete": gettext("delete"),
        "import": gettext("import"),
        "export": gettext("export"),
    }


def scope_names() -> dict[str, str]:
    return {
        "": gettext("none"),
        "all": gettext("all records"),
        "own": gettext("own records"),
        "department": gettext("my department"),
        "expr": gettext("expression"),
    }


def rule_names() -> dict[str, str]:
    return {
        "editable": gettext("editable"),
        "read_only": gettext("read-only"),
        "masked": gettext("masked"),
        "hidden": gettext("hidden"),
    }


def _translated_reason(reason: str) -> str:
    """The page's language for the grant checks' English reasons (the reason itself when unknown)."""
    prefixes = {
        "the expression is invalid: ": gettext("The expression is invalid: %(reason)s"),
        "the expression cannot be applied in the database: ": gettext(
            "The expression cannot be applied in the database: %(reason)s"
        ),
    }
    for prefix, sentence in prefixes.items():
        if reason.startswith(prefix):
            return sentence.replace("%(reason)s", reason.removeprefix(prefix))
    if reason.startswith("the expression uses "):
        names = reason.removeprefix("the expression uses ").split(", not fields of ")[0]
        return gettext("The expression uses %(names)s, which are not fields of this entity.", names=names)
    return reason


# ---------------------------------------------------------------- the form and the grant


@dataclass
class GrantForm:
    """The grant as the form shows it: a scope choice and formula per action, a rule per field."""

    scopes: dict[str, str] = field(default_factory=dict)
    formulas: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)


def form_of(grant: Any) -> GrantForm:
    """The form's values for a saved grant (None or not an object: nothing allowed)."""
    form = GrantForm()
    if not isinstance(grant, dict):
        return form
    for action in ACTIONS:
        scope = grant.get(action)
        if isinstance(scope, dict) and "expr" in scope:
            form.scopes[action] = "expr"
            try:
                form.formulas[action] = expr.to_formula(scope["expr"])
            except expr.ExprError:
                # a scope saved as JSON that has no formula text: show the JSON, which still parses
                form.formulas[action] = json.dumps(scope["expr"], ensure_ascii=False)
        elif scope in SCOPE_CHOICES:
            form.scopes[action] = scope
    rules = grant.get("fields")
    if isinstance(rules, dict):
        form.fields = {key: rule for key, rule in rules.items() if rule in FIELD_RULES}
    return form


def posted_form(model: EntityModel) -> GrantForm:
    """The form as posted; fields and choices the entity does not know are dropped, not trusted."""
    form = GrantForm()
    for action in ACTIONS:
        choice = form_text(f"scope-{action}")
        form.scopes[action] = choice if choice in SCOPE_CHOICES else ""
        form.formulas[action] = form_text(f"expr-{action}")
    for key in model.fields:
        rule = form_text(f"field-{key}")
        if rule in FIELD_RULES:
            form.fields[key] = rule
    return form


def grant_of(form: GrantForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The grant document the form describes, and its formula errors keyed by JSON pointer.

    Actions without access and editable fields are left out: absent means exactly that,
    and a short grant reads better in the role's JSON and the audit log.
    """
    grant: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for action in ACTIONS:
        choice = form.scopes.get(action, "")
        if choice == "expr":
            text = form.formulas.get(action, "")
            if not text:
                errors[f"/{action}"] = gettext('Write the condition records must meet, e.g. level = "vip".')
                continue
            try:
                grant[action] = {"expr": expr.parse_formula(text)}
            except expr.ExprError as exc:
                errors[f"/{action}"] = gettext("The formula is not valid: %(reason)s", reason=exc.detail)
        elif choice:
            grant[action] = choice
    rules = {key: rule for key, rule in form.fields.items() if rule != "editable"}
    if rules:
        grant["fields"] = rules
    return grant, errors


def summary(grant: Any) -> list[tuple[str, str]]:
    """(action, scope) words for a matrix cell, e.g. [("read", "department"), ("update", "own")]."""
    if not isinstance(grant, dict):
        return []
    actions, scopes = action_names(), scope_names()
    out = []
    for action in ACTIONS:
        scope = grant.get(action)
        if scope is None:
            continue
        choice = "expr" if isinstance(scope, dict) else str(scope)
        out.append((actions[action], scopes.get(choice, choice)))
    return out


def applies(grant: Any) -> bool:
    """Whether a saved grant counts: one that does not validate (e.g. typed in the role's JSON) is ignored."""
    return not grant_errors(grant)


def mask_offered(model: EntityModel, key: str, current: str) -> bool:
    """Masked is offered where the field's type knows a mask style (kept when already chosen)."""
    return bool(model.fields[key].type.masks) or current == "masked"


# ---------------------------------------------------------------- "view as this role"


def cell_text(value: Any, limit: int | None = CELL_CHARS) -> str:
    """A record value as plain text for the preview (the template escapes it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


@dataclass
class Preview:
    """What the role sees: its rules, the first records, one record; ``problem`` when it sees nothing."""

    rules: dict[str, str] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] | None = None
    record_problem: str = ""
    problem: str = ""
    is_admin: bool = False


def preview(app: App, role_key: str, model: EntityModel, record_id: int | None) -> Preview:
    """The entity through the role's eyes, by the same service the API uses (scope and field rules applied)."""
    session = request_session()
    viewer = permissions.actor_as_role(session, page_actor(), app.workspace_id, role_key)
    records = RecordService(session, viewer, app)
    access = records.access(model.key)
    shown = Preview(is_admin=access.admin, rules={key: access.rule(key) for key in model.fields})
    if not access.can("read"):
        shown.problem = gettext("This role may not read these records.")
        return shown
    page = records.query(model.key, limit=PREVIEW_SIZE, secret=current_app.config["SECRET_KEY"])
    shown.items = page.items
    shown.columns = [key for key in model.fields if access.readable(key)]
    if record_id is not None:
        try:
            shown.record = records.get(model.key, record_id)
        except OpsloomError:
            shown.record_problem = gettext("This role cannot see record %(id)s.", id=record_id)
    elif page.items:
        shown.record = page.items[0]
    return shown


# ---------------------------------------------------------------- pages


def _entity_label(model: EntityModel) -> Any:
    return model.body.get("label") or model.key


@bp.get("/apps/<app_key>/permissions")
@admin_required
def matrix_page(app_key: str) -> ResponseReturnValue:
    session = request_session()
    app = definitions.get_app(session, page_actor(), app_key)
    table = permissions.matrix(session, page_actor(), app)
    labels = {key: _entity_label(get_model(session, app, key)) for key in table["entities"]}
    return render_template(
        "form_engine/permissions.html",
        app=app,
        matrix=table,
        labels=labels,
        summary=summary,
        applies=applies,
        nav_active=f"app:{app.key}",
    )


def _grant_page(
    app_key: str,
    role_key: str,
    entity: str,
    *,
    form: GrantForm | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    session = request_session()
    actor = page_actor()
    app = definitions.get_app(session, actor, app_key)
    model = get_model(session, app, entity)
    table = permissions.matrix(session, actor, app)
    role = next((row for row in table["roles"] if row["key"] == role_key), None)
    if role is None:
        raise NotFound(gettext("There is no such role in this workspace."))
    saved = role["grants"].get(entity)
    inherited = saved is not None and saved["from"] != f"entity:{app.key}.{entity}"
    if form is None:
        form = form_of(saved["grant"] if saved else None)
    record_id = request.args.get("record", type=int)
    return (
        render_template(
            "form_engine/permissions_edit.html",
            app=app,
            role=role,
            model=model,
            entity_label=_entity_label(model),
            saved=saved,
            inherited=inherited,
            form=form,
            errors=errors or {},
            actions=ACTIONS,
            action_names=action_names(),
            scope_choices=SCOPE_CHOICES,
            scope_names=scope_names(),
            rules=tuple(reversed(FIELD_RULES)),
            rule_names=rule_names(),
            mask_offered=mask_offered,
            applies=applies,
            shown=preview(app, role_key, model, record_id),
            cell_text=cell_text,
            nav_active=f"app:{app.key}",
        ),
        status,
    )


@bp.get("/apps/<app_key>/permissions/<role_key>/<entity>")
@admin_required
def grant_page(app_key: str, role_key: str, entity: str) -> ResponseReturnValue:
    return _grant_page(app_key, role_key, entity)


@bp.post("/apps/<app_key>/permissions/<role_key>/<entity>")
@admin_required
def grant_save(app_key: str, role_key: str, entity: str) -> ResponseReturnValue:
    session = request_session()
    app = definitions.get_app(session, page_actor(), app_key)
    form = posted_form(get_model(session, app, entity))
    grant, errors = grant_of(form)
    if not errors:
        try:
            permissions.set_grant(session, page_actor(), app, role_key, entity, grant, now=now())
        except ValidationError as exc:
            session.rollback()
            errors = {pointer: _translated_reason(str(reason)) for pointer, reason in exc.errors.items()}
    if errors:
        errors = {"_form": gettext("The grant was not saved."), **errors}
        return _grant_page(app_key, role_key, entity, form=form, errors=errors, status=422)
    flash(
        gettext("The permissions of %(role)s on %(entity)s were saved.", role=role_key, entity=entity), "ok"
    )
    return redirect(url_for(".grant_page", app_key=app_key, role_key=role_key, entity=entity))


@bp.post("/apps/<app_key>/permissions/<role_key>/<entity>/delete")
@admin_required
def grant_remove(app_key: str, role_key: str, entity: str) -> ResponseReturnValue:
    session = request_session()
    app = definitions.get_app(session, page_actor(), app_key)
    permissions.set_grant(session, page_actor(), app, role_key, entity, None, now=now())
    flash(gettext("The grant of %(role)s on %(entity)s was removed.", role=role_key, entity=entity), "ok")
    return redirect(url_for(".matrix_page", app_key=app_key))
