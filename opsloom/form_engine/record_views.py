"""The record pages: list (columns, sort, filter, search, saved views, bulk actions), form, record.

Page views are an edge like ``api.py``: they read the signed-in actor, call
``RecordService`` (which applies permissions, scopes and masks exactly as for the API),
and leave the commit to the request (a 4xx answer rolls back). Forms post HTML text;
``record_forms`` reads it with each type's ``parse_text``. Live visibility asks the
server (``/rules``): conditions are in the expression language, which runs in Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy import select

from opsloom.platform import expr
from opsloom.platform.db import request_session
from opsloom.platform.definitions import service as definitions
from opsloom.platform.models import Department, Membership, User
from opsloom.platform.web.guards import is_htmx, login_required, page_actor
from opsloom.platform.web.i18n import label_text
from opsloom.platform.web.sections import AppLink, AppSection, register_app_section

from .models import EntityTable
from .record_forms import display_value, layout_sections, option_pairs
from .saved_views import SavedViews
from .service import RecordService

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from flask.typing import ResponseReturnValue
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App

    from .model import EntityModel, RuntimeField

__all__ = ["bp"]

#: records per list page
PAGE_SIZE = 25
#: longest text a list cell shows (the record page shows all of it)
CELL_CHARS = 80
#: most ids one bulk action takes (each is one service call)
MAX_BULK = 200

bp = Blueprint(
    "form_engine_records",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/form-engine/records",
)


# ---------------------------------------------------------------- the app page's section


def _records_section(session: Session, actor: Actor, app: App) -> AppSection | None:
    """The app's published entities whose records the actor may read, linking to their lists."""
    service = RecordService(session, actor, app)
    links = []
    keys = session.scalars(
        select(EntityTable.entity_key).where(EntityTable.app_id == app.id).order_by(EntityTable.entity_key)
    )
    for key in keys:
        if not service.can(key, "read"):
            continue
        model = service.model(key)
        links.append(
            AppLink(
                label=model.label,
                url=url_for("form_engine_records.list_records", app_key=app.key, entity=key),
                testid=f"records-{key}",
            )
        )
    return AppSection(
        title=gettext("Records"),
        links=links,
        order=10,
        empty=gettext("No published entity you may read yet."),
    )


bp.record_once(lambda state: register_app_section(state.app, _records_section))


# ---------------------------------------------------------------- shared helpers


def _service(app_key: str) -> RecordService:
    actor = page_actor()
    session = request_session()
    return RecordService(session, actor, definitions.get_app(session, actor, app_key))


def _label(value: Any, fallback: str) -> str:
    return label_text(value, fallback)


def _yes_no() -> tuple[str, str]:
    return gettext("yes"), gettext("no")


def _names(
    session: Session, workspace_id: int, users: set[int], departments: set[int]
) -> dict[tuple[str, int], str]:
    """Display names of the users and departments a page shows (one query each)."""
    names: dict[tuple[str, int], str] = {}
    if users:
        rows = session.execute(
            select(User.id, User.display_name, User.username)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id, User.id.in_(users))
        )
        names.update({("user", uid): display or username for uid, display, username in rows})
    if departments:
        rows = session.execute(
            select(Department.id, Department.name).where(
                Department.workspace_id == workspace_id, Department.id.in_(departments)
            )
        )
        names.update({("department", did): name for did, name in rows})
    return names


def _referenced(model: EntityModel, records: Iterable[Mapping[str, Any]]) -> tuple[set[int], set[int]]:
    users: set[int] = set()
    departments: set[int] = set()
    for record in records:
        for f in model.fields.values():
            value = record.get(f.key)
            if isinstance(value, int) and not isinstance(value, bool):
                if f.type.widget == "user":
                    users.add(value)
                elif f.type.widget == "department":
                    departments.add(value)
        for key in ("_created_by", "_updated_by"):
            if isinstance(record.get(key), int):
                users.add(record[key])
    return users, departments


@dataclass
class Column:
    """A list column: a field the actor may read, and whether clicking its header sorts by it."""

    key: str
    label: str
    sortable: bool
    runtime: RuntimeField


def _columns(service: RecordService, model: EntityModel) -> list[Column]:
    access = service.access(model.key)
    found = []
    for f in model.fields.values():
        if not access.readable(f.key):
            continue
        sortable_for = getattr(f.type, "sortable_for", None)
        sortable = f.type.sortable and (sortable_for(f.spec) if callable(sortable_for) else True)
        found.append(
            Column(
                f.key,
                _label(f.spec.get("label"), f.key),
                bool(sortable and access.clear(f.key) and f.key in model.table.c),
                f,
            )
        )
    return found


def _cells(
    service: RecordService,
    model: EntityModel,
    record: Mapping[str, Any],
    names: Mapping[tuple[str, int], str],
) -> dict[str, str]:
    access = service.access(model.key)
    return {
        f.key: display_value(
            f,
            record.get(f.key),
            rule=access.rule(f.key),
            timezone=service.ctx.timezone,
            label=_label,
            names=names,
            yes_no=_yes_no(),
        )
        for f in model.fields.values()
        if f.key in record
    }


# ---------------------------------------------------------------- list


def _query_args() -> dict[str, str]:
    """The list's query string (filter JSON, sort, search, columns, view) with blanks dropped."""
    args = request.values
    found = {
        k: args.get(k, "").strip() for k in ("filter", "sort", "q", "cols", "view") if args.get(k, "").strip()
    }
    chosen = [c.strip() for c in args.getlist("col") if c.strip()]
    if chosen and "cols" not in found:
        found["cols"] = ",".join(chosen)
    return found


def _filter_fields(service: RecordService, model: EntityModel) -> list[dict[str, Any]]:
    """What the filter builder offers: fields the actor sees in clear, with their operators and choices."""
    access = service.access(model.key)
    found = []
    for f in model.fields.values():
        if not access.clear(f.key) or f.storage not in ("column", "link_table"):
            continue
        kind = f.spec.get("result_type") or getattr(f.type, "expr_type", "any")
        if f.type.widget in ("user", "department", "relation"):
            kind = "id"
        found.append(
            {
                "key": f.key,
                "label": _label(f.spec.get("label"), f.key),
                "ops": list(f.type.filter_operators),
                "kind": kind if kind in ("number", "boolean", "id", "list") else "text",
                "options": [list(pair) for pair in _options(f)],
            }
        )
    return found


def _options(f: RuntimeField) -> list[tuple[str, str]]:
    return option_pairs(f.spec, _label)


def _list_context(
    service: RecordService, model: EntityModel, args: dict[str, str], error: str = ""
) -> dict[str, Any]:
    columns = _columns(service, model)
    wanted = [c for c in args.get("cols", "").split(",") if c]
    shown = [c for c in columns if c.key in wanted] or columns
    items: list[dict[str, Any]] = []
    next_cursor = None
    if not error:
        try:
            expression = json.loads(args["filter"]) if args.get("filter") else None
        except ValueError:
            error = gettext("The filter is not valid JSON.")
        else:
            try:
                page = service.query(
                    model.key,
                    filter=expression,
                    sort=args.get("sort"),
                    q=args.get("q"),
                    limit=PAGE_SIZE,
                    cursor=request.args.get("cursor") or None,
                    fields=[c.key for c in shown],
                    secret=current_app.config["SECRET_KEY"],
                )
                items, next_cursor = page.items, page.next_cursor
            except expr.ExprError as exc:
                error = exc.detail
            except Exception as exc:
                from opsloom.platform.errors import OpsloomError

                if not isinstance(exc, OpsloomError) or exc.status >= 500 or exc.status in (401, 403, 404):
                    raise
                error = exc.detail
    users, departments = _referenced(model, items)
    names = _names(service.session, service.app.workspace_id, users, departments)
    rows = [
        {"id": r["id"], "version": r["_version"], "cells": _cells(service, model, r, names)} for r in items
    ]
    base = url_for(".list_records", app_key=service.app.key, entity=model.key)
    keep = {k: v for k, v in args.items() if k in ("filter", "q", "cols")}
    access = service.access(model.key)
    export = {k: v for k, v in args.items() if k in ("filter", "q", "sort")}
    export_base = f"/api/v1/apps/{service.app.key}/records/{model.key}/export"
    return {
        "app": service.app,
        "model": model,
        "entity_label": _label(model.label, model.key),
        "columns": shown,
        "all_columns": columns,
        "rows": rows,
        "args": args,
        "sort": args.get("sort", ""),
        "error": error,
        "next_url": f"{base}?{urlencode({**args, 'cursor': next_cursor})}" if next_cursor else None,
        "first_url": f"{base}?{urlencode(args)}" if request.args.get("cursor") else None,
        "sort_url": lambda key: f"{base}?{urlencode({**keep, 'sort': _toggled(args.get('sort', ''), key)})}",
        "list_url": base,
        "filter_fields": _filter_fields(service, model),
        "can": {
            action: service.can(model.key, action)
            for action in ("create", "update", "delete", "import", "export")
        },
        "bulk_fields": [
            c
            for c in columns
            if access.writable(c.key)
            and not c.runtime.computed
            and c.runtime.type.widget not in ("subtable", "file", "image", "json")
        ],
        "export_urls": {
            fmt: f"{export_base}?{urlencode({'format': fmt, **export})}" for fmt in ("csv", "xlsx")
        },
        "import_url": f"/apps/{service.app.key}/records/{model.key}/import",
        "views": [
            {**view, "url": f"{base}?{urlencode(_view_args(view))}"}
            for view in SavedViews(service).list(model.key)
        ],
        "views_api": url_for("saved_views.Views", app_key=service.app.key, entity=model.key),
        "report": None,
        "cell_chars": CELL_CHARS,
        "nav_active": f"app:{service.app.key}",
    }


def _view_args(view: Mapping[str, Any]) -> dict[str, Any]:
    """The list's query string that applies a saved view."""
    body = view["body"]
    args: dict[str, Any] = {"view": view["id"]}
    if body.get("filter") is not None:
        args["filter"] = json.dumps(body["filter"], ensure_ascii=False, separators=(",", ":"))
    for key, name in (("sort", "sort"), ("q", "q")):
        if body.get(key):
            args[name] = body[key]
    if body.get("fields"):
        args["cols"] = ",".join(body["fields"])
    return args


def _toggled(current: str, key: str) -> str:
    """The sort after clicking ``key``'s header: ascending, then descending, then ascending again."""
    return f"-{key}" if current == key else key


@bp.get("/apps/<app_key>/records/<entity>")
@login_required
def list_records(app_key: str, entity: str) -> ResponseReturnValue:
    service = _service(app_key)
    model = service.model(entity)
    service.require(entity, "read")
    context = _list_context(service, model, _query_args())
    if is_htmx() and request.headers.get("HX-Target") == "records-results":
        return render_template("form_engine/records_table.html", **context)
    return render_template("form_engine/records.html", **context)


@bp.post("/apps/<app_key>/records/<entity>/bulk")
@login_required
def bulk_records(app_key: str, entity: str) -> ResponseReturnValue:
    """Delete, or set one field of, the selected records; each record alone, errors reported per row.

    Each record is changed in a savepoint, so one refused row leaves the others done.
    """
    service = _service(app_key)
    model = service.model(entity)
    action = request.form.get("action", "")
    picked: list[tuple[int, int]] = []
    for token in request.form.getlist("ids")[:MAX_BULK]:
        record_id, _, version = token.partition(":")
        if record_id.isdigit() and version.isdigit():
            picked.append((int(record_id), int(version)))
    report: dict[str, Any] = {"done": [], "errors": {}, "action": action}
    raw: dict[str, Any] | None = None
    if not picked:
        report["problem"] = gettext("Select at least one record.")
    elif action == "set":
        key = request.form.get("field", "")
        f = model.fields.get(key)
        if f is None or f.computed:
            report["problem"] = gettext("Choose a field to set.")
        else:
            from .fields.base import FieldValueError

            try:
                raw = {key: f.type.parse_text(request.form.get("value", ""), f.spec, service.ctx)}
            except FieldValueError as exc:
                report["problem"] = str(exc)
    elif action != "delete":
        report["problem"] = gettext("Choose an action.")
    if "problem" not in report:
        for record_id, version in picked:
            savepoint = service.session.begin_nested()
            try:
                if action == "delete":
                    service.delete(entity, record_id)
                else:
                    service.update(entity, record_id, dict(raw or {}), version=version)
            except Exception as exc:
                savepoint.rollback()
                report["errors"][record_id] = _problem_text(exc)
            else:
                savepoint.commit()
                report["done"].append(record_id)
    args = _query_args()
    context = _list_context(service, model, args)
    context["report"] = report
    template = "form_engine/records_table.html" if is_htmx() else "form_engine/records.html"
    return render_template(template, **context)


def _problem_text(exc: Exception) -> str:
    """A refused row's reason; a field error names its field."""
    from opsloom.platform.errors import OpsloomError

    if not isinstance(exc, OpsloomError):
        raise exc
    if exc.errors:
        return "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
    return exc.detail


# ---------------------------------------------------------------- the record


@bp.get("/apps/<app_key>/records/<entity>/<int:record_id>")
@login_required
def show_record(app_key: str, entity: str, record_id: int) -> ResponseReturnValue:
    service = _service(app_key)
    model = service.model(entity)
    record = service.get(entity, record_id)
    users, departments = _referenced(model, [record])
    names = _names(service.session, service.app.workspace_id, users, departments)
    cells = _cells(service, model, record, names)
    access = service.access(entity)
    items = []
    for f in model.fields.values():
        if f.key not in record:
            continue
        entry: dict[str, Any] = {
            "key": f.key,
            "label": _label(f.spec.get("label"), f.key),
            "text": cells[f.key],
            "widget": f.type.widget,
            "rule": access.rule(f.key),
            "value": record[f.key],
        }
        if f.type.widget == "subtable" and isinstance(record[f.key], list):
            entry["subs"] = [(s.key, _label(s.spec.get("label"), s.key)) for s in f.sub_fields.values()]
            entry["rows"] = [
                {
                    s.key: display_value(
                        s,
                        row.get(s.key),
                        rule="editable",
                        timezone=service.ctx.timezone,
                        label=_label,
                        names=names,
                        yes_no=_yes_no(),
                    )
                    for s in f.sub_fields.values()
                }
                for row in record[f.key]
            ]
        if f.type.widget == "richtext" and access.rule(f.key) != "masked" and record[f.key]:
            import nh3

            entry["html"] = Markup(nh3.clean(str(record[f.key])))
        items.append(entry)
    title_key = model.title_field
    title = cells.get(title_key, "") if title_key else ""
    return render_template(
        "form_engine/records_record.html",
        app=service.app,
        model=model,
        entity_label=_label(model.label, model.key),
        record=record,
        title=title or f"#{record_id}",
        sections=layout_sections(model.body.get("layout"), items, key=lambda item: item["key"], label=_label),
        names=names,
        can={action: service.can(entity, action) for action in ("update", "delete")},
        timeline_url=f"/api/v1/apps/{app_key}/records/{entity}/{record_id}/timeline",
        nav_active=f"app:{app_key}",
    )


@bp.post("/apps/<app_key>/records/<entity>/<int:record_id>/delete")
@login_required
def delete_record(app_key: str, entity: str, record_id: int) -> ResponseReturnValue:
    service = _service(app_key)
    service.delete(entity, record_id)
    flash(gettext("The record was deleted."), "ok")
    return redirect(url_for(".list_records", app_key=app_key, entity=entity))


# the form routes live in their own module and join this blueprint when it is imported
from . import record_form_views  # noqa: E402, F401
