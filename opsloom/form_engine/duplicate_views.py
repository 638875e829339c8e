"""The "Possible duplicates" pages: the duplicate finder's groups and the merge form, for people.

An edge like ``record_views``: it reads the signed-in actor, calls ``find_duplicates`` and
``merge_records`` with a ``RecordService`` (the same permissions, scopes and masks as the
API at ``dedup_api``), and leaves the commit to the request, which rolls back any answer
of 400 or more. Reasons are written here from a group's ``rule`` and (masked) ``values``
in the reader's language; the finder's English ``reason`` is for API clients only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from opsloom.platform.errors import NotFound, OpsloomError, PermissionDenied, ValidationError
from opsloom.platform.web.guards import login_required

from .dedup import find_duplicates
from .merge import merge_records
from .record_forms import display_value
from .record_views import _label, _names, _referenced, _service, _yes_no

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask.typing import ResponseReturnValue

    from .access import Access
    from .model import EntityModel, RuntimeField
    from .service import RecordService

__all__ = ["bp"]

#: groups per page (the finder may return fewer: "Load more" follows its cursor)
PAGE_SIZE = 20
#: refusals of a merge that the form shows in place (others are the site's error pages)
SHOWN_STATUSES = (403, 404, 409, 422)

bp = Blueprint("form_engine_duplicates", __name__, template_folder="templates")


# ---------------------------------------------------------------- the groups


def _value_text(service: RecordService, model: EntityModel, key: str, value: Any) -> str:
    """A matched value as the reader should recognise it: a related record's title, else as the list shows it.

    ``value`` is already what the actor may see (masked values are strings and stay as they are).
    """
    f = model.fields[key]
    access = service.access(model.key)
    if f.type.name == "relation" and isinstance(value, int) and access.clear(key):
        shown = [{key: value}]
        service.expand(model, shown, [key])
        title = shown[0][key].get("title") if isinstance(shown[0][key], dict) else None
        if title not in (None, ""):
            return f"#{value} {title}"
    return (
        display_value(
            f,
            value,
            rule=access.rule(key),
            timezone=service.ctx.timezone,
            label=_label,
            names={},
            yes_no=_yes_no(),
        )
        or "—"
    )


def _reason(service: RecordService, model: EntityModel, group: Mapping[str, Any]) -> str:
    """Why the records look alike, in the reader's language, from ``rule``, ``fields`` and masked ``values``."""
    keys: list[str] = list(group["fields"])
    labels = [_label(model.fields[k].spec.get("label"), k) for k in keys]
    texts = [_value_text(service, model, k, group["values"].get(k)) for k in keys]
    rule = group["rule"]
    if rule == "phone":
        return gettext("Same phone number in %(field)s: %(value)s", field=labels[0], value=texts[0])
    if rule == "email":
        return gettext(
            "Same e-mail address in %(field)s (ignoring case): %(value)s", field=labels[0], value=texts[0]
        )
    if rule == "name_company" and len(keys) == 2:
        return gettext(
            "Same name %(name)s at the same %(field)s: %(company)s",
            name=texts[0],
            field=labels[1],
            company=texts[1],
        )
    return gettext("Same %(fields)s: %(values)s", fields=" + ".join(labels), values=" + ".join(texts))


@bp.get("/apps/<app_key>/records/<entity>/duplicates")
@login_required
def list_duplicates(app_key: str, entity: str) -> ResponseReturnValue:
    """One page of duplicate groups; "Load more" links to the next page through the finder's cursor.

    :raises PermissionDenied: the actor may not update records of ``entity`` (the finder's rule).
    """
    service = _service(app_key)
    model = service.model(entity)
    cursor = request.args.get("cursor") or None
    page = find_duplicates(
        service, entity, limit=PAGE_SIZE, cursor=cursor, secret=current_app.config["SECRET_KEY"]
    )
    base = url_for(".list_duplicates", app_key=app_key, entity=entity)
    groups = [
        {
            "ids": item["ids"],
            "rule": item["rule"],
            "reason": _reason(service, model, item),
            "score": round(item["score"] * 100),
            "truncated": item["truncated"],
            "pairs": [
                url_for(".merge_pair", app_key=app_key, entity=entity, keep=item["ids"][0], merge=other)
                for other in item["ids"][1:]
            ],
        }
        for item in page.items
    ]
    return render_template(
        "form_engine/duplicates.html",
        app=service.app,
        model=model,
        entity_label=_label(model.label, model.key),
        groups=groups,
        more_url=f"{base}?{urlencode({'cursor': page.next_cursor})}" if page.next_cursor else None,
        first_url=base if cursor else None,
        nav_active=f"app:{app_key}",
    )


# ---------------------------------------------------------------- the merge form


@dataclass
class Row:
    """One field of the side-by-side view and whether the reader may choose whose value survives."""

    key: str
    label: str
    keep: str
    merge: str
    differs: bool
    #: "value" (keep or merge), "rows" (append the merged record's subtable rows) or "" (no choice)
    choice: str


def _pair_ids() -> tuple[int, int]:
    """``keep`` and ``merge`` from the query string; :raises ValidationError: missing, not ids, or equal."""
    raw = {name: request.args.get(name, "") for name in ("keep", "merge")}
    errors = {
        name: "must be a record id" for name, value in raw.items() if not value.isdigit() or int(value) < 1
    }
    if not errors and raw["keep"] == raw["merge"]:
        errors["merge"] = "must be another record than `keep`"
    if errors:
        raise ValidationError("Name two different records to merge: `keep` and `merge`.", errors=errors)
    return int(raw["keep"]), int(raw["merge"])


def _rows(
    service: RecordService, model: EntityModel, kept: Mapping[str, Any], merged: Mapping[str, Any]
) -> list[Row]:
    """The fields the actor may read, side by side; a choice only where they may write and it is not computed."""
    access = service.access(model.key)
    users, departments = _referenced(model, [kept, merged])
    names = _names(service.session, service.app.workspace_id, users, departments)

    def text(f: RuntimeField, record: Mapping[str, Any]) -> str:
        value = record.get(f.key)
        if f.storage == "child_table" and isinstance(value, list):
            return gettext("%(count)s row(s)", count=len(value))
        shown = display_value(
            f,
            value,
            rule=access.rule(f.key),
            timezone=service.ctx.timezone,
            label=_label,
            names=names,
            yes_no=_yes_no(),
        )
        return shown or "—"

    rows: list[Row] = []
    for f in model.fields.values():
        if f.key not in kept and f.key not in merged:
            continue
        rows.append(
            Row(
                key=f.key,
                label=_label(f.spec.get("label"), f.key),
                keep=text(f, kept),
                merge=text(f, merged),
                differs=kept.get(f.key) != merged.get(f.key),
                choice=_choice(access, f),
            )
        )
    return rows


def _choice(access: Access, f: RuntimeField) -> str:
    """What the form offers for ``f``: nothing for computed fields or fields the actor may not write."""
    if not access.writable(f.key) or f.computed or f.storage == "none":
        return ""
    return "rows" if f.storage == "child_table" else "value"


def _take(service: RecordService, model: EntityModel) -> dict[str, str]:
    """``take`` for ``merge_records`` from the posted form: only the choices the form offers (others keep)."""
    access = service.access(model.key)
    take: dict[str, str] = {}
    for f in model.fields.values():
        posted = {
            "value": request.form.get(f"take_{f.key}") == "merge",
            "rows": bool(request.form.get(f"append_{f.key}")),
        }
        if posted.get(_choice(access, f), False):
            take[f.key] = "merge"
    return take


def _version(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


def _render(
    service: RecordService,
    model: EntityModel,
    keep_id: int,
    merge_id: int,
    *,
    problem: str = "",
    status: int = 200,
    stale: bool = False,
) -> ResponseReturnValue:
    """The merge page; after a refusal the records are read again, and a record gone shows the problem alone."""
    entity = model.key
    kept = merged = None
    rows: list[Row] = []
    try:
        kept = service.get(entity, keep_id)
        merged = service.get(entity, merge_id)
    except (NotFound, PermissionDenied):
        if not problem:
            raise
        # a record is gone or out of reach: the problem says which, and there is no form to show
        kept = merged = None
    else:
        rows = _rows(service, model, kept, merged)
    # after a refusal the reader's choices stay chosen; the versions are the ones just read
    chosen = dict(request.form) if request.method == "POST" else {}
    return render_template(
        "form_engine/merge.html",
        app=service.app,
        model=model,
        entity_label=_label(model.label, model.key),
        kept=kept,
        merged=merged,
        keep_id=keep_id,
        merge_id=merge_id,
        rows=rows,
        chosen=chosen,
        problem=problem,
        stale=stale,
        action=url_for(".merge_pair", app_key=service.app.key, entity=entity, keep=keep_id, merge=merge_id),
        swap_url=url_for(".merge_pair", app_key=service.app.key, entity=entity, keep=merge_id, merge=keep_id),
        duplicates_url=url_for(".list_duplicates", app_key=service.app.key, entity=entity),
        nav_active=f"app:{service.app.key}",
    ), status


@bp.route("/apps/<app_key>/records/<entity>/merge", methods=["GET", "POST"])
@login_required
def merge_pair(app_key: str, entity: str) -> ResponseReturnValue:
    """Record ``keep`` and record ``merge`` side by side; posting merges the second into the first.

    A refused merge (403, 404, 409, 422) changes nothing (the request rolls back) and shows
    the service's message on the page: 409 and 422 with the form again, so the reader can
    reload or choose differently.
    """
    service = _service(app_key)
    model = service.model(entity)
    service.require(entity, "update")
    service.require(entity, "delete")
    keep_id, merge_id = _pair_ids()
    if request.method == "GET":
        return _render(service, model, keep_id, merge_id)
    try:
        merge_records(
            service,
            entity,
            keep_id,
            merge_id,
            take=_take(service, model),
            keep_version=_version("keep_version"),
            merge_version=_version("merge_version"),
        )
    except OpsloomError as exc:
        if exc.status not in SHOWN_STATUSES:
            raise
        # the savepoint is undone already; this also drops the row locks before both records are read again
        service.session.rollback()
        stale = exc.status == 409 and any(k in exc.errors for k in ("keep_version", "merge_version"))
        return _render(service, model, keep_id, merge_id, problem=exc.detail, status=exc.status, stale=stale)
    flash(gettext("Record #%(merged)s was merged into this record.", merged=merge_id), "ok")
    return redirect(
        url_for("form_engine_records.show_record", app_key=app_key, entity=entity, record_id=keep_id)
    )
