"""The records API of published entities as OpenAPI 3.0: one set of schemas and concrete paths per entity.

``add_entities(document, models, ...)`` adds, for each published entity model:

- ``Record_<app>_<entity>``: a record as the API returns it (system fields and computed
  fields ``readOnly``); ``RecordInput_<app>_<entity>``: the body of a create (writable
  fields only, ``required`` those a create must give); ``RecordPatch_<app>_<entity>``:
  the body of a PATCH (``_version`` required, nothing else);
- the paths ``/apps/<app>/records/<entity>`` (list, create), ``.../bulk``,
  ``.../{record_id}`` (read, change, delete) and ``.../{record_id}/restore``, each with
  its problem+json answers; the templated generic paths stay for other clients;
- a tag per entity, so API reference pages group its operations.

Field schemas come from each field type's ``json_schema`` on the *resolved* spec of the
published version (a formula knows its ``result_type``, a lookup its target's schema),
translated to the document's dialect by ``openapi_schema``. When two entities would get
the same component name (app ``a_b`` + entity ``c`` and app ``a`` + entity ``b_c``) the
later one, in (app, entity) order, is named ``Record_<app>.<entity>`` instead: keys
cannot contain a dot.

Pure: no Flask, no database, no clock; it reads the models it is given and mutates only
the document it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .fields.text import localized
from .openapi_schema import not_null, to_openapi30

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .model import EntityModel, RuntimeField

__all__ = ["EntityNames", "add_entities", "entity_names", "entity_paths", "entity_schemas", "field_schema"]

#: the RFC 9457 body every error has (``errors`` maps field keys or JSON pointers to messages)
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem. `errors` maps field keys (or JSON pointers) to messages.",
    "properties": {
        "type": {"type": "string", "example": "/problems/validation"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong and what to do."},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["type", "title", "status", "detail"],
}
PROBLEM_MEDIA_TYPE = "application/problem+json"

_PROBLEMS = {
    400: "A malformed request: a bad filter, sort, cursor, query parameter or If-Match header.",
    401: "No valid token or session.",
    403: "Your role may not do this (a browser write also needs its CSRF token).",
    404: "No such app, published entity or record in your workspace.",
    409: "A unique value is taken, or the record changed since your `_version` (`current_version` "
    "says which is current).",
    415: "The body is not JSON.",
    422: "Some fields are invalid; `errors` maps each field key to the reason.",
}

_SYSTEM_BEFORE: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1, "readOnly": True},
    "_version": {
        "type": "integer",
        "minimum": 1,
        "readOnly": True,
        "description": "Raised by every change; send it back with a PATCH.",
    },
}
_SYSTEM_AFTER: dict[str, dict[str, Any]] = {
    "_created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "_created_by": {"type": "integer", "nullable": True, "readOnly": True, "description": "A user id."},
    "_updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "_updated_by": {"type": "integer", "nullable": True, "readOnly": True, "description": "A user id."},
    "_deleted_at": {
        "type": "string",
        "format": "date-time",
        "nullable": True,
        "readOnly": True,
        "description": "Set while the record is deleted (restorable).",
    },
}
_RECORD_NOTE = (
    "Fields your role may not see are left out; fields it sees masked come as text (`138****5678`). "
    "`fields=` on a list returns only the fields named (system fields always)."
)
_ID_PARAMETER = {
    "name": "record_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
_ETAG = {"ETag": {"description": "The record's `_version`, quoted.", "schema": {"type": "string"}}}


@dataclass(frozen=True, slots=True)
class EntityNames:
    """The component names, path and tag of one entity in the document."""

    record: str
    input: str
    patch: str
    path: str
    tag: str
    operation: str

    def ref(self, name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}


def entity_names(model: EntityModel, prefix: str, taken: Iterable[str] = ()) -> EntityNames:
    """Names for ``model``'s schemas, avoiding ``taken`` component names (see the module docstring)."""
    stem = f"{model.app_key}_{model.key}"
    taken = set(taken)
    if any(f"{kind}_{stem}" in taken for kind in ("Record", "RecordInput", "RecordPatch")):
        stem = f"{model.app_key}.{model.key}"
    return EntityNames(
        record=f"Record_{stem}",
        input=f"RecordInput_{stem}",
        patch=f"RecordPatch_{stem}",
        path=f"{prefix}/apps/{model.app_key}/records/{model.key}",
        tag=f"records: {model.app_key}/{model.key}",
        operation=f"records.{model.app_key}.{model.key}",
    )


def add_entities(
    document: dict[str, Any], models: Iterable[EntityModel], *, prefix: str, max_bulk: int
) -> list[EntityNames]:
    """Add the schemas, paths and tags of ``models`` to ``document`` (an OpenAPI 3.0 dict); returns their names.

    :param prefix: the API's path prefix (``/api/v1``).
    :param max_bulk: the most records one bulk call takes.
    """
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("Problem", PROBLEM_SCHEMA)
    paths = document.setdefault("paths", {})
    tags = document.setdefault("tags", [])
    added = []
    for model in sorted(models, key=lambda m: (m.app_key, m.key)):
        names = entity_names(model, prefix, schemas)
        schemas.update(entity_schemas(model, names))
        paths.update(entity_paths(model, names, max_bulk=max_bulk))
        tags.append(
            {"name": names.tag, "description": f"Records of {_label(model)} (app `{model.app_key}`)."}
        )
        added.append(names)
    return added


# ---------------------------------------------------------------------- schemas


def entity_schemas(model: EntityModel, names: EntityNames) -> dict[str, dict[str, Any]]:
    """The ``Record``, ``RecordInput`` and ``RecordPatch`` schemas of ``model``."""
    label = _label(model)
    record: dict[str, Any] = {**_SYSTEM_BEFORE}
    writable: dict[str, Any] = {}
    required: list[str] = []
    for key, f in model.fields.items():
        schema = field_schema(f)
        if f.computed or schema.get("readOnly"):
            record[key] = {**schema, "readOnly": True}
            continue
        record[key] = schema
        if _always_required(model, f):
            required.append(key)
            writable[key] = not_null(schema)
        else:
            writable[key] = schema
    record.update(_SYSTEM_AFTER)
    conditional = sorted(set(model.required_if) | {f for f in model.visible_if if f in writable})
    input_notes = "Fields left out take their default."
    if conditional:
        input_notes += f" Required or shown only under a condition: {', '.join(conditional)}."
    return {
        names.record: {
            "type": "object",
            "title": label,
            "description": f"A {label} record (entity `{model.key}`, version {model.version}). {_RECORD_NOTE}",
            "properties": record,
            "required": ["id", "_version"],
        },
        names.input: {
            "type": "object",
            "title": f"New {label}",
            "description": f"The body that creates a {label} record. {input_notes}",
            "properties": writable,
            **({"required": required} if required else {}),
            "additionalProperties": False,
        },
        names.patch: {
            "type": "object",
            "title": f"{label} changes",
            "description": "The fields to change, with the `_version` you read; fields left out keep their value.",
            "properties": {
                "_version": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "The `_version` you read (or send it as If-Match); a stale one is a 409.",
                },
                **writable,
            },
            "required": ["_version"],
            "additionalProperties": False,
        },
    }


def field_schema(f: RuntimeField) -> dict[str, Any]:
    """The OpenAPI schema of one field's value, with its label and help as title and description."""
    schema = to_openapi30(f.type.json_schema(f.spec))
    label = localized(f.spec.get("label"), "en")
    if label and "title" not in schema:
        schema["title"] = label
    notes = [
        text for text in (schema.get("description"), f.spec.get("help")) if isinstance(text, str) and text
    ]
    notes.append(f"Field type `{f.type.name}`{' (computed)' if f.computed else ''}.")
    schema["description"] = " ".join(notes)
    schema["x-opsloom-field-type"] = f.type.name
    return schema


def _always_required(model: EntityModel, f: RuntimeField) -> bool:
    """A create must give this field: required, no default, shown whatever the record holds."""
    return bool(f.spec.get("required")) and f.spec.get("default") is None and f.key not in model.visible_if


def _label(model: EntityModel) -> str:
    return localized(model.label, "en", model.key) or model.key


# ---------------------------------------------------------------------- paths


def entity_paths(model: EntityModel, names: EntityNames, *, max_bulk: int) -> dict[str, dict[str, Any]]:
    """The concrete paths of ``model``'s records."""
    label = _label(model)
    record = names.ref(names.record)
    one = f"{names.path}/{{record_id}}"
    return {
        names.path: {
            "get": _operation(
                names,
                "list",
                summary=f"Query {label} records",
                description="Filter, sort, search and page through the records (keyset pages).",
                ok=_ok(200, "A page of records.", _page(record)),
                problems=(400, 401, 403, 404),
                parameters=_query_parameters(model),
            ),
            "post": _operation(
                names,
                "create",
                summary=f"Create a {label} record",
                description="Fields left out take their default; computed fields are filled in.",
                ok=_ok(201, "The new record.", record, etag=True),
                problems=(400, 401, 403, 404, 409, 415, 422),
                body=names.ref(names.input),
            ),
        },
        f"{names.path}/bulk": {
            "post": _operation(
                names,
                "bulk",
                summary=f"Create many {label} records",
                description="One transaction: all or nothing, or skipping invalid rows (`skip_invalid`).",
                ok=_ok(200, "The ids created and the errors of rows left out.", _BULK_ANSWER),
                problems=(401, 403, 404, 409, 415, 422),
                body=_bulk_body(names, max_bulk),
            ),
        },
        one: {
            "parameters": [_ID_PARAMETER],
            "get": _operation(
                names,
                "get",
                summary=f"Read a {label} record",
                description="A deleted record is a 404 unless `deleted=true`.",
                ok=_ok(200, "The record.", record, etag=True),
                problems=(401, 403, 404),
                parameters=[_deleted_parameter("Show the record even if it is deleted.")],
            ),
            "patch": _operation(
                names,
                "update",
                summary=f"Change a {label} record",
                description="Send the fields to change and the `_version` you read (or If-Match).",
                ok=_ok(200, "The changed record.", record, etag=True),
                problems=(400, 401, 403, 404, 409, 415, 422),
                body=names.ref(names.patch),
                parameters=[_IF_MATCH],
            ),
            "delete": _operation(
                names,
                "delete",
                summary=f"Delete a {label} record",
                description="A soft delete: restore undoes it.",
                ok=_ok(200, "The deleted record.", record),
                problems=(401, 403, 404, 409),
            ),
        },
        f"{one}/restore": {
            "parameters": [_ID_PARAMETER],
            "post": _operation(
                names,
                "restore",
                summary=f"Restore a deleted {label} record",
                description="Undo a delete.",
                ok=_ok(200, "The restored record.", record, etag=True),
                problems=(401, 403, 404, 409),
            ),
        },
    }


_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The record's `_version` (instead of `_version` in the body).",
}
_BULK_ANSWER = {
    "type": "object",
    "properties": {
        "created": {"type": "array", "items": {"type": "integer"}},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": 'Keyed `"<row>/<field>"`.',
        },
    },
}


def _page(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": record},
            "next_cursor": {
                "type": "string",
                "nullable": True,
                "description": "Pass as `cursor` for the next page.",
            },
        },
        "required": ["items", "next_cursor"],
    }


def _bulk_body(names: EntityNames, max_bulk: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "records": {
                "type": "array",
                "items": names.ref(names.input),
                "minItems": 1,
                "maxItems": max_bulk,
            },
            "skip_invalid": {
                "type": "boolean",
                "default": False,
                "description": "Save the valid records and report the others, instead of all or nothing.",
            },
        },
        "required": ["records"],
        "additionalProperties": False,
    }


def _operation(
    names: EntityNames,
    verb: str,
    *,
    summary: str,
    description: str,
    ok: dict[str, Any],
    problems: Iterable[int],
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses = {**ok}
    for status in problems:
        responses[str(status)] = _problem(_PROBLEMS[status])
    responses["default"] = _problem(
        "Any other error, as a problem (5xx is always a bug: quote `request_id`)."
    )
    operation: dict[str, Any] = {
        "operationId": f"{names.operation}.{verb}",
        "tags": [names.tag],
        "summary": summary,
        "description": description,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


def _ok(status: int, description: str, schema: dict[str, Any], *, etag: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if etag:
        answer["headers"] = _ETAG
    return {str(status): answer}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _deleted_parameter(description: str) -> dict[str, Any]:
    return {
        "name": "deleted",
        "in": "query",
        "schema": {"type": "boolean", "default": False},
        "description": description,
    }


def _query_parameters(model: EntityModel) -> list[dict[str, Any]]:
    sortable = [key for key, f in model.fields.items() if f.type.sortable and f.storage == "column"]
    sort_keys = ", ".join(["id", *sortable, "_created_at", "_updated_at"])
    return [
        {
            "name": "filter",
            "in": "query",
            "schema": {"type": "string"},
            "description": 'An expression in JSON, e.g. `{"==": [{"var": "level"}, "vip"]}`.',
        },
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string", "default": "-id"},
            "description": f"Comma-separated keys, `-` for descending. Sortable: {sort_keys}.",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string"},
            "description": "`next_cursor` of the previous page.",
        },
        {
            "name": "q",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Search in text fields.",
        },
        {
            "name": "fields",
            "in": "query",
            "schema": {"type": "string"},
            "description": f"Comma-separated field keys to return, of: {', '.join(model.fields)}.",
        },
        _deleted_parameter("List deleted records instead of live ones."),
    ]
