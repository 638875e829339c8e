"""Checking the references a field type declares (``FieldType.field_references``) when a draft is saved.

Pure: no Flask, no session, no I/O. A declared reference is checked the way the rename
reads it: a path starts at the field's entity (or the reference's ``entity``) and is
followed through relations; an expression's (or formula's) paths are its free
variables (formula text that does not parse is reported; whether an expression's
operators exist is the type's own ``check``'s business). Context names (``_user``, ``_now``), system fields and whatever lies past a
field that is no relation (a subtable's rows, a JSON value) are not checked here. A
type's own ``check`` speaks first: a reference problem at a place the check already
reported (or inside it, or around it) is not repeated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opsloom.platform.expr import ExprError, ExprParseError, free_vars, normalize, parse_formula

from .refs import entity_by_key, find_field

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from .base import FieldReference, FieldType, SchemaContext

__all__ = ["checked", "reference_errors"]

#: keys every record has besides its fields (the underscore ones are skipped as context names)
_SYSTEM_KEYS = frozenset({"id"})


def checked(field_type: FieldType, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[tuple[str, str]]:
    """``field_type.check`` and then the problems of its declared references that the check left unsaid."""
    reported: list[str] = []
    for pointer, message in field_type.check(field, ctx):
        reported.append(pointer)
        yield pointer, message
    for pointer, message in reference_errors(field_type, field, ctx):
        if not any(_overlap(pointer, other) for other in reported):
            yield pointer, message


def reference_errors(
    field_type: FieldType, field: Mapping[str, Any], ctx: SchemaContext
) -> Iterator[tuple[str, str]]:
    """(pointer inside the field, message) for each declared reference to a field or entity that does not exist."""
    for reference in field_type.field_references(field, ctx):
        if reference.entity is None:
            body: Mapping[str, Any] | None = ctx.entity
            where = "this entity"
        else:
            body, where = entity_by_key(ctx, reference.entity), reference.entity
            if body is None:
                yield reference.pointer, f"there is no entity '{reference.entity}' in this app"
                continue
        paths = _paths(reference)
        if isinstance(paths, str):
            yield reference.pointer, paths
            continue
        for path in paths:
            problem = _path_problem(path, body, where, ctx)
            if problem:
                yield reference.pointer, problem


def _paths(reference: FieldReference) -> list[str] | str:
    """The paths a reference reads, or why it cannot be read."""
    value = reference.value
    if reference.kind == "path":
        return [value] if isinstance(value, str) and value else "expects the key of a field"
    try:
        parsed = parse_formula(value) if reference.kind == "formula" else normalize(value)
        return sorted(free_vars(parsed))
    except ExprError as exc:
        if isinstance(exc, ExprParseError):
            return f"{exc.reason} (line {exc.line}, column {exc.column})"
        return exc.detail


def _path_problem(path: str, body: Mapping[str, Any] | None, where: str, ctx: SchemaContext) -> str | None:
    """Why ``path`` does not name a field of ``body`` (following relations), or None."""
    entity = where
    segments = path.split(".")
    for depth, segment in enumerate(segments):
        if not segment or segment.startswith("_") or segment in _SYSTEM_KEYS:
            return None
        found = find_field(body, segment)
        if found is None:
            if depth == 0:
                return f"{entity} has no field '{segment}'"
            return f"'{path}' reads {entity}.{segment}, but {entity} has no field '{segment}'"
        if depth == len(segments) - 1 or found.get("type") != "relation":
            return None  # the field itself, or a value whose inside is not checked here
        entity = str(found.get("target"))
        body = entity_by_key(ctx, entity)
        if body is None:
            return None  # the relation's own check names the missing entity
    return None


def _overlap(pointer: str, other: str) -> bool:
    """Whether two JSON pointers inside a field are the same place or one contains the other."""
    return pointer == other or pointer.startswith(other + "/") or other.startswith(pointer + "/")
