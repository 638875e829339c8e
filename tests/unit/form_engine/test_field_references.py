"""The ``field_references`` hook: one declaration serves the rename and the draft check (pure)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from opsloom.form_engine.definition import check_entity
from opsloom.form_engine.fields import FieldReference, FieldType, SchemaContext, builtin_types, references
from opsloom.form_engine.fields.references import reference_errors
from opsloom.form_engine.renames import references_elsewhere, rename_field_references, rename_references_to

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


class FullAddressType(FieldType):
    """A plugin type composing other fields: ``parts`` (keys or paths) and ``joined`` (keys in one text)."""

    name = "full_address"
    storage = "none"
    options_schema: ClassVar[dict[str, Any]] = {
        "parts": {"type": "array", "items": {"type": "string"}},
        "joined": {"type": "string"},
        "shown_if": {},
        "elsewhere": {"type": "string"},
    }

    def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
        for i, part in enumerate(field.get("parts") or ()):
            yield FieldReference(f"/parts/{i}", part)
        for name in (field.get("joined") or "").split(","):
            if name.strip():
                yield FieldReference("/joined", name.strip(), what="joined")
        if field.get("shown_if") is not None:
            yield FieldReference("/shown_if", field["shown_if"], kind="expr")
        if field.get("elsewhere"):
            yield FieldReference("/elsewhere", field["elsewhere"], entity="customer")

    def rename_reference(
        self, field: Mapping[str, Any], reference: FieldReference, value: Any, ctx: SchemaContext
    ) -> dict[str, Any]:
        if reference.pointer != "/joined":
            return super().rename_reference(field, reference, value, ctx)
        names = [n.strip() for n in field["joined"].split(",")]
        return {**field, "joined": ", ".join(value if n == reference.value else n for n in names)}


class PlainType(FieldType):
    name = "plain"


TYPES: dict[str, FieldType] = {**builtin_types(), "full_address": FullAddressType(), "plain": PlainType()}

CUSTOMER: dict[str, Any] = {
    "key": "customer",
    "fields": [
        {"key": "street", "type": "text"},
        {"key": "city", "type": "text"},
        {"key": "zip", "type": "text"},
        {
            "key": "address",
            "type": "full_address",
            "parts": ["street", "city"],
            "joined": "street, zip, city",
            "shown_if": {"!": {"missing": ["city"]}},
        },
        {"key": "other", "type": "plain", "help": "street"},
    ],
}
ORDER: dict[str, Any] = {
    "key": "order",
    "fields": [
        {"key": "customer", "type": "relation", "target": "customer"},
        {"key": "city", "type": "text"},  # the order's own city: not the customer's
        {
            "key": "ship_to",
            "type": "full_address",
            "parts": ["customer.street", "city", "customer.city"],
            "elsewhere": "city",
        },
    ],
}
BODIES = {"customer": CUSTOMER, "order": ORDER}


def _lookup(kind: str, key: str) -> dict[str, Any] | None:
    return BODIES.get(key) if kind == "entity" else None


def _context(body: Mapping[str, Any]) -> SchemaContext:
    return SchemaContext(entity=body, types=TYPES, lookup_entity=lambda key: _lookup("entity", key))


# ---------------------------------------------------------------- the contract


def test_a_type_names_no_fields_by_default() -> None:
    field = {"key": "x", "type": "plain"}
    assert list(PlainType().field_references(field, _context(CUSTOMER))) == []
    renamed, changes = rename_field_references(CUSTOMER, "street", "road", types=TYPES)
    assert renamed["fields"][4] == CUSTOMER["fields"][4]  # its help text says "street": not a reference
    assert "/fields/4" not in {c["pointer"][:9] for c in changes}


def test_the_default_rename_writes_at_the_pointer_and_leaves_the_field_alone() -> None:
    field = {"key": "x", "type": "plain", "deep": {"a/b": [0, "street"]}}
    reference = FieldReference("/deep/a~1b/1", "street")
    renamed = PlainType().rename_reference(field, reference, "road", _context(CUSTOMER))
    assert renamed == {"key": "x", "type": "plain", "deep": {"a/b": [0, "road"]}}
    assert field["deep"]["a/b"][1] == "street"


def test_every_built_in_type_answers_the_hook() -> None:
    context = _context(ORDER)
    for field_type in builtin_types().values():
        assert list(field_type.field_references({"key": "x", "type": field_type.name}, context)) == []


# ---------------------------------------------------------------- the rename


def test_a_plugin_types_own_references_are_renamed() -> None:
    renamed, changes = rename_field_references(CUSTOMER, "city", "town", types=TYPES)
    address = renamed["fields"][3]
    assert address["parts"] == ["street", "town"]
    assert address["joined"] == "street, zip, town"  # its own storage, through rename_reference
    assert address["shown_if"] == {"!": {"missing": ["town"]}}
    assert [(c["pointer"], c["what"], c["field"], c["old"], c["new"]) for c in changes] == [
        ("/fields/1/key", "key", "town", "city", "town"),
        ("/fields/3/parts/1", "full_address", "address", "city", "town"),
        ("/fields/3/joined", "joined", "address", "city", "town"),
        (
            "/fields/3/shown_if",
            "full_address",
            "address",
            {"!": {"missing": ["city"]}},
            {"!": {"missing": ["town"]}},
        ),
    ]
    # without the plugin's type the rename cannot know its properties: they stay
    unknown, _ = rename_field_references(CUSTOMER, "city", "town")
    assert unknown["fields"][3]["parts"] == ["street", "city"]


def test_a_plugin_types_paths_through_relations_in_another_entity() -> None:
    rewritten, changes = rename_references_to(
        ORDER, entity="customer", old_key="city", new_key="town", lookup=_lookup, types=TYPES
    )
    ship_to = rewritten["fields"][2]
    # ``city`` alone is the order's own field; ``customer.city`` and the explicit entity's are the customer's
    assert ship_to["parts"] == ["customer.street", "city", "customer.town"]
    assert ship_to["elsewhere"] == "town"
    assert {(c["pointer"], c["new"]) for c in changes} == {
        ("/fields/2/parts/2", "customer.town"),
        ("/fields/2/elsewhere", "town"),
    }
    assert ORDER["fields"][2]["parts"][2] == "customer.city"  # the input is not touched
    listed = references_elsewhere(ORDER, entity="customer", old_key="city", lookup=_lookup, types=TYPES)
    assert {p["pointer"] for p in listed} == {"/fields/2/parts/2", "/fields/2/elsewhere"}


def test_references_inside_a_subtable_go_through_the_sub_fields_type() -> None:
    body = {
        "key": "order",
        "fields": [
            {"key": "customer", "type": "relation", "target": "customer"},
            {
                "key": "lines",
                "type": "subtable",
                "fields": [
                    {"key": "who", "type": "relation", "target": "customer", "display_field": "city"},
                    {"key": "city", "type": "text"},
                ],
            },
        ],
    }
    rewritten, changes = rename_references_to(
        body, entity="customer", old_key="city", new_key="town", lookup=_lookup, types=TYPES
    )
    assert rewritten["fields"][1]["fields"][0]["display_field"] == "town"
    assert rewritten["fields"][1]["fields"][1] == {"key": "city", "type": "text"}  # the row's own column
    assert changes == [
        {
            "pointer": "/fields/1/fields/0/display_field",
            "what": "display_field",
            "field": "lines",
            "old": "city",
            "new": "town",
        }
    ]


# ---------------------------------------------------------------- the draft check


def _check(body: dict[str, Any]) -> dict[str, str]:
    context = SimpleNamespace(
        registries=SimpleNamespace(field_types=TYPES), lookup=lambda kind, key: _lookup(kind, key)
    )
    return dict(check_entity(body, context))  # type: ignore[arg-type]


def test_saving_refuses_a_plugin_reference_to_a_field_that_does_not_exist() -> None:
    assert _check(CUSTOMER) == {}
    assert _check(ORDER) == {}
    broken = {
        **CUSTOMER,
        "fields": [
            *CUSTOMER["fields"][:3],
            {**CUSTOMER["fields"][3], "parts": ["street", "town"], "shown_if": {"var": "nowhere"}},
        ],
    }
    assert _check(broken) == {
        "/fields/3/parts/1": "this entity has no field 'town'",
        "/fields/3/shown_if": "this entity has no field 'nowhere'",
    }
    order = {**ORDER, "fields": [*ORDER["fields"][:2], {**ORDER["fields"][2], "parts": ["customer.town"]}]}
    assert _check(order) == {
        "/fields/2/parts/0": "'customer.town' reads customer.town, but customer has no field 'town'"
    }


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (FieldReference("/a", "", entity=None), "expects the key of a field"),
        (FieldReference("/a", "x", entity="nowhere"), "there is no entity 'nowhere' in this app"),
        (FieldReference("/a", "IF(", kind="formula"), "(line 1, column"),
        (FieldReference("/a", {"upper": [{"var": "nope"}]}, kind="expr"), "this entity has no field 'nope'"),
    ],
)
def test_what_cannot_be_read_is_named(reference: FieldReference, message: str) -> None:
    class One(FieldType):
        name = "one"

        def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
            yield reference

    [(pointer, said)] = list(reference_errors(One(), {"key": "x", "type": "one"}, _context(CUSTOMER)))
    assert pointer == "/a"
    assert message in said


def test_context_names_system_fields_and_values_are_not_paths_to_check() -> None:
    class Many(FieldType):
        name = "many"

        def field_references(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterator[FieldReference]:
            for path in ("_user.id", "id", "customer.id", "customer._created_at", "city.anything"):
                yield FieldReference("/a", path)

    assert list(reference_errors(Many(), {"key": "x", "type": "many"}, _context(ORDER))) == []


def test_a_types_own_check_speaks_first() -> None:
    # the lookup's check names the missing field; the declared reference does not say it twice
    body = {
        "key": "order",
        "fields": [
            {"key": "customer", "type": "relation", "target": "customer"},
            {"key": "l", "type": "lookup", "relation": "customer", "field": "nowhere"},
            {"key": "f", "type": "formula", "formula": "customer.nowhere & nothing"},
        ],
    }
    errors = _check(body)
    assert errors == {
        "/fields/1/field": "customer has no field 'nowhere'",
        "/fields/2/formula": "formula uses 'nothing', which is not a field of this entity",
    }
    # a path the formula's own check does not follow is checked through the relation
    body["fields"][2]["formula"] = "customer.nowhere & 1"
    assert _check(body)["/fields/2/formula"] == (
        "'customer.nowhere' reads customer.nowhere, but customer has no field 'nowhere'"
    )


def test_a_subtables_rows_are_checked_with_their_own_keys() -> None:
    body = {
        "key": "order",
        "fields": [
            {
                "key": "lines",
                "type": "subtable",
                "fields": [
                    {"key": "a", "type": "text"},
                    {"key": "b", "type": "plain"},
                    {"key": "w", "type": "relation", "target": "customer", "display_field": "nowhere"},
                ],
            },
        ],
    }
    assert _check(body) == {"/fields/0/fields/2/display_field": "customer has no field 'nowhere'"}


def test_the_check_is_pure() -> None:
    tree = ast.parse(Path(references.__file__).read_text())
    imported = {("." * n.level) + (n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    assert imported <= {"__future__", "typing", "collections.abc", "opsloom.platform.expr", ".refs", ".base"}
