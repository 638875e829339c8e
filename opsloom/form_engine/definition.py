"""The ``entity`` definition kind: its meta-schema, the semantic checks, and stable field ids.

The JSON Schema here covers the entity's shape and the properties every field shares;
each field's own properties are checked against its type's ``options_schema`` in
``check``, because the type registry (and so the set of valid properties) is only known
once the plugins are loaded. Fields get a stable ``id`` when a draft is saved
(``prepare``): the id, not the key, is the field's identity, so renaming a field keeps
its column and data, and removing one tombstones its column instead of dropping it.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator

from opsloom.platform import expr
from opsloom.platform.definitions.app_kind import LABEL_SCHEMA
from opsloom.platform.definitions.kinds import DefinitionKind
from opsloom.platform.definitions.validation import IDENTIFIER_PATTERN

from .fields.base import COMMON_FIELD_PROPERTIES, FieldContext, FieldValueError, SchemaContext
from .fields.references import checked

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from opsloom.platform.definitions.kinds import CheckContext

    from .fields.base import FieldType

__all__ = [
    "ENTITY_KIND",
    "ENTITY_SCHEMA",
    "FIELD_ID_PATTERN",
    "RESERVED_KEYS",
    "assign_field_ids",
    "check_entity",
    "schema_context",
]

FIELD_ID_PATTERN = r"^f[a-z0-9]{4,20}$"
#: keys a field may not take: the system columns (the underscore ones cannot match an identifier anyway)
RESERVED_KEYS = frozenset({"id"})
MAX_FIELDS = 300

_IDENT: dict[str, Any] = {"type": "string", "pattern": IDENTIFIER_PATTERN}
_KEY_LIST: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 5,
    "items": _IDENT,
}
#: what every field may carry; the type's ``options_schema`` adds its own properties (checked in ``check``)
COMMON_PROPERTIES_SCHEMA: dict[str, Any] = {
    "id": {"type": "string", "pattern": FIELD_ID_PATTERN},
    "key": _IDENT,
    "type": _IDENT,
    "label": LABEL_SCHEMA,
    "help": {"type": "string", "maxLength": 1000},
    "placeholder": {"type": "string", "maxLength": 200},
    "required": {"type": "boolean"},
    "unique": {"type": "boolean"},
    "default": {},
    "width": {"enum": ["full", "half", "third"]},
    "mask": {
        "oneOf": [
            {"enum": ["phone", "email", "id_number", "name", "full"]},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["style"],
                "properties": {
                    "style": {"const": "custom"},
                    "keep_start": {"type": "integer", "minimum": 0, "maximum": 20},
                    "keep_end": {"type": "integer", "minimum": 0, "maximum": 20},
                    "char": {"type": "string", "minLength": 1, "maxLength": 1},
                },
            },
        ]
    },
}
assert set(COMMON_PROPERTIES_SCHEMA) == COMMON_FIELD_PROPERTIES

FIELD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["key", "type"],
    "properties": COMMON_PROPERTIES_SCHEMA,
}

#: one section of the form's layout: its heading and the keys of its fields, in order
_LAYOUT_SECTION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["fields"],
    "properties": {
        "label": LABEL_SCHEMA,
        "fields": {"type": "array", "maxItems": MAX_FIELDS, "items": _IDENT},
    },
}
#: where the fields no section names go among the sections; without it they come first
_LAYOUT_UNSECTIONED: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["unsectioned"],
    "properties": {"unsectioned": {"const": True}},
}

_CONDITIONS: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": IDENTIFIER_PATTERN},
    "maxProperties": MAX_FIELDS,
}

ENTITY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "opsloom entity (form)",
    "type": "object",
    "additionalProperties": False,
    "required": ["key", "fields"],
    "properties": {
        "key": _IDENT,
        "label": LABEL_SCHEMA,
        "description": {"type": "string", "maxLength": 2000},
        "icon": {"type": "string", "maxLength": 40},
        "title_field": _IDENT,
        "fields": {"type": "array", "minItems": 1, "maxItems": MAX_FIELDS, "items": FIELD_SCHEMA},
        # field key -> expression: the field shows (and is stored) only while it is true
        "visible_if": _CONDITIONS,
        # field key -> expression: the field is required while it is true
        "required_if": _CONDITIONS,
        "indexes": {"type": "array", "maxItems": 20, "items": _KEY_LIST},
        # each list of fields is a unique key: no two live records may share those values
        "dedup": {"type": "array", "maxItems": 10, "items": _KEY_LIST},
        # the form's sections for the designer and the record page: [{"label": ..., "fields": [keys]}],
        # and at most one {"unsectioned": true} placing the fields of no section (else they come first)
        "layout": {
            "type": "array",
            "maxItems": 51,  # 50 sections and the marker
            # if/then/else rather than oneOf: a bad section gets the section's message, not "no match"
            "items": {
                "if": {"type": "object", "required": ["unsectioned"]},
                "then": _LAYOUT_UNSECTIONED,
                "else": _LAYOUT_SECTION,
            },
        },
    },
}

# type name -> validator of a field's properties (common ones plus the type's own); built lazily
_OPTION_VALIDATORS: dict[int, Draft202012Validator] = {}


def _options_validator(field_type: FieldType) -> Draft202012Validator:
    validator = _OPTION_VALIDATORS.get(id(field_type))
    if validator is None:
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {**COMMON_PROPERTIES_SCHEMA, **field_type.options_schema},
        }
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        _OPTION_VALIDATORS[id(field_type)] = validator
    return validator


def schema_context(
    body: Mapping[str, Any], types: Mapping[str, FieldType], lookup: Callable[[str, str], dict[str, Any] | None]
) -> SchemaContext:
    """A ``SchemaContext`` for ``body`` in which the entity sees itself as it is being checked."""
    own_key = body.get("key")

    def lookup_entity(key: str) -> Mapping[str, Any] | None:
        return body if key == own_key else lookup("entity", key)

    return SchemaContext(entity=body, types=types, lookup_entity=lookup_entity)


def _field_errors(i: int, field: dict[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
    base = f"/fields/{i}"
    field_type = ctx.types.get(field["type"])
    if field_type is None:
        known = ", ".join(sorted(ctx.types))
        yield f"{base}/type", f"unknown field type {field['type']!r} (known: {known})"
        return
    for error in sorted(_options_validator(field_type).iter_errors(field), key=lambda e: list(e.path)):
        if error.validator == "additionalProperties":
            extra = sorted(set(field) - set(COMMON_PROPERTIES_SCHEMA) - set(field_type.options_schema))
            for name in extra:
                yield f"{base}/{name}", f"a {field_type.name} field has no property {name!r}"
            continue
        where = "/".join(str(p) for p in error.path)
        yield (f"{base}/{where}" if where else base), error.message
    if field["key"] in RESERVED_KEYS:
        yield f"{base}/key", f"{field['key']!r} is reserved for the record id"
    mask = field.get("mask")
    if mask is not None:
        style = mask if isinstance(mask, str) else "custom"
        if style not in field_type.masks and style not in ("full", "custom"):
            yield f"{base}/mask", f"a {field_type.name} field cannot be masked as {style!r}"
    if field.get("unique") and (field_type.storage_for(field) != "column" or not field_type.sortable):
        yield f"{base}/unique", f"a {field_type.name} field cannot be unique"
    if field.get("required") and field_type.computed:
        yield f"{base}/required", "a computed field is never entered, so it cannot be required"
    # the type's own check, then the references it declares (field_references) that it left unsaid
    for where, message in checked(field_type, field, ctx):
        yield f"{base}{where}", message
    if "default" in field and field["default"] is not None:
        if field_type.computed:
            yield f"{base}/default", "a computed field has no default"
        else:
            try:
                field_type.coerce(field["default"], field, FieldContext(types=ctx.types))
            except FieldValueError as exc:
                yield f"{base}/default", str(exc)


def _condition_errors(
    body: Mapping[str, Any], name: str, keys: set[str]
) -> Iterator[tuple[str, str]]:
    for field_key, condition in (body.get(name) or {}).items():
        where = f"/{name}/{field_key}"
        if field_key not in keys:
            yield where, f"there is no field {field_key!r}"
            continue
        try:
            expr.compile(condition)
        except expr.ExprError as exc:
            yield f"{where}{exc.path or ''}", exc.detail
            continue
        for var in sorted(expr.free_vars(condition)):
            head = var.split(".", 1)[0]
            if head and head not in keys and head not in {"id", "_user", "_now"} and not head.startswith("_"):
                yield where, f"the condition uses {var!r}, which is not a field of this entity"


def _key_list_errors(
    body: Mapping[str, Any], name: str, fields: Mapping[str, dict[str, Any]], types: Mapping[str, FieldType]
) -> Iterator[tuple[str, str]]:
    seen: set[tuple[str, ...]] = set()
    for i, keys in enumerate(body.get(name) or []):
        if tuple(keys) in seen:
            yield f"/{name}/{i}", f"{keys} is listed twice"
        seen.add(tuple(keys))
        if len(set(keys)) != len(keys):
            yield f"/{name}/{i}", "a field is named twice"
        for j, key in enumerate(keys):
            field = fields.get(key)
            field_type = types.get(field["type"]) if field else None
            if field is None:
                yield f"/{name}/{i}/{j}", f"there is no field {key!r}"
            elif field_type is not None and (field_type.storage_for(field) != "column" or not field_type.sortable):
                yield f"/{name}/{i}/{j}", f"a {field['type']} field cannot be part of an index or a unique key"


def check_entity(body: dict[str, Any], context: CheckContext) -> Iterator[tuple[str, str]]:
    """Everything the schema cannot say: known types, their options, references, conditions, keys."""
    types = dict(context.registries.field_types.items())
    ctx = schema_context(body, types, context.lookup)
    keys: dict[str, dict[str, Any]] = {}
    ids: set[str] = set()
    for i, field in enumerate(body["fields"]):
        if field["key"] in keys:
            yield f"/fields/{i}/key", f"another field is already called {field['key']!r}"
        keys.setdefault(field["key"], field)
        if "id" in field:
            if field["id"] in ids:
                yield f"/fields/{i}/id", f"another field already has the id {field['id']!r}"
            ids.add(field["id"])
        yield from _field_errors(i, field, ctx)
    title = body.get("title_field")
    if title is not None and title not in keys:
        yield "/title_field", f"there is no field {title!r}"
    for name in ("visible_if", "required_if"):
        yield from _condition_errors(body, name, set(keys))
    for name in ("indexes", "dedup"):
        yield from _key_list_errors(body, name, keys, types)
    yield from _layout_errors(body.get("layout") or [], set(keys))


def _layout_errors(layout: list[dict[str, Any]], keys: set[str]) -> Iterator[tuple[str, str]]:
    placed = False
    for i, section in enumerate(layout):
        if section.get("unsectioned"):
            if placed:
                yield (
                    f"/layout/{i}",
                    'the fields of no section are placed twice; keep one {"unsectioned": true}',
                )
            placed = True
            continue
        for j, key in enumerate(section["fields"]):
            if key not in keys:
                yield f"/layout/{i}/fields/{j}", f"there is no field {key!r}"


def new_field_id() -> str:
    return "f" + secrets.token_hex(4)


def assign_field_ids(
    body: dict[str, Any], lookup: Callable[[str, str], dict[str, Any] | None]
) -> dict[str, Any]:
    """Give every field without an ``id`` one: the id its key had in the newest saved body, else a new one.

    So a client that never sends ids (a hand-written package, a script) still keeps the
    identity of its fields across saves; a client that sends them (the designer) can
    rename a field without losing its data.
    """
    previous = lookup("entity", body.get("key", "")) or {}
    known = {f.get("key"): f.get("id") for f in previous.get("fields", []) if isinstance(f, dict)}
    taken = {f["id"] for f in body.get("fields", []) if isinstance(f, dict) and "id" in f}
    for field in body.get("fields", []):
        if not isinstance(field, dict) or "id" in field:
            continue
        candidate = known.get(field.get("key"))
        if not candidate or candidate in taken:
            candidate = new_field_id()
            while candidate in taken:
                candidate = new_field_id()
        field["id"] = candidate
        taken.add(candidate)
    return body


def _on_publish(context: Any) -> None:
    from .publish import publish_entity

    publish_entity(context)


ENTITY_KIND = DefinitionKind(
    name="entity",
    plural="entities",
    schema=ENTITY_SCHEMA,
    label={"en": "Entity (form)", "zh": "表单"},
    check=check_entity,
    on_publish=_on_publish,
    prepare=assign_field_ids,
    order=10,
)
