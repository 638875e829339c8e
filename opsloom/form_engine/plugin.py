"""The form engine's own plugin: the ``entity`` definition kind and the built-in field types.

Registered through the same hooks as third-party plugins (``plugin_host.BUILTIN_PLUGINS``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloom.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Iterable

name = "opsloom.form_engine"


@hookimpl
def opsloom_register_definition_kinds() -> Iterable[Any]:
    from .definition import ENTITY_KIND

    return [ENTITY_KIND]


@hookimpl
def opsloom_register_field_types() -> Iterable[Any]:
    from .fields import builtin_field_types

    return builtin_field_types()


@hookimpl
def opsloom_register_blueprints() -> Iterable[Any]:
    # cleanup registers the periodic clean-up task; designer_preview and designer_rename_api
    # add their routes to the designer blueprint (designer_api's ``blp``)
    from . import cleanup, designer_preview, designer_rename_api  # noqa: F401
    from .api import blp as records_api
    from .dedup_api import blp as dedup_api
    from .designer_api import blp as designer_api
    from .designer_views import bp as designer_pages
    from .duplicate_views import bp as duplicate_pages
    from .files_api import blp as files_api
    from .import_api import blp as import_api
    from .import_views import bp as import_pages
    from .openapi_contributor import contributor_blueprint
    from .permission_views import bp as permission_pages
    from .record_views import bp as record_pages
    from .timeline_api import blp as timeline_api
    from .views_api import blp as saved_views_api

    # the route-less blueprint registers the per-entity OpenAPI contributor on the app
    return [import_api, import_pages, records_api, dedup_api, files_api, contributor_blueprint(), permission_pages, saved_views_api, record_pages,
            designer_api, designer_pages, timeline_api, duplicate_pages]


@hookimpl
def opsloom_register_timeline_sources() -> Iterable[Any]:
    from .timeline_sources import builtin_sources

    return builtin_sources()
