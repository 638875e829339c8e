"""The entity designer's API blueprint, shared by the modules that add routes to it.

``designer_api`` (palette, formula checks, publish warnings, field summaries),
``designer_preview`` (the preview's conditions) and ``designer_rename_api`` (renaming a
field key) each add their routes here; ``plugin.opsloom_register_blueprints`` imports all
three before registering the blueprint once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema

from opsloom.platform.plugin_host import get_plugin_host

if TYPE_CHECKING:
    from .fields.base import FieldType

__all__ = ["StrictSchema", "blp", "field_types"]

blp = Blueprint(
    "form-designer",
    __name__,
    description="Helpers of the entity designer page: field palette, formula checks, publish warnings.",
)


class StrictSchema(Schema):
    """A request body: unknown keys are refused."""

    class Meta:
        unknown = RAISE


def field_types() -> dict[str, FieldType]:
    """The registered field types by name (request time: the plugin host of the app serving)."""
    return dict(get_plugin_host().registries.field_types.items())
