"""The field-type contract: everything the form engine needs to know about one kind of field.

A field type is a plain object registered through ``opsloom_register_field_types``. The
engine never switches on type names: storage (which column, which child table), input
(JSON, CSV and HTML form text), output (API JSON, export text, masked text), validation
(a JSON Schema fragment plus ``coerce``), filtering (which operators the filter builder
offers) and the form widget all come from here, so a plugin's field type works in the
API, the pages, imports, exports and the OpenAPI document like a built-in one.

A *field* is the dict in an entity body (``{"id": "f1a2b3", "key": "phone", "type":
"phone", "mask": "phone", ...}``); a type's methods receive it as given, after
publishing has checked it with ``options_schema`` and ``check``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime

    from sqlalchemy.types import TypeEngine

__all__ = [
    "COMMON_FIELD_PROPERTIES",
    "FieldContext",
    "FieldReference",
    "FieldType",
    "FieldValueError",
    "ReferenceKind",
    "SchemaContext",
    "Storage",
    "TypeChange",
]

#: where a field's value lives: a column of the entity table, rows of a child table
#: (subtable), rows of a link table (many relation), or nowhere (not stored)
Storage = Literal["column", "child_table", "link_table", "none"]

#: how a column changes between two versions of a field: nothing to do, a safe widening
#: (longer text, more precision), or a narrowing that may lose data and needs ``force``
TypeChange = Literal["same", "widen", "narrow"]

#: properties every field may carry, whatever its type (the type's ``options_schema`` adds its own)
COMMON_FIELD_PROPERTIES = frozenset(
    {"id", "key", "type", "label", "help", "required", "default", "unique", "mask", "placeholder", "width"}
)


#: what a ``FieldReference`` holds: a field key or dotted path through relations, a JSON
#: expression, or formula text
ReferenceKind = Literal["path", "expr", "formula"]


class FieldValueError(ValueError):
    """A value a field cannot take; the message is shown beside the field, so it says why and what fits."""


@dataclass(frozen=True, slots=True)
class FieldContext:
    """What converting a value may depend on besides the field: the workspace clock and time zone.

    ``lookup`` resolves references during coercion (does user 7 belong to this workspace?
    does customer 12 exist and is it not deleted?); the record service provides it, pure
    unit tests pass a dict-backed one. It is called as ``lookup(kind, target, ids)`` with
    kind ``user``, ``department``, ``record`` or ``file`` and returns the ids that exist.
    """

    timezone: str = "UTC"
    now: datetime | None = None
    locale: str = "en"
    lookup: Any = None
    #: the field-type registry (name -> FieldType), for types made of other fields (subtable)
    types: Mapping[str, FieldType] = field(default_factory=dict)
    #: extra facts a plugin type may need (upload folder, limits); read with ``.extra.get``
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SchemaContext:
    """What definition-time methods may consult besides the field itself."""

    #: the whole entity body the field belongs to
    entity: Mapping[str, Any]
    #: the field-type registry (name -> FieldType)
    types: Mapping[str, FieldType]
    #: another entity of the same app by key (its newest body: draft, else published), or None
    lookup_entity: Callable[[str], Mapping[str, Any] | None] = lambda _key: None


@dataclass(frozen=True, slots=True)
class FieldReference:
    """One place among a field's own properties that names fields (``FieldType.field_references``).

    ``FieldReference("/parts/0", "street")`` says the property ``parts[0]`` holds the key of
    the field ``street`` of the same entity; renaming ``street`` rewrites it, and saving a
    draft refuses it while ``street`` does not exist.
    """

    #: JSON pointer of the place inside the field (``/source/field``, ``/parts/2``)
    pointer: str
    #: what is there: a key or dotted path (``customer.phone``, followed through relations)
    #: for kind ``path``, a JSON expression for ``expr``, formula text for ``formula``
    value: Any
    kind: ReferenceKind = "path"
    #: the entity whose fields the names are; ``None``: the entity the field belongs to
    entity: str | None = None
    #: how the rename's change list names the place (``display_field``); ``""``: the type's name
    what: str = ""


class FieldType:
    """One kind of field. Subclass it, set the class attributes, override what differs.

    The defaults describe a scalar stored in one column whose JSON value is the stored
    value; most built-in types override ``column_type``, ``coerce`` and ``json_schema``
    only.
    """

    #: the ``type`` value in a field definition
    name: ClassVar[str] = ""
    #: palette label per locale
    label: ClassVar[dict[str, str]] = {}
    #: palette group: basic, number, choice, date, people, relation, media, advanced, computed
    group: ClassVar[str] = "basic"
    #: type of the value in the expression language (number, text, boolean, date, datetime, list, any)
    expr_type: ClassVar[str] = "any"
    storage: ClassVar[Storage] = "column"
    #: the value is computed by the engine (formula, rollup, lookup, auto_number), never taken from input
    computed: ClassVar[bool] = False
    #: the list can be sorted by it and it can be part of an index, a unique or a dedup key
    sortable: ClassVar[bool] = True
    #: ``q`` (free-text search) looks into it
    searchable: ClassVar[bool] = False
    #: the form widget (a macro in ``templates/form_engine/widgets.html``)
    widget: ClassVar[str] = "input"
    #: operators the filter builder offers for this type, in the expression language
    filter_operators: ClassVar[tuple[str, ...]] = ("==", "!=", "missing")
    #: JSON Schema (an object schema's ``properties``) of the type's own field properties
    options_schema: ClassVar[dict[str, Any]] = {}
    #: mask styles that make sense for the type (``phone``, ``email``, ``id_number``, ``name``, ``custom``)
    masks: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ definition time
    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        """Semantic checks of one field beyond ``options_schema``: (JSON pointer inside the field, message).

        ``("/formula", "`amount` is text, `>` needs a number")``; ``""`` points at the field itself.
        """
        return ()

    def resolve(self, field: Mapping[str, Any], ctx: SchemaContext) -> Mapping[str, Any]:
        """Facts derived from the rest of the app, merged into the field the runtime uses.

        A formula's ``result_type`` (inferred from its expression and its siblings' types),
        a lookup's target type: computed once when a version is loaded, so ``column_type``
        and ``coerce`` see them as ordinary properties.
        """
        return {}

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[FieldReference]:
        """The places of the field's own properties that name fields: none by default.

        One declaration serves twice: renaming a field rewrites every reference that names
        it (in this entity and, on request, in the app's other entities), and saving a draft
        refuses a reference to a field (or entity) that does not exist, at the reference's
        pointer, unless ``check`` already reported something there. ``ctx.entity`` is the
        entity the field belongs to (a subtable's row for a sub-field).
        """
        return ()

    def rename_reference(
        self, field: Mapping[str, Any], reference: FieldReference, value: Any, ctx: SchemaContext
    ) -> dict[str, Any]:
        """A copy of ``field`` whose ``reference`` now holds ``value`` (the renamed path, expression or text).

        The default writes ``value`` at ``reference.pointer``; a type that stores a name in
        another form (``"street, city"`` in one string) overrides it. It is called once per
        reference that changes, in the order ``field_references`` gave them, each time with
        the field as the previous call returned it. ``field`` is not changed.
        """
        renamed = copy.deepcopy(dict(field))
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in reference.pointer.split("/")[1:]]
        place: Any = renamed
        for part in parents:
            place = place[int(part)] if isinstance(place, list) else place[part]
        if isinstance(place, list):
            place[int(last)] = value
        else:
            place[last] = value
        return renamed

    def storage_for(self, field: Mapping[str, Any]) -> Storage:
        """Where this field's value lives (a one relation is a column, a many relation a link table)."""
        return self.storage

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        """The SQL type of the field's column (``None`` when ``storage`` is not ``column``)."""
        return None

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        """How the column changes from ``old`` to ``new`` (both fields of this type)."""
        return "same"

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON Schema of the field's value in a record (API input and output, OpenAPI)."""
        return {}

    # ------------------------------------------------------------------ values
    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """A JSON input value as the value to store. ``None`` means empty.

        :raises FieldValueError: the value does not fit (the message names what fits).
        """
        return value

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """A CSV cell or an HTML form input as a value for ``coerce`` (empty text means empty)."""
        return text.strip() or None

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """The stored value as the record's JSON value."""
        return value

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """The stored value as one line of text (exports, search results, titles)."""
        if value is None:
            return ""
        return str(self.to_json(value, field, ctx))

    def coercer(self, field: Mapping[str, Any]) -> Callable[[Any, FieldContext], Any]:
        """``coerce`` for one field, made once per published version: ``coercer(field)(value, ctx)``.

        Bulk writes and imports coerce the same field thousands of times; a type whose
        checks read several field properties may work them out here once. The result must
        be exactly what ``coerce`` gives (or raises).
        """
        coerce = self.coerce
        return lambda value, ctx: coerce(value, field, ctx)

    def is_empty(self, value: Any) -> bool:
        """Whether a coerced value counts as missing for ``required``."""
        return value is None or value == "" or value == [] or value == {}

    def default(self, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """The value of a new record that does not give one (``default`` of the field, coerced)."""
        raw = field.get("default")
        return None if raw is None else self.coerce(raw, field, ctx)

    def __repr__(self) -> str:
        return f"<field type {self.name}>"
