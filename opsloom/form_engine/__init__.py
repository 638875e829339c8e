"""The form engine: entities and fields as real tables, the record service, queries, import and export.

Public face (the flow, rule and report engines use only these)::

    RecordService            create / read / update / delete / query records, with permissions
    get_model(...)           the compiled, published version of an entity (fields, table)
    EntityModel, RuntimeField
    FieldType, FieldContext, FieldValueError, SchemaContext   the field-type contract plugins implement
    find_duplicates, merge_records                            data cleaning
"""

from __future__ import annotations

from .dedup import find_duplicates, merge_records
from .fields.base import FieldContext, FieldType, FieldValueError, SchemaContext
from .model import EntityModel, RuntimeField
from .registry import get_model
from .service import RecordService

__all__ = [
    "EntityModel",
    "FieldContext",
    "FieldType",
    "FieldValueError",
    "RecordService",
    "RuntimeField",
    "SchemaContext",
    "find_duplicates",
    "get_model",
    "merge_records",
]
