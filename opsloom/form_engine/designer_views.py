"""The entity designer pages: an app's entities, the designer of one entity, its version history.

Administrators only. The designer page is a shell: the entity body, the field palette and
the translated texts travel to ``designer.js`` in one JSON block (the CSP forbids inline
scripts; a data block is not a script), and the page saves and publishes through the
definitions API with the session's CSRF header. The history page is plain HTML rendered
here from the definitions service.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import select

from opsloom.platform.db import request_session
from opsloom.platform.definitions import service as definitions
from opsloom.platform.definitions.diff import diff
from opsloom.platform.definitions.validation import IDENTIFIER_PATTERN
from opsloom.platform.errors import NotFound
from opsloom.platform.models import User
from opsloom.platform.plugin_host import get_plugin_host
from opsloom.platform.web.errors import html_error
from opsloom.platform.web.guards import admin_required, page_actor
from opsloom.platform.web.i18n import label_text, locale_code
from opsloom.platform.web.sections import AppLink, AppSection, register_app_section

from .designer_api import condition_texts, palette

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.models import App, Definition

__all__ = ["bp"]

bp = Blueprint(
    "form_designer",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/form-engine",
)

_KEY = re.compile(IDENTIFIER_PATTERN)


@bp.app_template_filter("designer_json")
def designer_json(value: Any, indent: int | None = None) -> str:
    """JSON as people read it (Chinese labels stay readable); autoescaping makes it safe HTML."""
    return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False, default=str)


def _group_labels() -> dict[str, str]:
    """Palette group names in the page's language (plugin groups show their own name)."""
    return {
        "basic": gettext("Text"),
        "number": gettext("Numbers"),
        "choice": gettext("Choices"),
        "date": gettext("Dates and times"),
        "people": gettext("People"),
        "relation": gettext("Relations"),
        "media": gettext("Files"),
        "advanced": gettext("Advanced"),
        "computed": gettext("Computed"),
    }


def _messages() -> dict[str, str]:
    """Texts the script shows, translated here so the catalog covers them."""
    return {
        "saved": gettext("Draft saved."),
        "saving": gettext("Saving…"),
        "saveFailed": gettext("The draft was not saved. Correct the highlighted values."),
        "unsaved": gettext("Unsaved changes"),
        "networkError": gettext("The server could not be reached. Try again."),
        "checking": gettext("Checking…"),
        "formulaOk": gettext("The formula reads well; it gives: %(type)s"),
        "lineColumn": gettext("line %(line)s, column %(column)s"),
        "newField": gettext("New field"),
        "published": gettext("Published version %(version)s."),
        "publishFailed": gettext("Publishing failed."),
        "noChanges": gettext("The draft equals the published version: nothing to publish."),
        "neverPublished": gettext("Not published yet: publishing creates the table."),
        "removeConfirm": gettext("Remove this field from the form?"),
        "warn_removed": gettext(
            "Field %(field)s is removed: its column is kept as a tombstone (data is not lost)."
        ),
        "warn_renamed": gettext("Field %(old)s is renamed to %(field)s: its data is kept."),
        "warn_type_changed": gettext(
            "Field %(field)s changes type from %(old)s to %(new)s: stored values are converted "
            "(needs publish with force)."
        ),
        "warn_narrowed": gettext(
            "Field %(field)s gets narrower: some stored values may not fit (needs publish with force)."
        ),
        "warn_storage_changed": gettext(
            "Field %(field)s cannot change from %(old)s to %(new)s: add a new field instead."
        ),
        "warn_unique_added": gettext(
            "Field %(field)s becomes unique: publishing fails while records share a value."
        ),
        "op_added": gettext("added"),
        "op_removed": gettext("removed"),
        "op_changed": gettext("changed"),
        "op_moved": gettext("moved"),
        # the type properties the built-in types declare (a plugin's own show their names)
        "prop_max_length": gettext("Maximum length"),
        "prop_min_length": gettext("Minimum length"),
        "prop_pattern": gettext("Pattern"),
        "prop_pattern_message": gettext("Message when the pattern does not match"),
        "prop_region": gettext("Phone region"),
        "prop_min": gettext("Minimum"),
        "prop_max": gettext("Maximum"),
        "prop_precision": gettext("Decimal places"),
        "prop_integer": gettext("Whole numbers only"),
        "prop_currency": gettext("Currency code"),
        "prop_options": gettext("Options"),
        "prop_min_items": gettext("At least this many choices"),
        "prop_max_items": gettext("At most this many choices"),
        "prop_max_bytes": gettext("Maximum size in bytes"),
        "prop_default_current_user": gettext("Default to the current user"),
        "prop_target": gettext("Target entity"),
        "prop_many": gettext("Several records"),
        "prop_on_delete": gettext("When the target record is deleted"),
        "prop_display_field": gettext("Field shown for the target"),
        "prop_fields": gettext("Sub-fields"),
        "prop_min_rows": gettext("At least this many rows"),
        "prop_max_rows": gettext("At most this many rows"),
        "prop_max_files": gettext("At most this many files"),
        "prop_max_size": gettext("Maximum file size in bytes"),
        "prop_accept": gettext("Accepted file types (JSON list)"),
        "prop_source": gettext("Aggregate"),
        "fn_sum": gettext("Sum"),
        "fn_count": gettext("Count"),
        "fn_avg": gettext("Average"),
        "fn_min": gettext("Minimum"),
        "fn_max": gettext("Maximum"),
        "prop_relation": gettext("Relation field"),
        "prop_field": gettext("Field of the linked record"),
        "prop_formula": gettext("Formula"),
        "prop_visible_if": gettext("Visible when"),
        "prop_required_if": gettext("Required when"),
        "hint_text_pattern": gettext("A regular expression the whole value must match."),
        "hint_auto_number_pattern": gettext(
            "Use {YYYY}, {YY}, {MM}, {DD} and {seq:N} with letters and digits, e.g. C{YYYY}{seq:6}."
        ),
        "hint_formula": gettext('Excel-like, e.g. IF(level = "vip", 0, 10000 - total_spent).'),
        "hint_visible_if": gettext("A condition; the field shows only while it is true. Empty: always."),
        "hint_required_if": gettext("A condition; the field must be filled while it is true. Empty: never."),
        # renaming a field key: what the panel says about the references rewritten with it
        "renaming": gettext("Renaming %(old)s to %(new)s…"),
        "renamed": gettext("Renamed %(old)s to %(new)s and rewrote: %(places)s. The draft is saved."),
        "renamedAlone": gettext("Renamed %(old)s to %(new)s; nothing else named it. The draft is saved."),
        "renameFailed": gettext("%(old)s was not renamed everywhere: %(reason)s"),
        "renameElsewhere": gettext("Other entities still use the old key %(old)s; update them: %(places)s."),
        "place_formula": gettext("the formula of %(field)s"),
        "place_expr": gettext("the formula of %(field)s"),
        "place_visible_if": gettext("the visible-when condition of %(field)s"),
        "place_required_if": gettext("the required-when condition of %(field)s"),
        "place_title_field": gettext("the title field"),
        "place_dedup": gettext("the duplicate keys"),
        "place_indexes": gettext("the indexes"),
        "place_layout": gettext("the form layout"),
        # a section of the form whose labels are both empty
        "untitledSection": gettext("Untitled section"),
        "place_rollup": gettext("the rollup %(field)s"),
        "place_lookup": gettext("the lookup %(field)s"),
        "place_display_field": gettext("the relation %(field)s"),
    }


def _other_entities(db: Session, app: App) -> list[dict[str, Any]]:
    actor = page_actor()
    return [
        {"key": item.key, "label": label_text(item.label, item.key)}
        for item in definitions.list_definitions(db, actor, app, "entity")
    ]


def _user_names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(select(User.id, User.display_name, User.username).where(User.id.in_(ids)))
    return {row.id: row.display_name or row.username for row in rows}


# ---------------------------------------------------------------- the app page's section


def _design_section(session: Session, actor: Actor, app: App) -> AppSection | None:
    """For administrators: the app's entities, each linking to its designer, and the entity list."""
    if not (actor.is_admin or actor.is_superuser):
        return None
    links = [
        AppLink(
            label=item.label or item.key,
            url=url_for("form_designer.designer", app_key=app.key, key=item.key),
            note=gettext("draft") if item.has_draft else "",
            testid=f"design-{item.key}",
        )
        for item in definitions.list_definitions(session, actor, app, "entity")
    ]
    links.append(
        AppLink(
            label=gettext("All entities and new entity…"),
            url=url_for("form_designer.entities", app_key=app.key),
            testid="design-entities",
        )
    )
    return AppSection(title=gettext("Design entities"), links=links, order=20)


bp.record_once(lambda state: register_app_section(state.app, _design_section))


# ---------------------------------------------------------------- pages


@bp.get("/apps/<app_key>/entities")
@admin_required
def entities(app_key: str) -> ResponseReturnValue:
    """The app's entities with their state, and the form that starts a new one."""
    db = request_session()
    app = definitions.get_app(db, page_actor(), app_key)
    error = ""
    new_key = (request.args.get("new") or "").strip()
    if "new" in request.args:
        if not _KEY.match(new_key):
            error = gettext(
                "A key starts with a lowercase letter and has only lowercase letters, digits and _ "
                "(at most 40)."
            )
        elif definitions.latest_published(db, app, "entity", new_key) or definitions.draft_of(
            db, app, "entity", new_key
        ):
            error = gettext("An entity with this key exists already.")
        else:
            return redirect(url_for("form_designer.designer", app_key=app.key, key=new_key))
    items = list(definitions.list_definitions(db, page_actor(), app, "entity"))
    return (
        render_template(
            "form_engine/designer_entities.html",
            app=app,
            items=items,
            error=error,
            new_key=new_key,
            nav_active=f"app:{app.key}",
        ),
        422 if error else 200,
    )


@bp.get("/apps/<app_key>/entities/<key>/design")
@admin_required
def designer(app_key: str, key: str) -> ResponseReturnValue:
    """The designer of one entity (a new one when ``key`` has no definition yet)."""
    if not _KEY.match(key):
        return html_error(
            404, gettext("There is nothing at this address, or it belongs to another workspace.")
        )
    db = request_session()
    app = definitions.get_app(db, page_actor(), app_key)
    draft = definitions.draft_of(db, app, "entity", key)
    latest = definitions.latest_published(db, app, "entity", key)
    row = draft or latest
    body: dict[str, Any] = dict(row.body) if row is not None else {"key": key, "label": {}, "fields": []}
    types = dict(get_plugin_host().registries.field_types.items())
    items = palette(types)
    groups = _group_labels()
    api = f"/api/v1/apps/{app.key}/entities/{key}"
    data = {
        "app": app.key,
        "key": key,
        "isNew": row is None,
        "hasDraft": draft is not None,
        "latestVersion": latest.version if latest else None,
        "body": body,
        "conditions": condition_texts(body),
        "palette": items,
        "groups": [{"name": g, "label": groups.get(g, g)} for g in dict.fromkeys(i["group"] for i in items)],
        "entities": [e for e in _other_entities(db, app) if e["key"] != key],
        "locale": "zh" if locale_code().startswith("zh") else "en",
        "urls": {
            "definition": api,
            "publish": f"{api}/publish",
            "diff": f"{api}/diff",
            "check": f"/api/v1/designer/apps/{app.key}/check-formula",
            "publishCheck": f"/api/v1/designer/apps/{app.key}/entities/{key}/publish-check",
            # + "<entity>/fields": another entity's fields, for the rollup and lookup editors
            "entityFields": f"/api/v1/designer/apps/{app.key}/entities/",
            "history": url_for("form_designer.history", app_key=app.key, key=key),
            "renameField": f"{api}/draft/rename-field",
            "previewRules": f"/api/v1/designer/apps/{app.key}/preview-rules",
        },
        "messages": _messages(),
    }
    return render_template(
        "form_engine/designer.html",
        app=app,
        key=key,
        body=body,
        data=data,
        is_new=row is None,
        latest=latest,
        nav_active=f"app:{app.key}",
    )


def _version_rows(db: Session, app: App, key: str) -> list[Definition]:
    try:
        return definitions.history(db, app=app, kind="entity", key=key)
    except NotFound:
        return []


@bp.get("/apps/<app_key>/entities/<key>/versions")
@admin_required
def history(app_key: str, key: str) -> ResponseReturnValue:
    """Published versions (who, when, note); ``?version=N`` shows one body and its diff against N-1."""
    db = request_session()
    app = definitions.get_app(db, page_actor(), app_key)
    rows = _version_rows(db, app, key)
    draft = definitions.draft_of(db, app, "entity", key)
    if not rows and draft is None:
        return html_error(
            404, gettext("There is nothing at this address, or it belongs to another workspace.")
        )
    names = _user_names(db, {r.published_by for r in rows if r.published_by is not None})
    chosen: Definition | None = None
    previous: Definition | None = None
    changes: list[dict[str, Any]] = []
    wanted = request.args.get("version", "")
    if wanted:
        by_version = {r.version: r for r in rows}
        chosen = draft if wanted == "draft" else by_version.get(int(wanted)) if wanted.isdigit() else None
        if chosen is None:
            return html_error(404, gettext("This version does not exist."))
        older = [r for r in rows if chosen.version == 0 or r.version < chosen.version]
        previous = max(older, key=lambda r: r.version) if older else None
        changes = diff(previous.body if previous else {}, chosen.body)
    return render_template(
        "form_engine/designer_history.html",
        app=app,
        key=key,
        rows=rows,
        draft=draft,
        names=names,
        chosen=chosen,
        previous=previous,
        changes=changes,
        nav_active=f"app:{app.key}",
    )
