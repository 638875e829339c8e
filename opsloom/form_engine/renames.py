"""Renaming a field key: every place of an entity body that names the field is rewritten with it.

Pure: no Flask, no session, no clock, no I/O; imports only the standard library, the
expression package, the definitions' identifier rule and the field-type contract. The
designer's rename endpoint calls it on the draft (and, when asked, on the app's other
entities), saves the results through the definitions service (so validation, audit and
versions are those of a normal save) and reports the places it changed.

What names a field of entity ``E`` by key: the field itself; ``title_field``, ``dedup``,
``indexes`` and ``layout``; the keys of ``visible_if``/``required_if`` and the ``var``
paths of their expressions; and whatever a field's type declares with
``FieldType.field_references`` — a formula's text or ``expr``, a lookup's ``relation``
and the ``field`` it shows, a relation's ``display_field`` (also inside subtables), a
rollup's ``link``, ``field`` and ``filter``, and any plugin type's own properties. Built-in
and plugin types go through that one hook: this module knows no type by name except that
a ``relation`` is what a path hops through. A path is followed through relations as far
as the bodies are known, so ``parent.level`` is rewritten when ``parent`` links back to
``E``, and another entity's ``customer.level`` when its ``customer`` links to ``E``.

Formula text keeps its author's spelling: identifiers are rewritten in place by a small
scanner that reads the grammar's tokens (strings, ``[bracketed names]``, names, numbers),
and the result is accepted only if it parses to exactly the expression the JSON rewrite
gives; otherwise (``VAR("level")``, ``LOGIC(...)``) the rewritten expression is printed
with ``to_formula``. Text that does not parse is left as it is (saving reports it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from opsloom.platform import expr
from opsloom.platform.definitions.validation import identifier_error

from .definition import RESERVED_KEYS
from .fields import builtin_types
from .fields.base import SchemaContext

if TYPE_CHECKING:
    from .fields.base import FieldReference, FieldType

__all__ = ["references_elsewhere", "rename_errors", "rename_field_references", "rename_references_to"]

#: (kind, key) -> the newest body of another definition of the app, or None
Lookup = Callable[[str, str], Mapping[str, Any] | None]

# the formula grammar's tokens (formula.lark): whatever else is operators, parentheses, spaces
_TOKEN = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.|"")*")'
    r"|(?P<bracket>\[(?:[^\]]|\]\])*\])"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[^\W\d]\w*(?:\.[^\W\d]\w*)*)"
)
_CALL_AFTER = re.compile(r"\s*\(")
_KEYWORDS = frozenset({"true", "false", "null", "in", "not"})
_PLAIN_SEGMENT = re.compile(r"[^\W\d]\w*\Z")
# operators whose later arguments read an item scope, not the record (as expr.free_vars)
_SCOPED = frozenset({"map", "filter", "all", "some", "none", "reduce"})
_KEY_LISTS = frozenset({"missing", "missing_some", "changed"})


def rename_errors(body: Mapping[str, Any], old_key: Any, new_key: Any) -> dict[str, str]:
    """Why field ``old_key`` of ``body`` cannot become ``new_key`` ({"from"|"to": reason}), or {}."""
    keys = [f.get("key") for f in body.get("fields") or () if isinstance(f, Mapping)]
    if old_key is None:
        return {"from": "give the key of the field to rename"}
    if new_key is None:
        return {"to": "give the field's new key"}
    if not isinstance(old_key, str) or old_key not in keys:
        listed = ", ".join(str(k) for k in keys if isinstance(k, str))
        return {"from": f"there is no field {old_key!r} (the fields are: {listed or 'none'})"}
    problem = identifier_error(new_key, "the new key")
    if problem:
        return {"to": problem}
    if new_key in RESERVED_KEYS:
        return {"to": f"{new_key!r} is reserved for the record id"}
    if new_key == old_key:
        return {"to": f"the field is already called {new_key!r}"}
    if new_key in keys:
        return {"to": f"another field is already called {new_key!r}"}
    return {}


def rename_field_references(
    body: Mapping[str, Any],
    old_key: str,
    new_key: str,
    *,
    lookup: Lookup | None = None,
    types: Mapping[str, FieldType] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Field ``old_key`` of entity ``body`` renamed to ``new_key``, with every reference in the body.

    The caller has checked the names (``rename_errors``). ``body`` is not changed.

    :param lookup: the app's other entities (to follow paths through relations); optional.
    :param types: the field-type registry whose ``field_references`` are asked (the
        app's, with its plugins' types); the built-in types by default.
    :returns: the new body and the changes, each ``{pointer, what, field, old, new}``:
        the JSON pointer into the new body, what kind of place it is (``key``,
        ``visible_if``, ``required_if``, ``title_field``, ``dedup``, ``indexes``, ``layout``,
        or what the field's type calls it: ``formula``, ``expr``, ``rollup``, ``lookup``,
        ``display_field``, a plugin type's name), the key of the field holding it (None for
        the entity's own settings), and the values before and after.
    """
    return _Rewrite(body, str(body.get("key", "")), old_key, new_key, lookup, types).run()


def rename_references_to(
    body: Mapping[str, Any],
    *,
    entity: str,
    old_key: str,
    new_key: str,
    lookup: Lookup | None = None,
    types: Mapping[str, FieldType] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Another entity's ``body`` with its references to field ``old_key`` of ``entity`` renamed to ``new_key``.

    Lookups and rollups over ``entity``, relations' display fields, and paths through a
    relation to ``entity`` (``customer.level``) in formulas, conditions and filters: the
    places and changes as ``rename_field_references`` reports them. ``lookup`` should give
    ``entity``'s body as it was *before* the rename (paths are followed by the old names).
    ``body`` itself being ``entity`` changes nothing here: that is ``rename_field_references``.
    """
    if body.get("key") == entity:
        return copy.deepcopy(dict(body)), []
    return _Rewrite(body, entity, old_key, new_key, lookup, types).run()


def references_elsewhere(
    body: Mapping[str, Any],
    *,
    entity: str,
    old_key: str,
    lookup: Lookup | None = None,
    types: Mapping[str, FieldType] | None = None,
) -> list[dict[str, Any]]:
    """The places of another entity's ``body`` that name field ``old_key`` of ``entity``.

    Each ``{pointer, what, field, old}`` as ``rename_references_to`` finds them, nothing
    rewritten (a dry run: that body is another definition, with its own draft).
    """
    _new_body, changes = rename_references_to(
        body, entity=entity, old_key=old_key, new_key=old_key + "_renamed", lookup=lookup, types=types
    )
    return [{k: v for k, v in change.items() if k != "new"} for change in changes]


class _Rewrite:
    """One rename applied to one body: ``target``.``old`` becomes ``target``.``new``."""

    def __init__(
        self,
        body: Mapping[str, Any],
        target: str,
        old: str,
        new: str,
        lookup: Lookup | None,
        types: Mapping[str, FieldType] | None,
    ) -> None:
        self.source = body  # read for relation hops: the names as they were
        self.body: dict[str, Any] = copy.deepcopy(dict(body))
        self.home = str(body.get("key", ""))
        self.target = target
        self.old = old
        self.new = new
        self.lookup = lookup
        self.types = types if types is not None else builtin_types()
        # what the types' ``field_references`` see: the body as it was, the app's other entities
        self.context = SchemaContext(entity=body, types=self.types, lookup_entity=self._body_of)
        self.changes: list[dict[str, Any]] = []

    # ------------------------------------------------------------ the walk
    def run(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        fields = self.body.get("fields")
        fields = fields if isinstance(fields, list) else []
        mine = self.home == self.target
        sources = self.source.get("fields")
        for i, field in enumerate(fields):
            if not isinstance(field, dict):
                continue
            where = f"/fields/{i}"
            if mine and field.get("key") == self.old:
                field["key"] = self.new
                self._note(f"{where}/key", "key", self.new, self.old, self.new)
            fields[i] = self._field(field, sources[i], where)
        if mine:
            self._entity_settings()
        for name in ("visible_if", "required_if"):
            conditions = self.body.get(name)
            if not isinstance(conditions, dict):
                continue
            renamed: dict[str, Any] = {}
            for key, condition in conditions.items():
                owner = self.new if mine and key == self.old else key
                new_condition = self._expression(condition)
                if owner != key or new_condition != condition:
                    self._note(f"/{name}/{owner}", name, owner, condition, new_condition)
                renamed[owner] = new_condition
            self.body[name] = renamed
        return self.body, self.changes

    def _note(self, pointer: str, what: str, field: Any, old: Any, new: Any) -> None:
        self.changes.append({"pointer": pointer, "what": what, "field": field, "old": old, "new": new})

    def _entity_settings(self) -> None:
        if self.body.get("title_field") == self.old:
            self.body["title_field"] = self.new
            self._note("/title_field", "title_field", None, self.old, self.new)
        for name in ("dedup", "indexes"):
            lists = self.body.get(name)
            for i, keys in enumerate(lists if isinstance(lists, list) else []):
                if isinstance(keys, list) and self.old in keys:
                    lists[i] = [self.new if k == self.old else k for k in keys]
                    self._note(f"/{name}/{i}", name, None, keys, lists[i])
        sections = self.body.get("layout")
        for i, section in enumerate(sections if isinstance(sections, list) else []):
            keys = section.get("fields") if isinstance(section, dict) else None
            if isinstance(keys, list) and self.old in keys:
                section["fields"] = [self.new if k == self.old else k for k in keys]
                self._note(f"/layout/{i}/fields", "layout", None, keys, section["fields"])

    def _field(self, field: dict[str, Any], source: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The field with the references its type declares rewritten (asked of the field as it was)."""
        field_type = self.types.get(source.get("type")) if isinstance(source.get("type"), str) else None
        if field_type is None:
            return field  # an unknown type: saving names it
        owner = field.get("key")
        for reference in list(field_type.field_references(source, self.context)):
            value = self._reference(reference)
            if value == reference.value:
                continue
            field = field_type.rename_reference(field, reference, value, self.context)
            what = reference.what or field_type.name
            self._note(f"{where}{reference.pointer}", what, owner, reference.value, value)
        return field

    def _reference(self, reference: FieldReference) -> Any:
        """The value of one declared reference with the renamed field's name rewritten."""
        if reference.kind == "formula":
            return (
                self._formula(reference.value, reference.entity)
                if isinstance(reference.value, str)
                else reference.value
            )
        if reference.kind == "expr":
            return self._expression(reference.value, reference.entity)
        if isinstance(reference.value, str) and reference.value:
            return self._path(reference.value, reference.entity)
        return reference.value

    # ------------------------------------------------------------ paths and expressions
    def _body_of(self, key: Any) -> Mapping[str, Any] | None:
        if key == self.home:
            return self.source
        if not isinstance(key, str) or self.lookup is None:
            return None
        found = self.lookup("entity", key)
        return found if isinstance(found, Mapping) else None

    def _path(self, path: str, start: str | None = None) -> str:
        """``path`` (``customer.level``) with the renamed field's segment rewritten, hop by hop."""
        segments = path.split(".")
        entity = start or self.home
        body = self._body_of(entity)
        changed = False
        for i, segment in enumerate(segments):
            if segment.startswith("_"):
                break  # the context (``_user.id``) or a system field: never the renamed one
            if entity == self.target and segment == self.old:
                segments[i] = self.new
                changed = True
            field = _find(body, segment)
            if field is None or field.get("type") != "relation":
                break  # a value, a subtable's rows (their keys are the subtable's own) or unknown
            entity = field.get("target")
            body = self._body_of(entity)
        return ".".join(segments) if changed else path

    def _expression(self, node: Any, start: str | None = None) -> Any:
        """A JSON expression with its record paths rewritten (item scopes and literal options left alone)."""
        if isinstance(node, list):
            return [self._expression(item, start) for item in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((op, raw),) = node.items()
        if not isinstance(op, str):
            return node
        listed = isinstance(raw, list)
        args = list(raw) if listed else [raw]
        if op == "var":
            if args and isinstance(args[0], str):
                args[0] = self._path(args[0], start)
                args[1:] = [self._expression(arg, start) for arg in args[1:]]
            else:
                args = [self._expression(arg, start) for arg in args]
        elif op in _SCOPED:
            keep = {0, 2} if op == "reduce" else {0}
            args = [self._expression(arg, start) if i in keep else arg for i, arg in enumerate(args)]
        elif op in _KEY_LISTS:
            args = self._key_list(op, args, start)
        else:
            operator = expr.default_registry().get(op)
            literal = set(operator.literal_args) if operator is not None else set()
            args = [arg if i in literal else self._expression(arg, start) for i, arg in enumerate(args)]
        return {op: args if listed else args[0]}

    def _key_list(self, op: str, args: list[Any], start: str | None) -> list[Any]:
        """``missing``/``missing_some``/``changed`` name fields as text: rename those (as free_vars reads them)."""

        def one(key: Any) -> Any:
            if isinstance(key, str):
                return self._path(key, start) if key else key
            return self._expression(key, start)

        def many(keys: Any) -> Any:
            return [one(k) for k in keys] if isinstance(keys, list) else one(keys)

        if op == "missing_some" and len(args) > 1:
            return [args[0], many(args[1]), *args[2:]]
        if len(args) == 1:
            return [many(args[0])]
        return [one(arg) for arg in args]

    def _formula(self, text: str, start: str | None = None) -> str:
        """Formula text with the field renamed, spelled as its author wrote it where possible."""
        try:
            parsed = expr.parse_formula(text)
        except expr.ExprError:
            return text  # not a formula yet: saving says where it breaks
        wanted = self._expression(parsed, start)
        if wanted == parsed:
            return text
        rewritten = _TOKEN.sub(lambda match: self._token(match, text, start), text)
        try:
            if expr.parse_formula(rewritten) == wanted:
                return rewritten
        except expr.ExprError:
            pass
        return expr.to_formula(wanted)

    def _token(self, match: re.Match[str], text: str, start: str | None) -> str:
        token = match.group(0)
        if match.lastgroup == "bracket":
            name = token[1:-1].replace("]]", "]")
            renamed = self._path(name, start)
            return token if renamed == name else "[" + renamed.replace("]", "]]") + "]"
        if match.lastgroup != "name" or token.lower() in _KEYWORDS or _CALL_AFTER.match(text, match.end()):
            return token  # text, numbers, keywords and function names are no fields
        renamed = self._path(token, start)
        if renamed == token:
            return token
        segments = renamed.split(".")
        if all(_PLAIN_SEGMENT.match(s) for s in segments) and segments[0].lower() not in _KEYWORDS:
            return renamed
        return "[" + renamed.replace("]", "]]") + "]"


def _find(body: Mapping[str, Any] | None, key: Any) -> Mapping[str, Any] | None:
    for field in (body or {}).get("fields") or ():
        if isinstance(field, Mapping) and field.get("key") == key:
            return field
    return None
