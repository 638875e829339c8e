"""Choice field types: boolean, select and multi_select, and the option helpers.

A select's ``options`` are a list of values (``["normal", "vip"]``) or of objects with a
label per locale and a colour (``{"value": "vip", "label": {"en": "VIP", "zh": "贵宾"},
"color": "gold"}``). Values are what records store, filters compare and formulas see:
free text up to 100 characters, not identifiers, so ``"已成交"`` is a fine value. Labels
are only for people: imports accept them, exports write them. Pure code: no Flask, no
database I/O.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, String
from sqlalchemy.dialects.postgresql import JSONB

from .base import FieldType, FieldValueError
from .text import cell_text, describe_value, int_option, localized

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from sqlalchemy.types import TypeEngine

    from .base import FieldContext, SchemaContext

__all__ = [
    "FIELD_TYPES",
    "BooleanType",
    "MultiSelectType",
    "SelectType",
    "option_label",
    "option_values",
]

_VALUE_LIMIT = 100

_TRUE = frozenset({"true", "yes", "y", "1", "on", "是", "对", "√", "✓", "✔"})
_FALSE = frozenset(
    {"false", "no", "n", "0", "off", "否", "错", "\u00d7", "✗", "✘"}
)  # \u00d7 is the multiplication sign


class BooleanType(FieldType):
    """Yes or no. ``coerce`` takes JSON booleans (and 0/1); ``parse_text`` the words people type in sheets.

    ``False`` is a value, not an empty one: a required boolean needs an answer, not a tick.
    """

    name = "boolean"
    label = {"en": "Yes/No", "zh": "是/否"}
    group = "choice"
    expr_type = "boolean"
    widget = "checkbox"
    filter_operators = ("==", "!=", "missing")

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Boolean()

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": ["boolean", "null"]}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise FieldValueError(f"expects true or false; got {describe_value(value)}")

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """``true/false``, ``yes/no``, ``y/n``, ``1/0``, ``on/off``, ``是/否``, ``对/错``, ticks and crosses, any case."""
        if isinstance(text, bool):
            return text
        word = unicodedata.normalize("NFKC", cell_text(text)).strip().casefold()
        if not word:
            return None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise FieldValueError(
            f"{describe_value(word)} is not yes or no; write true/false, yes/no, 1/0 or 是/否"
        )

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """``yes``/``no`` (``是``/``否`` in Chinese): readable, and ``parse_text`` reads them back."""
        if value is None:
            return ""
        if ctx.locale.lower().startswith("zh"):
            return "是" if value else "否"
        return "yes" if value else "no"


# ---------------------------------------------------------------------- options


def _entries(field: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(value, label) of each well-formed option, in order; malformed entries are skipped."""
    options = field.get("options")
    if not isinstance(options, list):
        return []
    entries = []
    for item in options:
        if isinstance(item, str):
            entries.append((item, None))
        elif isinstance(item, dict) and isinstance(item.get("value"), str):
            entries.append((item["value"], item.get("label")))
    return entries


def option_values(field: Mapping[str, Any]) -> list[str]:
    """The values of a select or multi_select field's options, in their order."""
    return [value for value, _label in _entries(field)]


def option_label(field: Mapping[str, Any], value: str, locale: str) -> str:
    """The label of option ``value`` in ``locale`` (see ``localized``), or the value itself.

    A value no longer among the options (one removed after records used it) is shown as is.
    """
    for candidate, label in _entries(field):
        if candidate == value:
            return localized(label, locale, value) or value
    return value


def _labels(label: Any) -> list[str]:
    if isinstance(label, str):
        return [label]
    if isinstance(label, dict):
        return [text for text in label.values() if isinstance(text, str)]
    return []


def _resolve(field: Mapping[str, Any], text: str) -> str:
    """The option value ``text`` names: the value itself, a label in any locale, or either in another case.

    Text that names no option (or several, case-insensitively) comes back unchanged for
    ``coerce`` to refuse with the list of values.
    """
    entries = _entries(field)
    if any(value == text for value, _label in entries):
        return text
    exact = {value for value, label in entries if text in _labels(label)}
    if len(exact) == 1:
        return exact.pop()
    folded = text.casefold()
    loose = {
        value
        for value, label in entries
        if value.casefold() == folded or any(name.casefold() == folded for name in _labels(label))
    }
    return loose.pop() if len(loose) == 1 else text


def _listing(values: list[str]) -> str:
    shown = ", ".join(values[:10])
    return shown if len(values) <= 10 else f"{shown}, … ({len(values) - 10} more)"


_OPTION_VALUE = {"type": "string", "minLength": 1, "maxLength": _VALUE_LIMIT}
_OPTIONS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "items": {
        "anyOf": [
            _OPTION_VALUE,
            {
                "type": "object",
                "required": ["value"],
                "additionalProperties": False,
                "properties": {
                    "value": _OPTION_VALUE,
                    "label": {
                        "anyOf": [
                            {"type": "string", "maxLength": 200},
                            {"type": "object", "additionalProperties": {"type": "string", "maxLength": 200}},
                        ]
                    },
                    # a palette name or a hex colour: never free CSS, which would reach a style attribute
                    "color": {
                        "type": "string",
                        "pattern": "^(#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?|[a-z][a-z0-9-]{0,31})$",
                    },
                },
            },
        ]
    },
}


class _OptionsType(FieldType):
    """What select and multi_select share: the ``options`` list, its checks and value lookup."""

    group = "choice"

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        options = field.get("options")
        if not isinstance(options, list) or not options:
            yield "/options", "needs at least one option"
            return
        seen: dict[str, int] = {}
        for index, item in enumerate(options):
            pointer = f"/options/{index}"
            value = item.get("value") if isinstance(item, dict) else item
            if isinstance(item, dict):
                pointer += "/value"
            if not isinstance(value, str):
                yield pointer, "an option value must be text"
                continue
            problem = _value_problem(value)
            if problem:
                yield pointer, problem
            elif value in seen:
                yield pointer, f"{describe_value(value)} is listed twice (first as option {seen[value] + 1})"
            else:
                seen[value] = index

    def check_value(self, value: Any, field: Mapping[str, Any]) -> str | None:
        """The option value ``value`` stands for (trimmed), ``None`` for blank text; refuses others."""
        if not isinstance(value, str):
            raise FieldValueError(
                f"expects one of: {_listing(option_values(field))}; got {describe_value(value)}"
            )
        text = value.strip()
        if not text:
            return None
        if text not in option_values(field):
            raise FieldValueError(f"{describe_value(text)} is not one of: {_listing(option_values(field))}")
        return text


def _value_problem(value: str) -> str | None:
    if not value.strip():
        return "an option value cannot be blank"
    if value != value.strip():
        return f"{describe_value(value)} has spaces at its start or end"
    if len(value) > _VALUE_LIMIT:
        return f"is {len(value)} characters long; at most {_VALUE_LIMIT} are allowed"
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        return f"{describe_value(value)} contains a control character"
    return None


class SelectType(_OptionsType):
    """One value from ``options``."""

    name = "select"
    label = {"en": "Single select", "zh": "单选"}
    expr_type = "text"
    widget = "select"
    filter_operators = ("==", "!=", "in", "missing")
    options_schema = {"options": _OPTIONS_SCHEMA}

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return String(_VALUE_LIMIT)

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {"type": ["string", "null"], "enum": [*option_values(field), None]}

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return None if value is None else self.check_value(value, field)

    def coercer(self, field: Mapping[str, Any]) -> Callable[[Any, FieldContext], Any]:
        if type(self).coerce is not SelectType.coerce:
            return super().coercer(field)
        allowed = frozenset(option_values(field))
        check_value = self.check_value

        def coerce(value: Any, ctx: FieldContext) -> Any:
            if value is None:
                return None
            if isinstance(value, str):
                text = value.strip()
                if text in allowed:
                    return text
            return check_value(value, field)  # blank, or refused with the message

        return coerce

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        raw = cell_text(text).strip()
        return _resolve(field, raw) if raw else None

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return "" if value is None else option_label(field, value, ctx.locale)


# commas, semicolons and bars, full-width forms, the enumeration comma 、 and line breaks
_ITEM_SEPARATORS = re.compile("[,;|\uff0c\uff1b\u3001\n\r]+")


class MultiSelectType(_OptionsType):
    """Several values from ``options``: a list in their given order, duplicates dropped.

    An empty list is stored as ``null``, like empty text, so ``missing`` and ``required``
    treat "nothing chosen" one way. Stored as JSON (JSONB on PostgreSQL, whose ``@>``
    containment can use an index).
    """

    name = "multi_select"
    label = {"en": "Multiple select", "zh": "多选"}
    expr_type = "list"
    widget = "multiselect"
    sortable = False
    # "in" with the field second: {"in": ["vip", {"var": "tags"}]} -- the list contains the value
    filter_operators = ("in", "missing")
    options_schema = {
        "options": _OPTIONS_SCHEMA,
        "min_items": {"type": "integer", "minimum": 0},
        "max_items": {"type": "integer", "minimum": 1},
    }

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        yield from super().check(field, ctx)
        low, high = int_option(field, "min_items", None), int_option(field, "max_items", None)
        if low is not None and high is not None and low > high:
            yield "/min_items", f"is {low}, more than max_items ({high})"
        count = len(option_values(field))
        if low is not None and count and low > count:
            yield "/min_items", f"is {low}, but there are only {count} options"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        # none_as_null: an empty value is SQL NULL, not the JSON text "null"
        return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": ["array", "null"],
            "items": {"type": "string", "enum": option_values(field)},
            "uniqueItems": True,
        }
        low, high = int_option(field, "min_items", None), int_option(field, "max_items", None)
        if low:
            schema["minItems"] = low
        if high is not None:
            schema["maxItems"] = high
        return schema

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if not isinstance(value, list):
            raise FieldValueError(f"expects a list of options; got {describe_value(value)}")
        chosen: list[str] = []
        for item in value:
            picked = self.check_value(item, field)
            if picked is not None and picked not in chosen:
                chosen.append(picked)
        if not chosen:
            return None
        count = len(chosen)
        low, high = int_option(field, "min_items", None), int_option(field, "max_items", None)
        if high is not None and count > high:
            raise FieldValueError(f"has {count} choices; at most {high} are allowed")
        if low is not None and count < low:
            noun = "choice" if count == 1 else "choices"
            raise FieldValueError(f"has {count} {noun}; at least {low} are needed")
        return chosen

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Items split on ``, ; |``, their full-width forms, the enumeration comma and line breaks; labels work too.

        A whole cell that names one option is taken as it is, so an option whose value
        contains a comma still imports.
        """
        raw = cell_text(text).strip()
        if not raw:
            return None
        whole = _resolve(field, raw)
        if whole in option_values(field):
            return [whole]
        return [_resolve(field, part.strip()) for part in _ITEM_SEPARATORS.split(raw) if part.strip()]

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return None if value is None else list(value)

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        if not value:
            return ""
        return ", ".join(option_label(field, item, ctx.locale) for item in value)


FIELD_TYPES: tuple[FieldType, ...] = (
    BooleanType(),
    SelectType(),
    MultiSelectType(),
)
