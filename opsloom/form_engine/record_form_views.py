"""The record form pages (new, edit), their live visibility rules and the people pickers.

Split from ``record_views`` (the list and the record page), whose blueprint these routes
join: importing this module at the end of ``record_views`` attaches them. HTML inputs are
text, so ``record_forms.read_form`` reads each with its type's ``parse_text`` and the
service validates exactly as for the API.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from opsloom.platform.models import Department, Membership, User
from opsloom.platform.web.guards import login_required

from .record_forms import (
    FormField,
    form_conditions,
    form_fields,
    layout_sections,
    read_form,
    state_from_record,
)
from .record_views import _cells, _label, _names, _referenced, _service, _yes_no, bp
from .values import read_input

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask.typing import ResponseReturnValue

    from opsloom.platform.errors import OpsloomError

    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__: list[str] = []

# ---------------------------------------------------------------- forms


def _form_fields(service: RecordService, model: EntityModel, *, creating: bool) -> list[FormField]:
    return form_fields(model, service.access(model.key), creating=creating, label=_label)


def _conditions(
    service: RecordService, model: EntityModel, raw: dict[str, Any], existing: Mapping[str, Any] | None
) -> tuple[set[str], set[str]]:
    """(hidden, required) field keys for the values of a form, by the entity's conditions."""
    return form_conditions(model, raw, service.ctx, existing=existing, user=service.actor.as_expr_user())


def _fill(
    service: RecordService,
    model: EntityModel,
    fields: list[FormField],
    state: dict[str, Any],
    raw: dict[str, Any],
    existing: Mapping[str, Any] | None,
) -> None:
    """Put the state, visibility, requirement and picker labels into the form fields."""
    hidden, required = _conditions(service, model, raw, existing)
    users: set[int] = set()
    departments: set[int] = set()
    for item in fields:
        item.state = state.get(item.key, item.state)
        item.hidden = item.key in hidden
        item.required = item.key in required
        if item.widget in ("user", "department") and isinstance(item.state, str) and item.state.isdigit():
            (users if item.widget == "user" else departments).add(int(item.state))
    names = _names(service.session, service.app.workspace_id, users, departments)
    for item in fields:
        if item.widget in ("user", "department") and isinstance(item.state, str) and item.state.isdigit():
            item.options = [(item.state, names.get((item.widget, int(item.state)), f"#{item.state}"))]
        elif item.widget == "relation":
            ids = item.state if isinstance(item.state, list) else [item.state]
            item.options = [(i, _record_title(service, item.runtime, i)) for i in ids if str(i).isdigit()]


def _record_title(service: RecordService, f: RuntimeField, record_id: str) -> str:
    """``#12 Wang Wei``: a related record's id and title, as far as the actor may read it."""
    target = f.spec.get("target", "")
    try:
        model = service.model(target)
        title = f.spec.get("display_field") or model.title_field
        record = service.get(target, int(record_id))
    except Exception:
        return f"#{record_id}"
    value = record.get(title) if title else None
    return f"#{record_id} {value}" if value not in (None, "") else f"#{record_id}"


def _shown(
    service: RecordService, model: EntityModel, fields: list[FormField], record: Mapping[str, Any]
) -> None:
    users, departments = _referenced(model, [record])
    names = _names(service.session, service.app.workspace_id, users, departments)
    cells = _cells(service, model, record, names)
    for item in fields:
        item.shown = cells.get(item.key, "")


def _render_form(
    service: RecordService,
    model: EntityModel,
    fields: list[FormField],
    *,
    record: Mapping[str, Any] | None,
    errors: dict[str, str],
    status: int = 200,
    stale: bool = False,
    message: str = "",
) -> ResponseReturnValue:
    app_key = service.app.key
    context = {
        "app": service.app,
        "model": model,
        "entity_label": _label(model.label, model.key),
        "fields": fields,
        # the layout's sections, fields of none first (``layout_sections``)
        "sections": layout_sections(model.body.get("layout"), fields, key=lambda f: f.key, label=_label),
        "record": record,
        "errors": errors,
        "stale": stale,
        "message": message,
        "rules_url": url_for(".form_rules", app_key=app_key, entity=model.key),
        "people_url": url_for(".pick_people", app_key=app_key, kind="__kind__"),
        "records_api": f"/api/v1/apps/{app_key}/records/",
        "files_api": f"/api/v1/apps/{app_key}/records/{model.key}/files",
        "file_url": f"/api/v1/apps/{app_key}/files/",
        "yes_no": _yes_no(),
        "nav_active": f"app:{app_key}",
    }
    return render_template("form_engine/records_form.html", **context), status


def _submit_errors(service: RecordService, model: EntityModel, exc: OpsloomError) -> dict[str, str]:
    errors = {k.lstrip("/"): v for k, v in exc.errors.items()}
    if not errors or not any(k.split("/")[0] in model.fields for k in errors):
        errors["_form"] = exc.detail
    return errors


@bp.route("/apps/<app_key>/records/<entity>/new", methods=["GET", "POST"])
@login_required
def new_record(app_key: str, entity: str) -> ResponseReturnValue:
    from opsloom.platform.errors import Conflict, PermissionDenied, ValidationError

    service = _service(app_key)
    model = service.model(entity)
    service.require(entity, "create")
    fields = _form_fields(service, model, creating=True)
    if request.method == "GET":
        defaults = read_input(model, {}, service.ctx, user=service.actor.as_expr_user())
        record = {
            k: model.fields[k].type.to_json(v, model.fields[k].spec, service.ctx)
            for k, v in defaults.values.items()
        }
        _fill(service, model, fields, state_from_record(fields, record, service.ctx.timezone), {}, None)
        return _render_form(service, model, fields, record=None, errors={})
    parsed = read_form(fields, request.form, service.ctx)
    errors = _visible_errors(service, model, parsed.raw, parsed.errors, None)
    if not errors:
        try:
            created = service.create(entity, parsed.raw)
        except (ValidationError, Conflict, PermissionDenied) as exc:
            errors = _submit_errors(service, model, exc)
        else:
            flash(gettext("The record was saved."), "ok")
            return redirect(url_for(".show_record", app_key=app_key, entity=entity, record_id=created["id"]))
    _fill(service, model, fields, parsed.state, parsed.raw, None)
    return _render_form(service, model, fields, record=None, errors=errors, status=422)


def _visible_errors(
    service: RecordService,
    model: EntityModel,
    raw: dict[str, Any],
    errors: dict[str, str],
    existing: Mapping[str, Any] | None,
) -> dict[str, str]:
    """Unreadable inputs of fields the conditions show, plus what validation finds in the rest.

    A field hidden by ``visible_if`` is not stored, so what was typed into it before it
    disappeared does not matter; everything else is reported at once.
    """
    if not errors:
        return {}
    hidden, _required = _conditions(service, model, raw, existing)
    kept = {k: v for k, v in errors.items() if k.split("/")[0] not in hidden}
    if kept:
        found = read_input(model, raw, service.ctx, existing=existing, user=service.actor.as_expr_user())
        for key, message in found.errors.items():
            if key.split("/")[0] not in {k.split("/")[0] for k in kept}:
                kept[key] = message
    else:
        for key in errors:
            raw.pop(key.split("/")[0], None)
    return kept


@bp.route("/apps/<app_key>/records/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit_record(app_key: str, entity: str, record_id: int) -> ResponseReturnValue:
    from opsloom.platform.errors import Conflict, PermissionDenied, ValidationError

    service = _service(app_key)
    model = service.model(entity)
    service.require(entity, "update")
    record = service.get(entity, record_id)
    fields = _form_fields(service, model, creating=False)
    _shown(service, model, fields, record)
    if request.method == "GET":
        _fill(service, model, fields, state_from_record(fields, record, service.ctx.timezone), {}, record)
        return _render_form(service, model, fields, record=record, errors={})
    parsed = read_form(fields, request.form, service.ctx)
    errors = _visible_errors(service, model, parsed.raw, parsed.errors, record)
    stale = False
    if not errors:
        version = request.form.get("_version", "")
        try:
            service.update(entity, record_id, parsed.raw, version=int(version) if version.isdigit() else None)
        except Conflict as exc:
            stale = "_version" in exc.errors
            errors = _submit_errors(service, model, exc)
        except (ValidationError, PermissionDenied) as exc:
            errors = _submit_errors(service, model, exc)
        else:
            flash(gettext("The record was saved."), "ok")
            return redirect(url_for(".show_record", app_key=app_key, entity=entity, record_id=record_id))
    _fill(service, model, fields, parsed.state, parsed.raw, record)
    shown_version = {**record, "_version": request.form.get("_version", record["_version"])}
    return _render_form(
        service, model, fields, record=shown_version, errors=errors, status=409 if stale else 422, stale=stale
    )


@bp.post("/apps/<app_key>/records/<entity>/rules")
@login_required
def form_rules(app_key: str, entity: str) -> ResponseReturnValue:
    """Which fields the entity's conditions hide and require for the form's current values.

    Answers JSON for scripts and tests, and the same as an ``HX-Trigger`` event the form's
    script listens to. Inputs that cannot be read yet count as empty.
    """
    service = _service(app_key)
    model = service.model(entity)
    record_id = request.form.get("_record_id", "")
    existing = None
    if record_id.isdigit():
        service.require(entity, "update")
        existing = service.get(entity, int(record_id))
    else:
        service.require(entity, "create")
    fields = _form_fields(service, model, creating=existing is None)
    parsed = read_form(fields, request.form, service.ctx)
    raw = {k: v for k, v in parsed.raw.items() if k not in {e.split("/")[0] for e in parsed.errors}}
    hidden, required = _conditions(service, model, raw, existing)
    answer = {"hidden": sorted(hidden), "required": sorted(required)}
    response = jsonify(answer)
    response.headers["HX-Trigger"] = json.dumps({"opsloom:rules": answer})
    return response


# ---------------------------------------------------------------- pickers


@bp.get("/apps/<app_key>/pickers/<kind>")
@login_required
def pick_people(app_key: str, kind: str) -> ResponseReturnValue:
    """Members or departments of the workspace matching ``q``, for user and department pickers.

    The platform's users and departments APIs are for administrators; choosing an owner
    is not, so forms get this small search (names only) instead.
    """
    service = _service(app_key)
    q = (request.args.get("q") or "").strip().lower()[:100]
    pattern = f"%{q}%"
    workspace_id = service.app.workspace_id
    if kind == "user":
        stmt = (
            select(User.id, User.display_name, User.username)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.workspace_id == workspace_id,
                Membership.is_active.is_(True),
                User.is_active.is_(True),
            )
        )
        if q:
            from sqlalchemy import func, or_

            stmt = stmt.where(
                or_(func.lower(User.username).like(pattern), func.lower(User.display_name).like(pattern))
            )
        rows = service.session.execute(stmt.order_by(User.username).limit(20))
        items = [
            {"id": uid, "text": f"{display or username} ({username})"} for uid, display, username in rows
        ]
    elif kind == "department":
        stmt = select(Department.id, Department.name).where(Department.workspace_id == workspace_id)
        if q:
            from sqlalchemy import func

            stmt = stmt.where(func.lower(Department.name).like(pattern))
        rows = service.session.execute(stmt.order_by(Department.name).limit(20))
        items = [{"id": did, "text": name} for did, name in rows]
    else:
        from opsloom.platform.errors import NotFound

        raise NotFound(f"There is no picker for {kind!r}.")
    return jsonify({"items": items})


