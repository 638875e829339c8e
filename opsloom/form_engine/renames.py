"""Renaming a field key: every place of an entity body that names the field is rewritten with it.

Pure: no Flask, no session, no clock, no I/O; imports only the standard library, the
expression package and the definitions' identifier rule. The designer's rename endpoint calls it on the draft, saves the
result through the definitions service (so validation, audit and versions are those of a
normal save) and reports the places it changed.

What names a field of entity ``E`` by key: the field itself; ``title_field``, ``dedup``,
``indexes`` and ``layout``; the keys of ``visible_if``/``required_if`` and the ``var``
paths of every expression (conditions, formula ``expr``, rollup filters); formula text;
a lookup's ``relation`` and, through a relation to ``E``, its ``field``; a relation's
``display_field`` (also inside subtables); a rollup over ``E`` (``link``, ``field``,
``filter``). A path is followed through relations as far as the bodies are known, so
``parent.level`` is rewritten when ``parent`` links back to ``E``. Plugin field types
with properties of their own that name fields are not known here.

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
from typing import Any

from opsloom.platform import expr
from opsloom.platform.definitions.validation import identifier_error

from .definition import RESERVED_KEYS

__all__ = ["references_elsewhere", "rename_errors", "rename_field_references"]

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
    body: Mapping[str, Any], old_key: str, new_key: str, *, lookup: Lookup | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Field ``old_key`` of entity ``body`` renamed to ``new_key``, with every reference in the body.

    The caller has checked the names (``rename_errors``). ``body`` is not changed.

    :param lookup: the app's other entities (to follow paths through relations); optional.
    :returns: the new body and the changes, each ``{pointer, what, field, old, new}``:
        the JSON pointer into the new body, what kind of place it is (``key``, ``formula``,
        ``expr``, ``visible_if``, ``required_if``, ``title_field``, ``dedup``, ``indexes``,
        ``layout``, ``rollup``, ``lookup``, ``display_field``), the key of the field holding
        it (None for the entity's own settings), and the values before and after.
    """
    return _Rewrite(body, str(body.get("key", "")), old_key, new_key, lookup).run()


def references_elsewhere(
    body: Mapping[str, Any], *, entity: str, old_key: str, lookup: Lookup | None = None
) -> list[dict[str, Any]]:
    """The places of another entity's ``body`` that name field ``old_key`` of ``entity``.

    Each ``{pointer, what, field, old}`` as ``rename_field_references`` reports them (its
    own rename is not applied: that body is another definition, with its own draft).
    """
    if body.get("key") == entity:
        return []
    _new_body, changes = _Rewrite(body, entity, old_key, old_key + "_renamed", lookup).run()
    return [{k: v for k, v in change.items() if k != "new"} for change in changes]


class _Rewrite:
    """One rename applied to one body: ``target``.``old`` becomes ``target``.``new``."""

    def __init__(
        self, body: Mapping[str, Any], target: str, old: str, new: str, lookup: Lookup | None
    ) -> None:
        self.source = body  # read for relation hops: the names as they were
        self.body: dict[str, Any] = copy.deepcopy(dict(body))
        self.home = str(body.get("key", ""))
        self.target = target
        self.old = old
        self.new = new
        self.lookup = lookup
        self.changes: list[dict[str, Any]] = []

    # ------------------------------------------------------------ the walk
    def run(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        fields = self.body.get("fields")
        fields = fields if isinstance(fields, list) else []
        mine = self.home == self.target
        for i, field in enumerate(fields):
            if not isinstance(field, dict):
                continue
            where = f"/fields/{i}"
            if mine and field.get("key") == self.old:
                field["key"] = self.new
                self._note(f"{where}/key", "key", self.new, self.old, self.new)
            self._field(field, where)
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

    def _field(self, field: dict[str, Any], where: str) -> None:
        kind = field.get("type")
        owner = field.get("key")
        if isinstance(field.get("formula"), str):
            text = self._formula(field["formula"])
            if text != field["formula"]:
                self._note(f"{where}/formula", "formula", owner, field["formula"], text)
                field["formula"] = text
        if field.get("expr") is not None:
            rewritten = self._expression(field["expr"])
            if rewritten != field["expr"]:
                self._note(f"{where}/expr", "expr", owner, field["expr"], rewritten)
                field["expr"] = rewritten
        if kind == "relation":
            self._display_field(field, where, owner)
        elif kind == "subtable" and isinstance(field.get("fields"), list):
            for j, sub in enumerate(field["fields"]):
                if isinstance(sub, dict) and sub.get("type") == "relation":
                    self._display_field(sub, f"{where}/fields/{j}", owner)
        elif kind == "lookup":
            self._lookup(field, where, owner)
        elif kind == "rollup" and isinstance(field.get("source"), dict):
            self._rollup(field["source"], where, owner)

    def _display_field(self, field: dict[str, Any], where: str, owner: Any) -> None:
        if field.get("target") == self.target and field.get("display_field") == self.old:
            field["display_field"] = self.new
            self._note(f"{where}/display_field", "display_field", owner, self.old, self.new)

    def _lookup(self, field: dict[str, Any], where: str, owner: Any) -> None:
        relation_key = field.get("relation")
        relation = _find(self.source, relation_key)
        if self.home == self.target and relation_key == self.old:
            field["relation"] = self.new
            self._note(f"{where}/relation", "lookup", owner, self.old, self.new)
        if relation is not None and relation.get("target") == self.target and field.get("field") == self.old:
            field["field"] = self.new
            self._note(f"{where}/field", "lookup", owner, self.old, self.new)

    def _rollup(self, source: dict[str, Any], where: str, owner: Any) -> None:
        if source.get("entity") != self.target:
            return
        for name in ("link", "field"):
            if source.get(name) == self.old:
                source[name] = self.new
                self._note(f"{where}/source/{name}", "rollup", owner, self.old, self.new)
        if source.get("filter") is not None:
            # the filter reads the aggregated entity: its paths start there
            rewritten = self._expression(source["filter"], start=self.target)
            if rewritten != source["filter"]:
                self._note(f"{where}/source/filter", "rollup", owner, source["filter"], rewritten)
                source["filter"] = rewritten

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

    def _formula(self, text: str) -> str:
        """Formula text with the field renamed, spelled as its author wrote it where possible."""
        try:
            parsed = expr.parse_formula(text)
        except expr.ExprError:
            return text  # not a formula yet: saving says where it breaks
        wanted = self._expression(parsed)
        if wanted == parsed:
            return text
        rewritten = _TOKEN.sub(lambda match: self._token(match, text), text)
        try:
            if expr.parse_formula(rewritten) == wanted:
                return rewritten
        except expr.ExprError:
            pass
        return expr.to_formula(wanted)

    def _token(self, match: re.Match[str], text: str) -> str:
        token = match.group(0)
        if match.lastgroup == "bracket":
            name = token[1:-1].replace("]]", "]")
            renamed = self._path(name)
            return token if renamed == name else "[" + renamed.replace("]", "]]") + "]"
        if match.lastgroup != "name" or token.lower() in _KEYWORDS or _CALL_AFTER.match(text, match.end()):
            return token  # text, numbers, keywords and function names are no fields
        renamed = self._path(token)
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
