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
    from .api import blp as records_api

    return [records_api]
