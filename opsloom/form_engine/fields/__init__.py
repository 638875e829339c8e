"""Field types: the contract (``base``) and the built-in types, one module per family.

The built-ins register through ``opsloom_register_field_types`` like any plugin's types;
``builtin_types`` gives the same mapping to code that runs without an app (pure tests,
scripts).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import FieldContext, FieldReference, FieldType, FieldValueError, SchemaContext

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "BUILTIN_MODULES",
    "FieldContext",
    "FieldReference",
    "FieldType",
    "FieldValueError",
    "SchemaContext",
    "builtin_types",
]

BUILTIN_MODULES = ("text", "numbers", "temporal", "choice", "data", "refs", "structured", "computed")


def builtin_field_types() -> list[FieldType]:
    """Every built-in field type, in palette order."""
    found: list[FieldType] = []
    for name in BUILTIN_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found.extend(module.FIELD_TYPES)
    return found


def builtin_types() -> Mapping[str, FieldType]:
    """name -> built-in field type."""
    return {t.name: t for t in builtin_field_types()}
