"""Apps and definitions: drafts, immutable published versions, history and diff (the service shell).

Never imports flask and never commits: the caller (request, CLI command, job) owns the
transaction. Every query is scoped to the actor's workspace; an app of another workspace
is "not found". Every change is audited and emits a domain event in the same transaction.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.exc import IntegrityError

from opsloom.platform.audit import record
from opsloom.platform.errors import (
    BadRequest,
    Conflict,
    NotFound,
    OpsloomError,
    PermissionDenied,
    PluginError,
)
from opsloom.platform.events import emit
from opsloom.platform.models import App, Definition, Workspace

from .app_kind import LABEL_SCHEMA
from .diff import diff
from .kinds import CheckContext, DefinitionKind, PublishContext
from .validation import identifier_error, raise_if_errors, validate_body

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from datetime import datetime

    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.registry import Registries

__all__ = [
    "APP_FIELDS",
    "RESERVED_APP_KEYS",
    "DefinitionSummary",
    "PublishResult",
    "VersionSpec",
    "app_snapshot",
    "apps_select",
    "archive_app",
    "bump_definitions_version",
    "canonical_json",
    "check_context",
    "checksum",
    "create_app_",
    "definition_key_errors",
    "definition_lookup",
    "definitions_select",
    "diff_versions",
    "discard_draft",
    "draft_of",
    "get_app",
    "get_definition",
    "history",
    "kind_for_url",
    "kind_named",
    "latest_published",
    "list_apps",
    "list_definitions",
    "parse_version",
    "publish",
    "publish_body",
    "rename_app",
    "restore_app",
    "save_draft",
    "summaries",
    "update_app",
    "versions_select",
    "write_draft",
]

log = logging.getLogger("opsloom.definitions")

DRAFT = "draft"
PUBLISHED = "published"
#: app keys that would collide with fixed routes under ``/apps``
RESERVED_APP_KEYS = frozenset({"import", "export"})
#: what ``update_app`` may change; the key is the app's identity and never changes
APP_FIELDS = ("label", "description", "icon")

VersionSpec = int | str | None

_APP_FIELDS_VALIDATOR = Draft202012Validator(
    {
        "type": "object",
        "properties": {
            "label": LABEL_SCHEMA,
            "description": {"type": "string", "maxLength": 2000},
            "icon": {"type": "string", "maxLength": 40},
        },
    }
)


# ---------------------------------------------------------------- helpers

_BUMP = (
    update(Workspace)
    .where(Workspace.id == bindparam("workspace_id"))
    .values(definitions_version=Workspace.definitions_version + 1)
)


def bump_definitions_version(session: Session, workspace_id: int) -> None:
    """Tell every process that the workspace's apps or published definitions changed.

    Runs in the changing transaction, so the new number becomes visible exactly when the
    change does; caches keyed by the number (see ``Actor.definitions_version``) then miss.
    """
    session.execute(_BUMP, {"workspace_id": workspace_id})


def canonical_json(body: Any) -> str:
    """The one JSON spelling of ``body`` (sorted keys, no spaces): equal documents, equal text."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checksum(body: Any) -> str:
    """sha256 of the canonical JSON of ``body``."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@contextlib.contextmanager
def _unique(session: Session, message: str, **context: Any) -> Iterator[None]:
    """Turn a unique-constraint race (two requests creating the same row at once) into a 409."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise Conflict(message, **context) from exc


def _kind_name(kind: DefinitionKind | str) -> str:
    return kind if isinstance(kind, str) else kind.name


def _object_id(app: App, kind: str, key: str) -> str:
    return f"{app.key}/{kind}/{key}"


def kind_named(registries: Registries, name: str) -> DefinitionKind:
    """The registered kind called ``name``; :raises NotFound: no such kind."""
    kind = registries.definition_kinds.get(name)
    if kind is None:
        known = ", ".join(sorted(registries.definition_kinds)) or "none"
        raise NotFound(f"There is no definition kind {name!r}; installed kinds: {known}.")
    return kind


def kind_for_url(registries: Registries, plural: str) -> DefinitionKind:
    """The kind whose URL segment is ``plural`` (``entities``); :raises NotFound: no such kind."""
    for kind in registries.definition_kinds.values():
        if kind.plural == plural:
            return kind
    known = ", ".join(sorted(k.plural for k in registries.definition_kinds.values())) or "none"
    raise NotFound(f"There is no definition kind {plural!r} under /apps/{{app}}/; use one of: {known}.")


def _workspace_of(actor: Actor) -> int:
    if actor.workspace_id is None:
        raise PermissionDenied("Choose a workspace first: apps belong to a workspace.")
    return actor.workspace_id


# ---------------------------------------------------------------- apps


def app_snapshot(app: App) -> dict[str, Any]:
    """The app row as JSON (audit images, API answers, package headers)."""
    return {
        "key": app.key,
        "label": app.label,
        "description": app.description or "",
        "icon": app.icon or "",
        "archived_at": app.archived_at.isoformat() if app.archived_at else None,
    }


def _app_field_errors(values: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in _APP_FIELDS_VALIDATOR.iter_errors(dict(values)):
        name = str(error.absolute_path[0]) if error.absolute_path else "_schema"
        errors.setdefault(name, error.message)
    return errors


def create_app_(
    session: Session,
    *,
    key: str,
    label: str | dict[str, str],
    description: str = "",
    icon: str = "",
    actor: Actor,
    now: datetime,
) -> App:
    """Create app ``key`` in the actor's workspace.

    :raises ValidationError: the key is not an identifier (or is reserved), the label is empty.
    :raises Conflict: the workspace already has an app ``key`` (archived ones count).
    """
    workspace_id = _workspace_of(actor)
    errors = _app_field_errors({"label": label, "description": description, "icon": icon})
    problem = identifier_error(key, "app key")
    if problem:
        errors = {"key": problem, **errors}
    elif key in RESERVED_APP_KEYS:
        errors = {"key": f"{key!r} is reserved (it names a route under /apps); choose another key", **errors}
    raise_if_errors(errors, "The app")
    existing = session.scalar(select(App.id).where(App.workspace_id == workspace_id, App.key == key))
    if existing is not None:
        raise Conflict(
            f"This workspace already has an app {key!r}; choose another key (archived apps keep theirs).",
            errors={"key": "already taken"},
        )
    app = App(
        workspace_id=workspace_id,
        key=key,
        label=label,
        description=description or "",
        icon=icon or "",
        created_at=now,
        created_by=actor.user_id,
        updated_at=now,
    )
    with _unique(session, f"This workspace already has an app {key!r}.", errors={"key": "already taken"}):
        session.add(app)
        session.flush()
    bump_definitions_version(session, workspace_id)
    record(session, actor, "create", "app", key, after=app_snapshot(app), now=now)
    emit(session, "app.created", payload={"app": key, "app_id": app.id}, actor=actor, now=now)
    return app


def apps_select(actor: Actor, *, include_archived: bool = False) -> Select[Any]:
    """The actor's workspace's apps (for ``paginate``; order it yourself)."""
    stmt = select(App).where(App.workspace_id == _workspace_of(actor))
    if not include_archived:
        stmt = stmt.where(App.archived_at.is_(None))
    return stmt


def list_apps(session: Session, actor: Actor, *, include_archived: bool = False) -> list[App]:
    """Every app of the actor's workspace by key (archived ones only when asked)."""
    if actor.workspace_id is None:
        return []
    return list(session.scalars(apps_select(actor, include_archived=include_archived).order_by(App.key)))


# built once: every record and definition route resolves its app through this
_APP_BY_KEY = select(App).where(App.workspace_id == bindparam("workspace_id"), App.key == bindparam("key"))


def get_app(session: Session, actor: Actor, key: str, *, include_archived: bool = True) -> App:
    """App ``key`` of the actor's workspace; :raises NotFound: unknown, foreign or (when asked) archived."""
    workspace_id = _workspace_of(actor)
    problem = identifier_error(key, "app key")
    if problem:
        raise NotFound(f"No such app: {problem}.")
    app = session.scalar(_APP_BY_KEY, {"workspace_id": workspace_id, "key": key})
    if app is None or (app.archived_at is not None and not include_archived):
        raise NotFound(f"This workspace has no app {key!r}.")
    return app


def _ensure_writable(app: App) -> None:
    if app.archived_at is not None:
        raise Conflict(f"App {app.key!r} is archived; restore it before changing it.")


def update_app(session: Session, *, app: App, changes: Mapping[str, Any], actor: Actor, now: datetime) -> App:
    """Change the app's label, description or icon.

    :raises ValidationError: an unknown field or an invalid value. :raises Conflict: archived.
    """
    unknown = {
        name: "cannot be changed (the key is the app's identity)" if name == "key" else "unknown field"
        for name in changes
        if name not in APP_FIELDS
    }
    raise_if_errors({**unknown, **_app_field_errors(changes)}, "The change")
    _ensure_writable(app)
    before = {name: app_snapshot(app)[name] for name in changes}
    for name, value in changes.items():
        setattr(app, name, value)
    if before == dict(changes):
        return app
    app.updated_at = now
    session.flush()
    record(session, actor, "update", "app", app.key, before=before, after=dict(changes), now=now)
    emit(
        session,
        "app.updated",
        payload={"app": app.key, "app_id": app.id, "changed": sorted(changes)},
        actor=actor,
        now=now,
    )
    return app


def rename_app(
    session: Session, *, app: App, label: str | dict[str, str], actor: Actor, now: datetime
) -> App:
    """Give the app a new label (its key, used in URLs and packages, stays)."""
    return update_app(session, app=app, changes={"label": label}, actor=actor, now=now)


def archive_app(session: Session, *, app: App, actor: Actor, now: datetime) -> App:
    """Hide the app from lists and navigation; its definitions stay. :raises Conflict: already archived."""
    if app.archived_at is not None:
        raise Conflict(f"App {app.key!r} is already archived.")
    app.archived_at = now
    app.updated_at = now
    session.flush()
    bump_definitions_version(session, app.workspace_id)
    record(
        session,
        actor,
        "archive",
        "app",
        app.key,
        before={"archived_at": None},
        after={"archived_at": now.isoformat()},
        now=now,
    )
    emit(session, "app.archived", payload={"app": app.key, "app_id": app.id}, actor=actor, now=now)
    return app


def restore_app(session: Session, *, app: App, actor: Actor, now: datetime) -> App:
    """Bring an archived app back. :raises Conflict: it is not archived."""
    if app.archived_at is None:
        raise Conflict(f"App {app.key!r} is not archived.")
    before = {"archived_at": app.archived_at.isoformat()}
    app.archived_at = None
    app.updated_at = now
    session.flush()
    bump_definitions_version(session, app.workspace_id)
    record(session, actor, "restore", "app", app.key, before=before, after={"archived_at": None}, now=now)
    emit(session, "app.restored", payload={"app": app.key, "app_id": app.id}, actor=actor, now=now)
    return app


# ---------------------------------------------------------------- reading definitions


def _rows(app: App, kind: str, key: str) -> Select[Any]:
    return select(Definition).where(
        Definition.workspace_id == app.workspace_id,
        Definition.app_id == app.id,
        Definition.kind == kind,
        Definition.key == key,
    )


def _draft(session: Session, app: App, kind: str, key: str, *, for_update: bool = False) -> Definition | None:
    stmt = _rows(app, kind, key).where(Definition.version == 0)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def draft_of(session: Session, app: App, kind: DefinitionKind | str, key: str) -> Definition | None:
    """The draft of a definition, or None."""
    return _draft(session, app, _kind_name(kind), key)


def latest_published(session: Session, app: App, kind: DefinitionKind | str, key: str) -> Definition | None:
    """The newest published version of a definition, or None."""
    stmt = _rows(app, _kind_name(kind), key).where(Definition.status == PUBLISHED)
    return session.scalar(stmt.order_by(Definition.version.desc()).limit(1))


def parse_version(raw: Any, name: str = "version") -> VersionSpec:
    """``None``/``""`` (latest), ``"draft"`` or a positive version number; :raises BadRequest: otherwise."""
    if raw in (None, ""):
        return None
    if raw == DRAFT:
        return DRAFT
    try:
        version = int(raw)
    except (TypeError, ValueError):
        version = 0
    if version < 1:
        raise BadRequest(
            f"`{name}` must be a version number (1, 2, ...) or 'draft'; got {raw!r}.",
            errors={name: "expected a positive integer or 'draft'"},
        )
    return version


def get_definition(
    session: Session, *, app: App, kind: DefinitionKind | str, key: str, version: VersionSpec = None
) -> Definition:
    """One version: ``None`` = the latest published (the draft if never published), ``"draft"`` or N.

    :raises NotFound: no such definition or version.
    """
    name = _kind_name(kind)
    problem = identifier_error(key)
    if problem:
        raise NotFound(f"No such {name}: {problem}.")
    if version is None:
        row = latest_published(session, app, name, key) or _draft(session, app, name, key)
    elif version == DRAFT:
        row = _draft(session, app, name, key)
        if row is None and latest_published(session, app, name, key) is not None:
            raise NotFound(
                f"{name} {key!r} of app {app.key!r} has no draft; its published versions are current."
            )
    else:
        row = session.scalar(_rows(app, name, key).where(Definition.version == version))
        if row is None and latest_published(session, app, name, key) is not None:
            raise NotFound(f"{name} {key!r} of app {app.key!r} has no version {version}.")
    if row is None:
        raise NotFound(f"App {app.key!r} has no {name} {key!r}.")
    return row


def definition_lookup(session: Session, app: App) -> Callable[[str, str], dict[str, Any] | None]:
    """(kind, key) -> the newest body (draft, else latest published) of ``app``, for ``check``."""

    def lookup(kind: str, key: str) -> dict[str, Any] | None:
        row = _draft(session, app, kind, key) or latest_published(session, app, kind, key)
        return row.body if row is not None else None

    return lookup


def check_context(
    session: Session,
    app: App,
    registries: Registries,
    lookup: Callable[[str, str], dict[str, Any] | None] | None = None,
) -> CheckContext:
    """What a kind's ``check`` sees: the app's definitions (or ``lookup``) and the registries."""
    return CheckContext(
        session=session, app=app, registries=registries, lookup=lookup or definition_lookup(session, app)
    )


@dataclass(frozen=True, slots=True)
class DefinitionSummary:
    """One line of a kind's list: the newest state of a definition."""

    kind: str
    key: str
    #: newest published version, None when only a draft exists
    latest_version: int | None
    has_draft: bool
    #: "published" (has a published version) or "draft" (never published)
    status: str
    updated_at: datetime
    label: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def definitions_select(app: App, kind: DefinitionKind | str) -> Select[Any]:
    """One row per key of ``kind`` in ``app``: key, latest_version, has_draft, updated_at."""
    published_version = case((Definition.status == PUBLISHED, Definition.version), else_=None)
    return (
        select(
            Definition.key.label("key"),
            func.max(published_version).label("latest_version"),
            func.max(case((Definition.version == 0, 1), else_=0)).label("has_draft"),
            func.max(Definition.updated_at).label("updated_at"),
        )
        .where(
            Definition.workspace_id == app.workspace_id,
            Definition.app_id == app.id,
            Definition.kind == _kind_name(kind),
        )
        .group_by(Definition.key)
    )


def summaries(
    session: Session, app: App, kind: DefinitionKind | str, rows: list[Any]
) -> list[DefinitionSummary]:
    """Turn ``definitions_select`` rows into summaries, with the label of each newest body."""
    name = _kind_name(kind)
    keys = [row["key"] for row in rows]
    labels: dict[str, Any] = {}
    if keys:
        bodies = session.execute(
            select(Definition.key, Definition.version, Definition.body).where(
                Definition.workspace_id == app.workspace_id,
                Definition.app_id == app.id,
                Definition.kind == name,
                Definition.key.in_(keys),
            )
        ).all()
        newest: dict[str, tuple[int, Any]] = {}
        for key, version, body in bodies:
            rank = 1 << 30 if version == 0 else version  # the draft is the newest
            if key not in newest or rank > newest[key][0]:
                newest[key] = (rank, (body or {}).get("label") if isinstance(body, dict) else None)
        labels = {key: value for key, (_rank, value) in newest.items()}
    return [
        DefinitionSummary(
            kind=name,
            key=row["key"],
            latest_version=row["latest_version"],
            has_draft=bool(row["has_draft"]),
            status=PUBLISHED if row["latest_version"] else DRAFT,
            updated_at=row["updated_at"],
            label=labels.get(row["key"]),
        )
        for row in rows
    ]


def list_definitions(
    session: Session, actor: Actor, app: App, kind: DefinitionKind | str
) -> list[DefinitionSummary]:
    """Every definition of ``kind`` in ``app``, by key. :raises NotFound: the app is not the actor's."""
    if app.workspace_id != actor.workspace_id:
        raise NotFound(f"This workspace has no app {app.key!r}.")
    rows = list(session.execute(definitions_select(app, kind).order_by(Definition.key)).mappings())
    return summaries(session, app, kind, rows)


def versions_select(app: App, kind: DefinitionKind | str, key: str) -> Select[Any]:
    """The published versions of one definition (for ``paginate``, newest first by ``version``)."""
    return _rows(app, _kind_name(kind), key).where(Definition.status == PUBLISHED)


def history(session: Session, *, app: App, kind: DefinitionKind | str, key: str) -> list[Definition]:
    """Published versions, newest first (empty when only a draft exists). :raises NotFound: no such key."""
    rows = list(session.scalars(versions_select(app, kind, key).order_by(Definition.version.desc())))
    if not rows and _draft(session, app, _kind_name(kind), key) is None:
        raise NotFound(f"App {app.key!r} has no {_kind_name(kind)} {key!r}.")
    return rows


def diff_versions(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind | str,
    key: str,
    from_version: VersionSpec = None,
    to_version: VersionSpec = None,
) -> dict[str, Any]:
    """The changes between two versions of a definition.

    ``to_version`` defaults to the draft if there is one, else the latest version;
    ``from_version`` to the published version before it (nothing = an empty document).
    :raises NotFound: a version does not exist.
    """
    name = _kind_name(kind)
    if to_version is None:
        to_row = _draft(session, app, name, key) or get_definition(session, app=app, kind=name, key=key)
    else:
        to_row = get_definition(session, app=app, kind=name, key=key, version=to_version)
    if from_version is None:
        stmt = versions_select(app, name, key)
        if to_row.version:
            stmt = stmt.where(Definition.version < to_row.version)
        from_row = session.scalar(stmt.order_by(Definition.version.desc()).limit(1))
    else:
        from_row = get_definition(session, app=app, kind=name, key=key, version=from_version)
    old = from_row.body if from_row is not None else {}
    return {
        "kind": name,
        "key": key,
        "from": _version_label(from_row),
        "to": _version_label(to_row),
        "changes": diff(old, to_row.body),
    }


def _version_label(row: Definition | None) -> int | str | None:
    if row is None:
        return None
    return DRAFT if row.version == 0 else row.version


# ---------------------------------------------------------------- writing definitions


def definition_key_errors(kind: DefinitionKind, key: str, app_key: str) -> dict[str, str]:
    """Why ``key`` cannot name a ``kind`` definition of app ``app_key`` ({"key": reason}), or {}."""
    problem = identifier_error(key, "definition key")
    if problem:
        return {"key": problem}
    if kind.singleton and key != app_key:
        return {"key": f"an app has one {kind.name} definition, whose key is the app key {app_key!r}"}
    return {}


def save_draft(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind,
    key: str,
    body: Any,
    actor: Actor,
    now: datetime,
    registries: Registries,
) -> Definition:
    """Validate ``body`` and make it the draft of ``kind``/``key`` (one draft row, version 0).

    :raises ValidationError: (422) a bad key or a body that breaks the kind's schema or checks;
        ``errors`` maps JSON pointers into the body to messages.
    :raises Conflict: the app is archived.
    """
    raise_if_errors(definition_key_errors(kind, key, app.key), f"The {kind.name} key")
    _ensure_writable(app)
    errors = validate_body(kind, body, key=key, context=check_context(session, app, registries))
    raise_if_errors(errors, f"{kind.name} {key!r}")
    return write_draft(session, app=app, kind=kind, key=key, body=body, actor=actor, now=now)


def write_draft(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind,
    key: str,
    body: dict[str, Any],
    actor: Actor,
    now: datetime,
) -> Definition:
    """Store an already validated body as the draft; saving the same body again changes nothing."""
    if kind.prepare is not None:
        body = kind.prepare(copy.deepcopy(body), definition_lookup(session, app))
    draft = _draft(session, app, kind.name, key)
    digest = checksum(body)
    if draft is not None and draft.checksum == digest:
        return draft
    before = {"checksum": draft.checksum, "body": draft.body} if draft is not None else None
    body = copy.deepcopy(body)
    if draft is None:
        draft = Definition(
            workspace_id=app.workspace_id,
            app_id=app.id,
            kind=kind.name,
            key=key,
            version=0,
            status=DRAFT,
            body=body,
            checksum=digest,
            created_at=now,
            created_by=actor.user_id,
            updated_at=now,
        )
        with _unique(
            session, f"Someone else saved a draft of {kind.name} {key!r} at the same time; reload it."
        ):
            session.add(draft)
            session.flush()
    else:
        draft.body = body
        draft.checksum = digest
        draft.updated_at = now
        session.flush()
    record(
        session,
        actor,
        "save_draft",
        "definition",
        _object_id(app, kind.name, key),
        before=before,
        after={"checksum": digest, "body": body},
        now=now,
    )
    emit(
        session,
        "definition.saved",
        payload={"app": app.key, "app_id": app.id, "kind": kind.name, "key": key, "checksum": digest},
        actor=actor,
        now=now,
    )
    return draft


def discard_draft(
    session: Session, *, app: App, kind: DefinitionKind, key: str, actor: Actor, now: datetime
) -> None:
    """Throw the draft away (published versions stay). :raises NotFound: there is no draft."""
    _ensure_writable(app)
    draft = _draft(session, app, kind.name, key)
    if draft is None:
        get_definition(session, app=app, kind=kind, key=key)  # 404 naming the definition if it does not exist
        raise NotFound(f"{kind.name} {key!r} of app {app.key!r} has no draft to discard.")
    before = {"checksum": draft.checksum, "body": draft.body}
    session.delete(draft)
    session.flush()
    record(
        session, actor, "discard_draft", "definition", _object_id(app, kind.name, key), before=before, now=now
    )
    emit(
        session,
        "definition.draft_discarded",
        payload={"app": app.key, "app_id": app.id, "kind": kind.name, "key": key},
        actor=actor,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What publishing did: the new version and the lines the kind's hook reported."""

    kind: str
    key: str
    version: int
    previous_version: int | None
    checksum: str
    note: str = ""
    report: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "version": self.version,
            "previous_version": self.previous_version,
            "checksum": self.checksum,
            "note": self.note,
            "report": list(self.report),
        }


def publish(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind,
    key: str,
    actor: Actor,
    now: datetime,
    registries: Registries,
    options: Mapping[str, Any] | None = None,
    note: str = "",
) -> PublishResult:
    """Freeze the draft as version n+1 and run the kind's publish hook in this transaction.

    :raises NotFound: no such definition. :raises Conflict: no draft, or the draft equals the
        latest version; the app is archived. :raises ValidationError: the draft no longer
        validates. Whatever the hook raises propagates, and nothing of the publish remains.
    """
    _ensure_writable(app)
    draft = _draft(session, app, kind.name, key, for_update=True)
    latest = latest_published(session, app, kind, key)
    if draft is None:
        if latest is None:
            raise NotFound(f"App {app.key!r} has no {kind.name} {key!r}.")
        raise Conflict(
            f"{kind.name} {key!r} has no draft to publish; version {latest.version} is current. "
            "Save a draft first.",
            current_version=latest.version,
        )
    if latest is not None and latest.checksum == draft.checksum:
        raise Conflict(
            f"The draft of {kind.name} {key!r} is identical to version {latest.version}; "
            "change it or discard it.",
            current_version=latest.version,
        )
    errors = validate_body(kind, draft.body, key=key, context=check_context(session, app, registries))
    raise_if_errors(errors, f"{kind.name} {key!r}")
    return publish_body(
        session,
        app=app,
        kind=kind,
        key=key,
        body=draft.body,
        draft=draft,
        previous=latest,
        version=(latest.version + 1) if latest else 1,
        actor=actor,
        now=now,
        registries=registries,
        options=options,
        note=note,
    )


def publish_body(
    session: Session,
    *,
    app: App,
    kind: DefinitionKind,
    key: str,
    body: dict[str, Any],
    draft: Definition | None,
    previous: Definition | None,
    version: int,
    actor: Actor,
    now: datetime,
    registries: Registries,
    options: Mapping[str, Any] | None = None,
    note: str = "",
) -> PublishResult:
    """Write published ``version`` of an already validated ``body`` (dropping ``draft``) and run the hook.

    A savepoint wraps the writes and the hook, so a failing hook leaves the session as it was
    even for a caller that catches the error.
    """
    digest = checksum(body)
    report: list[str] = []
    race = f"{kind.name} {key!r} version {version} was published by someone else at the same time; reload it."
    with _unique(session, race):
        row = Definition(
            workspace_id=app.workspace_id,
            app_id=app.id,
            kind=kind.name,
            key=key,
            version=version,
            status=PUBLISHED,
            body=copy.deepcopy(body),
            checksum=digest,
            created_at=now,
            created_by=actor.user_id,
            updated_at=now,
            published_at=now,
            published_by=actor.user_id,
            note=note or "",
        )
        session.add(row)
        if draft is not None:
            session.delete(draft)
        session.flush()
        if kind.on_publish is not None:
            context = PublishContext(
                session=session,
                app=app,
                definition=row,
                previous=previous,
                actor=actor,
                now=now,
                registries=registries,
                options=dict(options or {}),
                report=report,
            )
            try:
                kind.on_publish(context)
            except OpsloomError:
                raise
            except Exception as exc:
                log.exception(
                    "the %s publish hook failed on %s (request %s)",
                    kind.name,
                    _object_id(app, kind.name, key),
                    actor.request_id,
                )
                raise PluginError(
                    f"Publishing {kind.name} {key!r} failed in the {kind.name} publish hook (a plugin bug); "
                    f"nothing was published. Quote request id {actor.request_id} when you report it."
                ) from exc
            session.flush()
        bump_definitions_version(session, app.workspace_id)
        previous_version = previous.version if previous is not None else None
        record(
            session,
            actor,
            "publish",
            "definition",
            _object_id(app, kind.name, key),
            before={"version": previous_version, "checksum": previous.checksum if previous else None},
            after={"version": version, "checksum": digest, "note": note or "", "report": report},
            now=now,
        )
        emit(
            session,
            "definition.published",
            payload={
                "app": app.key,
                "app_id": app.id,
                "kind": kind.name,
                "key": key,
                "version": version,
                "previous_version": previous_version,
            },
            actor=actor,
            now=now,
        )
    return PublishResult(
        kind=kind.name,
        key=key,
        version=version,
        previous_version=previous_version,
        checksum=digest,
        note=note or "",
        report=list(report),
    )
