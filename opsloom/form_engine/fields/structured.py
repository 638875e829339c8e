"""Structured field types: ``subtable`` (rows of sub-fields in a child table), ``file`` and ``image``.

Pure: no Flask, no session, no I/O (SQLAlchemy only for column types).

Files are uploaded first (the upload endpoint asks ``check_upload`` before storing one)
and then referenced by id from a record. A record stores a list of file refs
``[{"id", "name", "size", "content_type"}]`` in one JSON column. For kind ``file``,
``FieldContext.lookup("file", None, ids)`` returns a ``Mapping[int, dict]`` (id -> that
upload's metadata, for the uploads that exist) instead of a set of ids, because the
checks need each file's name, size and type and the client's word on them is not
trusted. Without a lookup, refs are taken as the input gives them.

Subtable rows are validated cell by cell with the sub-fields' own types. Row errors use
two spellings: messages count rows from 1 ("row 2, name: is required"), while the keys
of ``row_errors`` are JSON-pointer suffixes counting from 0 (``"1/name"``), so the API
reports ``/contacts/1/name`` against the submitted array.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from jsonschema import Draft202012Validator
from sqlalchemy.types import JSON

from .base import COMMON_FIELD_PROPERTIES, FieldType, FieldValueError, SchemaContext
from .references import checked
from .refs import ID_SCHEMA, IDENTIFIER, as_id, nullable
from .text import cell_text, describe_value, int_option

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.types import TypeEngine

    from .base import FieldContext, FieldReference, TypeChange

__all__ = ["FIELD_TYPES", "FileType", "ImageType", "SubtableType", "format_size"]


# ---------------------------------------------------------------------- subtable

#: rows a subtable takes when the field sets no ``max_rows`` (a value is one request and one transaction)
MAX_ROWS = 1000
#: row problems named in one ``FieldValueError`` message; ``row_errors`` gives all of them
_LISTED = 10


class _Problem(NamedTuple):
    row: int | None  # 0-based; None for the whole value
    key: str | None  # the sub-field (or unknown key); None for the whole row
    message: str
    #: the message already names the key ("unknown field 'nmae'"), so the sentence does not repeat it
    names_key: bool = False

    @property
    def pointer(self) -> str:
        if self.row is None:
            return ""
        return f"{self.row}" if self.key is None else f"{self.row}/{self.key}"

    @property
    def sentence(self) -> str:
        if self.row is None:
            return self.message
        where = f"row {self.row + 1}"
        if self.key is not None and not self.names_key:
            where = f"{where}, {self.key}"
        return f"{where}: {self.message}"


class SubtableType(FieldType):
    """Rows of a small form inside the record (order lines, contacts), stored in a child table.

    Sub-fields are defined like entity fields; only plain types stored in one column are
    allowed (no computed fields, no nested subtables, no many relations), which keeps a
    child table a flat table. A row may carry ``id`` (an existing child row) to be updated
    in place; such a row keeps the stored value of any sub-field it does not give, while
    a new row gets each sub-field's default.
    """

    name = "subtable"
    label = {"en": "Subtable", "zh": "子表单"}
    group = "advanced"
    expr_type = "list"
    storage = "child_table"
    sortable = False
    widget = "subtable"
    filter_operators = ("missing",)
    options_schema = {
        "fields": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "properties": {"key": {"type": "string", "pattern": IDENTIFIER}, "type": {"type": "string"}},
                "required": ["key", "type"],
            },
        },
        "min_rows": {"type": "integer", "minimum": 0, "maximum": MAX_ROWS},
        "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS},
    }

    # -------------------------------------------------------------- definition time
    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
        subs = field.get("fields")
        if not isinstance(subs, list) or not subs:
            yield "/fields", "a subtable needs at least one field"
            return
        inner = _sub_context(field, ctx)
        seen: dict[str, int] = {}
        for index, sub in enumerate(subs):
            base = f"/fields/{index}"
            if not isinstance(sub, Mapping):
                yield base, "a sub-field is an object with a key and a type"
                continue
            key, type_name = sub.get("key"), sub.get("type")
            if isinstance(key, str):
                if key in seen:
                    yield f"{base}/key", f"'{key}' is used twice in this subtable (also field {seen[key]})"
                else:
                    seen[key] = index
                if key == "id":
                    yield f"{base}/key", "'id' is reserved for the row id"
            ftype = ctx.types.get(type_name) if isinstance(type_name, str) else None
            if ftype is None:
                yield f"{base}/type", f"there is no field type {describe_value(type_name)}"
                continue
            if ftype.computed or ftype.storage_for(sub) != "column":
                yield (
                    f"{base}/type",
                    f"a subtable cannot hold a {type_name} field; use fields stored in one column",
                )
                continue
            problems = list(_options_problems(sub, ftype, base))
            yield from problems
            if not problems:
                for pointer, message in checked(ftype, sub, inner):
                    yield f"{base}{pointer}", message
        low, high = int_option(field, "min_rows", None), int_option(field, "max_rows", None)
        if low is not None and high is not None and high < low:
            yield "/max_rows", f"max_rows ({high}) is less than min_rows ({low})"

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
        """The sub-fields' references to named entities (a relation's display field).

        A sub-field's references to its own row (``entity`` None) name the subtable's
        columns, which are not the entity's fields: the subtable's ``check`` checks them.
        """
        inner = _sub_context(field, ctx)
        for index, sub in enumerate(_listed(field, "fields")):
            ftype = _sub_type(sub, ctx)
            if ftype is None:
                continue
            for reference in ftype.field_references(sub, inner):
                if reference.entity is not None:
                    yield dataclasses.replace(
                        reference,
                        pointer=f"/fields/{index}{reference.pointer}",
                        what=reference.what or ftype.name,
                    )

    def rename_reference(
        self, field: Mapping[str, Any], reference: FieldReference, value: Any, ctx: SchemaContext
    ) -> dict[str, Any]:
        """The sub-field's own type rewrites its part (``/fields/<index>/...``)."""
        _, _, index, rest = reference.pointer.split("/", 3)
        renamed = copy.deepcopy(dict(field))
        sub = renamed["fields"][int(index)]
        ftype = _sub_type(sub, ctx)
        if ftype is None:  # field_references gave no such place
            return renamed
        inner = dataclasses.replace(reference, pointer=f"/{rest}")
        renamed["fields"][int(index)] = ftype.rename_reference(sub, inner, value, _sub_context(field, ctx))
        return renamed

    def resolve(self, field: Mapping[str, Any], ctx: SchemaContext) -> Mapping[str, Any]:
        """The sub-fields as their types resolve them, and the value's JSON Schema.

        ``json_schema`` has no registry to ask the sub-fields' types, so their schemas
        are gathered here, where it is available (``value_schema``).
        """
        inner = _sub_context(field, ctx)
        resolved: list[dict[str, Any]] = []
        properties: dict[str, Any] = {"id": ID_SCHEMA}
        for sub in _subs(field).values():
            ftype = ctx.types.get(sub.get("type"))
            merged = {**sub, **ftype.resolve(sub, inner)} if ftype is not None else dict(sub)
            resolved.append(merged)
            properties[sub["key"]] = ftype.json_schema(merged) if ftype is not None else {}
        return {"fields": resolved, "value_schema": self._schema(field, properties)}

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        if "value_schema" in field:
            return dict(field["value_schema"])
        return self._schema(field, {"id": ID_SCHEMA, **{key: {} for key in _subs(field)}})

    def _schema(self, field: Mapping[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "array",
            "items": {"type": "object", "properties": properties, "additionalProperties": False},
            "maxItems": _max_rows(field),
        }
        if _min_rows(field):
            schema["minItems"] = _min_rows(field)
        return nullable(schema)

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        """The child table as a whole: sub-fields added widen it, removed or retyped ones narrow it.

        A change inside one sub-field (a longer ``max_length``) is a column change of the
        child table, which the publisher diffs through that sub-field's own type.
        """
        before = {sub.get("key"): sub.get("type") for sub in old.get("fields") or ()}
        after = {sub.get("key"): sub.get("type") for sub in new.get("fields") or ()}
        if any(after.get(key) != kind for key, kind in before.items()):
            return "narrow"
        return "widen" if len(after) > len(before) else "same"

    # -------------------------------------------------------------- values
    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """The rows, each with its sub-fields coerced (``[]`` for no rows).

        :raises FieldValueError: one message naming every bad row and cell (the first
            ten; ``row_errors`` lists all, one per cell).
        """
        rows, problems = self._rows(value, field, ctx)
        if problems:
            sentences = [problem.sentence for problem in problems[:_LISTED]]
            if len(problems) > _LISTED:
                sentences.append(f"and {len(problems) - _LISTED} more")
            raise FieldValueError("; ".join(sentences))
        return rows

    def row_errors(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> dict[str, str]:
        """Every problem of ``value`` by pointer suffix: ``"1/name"`` (cell), ``"1"`` (row), ``""`` (the whole value).

        Empty when ``coerce`` would accept the value. Rows count from 0 here (they are
        pointers into the submitted list); the messages do not repeat the row.
        """
        errors: dict[str, str] = {}
        for problem in self._rows(value, field, ctx)[1]:
            errors.setdefault(problem.pointer, problem.message)
        return errors

    def _rows(
        self, value: Any, field: Mapping[str, Any], ctx: FieldContext
    ) -> tuple[list[dict[str, Any]], list[_Problem]]:
        if value is None:
            value = []
        if not isinstance(value, list):
            return [], [
                _Problem(None, None, f"expects a list of rows (objects); got {describe_value(value)}")
            ]
        limit = _max_rows(field)
        if len(value) > limit:
            return [], [_Problem(None, None, f"takes at most {limit} rows; got {len(value)}")]
        problems: list[_Problem] = []
        least = _min_rows(field)
        if len(value) < least:
            problems.append(_Problem(None, None, f"needs at least {least} rows; got {len(value)}"))
        subs = _subs(field)
        ids: dict[int, int] = {}
        rows: list[dict[str, Any]] = []
        for index, row in enumerate(value):
            if not isinstance(row, Mapping):
                problems.append(
                    _Problem(index, None, f"expects an object of sub-field values; got {describe_value(row)}")
                )
                continue
            out: dict[str, Any] = {}
            if row.get("id") is not None:
                ident = as_id(row["id"])
                if ident is None:
                    problems.append(
                        _Problem(
                            index,
                            "id",
                            f"must be the id of a row of this subtable; got {describe_value(row['id'])}",
                        )
                    )
                elif ident in ids:
                    problems.append(
                        _Problem(index, "id", f"row id {ident} is given twice (also row {ids[ident] + 1})")
                    )
                else:
                    ids[ident] = index
                    out["id"] = ident
            problems.extend(
                _Problem(index, key, f"unknown field '{key}'", names_key=True)
                for key in row
                if key != "id" and key not in subs
            )
            for key, sub in subs.items():
                # A row that gives an id means an update, even when the id is wrong: no noise about defaults.
                cell = self._cell(row, key, sub, updating=row.get("id") is not None, ctx=ctx)
                if isinstance(cell, _Problem):
                    problems.append(cell._replace(row=index))
                elif cell is not _KEEP:
                    out[key] = cell
            rows.append(out)
        return rows, problems

    @staticmethod
    def _cell(
        row: Mapping[str, Any], key: str, sub: Mapping[str, Any], *, updating: bool, ctx: FieldContext
    ) -> Any:
        """One coerced cell, ``_KEEP`` (an updated row does not give it), or a ``_Problem``."""
        ftype = ctx.types.get(sub.get("type"))
        if ftype is None:
            return _Problem(None, key, f"field type '{sub.get('type')}' is not available")
        try:
            if key in row:
                cell = ftype.coerce(row[key], sub, ctx)
            elif updating:
                return _KEEP
            else:
                cell = ftype.default(sub, ctx)
        except FieldValueError as exc:
            return _Problem(None, key, str(exc))
        if sub.get("required") and ftype.is_empty(cell):
            return _Problem(None, key, "is required")
        return cell

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """The rows as JSON text, as ``to_text`` exports them."""
        text = cell_text(text)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise FieldValueError("expects the rows as JSON text (a list of objects), as exported") from None

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        subs = _subs(field)
        out: list[dict[str, Any]] = []
        for row in value or ():
            item: dict[str, Any] = {"id": row["id"]} if row.get("id") is not None else {}
            for key, sub in subs.items():
                ftype = ctx.types.get(sub.get("type"))
                if key in row and ftype is not None:
                    item[key] = ftype.to_json(row[key], sub, ctx)
            out.append(item)
        return out

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """JSON text of the rows: lossless for exports, and what ``parse_text`` reads back ("" for no rows)."""
        if not value:
            return ""
        return json.dumps(
            self.to_json(value, field, ctx), ensure_ascii=False, default=str, separators=(",", ":")
        )


_KEEP = object()


def _listed(field: Mapping[str, Any], key: str) -> list[Any]:
    """A list property, or none when it is missing or malformed (``check`` and the options schema report that)."""
    value = field.get(key)
    return value if isinstance(value, list) else []


def _max_rows(field: Mapping[str, Any]) -> int:
    return int_option(field, "max_rows", None) or MAX_ROWS


def _min_rows(field: Mapping[str, Any]) -> int:
    return int_option(field, "min_rows", None) or 0


def _subs(field: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The sub-fields by key; malformed ones (which ``check`` reports) are skipped rather than crash a read."""
    return {
        sub["key"]: sub
        for sub in _listed(field, "fields")
        if isinstance(sub, Mapping) and isinstance(sub.get("key"), str)
    }


def _sub_type(sub: Any, ctx: SchemaContext) -> FieldType | None:
    """The type of a well-formed sub-field, or ``None``."""
    name = sub.get("type") if isinstance(sub, Mapping) else None
    return ctx.types.get(name) if isinstance(name, str) else None


def _sub_context(field: Mapping[str, Any], ctx: SchemaContext) -> SchemaContext:
    """The context a sub-field is checked in: the child table stands in for the entity."""
    parent = ctx.entity

    def lookup_entity(key: str) -> Mapping[str, Any] | None:
        # A sub-field may link back to the parent entity, whose draft lookup_entity may not see.
        return parent if key == parent.get("key") else ctx.lookup_entity(key)

    child = {"key": f"{parent.get('key', '')}.{field.get('key', '')}", "fields": _listed(field, "fields")}
    return SchemaContext(entity=child, types=ctx.types, lookup_entity=lookup_entity)


def _options_problems(sub: Mapping[str, Any], ftype: FieldType, base: str) -> Iterator[tuple[str, str]]:
    """A sub-field checked as publishing checks an entity field: common properties plus its type's options."""
    properties: dict[str, Any] = {name: {} for name in COMMON_FIELD_PROPERTIES}
    properties.update({"key": {"type": "string", "pattern": IDENTIFIER}, "type": {"type": "string"}})
    properties["required"] = {"type": "boolean"}
    properties.update(ftype.options_schema)
    schema = {"type": "object", "properties": properties, "required": ["key", "type"]}
    for error in sorted(Draft202012Validator(schema).iter_errors(sub), key=lambda e: list(map(str, e.path))):
        yield base + "".join(f"/{part}" for part in error.absolute_path), error.message
    for key in sub:
        if key not in properties:
            yield f"{base}/{key}", f"a {ftype.name} field has no property '{key}'"


# ---------------------------------------------------------------------- file, image

_MB = 1024 * 1024
#: ``accept`` entries: an extension (".pdf") or a MIME type, possibly with a wildcard subtype ("image/*")
_ACCEPT_PATTERN = r"^(\.[A-Za-z0-9][A-Za-z0-9_+-]{0,15}|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/(\*|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}))$"
_IMAGE_EXTENSIONS = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".bmp",
        ".svg",
        ".tif",
        ".tiff",
        ".heic",
        ".heif",
        ".avif",
        ".ico",
    }
)
_FILE_REF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": ID_SCHEMA,
        "name": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "content_type": {"type": "string"},
    },
    "required": ["id"],
}


def format_size(size: int) -> str:
    """Bytes for people: ``512 bytes``, ``20 MB``, ``25.3 MB``."""
    if size < 1024:
        return f"{size} bytes"
    amount = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        amount /= 1024
        if amount < 1024 or unit == "TB":
            break
    return f"{amount:.1f}".rstrip("0").rstrip(".") + f" {unit}"


class FileType(FieldType):
    """Uploaded files attached to a record, as a list of refs in one JSON column."""

    name = "file"
    label = {"en": "Attachment", "zh": "附件"}
    group = "media"
    expr_type = "list"
    sortable = False
    widget = "file"
    filter_operators = ("missing",)
    #: what one item is called in messages
    noun: ClassVar[str] = "file"
    default_max_files: ClassVar[int] = 5
    default_max_size: ClassVar[int] = 20 * _MB
    default_accept: ClassVar[tuple[str, ...]] = ()
    options_schema = {
        "max_files": {"type": "integer", "minimum": 1, "maximum": 50},
        "max_size": {"type": "integer", "minimum": 1, "maximum": 2048 * _MB},
        "accept": {
            "type": "array",
            "items": {"type": "string", "pattern": _ACCEPT_PATTERN},
            "uniqueItems": True,
            "maxItems": 50,
        },
    }

    # -------------------------------------------------------------- options
    def max_files(self, field: Mapping[str, Any]) -> int:
        return int_option(field, "max_files", None) or self.default_max_files

    def max_size(self, field: Mapping[str, Any]) -> int:
        return int_option(field, "max_size", None) or self.default_max_size

    def accept(self, field: Mapping[str, Any]) -> tuple[str, ...]:
        """Allowed extensions and MIME types; empty means anything."""
        return tuple(str(entry) for entry in _listed(field, "accept")) or self.default_accept

    # -------------------------------------------------------------- definition time
    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return JSON()

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        item = {"anyOf": [ID_SCHEMA, _FILE_REF_SCHEMA]}
        return nullable({"type": "array", "items": item, "maxItems": self.max_files(field)})

    # -------------------------------------------------------------- upload time
    def check_upload(
        self, field: Mapping[str, Any], filename: str, content_type: str, size: int
    ) -> str | None:
        """Why this upload cannot go into ``field`` (size, type), or ``None`` when it can.

        The type is judged on the name and content type given; the upload endpoint is
        the place to sniff the real content before it calls this.
        """
        return self._problem(field, filename, content_type, size, filename or f"this {self.noun}")

    def _problem(
        self, field: Mapping[str, Any], filename: str, content_type: str, size: int, shown: str
    ) -> str | None:
        limit = self.max_size(field)
        if size > limit:
            return f"{shown} is {format_size(size)}; {self.noun}s may be at most {format_size(limit)}"
        accept = self.accept(field)
        # A ref known by id only (no lookup, no metadata) has no type to judge.
        if accept and (filename or content_type) and not _accepted(filename, content_type, accept):
            return (
                f"{shown}: files of type {content_type or 'unknown'} are not accepted "
                f"(allowed: {', '.join(accept)})"
            )
        return None

    # -------------------------------------------------------------- values
    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """File ids or refs as refs; metadata comes from ``ctx.lookup`` (a ``Mapping[int, dict]``) when there is one."""
        if value is None or value == "":
            return None
        items = value if isinstance(value, list) else [value]
        given: dict[int, Mapping[str, Any]] = {}
        for item in items:
            ident = as_id(item)
            if ident is None:
                raise FieldValueError(
                    f'expects a list of uploaded {self.noun} ids (or objects with "id"); got {describe_value(item)}'
                )
            given.setdefault(ident, item if isinstance(item, Mapping) else {})
        if not given:
            return None
        limit = self.max_files(field)
        if len(given) > limit:
            raise FieldValueError(f"takes at most {limit} {self.noun}s; got {len(given)}")
        known = given
        if ctx.lookup is not None:
            known = ctx.lookup("file", None, set(given))
            missing = sorted(ident for ident in given if ident not in known)
            if missing:
                listed = ", ".join(map(str, missing))
                raise FieldValueError(
                    f"file {listed} does not exist (upload it first)"
                    if len(missing) == 1
                    else f"files {listed} do not exist (upload them first)"
                )
        refs = [_ref(ident, known[ident]) for ident in given]
        problems = [
            problem
            for ref in refs
            if (
                problem := self._problem(
                    field,
                    ref["name"],
                    ref["content_type"],
                    ref["size"],
                    ref["name"] or f"{self.noun} {ref['id']}",
                )
            )
        ]
        if problems:
            raise FieldValueError("; ".join(problems))
        return refs

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """Files cannot come from a CSV cell or a text input (an empty cell is fine)."""
        if not cell_text(text).strip():
            return None
        raise FieldValueError(f"{self.noun}s cannot be imported from text; attach them to the record instead")

    def to_json(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return None if value is None else [dict(ref) for ref in value]

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return ", ".join(str(ref.get("name") or f"{self.noun} {ref.get('id')}") for ref in value or ())


class ImageType(FileType):
    """Uploaded images: a file field with image types only and smaller defaults."""

    name = "image"
    label = {"en": "Image", "zh": "图片"}
    widget = "image"
    noun = "image"
    default_max_files = 9
    default_max_size = 10 * _MB
    default_accept = ("image/png", "image/jpeg", "image/gif", "image/webp")

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
        for index, entry in enumerate(_listed(field, "accept")):
            if not _is_image_type(str(entry)):
                yield (
                    f"/accept/{index}",
                    f"'{entry}' is not an image type; an image field accepts image/* types "
                    "and image extensions such as .png",
                )


def _ref(ident: int, meta: Mapping[str, Any]) -> dict[str, Any]:
    """A stored file ref: exactly these four keys, whatever else the metadata holds."""
    size = meta.get("size")
    return {
        "id": ident,
        "name": str(meta.get("name") or ""),
        "size": size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0,
        "content_type": str(meta.get("content_type") or ""),
    }


def _accepted(filename: str, content_type: str, accept: tuple[str, ...]) -> bool:
    name = filename.lower()
    mime = content_type.lower().split(";", 1)[0].strip()
    for entry in accept:
        entry = entry.lower()
        if entry.startswith("."):
            if name.endswith(entry):
                return True
        elif entry.endswith("/*"):
            if mime.startswith(entry[:-1]):
                return True
        elif mime == entry:
            return True
    return False


def _is_image_type(entry: str) -> bool:
    entry = entry.lower()
    return entry.startswith("image/") if "/" in entry else entry in _IMAGE_EXTENSIONS


FIELD_TYPES: tuple[FieldType, ...] = (SubtableType(), FileType(), ImageType())
