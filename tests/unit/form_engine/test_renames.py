"""Renaming a field key in an entity body: every reference rewritten, nothing else touched (pure)."""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest

from opsloom.form_engine import renames
from opsloom.form_engine.renames import references_elsewhere, rename_errors, rename_field_references
from opsloom.platform import expr


def _body(*fields: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "key": "customer",
        "fields": [
            {"key": "name", "type": "text"},
            {"key": "level", "type": "select", "options": ["level", "vip"], "label": {"en": "level"}},
            {"key": "levels", "type": "text", "help": "not the level", "default": "level"},
            *fields,
        ],
        **more,
    }


def _formula(text: str, old: str = "level", new: str = "tier", **more: Any) -> str:
    body = _body({"key": "calc", "type": "formula", "formula": text}, **more)
    renamed, _changes = rename_field_references(body, old, new)
    return renamed["fields"][-1]["formula"]


def _parses_as_renamed(before: str, after: str) -> None:
    """The new text reads as the old one with the field renamed: the parser is the judge."""
    old_expr, new_expr = expr.parse_formula(before), expr.parse_formula(after)
    assert expr.free_vars(new_expr) == {
        v.replace("level", "tier", 1) if v.split(".")[0] == "level" else v for v in expr.free_vars(old_expr)
    }


# ---------------------------------------------------------------- formula text


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('IF(level = "vip", 0, 1)', 'IF(tier = "vip", 0, 1)'),
        # text that contains the key, and identifiers that merely start with it, stay
        ('level & " level " & levels & level_x & [levels]', 'tier & " level " & levels & level_x & [levels]'),
        ('"say ""level"" twice" & level', '"say ""level"" twice" & tier'),
        ('"a \\" level" & level', '"a \\" level" & tier'),
        # the author's spelling is kept: case of functions, spaces, lines, brackets
        ("upper( level )\n  & lower(level)", "upper( tier )\n  & lower(tier)"),
        ("[level] & [level name]", "[tier] & [level name]"),
        ('IF(level IN ("vip"), TRUE, NULL)', 'IF(tier IN ("vip"), TRUE, NULL)'),
        ("NOT(level IN (1, 2))", "NOT(tier IN (1, 2))"),
        ("levels", "levels"),
        ("1e5 + 2", "1e5 + 2"),
    ],
)
def test_formula_identifiers_are_rewritten_in_place(before: str, after: str) -> None:
    assert _formula(before) == after
    if before != after:
        _parses_as_renamed(before, after)


def test_a_function_of_the_same_name_is_not_a_field() -> None:
    body = {
        "key": "t",
        "fields": [
            {"key": "upper", "type": "text"},
            {"key": "calc", "type": "formula", "formula": "UPPER(upper) & upper(upper)"},
        ],
    }
    renamed, _ = rename_field_references(body, "upper", "loud")
    assert renamed["fields"][1]["formula"] == "UPPER(loud) & upper(loud)"


def test_references_a_scanner_cannot_see_are_printed_from_the_expression() -> None:
    # VAR("level") names the field in a text literal: the rewritten expression is printed instead
    text = _formula('VAR("level") & "level"')
    assert expr.parse_formula(text) == {"cat": [{"var": "tier"}, "level"]}


def test_a_key_that_is_a_keyword_is_written_in_brackets() -> None:
    assert _formula("level & 1", new="true") == "[true] & 1"


def test_text_that_is_no_formula_is_left_as_it_is() -> None:
    assert _formula("IF(level = ") == "IF(level = "


def test_paths_through_a_subtable_and_relations() -> None:
    body = _body(
        {"key": "parent", "type": "relation", "target": "customer"},
        {"key": "lines", "type": "subtable", "fields": [{"key": "level", "type": "text"}]},
        {"key": "a", "type": "formula", "formula": "parent.level & parent.parent.level & parent.name"},
        {"key": "b", "type": "formula", "formula": "lines.level & name"},
    )
    renamed, _ = rename_field_references(body, "level", "tier")
    formulas = {f["key"]: f.get("formula") for f in renamed["fields"]}
    # ``parent`` links back here, so ``parent.level`` is this field; a subtable's column is its own
    assert formulas["a"] == "parent.tier & parent.parent.tier & parent.name"
    assert formulas["b"] == "lines.level & name"
    renamed, _ = rename_field_references(body, "lines", "rows")
    assert {f["key"]: f.get("formula") for f in renamed["fields"]}["b"] == "rows.level & name"


# ---------------------------------------------------------------- JSON expressions


def test_json_logic_vars_are_rewritten_but_item_scopes_and_literals_are_not() -> None:
    condition = {
        "and": [
            {"==": [{"var": "level"}, "level"]},
            {"==": [{"var": ["level.sub", "x"]}, {"var": "levels"}]},
            {"some": [{"var": "level"}, {"==": [{"var": "level"}, 1]}]},
            {"!": {"missing": ["level", "name"]}},
            {"missing_some": [1, ["level", "levels"]]},
            {"==": [{"var": "_user.level"}, 1]},
            {"in": ["level", {"var": "name"}]},
        ]
    }
    body = _body(visible_if={"levels": condition}, required_if={"level": {"var": "name"}})
    renamed, changes = rename_field_references(body, "level", "tier")
    assert renamed["visible_if"]["levels"] == {
        "and": [
            {"==": [{"var": "tier"}, "level"]},
            {"==": [{"var": ["tier.sub", "x"]}, {"var": "levels"}]},
            {"some": [{"var": "tier"}, {"==": [{"var": "level"}, 1]}]},  # the item's own ``level``
            {"!": {"missing": ["tier", "name"]}},
            {"missing_some": [1, ["tier", "levels"]]},
            {"==": [{"var": "_user.level"}, 1]},
            {"in": ["level", {"var": "name"}]},
        ]
    }
    # the renamed field's own condition moves to its new key
    assert renamed["required_if"] == {"tier": {"var": "name"}}
    assert {(c["pointer"], c["what"], c["field"]) for c in changes} >= {
        ("/visible_if/levels", "visible_if", "levels"),
        ("/required_if/tier", "required_if", "tier"),
    }


def test_a_formula_given_as_json_is_rewritten_too() -> None:
    body = _body({"key": "calc", "type": "formula", "expr": {"+": [{"var": "level"}, 1]}})
    renamed, changes = rename_field_references(body, "level", "tier")
    assert renamed["fields"][-1]["expr"] == {"+": [{"var": "tier"}, 1]}
    assert changes[-1] == {
        "pointer": "/fields/3/expr",
        "what": "expr",
        "field": "calc",
        "old": {"+": [{"var": "level"}, 1]},
        "new": {"+": [{"var": "tier"}, 1]},
    }


# ---------------------------------------------------------------- the entity's settings


def test_title_field_keys_indexes_and_layout() -> None:
    body = _body(
        title_field="level",
        dedup=[["name", "level"], ["levels"]],
        indexes=[["level"], ["name"]],
        layout=[{"label": "Main", "fields": ["name", "level", "levels"]}],
    )
    renamed, changes = rename_field_references(body, "level", "tier")
    assert renamed["title_field"] == "tier"
    assert renamed["dedup"] == [["name", "tier"], ["levels"]]
    assert renamed["indexes"] == [["tier"], ["name"]]
    assert renamed["layout"] == [{"label": "Main", "fields": ["name", "tier", "levels"]}]
    assert [(c["pointer"], c["what"]) for c in changes] == [
        ("/fields/1/key", "key"),
        ("/title_field", "title_field"),
        ("/dedup/0", "dedup"),
        ("/indexes/0", "indexes"),
        ("/layout/0/fields", "layout"),
    ]


def test_nothing_else_changes_and_the_input_is_not_touched() -> None:
    body = _body(
        {"key": "calc", "type": "formula", "formula": "levels & name"},
        title_field="name",
        visible_if={"levels": {"==": [{"var": "name"}, "level"]}},
    )
    original = copy.deepcopy(body)
    renamed, changes = rename_field_references(body, "level", "tier")
    assert body == original
    expected = copy.deepcopy(original)
    expected["fields"][1]["key"] = "tier"  # options, labels, help texts and defaults that say "level" stay
    assert renamed == expected
    assert changes == [
        {"pointer": "/fields/1/key", "what": "key", "field": "tier", "old": "level", "new": "tier"}
    ]


# ---------------------------------------------------------------- rollups, lookups, relations


def test_rollup_and_lookup_specs_of_this_entity() -> None:
    body = _body(
        {"key": "parent", "type": "relation", "target": "customer", "display_field": "level"},
        {"key": "parent_level", "type": "lookup", "relation": "parent", "field": "level"},
        {
            "key": "vip_children",
            "type": "rollup",
            "source": {
                "entity": "customer",
                "link": "parent",
                "fn": "count",
                "filter": {"==": [{"var": "level"}, "vip"]},
            },
        },
        {
            "key": "spent",
            "type": "rollup",
            "source": {"entity": "order", "link": "customer", "field": "level", "fn": "sum"},
        },
        {
            "key": "team",
            "type": "subtable",
            "fields": [
                {"key": "who", "type": "relation", "target": "customer", "display_field": "level"},
            ],
        },
    )
    renamed, changes = rename_field_references(body, "level", "tier")
    by_key = {f["key"]: f for f in renamed["fields"]}
    assert by_key["parent"]["display_field"] == "tier"
    assert (by_key["parent_level"]["relation"], by_key["parent_level"]["field"]) == ("parent", "tier")
    assert by_key["vip_children"]["source"]["filter"] == {"==": [{"var": "tier"}, "vip"]}
    # a rollup over another entity names that entity's fields: its ``level`` is not ours
    assert by_key["spent"]["source"]["field"] == "level"
    assert by_key["team"]["fields"][0]["display_field"] == "tier"
    assert {(c["pointer"], c["what"]) for c in changes} == {
        ("/fields/1/key", "key"),
        ("/fields/3/display_field", "display_field"),
        ("/fields/4/field", "lookup"),
        ("/fields/5/source/filter", "rollup"),
        ("/fields/7/fields/0/display_field", "display_field"),
    }

    # renaming the relation renames what reads through it
    renamed, _ = rename_field_references(body, "parent", "up")
    by_key = {f["key"]: f for f in renamed["fields"]}
    assert by_key["parent_level"]["relation"] == "up"
    assert by_key["vip_children"]["source"]["link"] == "up"


def test_references_from_other_entities_are_found() -> None:
    customer = _body()
    order = {
        "key": "order",
        "fields": [
            {"key": "customer", "type": "relation", "target": "customer", "display_field": "level"},
            {"key": "level", "type": "text"},  # the order's own ``level``: not the customer's
            {"key": "customer_level", "type": "lookup", "relation": "customer", "field": "level"},
            {"key": "calc", "type": "formula", "formula": 'customer.level & level & "customer.level"'},
        ],
        "visible_if": {"level": {"==": [{"var": "customer.level"}, "vip"]}},
    }
    region = {
        "key": "region",
        "fields": [
            {
                "key": "vips",
                "type": "rollup",
                "source": {
                    "entity": "customer",
                    "link": "levels",
                    "field": "level",
                    "fn": "count",
                    "filter": {"==": [{"var": "level"}, "vip"]},
                },
            },
        ],
    }
    bodies = {"customer": customer, "order": order, "region": region}

    def lookup(kind: str, key: str) -> dict[str, Any] | None:
        return bodies.get(key) if kind == "entity" else None

    found = references_elsewhere(order, entity="customer", old_key="level", lookup=lookup)
    assert {(p["pointer"], p["what"], p["field"]) for p in found} == {
        ("/fields/0/display_field", "display_field", "customer"),
        ("/fields/2/field", "lookup", "customer_level"),
        ("/fields/3/formula", "formula", "calc"),
        ("/visible_if/level", "visible_if", "level"),
    }
    assert all("new" not in p for p in found)
    rolled = references_elsewhere(region, entity="customer", old_key="level", lookup=lookup)
    assert {p["pointer"] for p in rolled} == {"/fields/0/source/field", "/fields/0/source/filter"}
    assert references_elsewhere(region, entity="customer", old_key="name", lookup=lookup) == []
    assert references_elsewhere(customer, entity="customer", old_key="level", lookup=lookup) == []


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("old", "new", "where", "says"),
    [
        ("nothing", "tier", "from", "no field 'nothing'"),
        (None, "tier", "from", "give the key"),
        ("level", None, "to", "new key"),
        ("level", "name", "to", "already called 'name'"),
        ("level", "level", "to", "already called 'level'"),
        ("level", "Tier", "to", "not a valid identifier"),
        ("level", "", "to", "not a valid identifier"),
        ("level", "a" * 41, "to", "not a valid identifier"),
        ("level", "id", "to", "reserved"),
    ],
)
def test_bad_names(old: str | None, new: str | None, where: str, says: str) -> None:
    errors = rename_errors(_body(), old, new)
    assert list(errors) == [where]
    assert says in errors[where]


def test_good_names() -> None:
    assert rename_errors(_body(), "level", "tier") == {}


def test_the_module_is_pure() -> None:
    source = Path(renames.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
    assert imported <= {
        "__future__",
        "collections.abc",
        "copy",
        "re",
        "typing",
        "opsloom.platform",
        "opsloom.platform.definitions.validation",
        ".definition",
        ".fields",
        ".fields.base",
    }
