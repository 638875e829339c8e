"""App packages: one JSON document that moves an app's definitions between workspaces.

``{"format": "opsloom.app/1", "app": {key, label, description, icon},
"definitions": [{"kind", "key", "version", "body"}, ...], "records": {...}}``

Import validates the whole package before writing anything (format, envelope, every body
against its kind with errors keyed ``/definitions/3/body/...``), then publishes in kind
``order``. It is idempotent: a definition whose body equals the latest published one
(same checksum) is left alone, so importing a package twice creates no versions. Version
numbers travel with the package where they can (a fresh workspace gets the same
numbers), so export -> import -> export reads the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import and_, func, select

from opsloom.platform.audit import record
from opsloom.platform.errors import Conflict
from opsloom.platform.events import emit
from opsloom.platform.models import App, Definition

from . import service
from .app_kind import LABEL_SCHEMA
from .kinds import CheckContext
from .validation import IDENTIFIER_PATTERN, join_pointer, pointer, raise_if_errors, validate_body

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor
    from opsloom.platform.registry import Registries

    from .kinds import DefinitionKind

__all__ = [
    "PACKAGE_FORMAT",
    "PACKAGE_SCHEMA",
    "PlannedDefinition",
    "export_app",
    "import_package",
    "validate_package",
]

PACKAGE_FORMAT = "opsloom.app/1"

_IDENT = {"type": "string", "pattern": IDENTIFIER_PATTERN}

PACKAGE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "opsloom app package",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "app", "definitions"],
    "properties": {
        "format": {"const": PACKAGE_FORMAT},
        "app": {
            "type": "object",
            "additionalProperties": False,
            "required": ["key", "label"],
            "properties": {
                "key": _IDENT,
                "label": LABEL_SCHEMA,
                "description": {"type": "string", "maxLength": 2000},
                "icon": {"type": "string", "maxLength": 40},
            },
        },
        "definitions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "key", "body"],
                "properties": {
                    "kind": _IDENT,
                    "key": _IDENT,
                    "version": {"oneOf": [{"type": "integer", "minimum": 1}, {"const": "draft"}]},
                    "body": {"type": "object"},
                },
            },
        },
        # sample records: carried along, ignored until an engine takes them
        "records": {"type": "object"},
    },
}
_PACKAGE_VALIDATOR = Draft202012Validator(PACKAGE_SCHEMA)
_ITEM = re.compile(r"^/definitions/\d+(/|$)")


@dataclass(frozen=True, slots=True)
class PlannedDefinition:
    """One validated definition of a package, ready to write."""

    index: int
    kind: DefinitionKind
    key: str
    body: dict[str, Any]
    #: the version the package gives (None when absent); ignored for drafts
    version: int | None
    draft: bool

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (self.kind.order, self.kind.name, self.key, self.draft)


# ---------------------------------------------------------------- export


def _sort_key(registries: Registries, kind: str, key: str, draft: bool) -> tuple[Any, ...]:
    known = registries.definition_kinds.get(kind)
    return (known.order if known else 1 << 20, kind, key, draft)


def export_app(
    session: Session, *, app: App, registries: Registries, include_drafts: bool = False
) -> dict[str, Any]:
    """The package of ``app``: the latest published version of every definition (and drafts if asked).

    Deterministic (no timestamps, stable order), so equal apps export equal documents.
    """
    newest = (
        select(Definition.kind, Definition.key, func.max(Definition.version).label("version"))
        .where(
            Definition.workspace_id == app.workspace_id,
            Definition.app_id == app.id,
            Definition.status == service.PUBLISHED,
        )
        .group_by(Definition.kind, Definition.key)
        .subquery()
    )
    rows = list(
        session.scalars(
            select(Definition)
            .join(
                newest,
                and_(
                    Definition.kind == newest.c.kind,
                    Definition.key == newest.c.key,
                    Definition.version == newest.c.version,
                ),
            )
            .where(Definition.workspace_id == app.workspace_id, Definition.app_id == app.id)
        )
    )
    if include_drafts:
        rows += list(
            session.scalars(
                select(Definition).where(
                    Definition.workspace_id == app.workspace_id,
                    Definition.app_id == app.id,
                    Definition.version == 0,
                )
            )
        )
    rows.sort(key=lambda row: _sort_key(registries, row.kind, row.key, row.version == 0))
    snapshot = service.app_snapshot(app)
    return {
        "format": PACKAGE_FORMAT,
        "app": {name: snapshot[name] for name in ("key", "label", "description", "icon")},
        "definitions": [
            {"kind": row.kind, "key": row.key, "version": row.version or service.DRAFT, "body": row.body}
            for row in rows
        ],
    }


# ---------------------------------------------------------------- validation


def _envelope_errors(package: Any) -> dict[str, str]:
    if not isinstance(package, dict):
        return {"/": "an app package must be a JSON object"}
    if "format" in package and package["format"] != PACKAGE_FORMAT:
        # an unknown format's shape is unknown: say only that
        return {
            "/format": f"unsupported package format {package['format']!r}; this opsloom reads "
            f"{PACKAGE_FORMAT!r}"
        }
    errors: dict[str, str] = {}
    for error in sorted(
        _PACKAGE_VALIDATOR.iter_errors(package),
        key=lambda e: (len(e.absolute_path), tuple(map(str, e.absolute_path))),
    ):
        errors.setdefault(join_pointer("", pointer(error.absolute_path)), error.message)
    return errors


def _check_envelope(package: Any) -> dict[str, str]:
    """Raise for a broken envelope; return the errors of single ``definitions`` items (reported later)."""
    errors = _envelope_errors(package)
    # a broken definitions item is reported with the other definitions' errors; anything else stops here
    raise_if_errors({w: m for w, m in errors.items() if not _ITEM.match(w)}, "The package")
    return errors


def validate_package(
    package: Any,
    *,
    registries: Registries,
    app: App,
    session: Session | None = None,
    existing: Callable[[str, str], dict[str, Any] | None] | None = None,
) -> list[PlannedDefinition]:
    """Check every part of ``package``; return its definitions in publish order.

    ``app`` is the target (an unsaved ``App`` when it does not exist yet); ``existing`` looks
    up its current definitions for cross-checks, after the package's own.
    :raises ValidationError: (422) with every error keyed by its JSON pointer in the package.
    """
    errors = _check_envelope(package)
    broken = {int(where.split("/")[2]) for where in errors}
    app_key = package["app"]["key"]
    planned: list[PlannedDefinition] = []
    seen: dict[tuple[str, str, bool], int] = {}
    for index, item in enumerate(package["definitions"]):
        where = f"/definitions/{index}"
        if index in broken:
            continue
        kind = registries.definition_kinds.get(item["kind"])
        if kind is None:
            known = ", ".join(sorted(registries.definition_kinds)) or "none"
            errors[f"{where}/kind"] = f"unknown definition kind {item['kind']!r}; installed kinds: {known}"
            continue
        draft = item.get("version") == service.DRAFT
        ident = (kind.name, item["key"], draft)
        if ident in seen:
            errors[where] = (
                f"{kind.name} {item['key']!r} is already in the package at /definitions/{seen[ident]}"
            )
            continue
        seen[ident] = index
        key_problem = service.definition_key_errors(kind, item["key"], app_key).get("key")
        if key_problem:
            errors[f"{where}/key"] = key_problem
            continue
        version = None if draft else item.get("version")
        planned.append(PlannedDefinition(index, kind, item["key"], item["body"], version, draft))

    # cross-checks see the package first (drafts over published), then what the app already has
    bodies: dict[tuple[str, str], dict[str, Any]] = {}
    for plan in sorted(planned, key=lambda p: p.draft):
        bodies[(plan.kind.name, plan.key)] = plan.body

    def lookup(kind: str, key: str) -> dict[str, Any] | None:
        found = bodies.get((kind, key))
        if found is None and existing is not None:
            found = existing(kind, key)
        return found

    context = CheckContext(session=session, app=app, registries=registries, lookup=lookup)  # type: ignore[arg-type]
    for plan in planned:
        errors.update(
            validate_body(
                plan.kind, plan.body, key=plan.key, context=context, prefix=f"/definitions/{plan.index}/body"
            )
        )
    raise_if_errors(dict(sorted(errors.items(), key=lambda item: _pointer_order(item[0]))), "The package")
    return sorted(planned, key=lambda p: p.sort_key)


def _pointer_order(where: str) -> tuple[Any, ...]:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in where.split("/"))


# ---------------------------------------------------------------- import


def import_package(
    session: Session, *, package: Any, actor: Actor, now: datetime, registries: Registries
) -> dict[str, Any]:
    """Create or update the package's app in the actor's workspace and publish its definitions.

    Validates everything before the first write; the caller's transaction makes it
    all-or-nothing (a publish hook failing half-way raises, and the edge rolls back).
    :raises ValidationError: a bad package (nothing written). :raises Conflict: the app is archived.
    :return: a report: ``app``, ``created``, ``published``, ``unchanged``, ``drafts``, ``ignored``.
    """
    _check_envelope(package)
    header = package["app"]
    workspace_id = service._workspace_of(actor)
    app = session.scalar(select(App).where(App.workspace_id == workspace_id, App.key == header["key"]))
    if app is not None and app.archived_at is not None:
        raise Conflict(f"App {app.key!r} is archived; restore it before importing into it.")
    target = app or App(workspace_id=workspace_id, key=header["key"], label=header["label"])
    plans = validate_package(
        package,
        registries=registries,
        app=target,
        session=session,
        existing=service.definition_lookup(session, app) if app is not None else None,
    )

    created = app is None
    if app is None:
        app = service.create_app_(
            session,
            key=header["key"],
            label=header["label"],
            description=header.get("description", ""),
            icon=header.get("icon", ""),
            actor=actor,
            now=now,
        )
    report: dict[str, Any] = {
        "app": app.key,
        "created": created,
        "published": [],
        "unchanged": [],
        "drafts": [],
        "ignored": ["records"] if package.get("records") else [],
    }
    for plan in plans:
        entry = {"kind": plan.kind.name, "key": plan.key}
        if plan.draft:
            current = service._draft(session, app, plan.kind.name, plan.key)
            if current is not None and current.checksum == service.checksum(plan.body):
                report["unchanged"].append({**entry, "version": service.DRAFT})
                continue
            service.write_draft(
                session, app=app, kind=plan.kind, key=plan.key, body=plan.body, actor=actor, now=now
            )
            report["drafts"].append(entry)
            continue
        latest = service.latest_published(session, app, plan.kind, plan.key)
        if latest is not None and latest.checksum == service.checksum(plan.body):
            report["unchanged"].append({**entry, "version": latest.version})
            continue
        version = max((latest.version + 1) if latest else 1, plan.version or 1)
        result = service.publish_body(
            session,
            app=app,
            kind=plan.kind,
            key=plan.key,
            body=plan.body,
            draft=None,
            previous=latest,
            version=version,
            actor=actor,
            now=now,
            registries=registries,
            note="imported from an app package",
        )
        report["published"].append({**entry, "version": result.version, "report": result.report})

    # the package's header wins over what an ``app`` settings definition copied to the row
    changes = {
        name: header[name]
        for name in ("label", "description", "icon")
        if name in header and header[name] != service.app_snapshot(app)[name]
    }
    if changes and not created:
        service.update_app(session, app=app, changes=changes, actor=actor, now=now)
    elif changes:
        for name, value in changes.items():
            setattr(app, name, value)
        session.flush()
    if created or report["published"] or report["drafts"] or changes:
        summary = {name: report[name] for name in ("published", "drafts")}
        record(session, actor, "import", "app", app.key, after={"created": created, **summary}, now=now)
        emit(
            session,
            "app.imported",
            payload={"app": app.key, "app_id": app.id, "created": created, "published": report["published"]},
            actor=actor,
            now=now,
        )
    return report
