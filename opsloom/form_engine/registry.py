"""Finding the published model of an entity, with a per-process cache keyed by the served version.

Each request resolves ``(app, entity key)`` to its ``entity_tables`` row (one indexed
query: the row says which version the table matches), then takes the model from the
cache. A publish in another process bumps the row's version, so no process can serve a
stale model; ``invalidate_models`` only frees memory early in the publishing one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context
from sqlalchemy import bindparam, select

from opsloom.platform.definitions.service import definition_lookup
from opsloom.platform.errors import NotFound
from opsloom.platform.models import Definition

from .model import build_model
from .models import EntityTable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from opsloom.platform.models import App

    from .fields.base import FieldType
    from .model import EntityModel

__all__ = ["field_types", "get_model", "invalidate_models", "model_for_row"]

_CACHE_SIZE = 512
_lock = threading.Lock()
# used outside an app context (scripts, pure tests); apps keep their own in ``extensions``
_fallback: OrderedDict[tuple[Any, ...], EntityModel] = OrderedDict()


def _cache() -> OrderedDict[tuple[Any, ...], EntityModel]:
    if not has_app_context():
        return _fallback
    return current_app.extensions.setdefault("opsloom.form_models", OrderedDict())

_ROW = select(EntityTable).where(
    EntityTable.app_id == bindparam("app_id"), EntityTable.entity_key == bindparam("key")
)
_BODY = select(Definition.body).where(
    Definition.app_id == bindparam("app_id"),
    Definition.kind == "entity",
    Definition.key == bindparam("key"),
    Definition.version == bindparam("version"),
)


def field_types(app: Any = None) -> Mapping[str, FieldType]:
    """The field-type registry of the running app (or of ``app``)."""
    flask_app = app or (current_app if has_app_context() else None)
    if flask_app is None:
        from .fields import builtin_types

        return builtin_types()
    host = flask_app.extensions["opsloom.plugins"]
    return dict(host.registries.field_types.items())


def invalidate_models(app_id: int, key: str) -> None:
    cache = _cache()
    with _lock:
        for cache_key in [k for k, m in cache.items() if m.app_id == app_id and m.key == key]:
            del cache[cache_key]


def model_for_row(session: Session, app: App, row: EntityTable, types: Mapping[str, FieldType]) -> EntityModel:
    cache = _cache()
    # the engine is part of the key: the fallback cache (no app context) may see several databases
    cache_key = (id(session.get_bind()), row.id, row.version, row.table_name, app.id)
    with _lock:
        model = cache.get(cache_key)
        if model is not None:
            cache.move_to_end(cache_key)
            return model
    body = session.scalar(_BODY, {"app_id": app.id, "key": row.entity_key, "version": row.version})
    if body is None:
        raise NotFound(f"Entity {row.entity_key!r} of app {app.key!r} has no version {row.version}.")
    model = build_model(
        app_id=app.id,
        app_key=app.key,
        body=body,
        version=row.version,
        entity_table_id=row.id,
        table_name=row.table_name,
        types=types,
        lookup=definition_lookup(session, app),
    )
    with _lock:
        cache[cache_key] = model
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return model


def get_model(session: Session, app: App, key: str, types: Mapping[str, FieldType] | None = None) -> EntityModel:
    """The published model of entity ``key``; :raises NotFound: no such published entity in ``app``."""
    row = session.scalar(_ROW, {"app_id": app.id, "key": key})
    if row is None:
        raise NotFound(f"App {app.key!r} has no published entity {key!r}.")
    return model_for_row(session, app, row, types if types is not None else field_types())
