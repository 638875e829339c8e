"""The json field type: any JSON value, for data an integration brings along (a webhook payload, settings).

Its size is measured on the canonical form (compact, sorted keys, UTF-8), so the same
value has the same size however a client spaced it. Pure code: no Flask, no database I/O.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

from .base import FieldType, FieldValueError
from .text import cell_text, describe_value, int_option

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.types import TypeEngine

    from .base import FieldContext

__all__ = ["FIELD_TYPES", "JsonType", "canonical_json"]

_DEFAULT_MAX_BYTES = 65536
#: deeper nesting is refused before it can exhaust the stack of a serialiser, here or in a client
_MAX_DEPTH = 64


def canonical_json(value: Any) -> str:
    """``value`` as compact JSON with sorted keys (non-ASCII kept): the form sizes are measured on."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_json(value: Any) -> None:
    """Refuse anything that is not plain JSON: NaN/Infinity, non-text keys, tuples, sets, dates...

    Walks iteratively (no recursion) so deep nesting is measured, not crashed on.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise FieldValueError(f"is nested too deeply; at most {_MAX_DEPTH} levels are allowed")
        if item is None or isinstance(item, (str, bool, int)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise FieldValueError("contains NaN or Infinity, which JSON cannot represent")
            continue
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise FieldValueError(f"has an object key that is not text ({describe_value(key)})")
                stack.append((child, depth + 1))
        else:
            raise FieldValueError(f"contains {describe_value(item)}, which is not a JSON value")


def _no_constants(name: str) -> Any:
    raise FieldValueError(f"contains {name}, which JSON does not allow")


class JsonType(FieldType):
    """Any JSON value up to ``max_bytes`` (default 64 KiB) of canonical JSON; not sortable, not indexable.

    ``null`` is empty, as are ``""``, ``[]`` and ``{}`` (the base ``is_empty``).
    """

    name = "json"
    label = {"en": "JSON", "zh": "JSON"}
    group = "advanced"
    expr_type = "any"
    widget = "json"
    sortable = False
    filter_operators = ("missing",)
    options_schema = {"max_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576}}

    def max_bytes(self, field: Mapping[str, Any]) -> int:
        limit = int_option(field, "max_bytes", _DEFAULT_MAX_BYTES)
        return limit if limit is not None and limit > 0 else _DEFAULT_MAX_BYTES

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        # none_as_null: an empty value is SQL NULL, not the JSON text "null"
        return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"description": f"any JSON value, at most {self.max_bytes(field)} bytes as compact JSON"}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """A validated deep copy of ``value``: the record never shares structure with the caller's input."""
        if value is None:
            return None
        _check_json(value)
        try:
            text = canonical_json(value)
        except ValueError:  # an integer of more digits than Python will print
            raise FieldValueError("contains a number too long to write as JSON") from None
        size, limit = len(text.encode("utf-8")), self.max_bytes(field)
        if size > limit:
            raise FieldValueError(f"is {size} bytes as JSON; at most {limit} are allowed")
        return json.loads(text)

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        raw = cell_text(text).strip()
        if not raw:
            return None
        try:
            return json.loads(raw, parse_constant=_no_constants)
        except json.JSONDecodeError as exc:
            raise FieldValueError(
                f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        except RecursionError:
            raise FieldValueError(f"is nested too deeply; at most {_MAX_DEPTH} levels are allowed") from None

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return "" if value is None else canonical_json(value)


FIELD_TYPES: tuple[FieldType, ...] = (JsonType(),)
