"""Reference field types: ``user``, ``department`` and ``relation`` (a value is the id of something else).

Pure: no Flask, no session, no I/O (SQLAlchemy only for column types). Whether an id
exists is asked through ``FieldContext.lookup(kind, target, ids)``, which returns the
subset of ``ids`` that exist: kind ``user`` and ``department`` (target ``None``), kind
``record`` (target = the entity key). When ``ctx.lookup`` is ``None`` (pure tests,
re-validation of stored data) existence is not checked.

The small helpers at the top (id coercion, nullable schemas, finding fields and
entities) are shared with ``structured`` and ``computed``, as ``text`` shares its own;
they are part of this package's internals, not of the form engine's public face.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy.types import Integer

from .base import FieldReference, FieldType, FieldValueError
from .text import cell_text, describe_value

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from sqlalchemy.types import TypeEngine

    from .base import FieldContext, SchemaContext, Storage, TypeChange

__all__ = [
    "FIELD_TYPES",
    "IDENTIFIER",
    "ID_SCHEMA",
    "REF_SCHEMA",
    "DepartmentType",
    "RelationType",
    "UserType",
    "as_id",
    "entity_by_key",
    "field_expr_type",
    "find_field",
    "missing_ids",
    "nullable",
]

#: the pattern of every key (entities, fields), as DESIGN §4 defines it
IDENTIFIER = r"^[a-z][a-z0-9_]{0,39}$"
#: ids live in ``Integer`` columns; a larger number cannot be an id and would fail in the database
MAX_ID = 2**31 - 1
#: a many relation links at most this many records in one value (keeps lookups and link rows bounded)
MAX_LINKS = 1000

ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
#: an id, or the object our own output gives when expanded (``{"id": 7, "name": "Ann"}``)
REF_SCHEMA: dict[str, Any] = {
    "anyOf": [
        ID_SCHEMA,
        {
            "type": "object",
            "properties": {"id": ID_SCHEMA, "name": {"type": "string"}},
            "required": ["id"],
        },
    ]
}


# ---------------------------------------------------------------------- shared helpers


def nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` that also admits ``null`` (every field may be empty in a record)."""
    kind = schema.get("type")
    if isinstance(kind, str) and not any(key in schema for key in ("enum", "const", "anyOf", "oneOf")):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [dict(schema), {"type": "null"}]}


def as_id(value: Any) -> int | None:
    """The id in ``value`` (a positive int, or an object with one under ``"id"``), else ``None``.

    Booleans and floats are refused on purpose: ``true`` or ``7.5`` is a client mistake,
    not an id.
    """
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def missing_ids(ctx: FieldContext, kind: str, target: str | None, ids: Iterable[int]) -> list[int]:
    """The ``ids`` that ``ctx.lookup`` does not know, sorted; none when there is no lookup."""
    wanted = set(ids)
    if ctx.lookup is None or not wanted:
        return []
    found = ctx.lookup(kind, target, wanted)
    return sorted(wanted - set(found))


def find_field(entity: Mapping[str, Any] | None, key: Any) -> Mapping[str, Any] | None:
    """The field with ``key`` in an entity body, or ``None``."""
    fields = entity.get("fields") if entity is not None else None
    if not isinstance(fields, list) or not isinstance(key, str):
        return None
    for candidate in fields:
        if isinstance(candidate, Mapping) and candidate.get("key") == key:
            return candidate
    return None


def entity_by_key(ctx: SchemaContext, key: Any) -> Mapping[str, Any] | None:
    """Another entity of the app, or the one being checked (``ctx.lookup_entity`` may not see its draft)."""
    if not isinstance(key, str) or not key:
        return None
    if key == ctx.entity.get("key"):
        return ctx.entity
    return ctx.lookup_entity(key)


def field_expr_type(ftype: FieldType, field: Mapping[str, Any]) -> str:
    """The expression type of one field of a (non-computed) type.

    ``FieldType.expr_type`` is per type, but a many relation is a list where a one
    relation is a single id; a type that varies per field defines ``expr_type_for``.
    """
    per_field = getattr(ftype, "expr_type_for", None)
    return per_field(field) if callable(per_field) else ftype.expr_type


# ---------------------------------------------------------------------- user, department


class _ReferenceType(FieldType):
    """A single id of something in the workspace, stored in an ``Integer`` column."""

    #: the lookup kind asked for existence
    kind: ClassVar[str] = ""
    expr_type = "any"
    filter_operators = ("==", "!=", "in", "missing")

    def noun(self, field: Mapping[str, Any]) -> str:
        """What one id names, for messages ("user", "customer")."""
        return self.kind

    def lookup_target(self, field: Mapping[str, Any]) -> str | None:
        return None

    def absent_message(self, field: Mapping[str, Any], ids: list[int]) -> str:
        """The message for ids that do not exist (override per type)."""
        return f"{self.noun(field)} {_join(ids)} does not exist"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Integer()

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return nullable(REF_SCHEMA)

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None or value == "":
            return None
        ident = as_id(value)
        if ident is None:
            raise FieldValueError(
                f'expects a {self.noun(field)} id (a whole number, or an object with "id"); got {describe_value(value)}'
            )
        self.require_existing(field, ctx, [ident])
        return ident

    def require_existing(self, field: Mapping[str, Any], ctx: FieldContext, ids: list[int]) -> None:
        """:raises FieldValueError: some of ``ids`` do not exist (only checked when ``ctx.lookup`` is set)."""
        missing = missing_ids(ctx, self.kind, self.lookup_target(field), ids)
        if missing:
            raise FieldValueError(self.absent_message(field, missing))

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """A numeric cell is an id; any other text (a name, an e-mail) is returned as it is.

        Resolving names needs the database, so the import service turns such text into an
        id before ``coerce``; text that reaches ``coerce`` unresolved is refused there.
        """
        text = cell_text(text).strip()
        if not text:
            return None
        return int(text) if text.isascii() and text.isdigit() else text

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        # Only the id: expanding to {"id", "name"} needs the database, so the service does it on request.
        return value


class UserType(_ReferenceType):
    """A member of the workspace; ``default_current_user`` makes a new record default to its creator."""

    name = "user"
    label = {"en": "User", "zh": "人员"}
    group = "people"
    widget = "user"
    kind = "user"
    options_schema = {"default_current_user": {"type": "boolean"}}

    def absent_message(self, field: Mapping[str, Any], ids: list[int]) -> str:
        if len(ids) == 1:
            return f"user {ids[0]} is not a member of this workspace"
        return f"users {_join(ids)} are not members of this workspace"

    def wants_current_user(self, field: Mapping[str, Any]) -> bool:
        """Whether a new record without a value gets the acting user (the service fills it: it knows the actor)."""
        return bool(field.get("default_current_user"))


class DepartmentType(_ReferenceType):
    """A department of the workspace."""

    name = "department"
    label = {"en": "Department", "zh": "部门"}
    group = "people"
    widget = "department"
    kind = "department"

    def absent_message(self, field: Mapping[str, Any], ids: list[int]) -> str:
        if len(ids) == 1:
            return f"department {ids[0]} does not exist in this workspace"
        return f"departments {_join(ids)} do not exist in this workspace"


# ---------------------------------------------------------------------- relation

_ON_DELETE = ("restrict", "set_null", "cascade")


class RelationType(_ReferenceType):
    """A link to records of another entity (or of the same one): one id in a column, or many in a link table.

    Two properties vary per field here although the contract has them per type: the
    expression type (``any`` for one, ``list`` for many: see ``expr_type_for``) and
    sortability (``sortable_for``). The class attributes describe a one relation.
    """

    name = "relation"
    label = {"en": "Related record", "zh": "关联记录"}
    group = "relation"
    widget = "relation"
    kind = "record"
    options_schema = {
        "target": {"type": "string", "pattern": IDENTIFIER},
        "many": {"type": "boolean", "default": False},
        "on_delete": {"enum": list(_ON_DELETE), "default": "set_null"},
        "display_field": {"type": "string", "pattern": IDENTIFIER},
    }

    # -------------------------------------------------------------- per-field facts
    @staticmethod
    def is_many(field: Mapping[str, Any]) -> bool:
        return bool(field.get("many"))

    @staticmethod
    def on_delete(field: Mapping[str, Any]) -> str:
        return str(field.get("on_delete") or "set_null")

    def expr_type_for(self, field: Mapping[str, Any]) -> str:
        """``list`` for a many relation (a list of ids), ``any`` for one (relation paths read through it)."""
        return "list" if self.is_many(field) else "any"

    def sortable_for(self, field: Mapping[str, Any]) -> bool:
        """Only a one relation has a column to sort or index by."""
        return not self.is_many(field)

    def noun(self, field: Mapping[str, Any]) -> str:
        return str(field.get("target") or "record")

    def lookup_target(self, field: Mapping[str, Any]) -> str | None:
        return self.noun(field)

    def absent_message(self, field: Mapping[str, Any], ids: list[int]) -> str:
        if len(ids) == 1:
            return f"{self.noun(field)} {ids[0]} does not exist (or was deleted)"
        return f"{self.noun(field)} {_join(ids)} do not exist (or were deleted)"

    # -------------------------------------------------------------- definition time
    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
        target = field.get("target")
        if not target:
            yield "/target", "a relation needs a target entity"
            return
        body = entity_by_key(ctx, target)
        if body is None:
            yield "/target", f"there is no entity '{target}' in this app"
            return
        display = field.get("display_field")
        if display and find_field(body, display) is None:
            yield "/display_field", f"{target} has no field '{display}'"
        if field.get("required") and not self.is_many(field) and self.on_delete(field) == "set_null":
            yield (
                "/on_delete",
                f"a required relation cannot be emptied when its {target} is deleted; "
                "use restrict or cascade",
            )

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
        """The display field, a field of the target entity."""
        target, display = field.get("target"), field.get("display_field")
        if isinstance(target, str) and target and isinstance(display, str) and display:
            yield FieldReference("/display_field", display, entity=target, what="display_field")

    def storage_for(self, field: Mapping[str, Any]) -> Storage:
        return "link_table" if self.is_many(field) else "column"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return None if self.is_many(field) else Integer()

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        """Another target makes every stored id meaningless; many -> one drops links; one -> many keeps them."""
        if old.get("target") != new.get("target"):
            return "narrow"
        if self.is_many(old) == self.is_many(new):
            return "same"
        return "narrow" if self.is_many(old) else "widen"

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        if self.is_many(field):
            return nullable({"type": "array", "items": REF_SCHEMA, "maxItems": MAX_LINKS})
        return nullable(REF_SCHEMA)

    # -------------------------------------------------------------- values
    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if not self.is_many(field):
            if isinstance(value, list):
                raise FieldValueError(f"takes one {self.noun(field)} id; got a list")
            return super().coerce(value, field, ctx)
        if value is None or value == "":
            return []
        ids: list[int] = []
        for item in value if isinstance(value, list) else [value]:
            ident = as_id(item)
            if ident is None:
                raise FieldValueError(
                    f"expects a list of {self.noun(field)} ids (whole numbers, or objects with "
                    f'"id"); got {describe_value(item)}'
                )
            if ident not in ids:
                ids.append(ident)
        if len(ids) > MAX_LINKS:
            raise FieldValueError(f"links at most {MAX_LINKS} records; got {len(ids)}")
        self.require_existing(field, ctx, ids)
        return ids

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Ids separated by commas ("12, 15"); one relation takes one id."""
        # Chinese input methods type the full-width comma; both separate ids.
        parts = [part.strip() for part in cell_text(text).replace("\uff0c", ",").split(",")]
        parts = [part for part in parts if part]
        if not parts:
            return [] if self.is_many(field) else None
        for part in parts:
            if not (part.isascii() and part.isdigit()):
                raise FieldValueError(
                    f"'{part}' is not a {self.noun(field)} id; give ids separated by commas"
                )
        ids = [int(part) for part in parts]
        if self.is_many(field):
            return ids
        if len(ids) > 1:
            raise FieldValueError(f"takes one {self.noun(field)} id; got {len(ids)}")
        return ids[0]

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if self.is_many(field):
            return list(value or [])
        return value

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        if value is None:
            return ""
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return str(value)


def _join(ids: Iterable[int]) -> str:
    return ", ".join(str(ident) for ident in ids)


FIELD_TYPES: tuple[FieldType, ...] = (UserType(), DepartmentType(), RelationType())
