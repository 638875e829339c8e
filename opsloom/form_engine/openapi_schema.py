"""Field types' JSON Schema (draft 2020-12 style) as OpenAPI 3.0 Schema Objects.

Field types describe values in plain JSON Schema (``{"type": ["string", "null"]}``,
``{"anyOf": [..., {"type": "null"}]}``, numeric ``exclusiveMinimum``), which is what a
plugin author knows. The API document is OpenAPI 3.0.3, whose schema dialect differs:
``null`` is ``nullable: true`` (and must be listed in an ``enum``), ``type`` is one name,
an array needs ``items``, exclusive bounds are booleans, ``const`` does not exist.
``to_openapi30`` translates what has an equivalent and drops what has none (``$ref`` into
the field's own ``$defs``, ``if``/``then``, ``prefixItems``), widening rather than
inventing constraints, so the document always validates and never refuses a value the
API accepts.

Pure: no Flask, no database; imports only the standard library.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["not_null", "to_openapi30"]

_TEXT_KEYWORDS = ("title", "description", "format", "pattern")
_COUNT_KEYWORDS = ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties")
_NUMBER_KEYWORDS = ("minimum", "maximum", "multipleOf")
_FLAG_KEYWORDS = ("uniqueItems", "readOnly", "writeOnly", "deprecated", "nullable")
_VALUE_KEYWORDS = ("default", "example")
_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})


def to_openapi30(schema: Any) -> dict[str, Any]:
    """An OpenAPI 3.0 Schema Object accepting (at least) what the JSON Schema ``schema`` accepts."""
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, dict):
        return {}  # ``true``, a missing or malformed schema: any value
    out: dict[str, Any] = {}
    kinds, nullable = _types(schema.get("type"))
    for key in _TEXT_KEYWORDS:
        if isinstance(schema.get(key), str):
            out[key] = schema[key]
    for key in _COUNT_KEYWORDS:
        value = schema.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out[key] = value
    for key in _NUMBER_KEYWORDS:
        number = _number(schema.get(key))
        if number is not None and (key != "multipleOf" or number > 0):
            out[key] = number
    _exclusive(schema, out, "exclusiveMinimum", "minimum", max)
    _exclusive(schema, out, "exclusiveMaximum", "maximum", min)
    for key in _FLAG_KEYWORDS:
        if isinstance(schema.get(key), bool):
            out[key] = schema[key]
    nullable = nullable or out.pop("nullable", False)
    for key in _VALUE_KEYWORDS:
        if key in schema:
            out[key] = schema[key]
    if "example" not in out and isinstance(schema.get("examples"), list) and schema["examples"]:
        out["example"] = schema["examples"][0]
    nullable = _enum(schema, out) or nullable
    _object(schema, out)
    _array(schema, out, kinds)
    if isinstance(schema.get("not"), (dict, bool)):
        out["not"] = to_openapi30(schema["not"])
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        out["allOf"] = [to_openapi30(part) for part in schema["allOf"]]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            branches, null_branch = _branches(schema[key])
            nullable = nullable or null_branch
            if not branches:
                continue  # only ``null``: ``nullable`` below says it
            out = _hoisted(out, key, branches)
    if len(kinds) == 1:
        out["type"] = kinds[0]
    elif len(kinds) > 1 and "anyOf" not in out and "oneOf" not in out:
        out["anyOf"] = [{"type": kind} for kind in kinds]
    elif not kinds and "null" in _type_names(schema.get("type")) and not _has_other_branches(schema):
        out["enum"] = [None]  # the value can only be null
    out = _with_null(out) if nullable else out
    # ``type`` and ``nullable`` first: what a reader of the document looks for
    return {key: out[key] for key in ("type", "nullable") if key in out} | out


def not_null(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI 3.0 one) without ``null`` among its values: for required input fields."""
    out = dict(schema)
    out.pop("nullable", None)
    if isinstance(out.get("enum"), list):
        values = [value for value in out["enum"] if value is not None]
        if values:
            out["enum"] = values
        else:
            del out["enum"]
    for key in ("anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [not_null(branch) for branch in out[key] if branch != {"enum": [None]}]
    return out


# ---------------------------------------------------------------------- pieces


def _type_names(kind: Any) -> list[str]:
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def _types(kind: Any) -> tuple[list[str], bool]:
    """The non-null type names (``number`` absorbs ``integer``) and whether ``null`` is one."""
    names = _type_names(kind)
    kinds = [k for k in dict.fromkeys(names) if k in _TYPES]
    if "number" in kinds and "integer" in kinds:
        kinds.remove("integer")
    return kinds, "null" in names


def _has_other_branches(schema: Mapping[str, Any]) -> bool:
    return any(isinstance(schema.get(key), list) and schema[key] for key in ("anyOf", "oneOf"))


def _number(value: Any) -> int | float | None:
    """A bound as a JSON number (bounds may be given as text or decimals); ``None`` when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite():
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def _exclusive(schema: Mapping[str, Any], out: dict[str, Any], key: str, bound: str, stricter: Any) -> None:
    """JSON Schema's numeric exclusive bound as OpenAPI 3.0's ``bound`` plus boolean flag."""
    value = schema.get(key)
    if isinstance(value, bool):  # already the OpenAPI 3.0 (draft 4) form
        if value and bound in out:
            out[key] = True
        return
    number = _number(value)
    if number is None:
        return
    if bound in out and stricter(out[bound], number) != number:
        return  # the inclusive bound is already stricter
    out[bound] = number
    out[key] = True


def _enum(schema: Mapping[str, Any], out: dict[str, Any]) -> bool:
    """Copy ``enum``/``const`` without ``null``; returns whether ``null`` was among the values."""
    if "const" in schema:
        values = [schema["const"]]
    elif isinstance(schema.get("enum"), list) and schema["enum"]:
        values = list(schema["enum"])
    else:
        return False
    kept = [value for value in values if value is not None]
    if kept:
        out["enum"] = kept
    return len(kept) != len(values)


def _object(schema: Mapping[str, Any], out: dict[str, Any]) -> None:
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {str(name): to_openapi30(sub) for name, sub in properties.items()}
    required = schema.get("required")
    if isinstance(required, list):
        names = [name for name in dict.fromkeys(required) if isinstance(name, str)]
        if names:
            out["required"] = names
    extra = schema.get("additionalProperties")
    # ``patternProperties`` has no equivalent: with it dropped, ``false`` would refuse what it allowed
    if "patternProperties" not in schema:
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif isinstance(extra, dict):
            out["additionalProperties"] = to_openapi30(extra)


def _array(schema: Mapping[str, Any], out: dict[str, Any], kinds: list[str]) -> None:
    items = schema.get("items")
    if isinstance(items, (dict, bool)) and "prefixItems" not in schema:
        out["items"] = to_openapi30(items)
    elif "array" in kinds:
        out["items"] = {}  # OpenAPI 3.0 requires ``items`` beside ``type: array``


def _branches(options: list[Any]) -> tuple[list[dict[str, Any]], bool]:
    """The converted branches of an ``anyOf``/``oneOf`` without the ``null`` ones, and whether there was one."""
    branches: list[dict[str, Any]] = []
    null = False
    for option in options:
        converted = to_openapi30(option)
        if converted == {"enum": [None]} or converted == {"nullable": True, "enum": [None]}:
            null = True
            continue
        if converted.get("nullable"):
            null = True
        branches.append(converted)
    return branches, null


def _hoisted(out: dict[str, Any], key: str, branches: list[dict[str, Any]]) -> dict[str, Any]:
    """``out`` with ``key: branches``; a single branch is merged into ``out`` when nothing clashes."""
    if len(branches) == 1 and not set(branches[0]) & (set(out) - {"title", "description"}):
        return {**branches[0], **out}
    return {**out, key: branches}


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` also accepting ``null`` the OpenAPI 3.0 way (each ``anyOf`` branch says so too)."""
    out = dict(schema)
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    for key in ("anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [_with_null(branch) for branch in out[key]]
    out["nullable"] = True
    return out
