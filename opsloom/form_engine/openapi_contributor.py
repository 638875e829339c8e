"""The form engine's part of ``GET /api/v1/openapi.json``: the records of the caller's workspace, per entity.

``entity_contributor`` is the platform's document contributor (``opsloom.platform.api.
documents``): one query lists the workspace's published entities with the version each
serves; that list is the fingerprint the platform caches the finished document under, so
a publish (a new version) yields a new document without any hook, and an unchanged
workspace costs that one query. Only on a cache miss are the models loaded (the
registry's cache usually has them) and turned into schemas and paths by ``openapi``.

``contributor_blueprint`` is how the contributor reaches the app: the form engine offers
it through ``opsloom_register_blueprints`` and Flask calls its ``record_once`` callback
while the app is built, so no new hook is needed and the platform imports nothing of ours.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint
from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import load_only

from opsloom.platform.api import API_PREFIX, Contribution, add_document_contributor
from opsloom.platform.models import App

from .models import EntityTable
from .openapi import add_entities
from .registry import field_types, model_for_row
from .service import MAX_BULK

if TYPE_CHECKING:
    from flask.blueprints import BlueprintSetupState
    from sqlalchemy.orm import Session

    from opsloom.platform.actor import Actor

    from .model import EntityModel

__all__ = ["contributor_blueprint", "entity_contributor"]

log = logging.getLogger("opsloom.form_engine")

# only what the fingerprint and the registry's cache key need: this runs on every request
_PUBLISHED = (
    select(EntityTable, App)
    .options(
        load_only(EntityTable.id, EntityTable.entity_key, EntityTable.version, EntityTable.table_name),
        load_only(App.id, App.key),
    )
    .join(App, App.id == EntityTable.app_id)
    .where(
        EntityTable.workspace_id == bindparam("workspace_id"), App.workspace_id == bindparam("workspace_id")
    )
    .order_by(App.key, EntityTable.entity_key)
)


def entity_contributor(session: Session, actor: Actor) -> Contribution | None:
    """The records of every published entity of ``actor``'s workspace, or ``None`` when it has none."""
    rows = session.execute(_PUBLISHED, {"workspace_id": actor.workspace_id}).all()
    if not rows:
        return None
    fingerprint = tuple((app.key, row.entity_key, row.id, row.version, row.table_name) for row, app in rows)

    def apply(document: dict[str, Any]) -> None:
        types = field_types()
        models: list[EntityModel] = []
        for row, app in rows:
            try:
                models.append(model_for_row(session, app, row, types))
            except SQLAlchemyError:
                raise  # the transaction is gone: let the platform leave the whole part out, uncached
            except Exception:
                # one entity whose version cannot be loaded (a field type whose plugin was removed)
                # must not take the others' documentation along
                log.exception(
                    "entity %s.%s (version %s) left out of the API document",
                    app.key,
                    row.entity_key,
                    row.version,
                )
        add_entities(document, models, prefix=API_PREFIX, max_bulk=MAX_BULK)

    return Contribution(fingerprint=fingerprint, apply=apply)


def contributor_blueprint() -> Blueprint:
    """A route-less blueprint that registers ``entity_contributor`` on the app it is mounted on.

    A new one per app: a module-level blueprint would collect one callback per app built.
    """
    blueprint = Blueprint("records_openapi", __name__)

    def register(state: BlueprintSetupState) -> None:
        add_document_contributor(state.app, entity_contributor)

    blueprint.record_once(register)
    return blueprint
