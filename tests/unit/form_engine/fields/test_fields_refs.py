"""Reference field types (user, department, relation), and the purity of the three families refs/structured/computed."""

from __future__ import annotations

import ast
import inspect
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy.types import Integer

from opsloom.form_engine.fields import (
    FieldContext,
    FieldValueError,
    SchemaContext,
    computed,
    numbers,
    refs,
    structured,
    text,
)
from opsloom.form_engine.fields.refs import DepartmentType, RelationType, UserType, nullable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

USER, DEPARTMENT, RELATION = UserType(), DepartmentType(), RelationType()


class Lookup:
    """A dict-backed ``FieldContext.lookup`` that records what it was asked."""

    def __init__(self, existing: Mapping[tuple[str, str | None], set[int]]) -> None:
        self.existing = existing
        self.calls: list[tuple[str, str | None, set[int]]] = []

    def __call__(self, kind: str, target: str | None, ids: Iterable[int]) -> set[int]:
        self.calls.append((kind, target, set(ids)))
        return self.existing.get((kind, target), set()) & set(ids)


def ctx_with(existing: Mapping[tuple[str, str | None], set[int]] | None = None) -> FieldContext:
    return FieldContext(lookup=None if existing is None else Lookup(existing))


PLAIN = FieldContext()
CUSTOMER = {
    "key": "customer",
    "fields": [{"key": "name", "type": "text"}, {"key": "company", "type": "relation"}],
}
ORDER = {"key": "order", "fields": [{"key": "customer", "type": "relation", "target": "customer"}]}


def schema_ctx(entity: Mapping[str, Any], *others: Mapping[str, Any]) -> SchemaContext:
    bodies = {body["key"]: body for body in others}
    return SchemaContext(entity=entity, types={}, lookup_entity=bodies.get)


def valid(schema: Mapping[str, Any], value: Any) -> bool:
    return Draft202012Validator(schema).is_valid(value)


# ---------------------------------------------------------------------- the families as a whole


@pytest.mark.parametrize(
    "ftype", [*refs.FIELD_TYPES, *structured.FIELD_TYPES, *computed.FIELD_TYPES], ids=repr
)
def test_every_type_describes_itself(ftype: Any) -> None:
    assert ftype.name
    assert set(ftype.label) == {"en", "zh"}
    assert ftype.group in {"people", "relation", "media", "advanced", "computed"}
    Draft202012Validator.check_schema({"type": "object", "properties": ftype.options_schema})
    Draft202012Validator.check_schema(ftype.json_schema({"key": "x", "type": ftype.name, "fields": []}))
    assert ftype.filter_operators


def test_type_names_and_chinese_labels() -> None:
    names = {t.name: t.label["zh"] for m in (refs, structured, computed) for t in m.FIELD_TYPES}
    assert names == {
        "user": "人员",
        "department": "部门",
        "relation": "关联记录",
        "subtable": "子表单",
        "file": "附件",
        "image": "图片",
        "auto_number": "自动编号",
        "formula": "公式",
        "rollup": "汇总",
        "lookup": "引用字段",
    }


@pytest.mark.parametrize("module", [refs, structured, computed], ids=lambda m: m.__name__)
def test_families_are_pure(module: Any) -> None:
    """No Flask, no sessions, no models: the record service does the I/O."""
    tree = ast.parse(inspect.getsource(module))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    forbidden = (
        "flask",
        "sqlalchemy.orm",
        "opsloom.platform.db",
        "opsloom.platform.models",
        "requests",
        "os",
    )
    assert not [name for name in imported if name.split(".")[0] in forbidden or name in forbidden]
    assert not [name for name in imported if name.startswith("sqlalchemy") and name != "sqlalchemy.types"]


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["customer", "name", "sum", "relation", "text", "{seq:3}", "a + 1"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["key", "type", "entity", "link", "field", "fn", "var", "+"]), inner, max_size=3
        )
    ),
    max_leaves=10,
)
_PROPERTIES = [
    "key",
    "required",
    "fields",
    "source",
    "formula",
    "expr",
    "relation",
    "field",
    "target",
    "accept",
]


@pytest.mark.parametrize(
    "ftype", [*refs.FIELD_TYPES, *structured.FIELD_TYPES, *computed.FIELD_TYPES], ids=repr
)
def test_check_and_resolve_never_raise_on_malformed_properties(ftype: Any) -> None:
    """Publishing reports problems; a malformed draft must not turn into a 500."""
    types = {t.name: t for m in (text, numbers, refs, structured, computed) for t in m.FIELD_TYPES}

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from([*ftype.options_schema, *_PROPERTIES]), _JSON, max_size=5))
    def run(properties: dict[str, Any]) -> None:
        field = {"key": "f", **properties, "type": ftype.name}
        body = {"key": "customer", "fields": [field, {"key": "name", "type": "text"}]}
        ctx = SchemaContext(entity=body, types=types, lookup_entity={"customer": body}.get)
        assert all(isinstance(pointer, str) and message for pointer, message in ftype.check(field, ctx))
        assert isinstance(ftype.resolve(field, ctx), dict)

    run()


def test_nullable_keeps_constraints_and_admits_null() -> None:
    assert nullable({"type": "integer", "minimum": 1}) == {"type": ["integer", "null"], "minimum": 1}
    schema = nullable(refs.REF_SCHEMA)
    assert valid(schema, None)
    assert valid(schema, 7)
    assert not valid(schema, 0)


# ---------------------------------------------------------------------- user, department


@pytest.mark.parametrize(
    ("given", "stored"), [(7, 7), ({"id": 7, "name": "Ann"}, 7), (None, None), ("", None)]
)
def test_user_accepts_ids_and_our_own_objects(given: Any, stored: Any) -> None:
    assert USER.coerce(given, {"key": "owner", "type": "user"}, PLAIN) == stored


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("abc", "'abc'"),
        (True, "true"),
        (7.5, "the number 7.5"),
        (0, "the number 0"),
        ({"name": "Ann"}, "an object"),
    ],
)
def test_user_refuses_what_is_not_an_id(given: Any, shown: str) -> None:
    with pytest.raises(FieldValueError) as caught:
        USER.coerce(given, {"key": "owner", "type": "user"}, PLAIN)
    assert str(caught.value) == f'expects a user id (a whole number, or an object with "id"); got {shown}'


def test_user_existence_goes_through_the_lookup() -> None:
    ctx = ctx_with({("user", None): {7}})
    assert USER.coerce(7, {"type": "user"}, ctx) == 7
    with pytest.raises(FieldValueError, match=r"^user 99 is not a member of this workspace$"):
        USER.coerce({"id": 99}, {"type": "user"}, ctx)
    assert ctx.lookup.calls == [("user", None, {7}), ("user", None, {99})]


def test_department_existence_message() -> None:
    ctx = ctx_with({("department", None): {1}})
    assert DEPARTMENT.coerce(1, {"type": "department"}, ctx) == 1
    with pytest.raises(FieldValueError, match=r"^department 5 does not exist in this workspace$"):
        DEPARTMENT.coerce(5, {"type": "department"}, ctx)


def test_user_default_current_user_is_left_to_the_service() -> None:
    assert USER.wants_current_user({"type": "user", "default_current_user": True})
    assert not USER.wants_current_user({"type": "user"})
    assert USER.default({"type": "user", "default_current_user": True}, PLAIN) is None
    assert USER.default({"type": "user", "default": 3}, PLAIN) == 3


def test_people_storage_output_and_schema() -> None:
    field = {"key": "owner", "type": "user"}
    assert isinstance(USER.column_type(field), Integer)
    assert USER.storage_for(field) == "column"
    assert (USER.widget, DEPARTMENT.widget, USER.expr_type) == ("user", "department", "any")
    assert USER.filter_operators == ("==", "!=", "in", "missing")
    assert USER.to_json(7, field, PLAIN) == 7
    assert (USER.to_text(7, field, PLAIN), USER.to_text(None, field, PLAIN)) == ("7", "")
    schema = USER.json_schema(field)
    assert all(valid(schema, v) for v in (7, None, {"id": 7, "name": "Ann"}))
    assert not any(valid(schema, v) for v in ("7", {"name": "Ann"}, 0))


@pytest.mark.parametrize(
    ("cell", "value"), [("7", 7), (" 42 ", 42), (7.0, 7), ("", None), ("Ann Lee", "Ann Lee")]
)
def test_people_text_is_an_id_or_a_name_for_the_service(cell: Any, value: Any) -> None:
    assert USER.parse_text(cell, {"type": "user"}, PLAIN) == value


# ---------------------------------------------------------------------- relation: definition


def test_relation_check_accepts_a_target_and_itself() -> None:
    assert list(RELATION.check(ORDER["fields"][0], schema_ctx(ORDER, CUSTOMER))) == []
    parent = {"key": "parent", "type": "relation", "target": "customer"}
    assert list(RELATION.check(parent, schema_ctx(CUSTOMER))) == []  # the entity may link to itself


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"key": "c", "type": "relation"}, ("/target", "a relation needs a target entity")),
        (
            {"key": "c", "type": "relation", "target": "cust"},
            ("/target", "there is no entity 'cust' in this app"),
        ),
        (
            {"key": "c", "type": "relation", "target": "customer", "display_field": "nme"},
            ("/display_field", "customer has no field 'nme'"),
        ),
        (
            {"key": "c", "type": "relation", "target": "customer", "required": True},
            (
                "/on_delete",
                "a required relation cannot be emptied when its customer is deleted; use restrict or cascade",
            ),
        ),
    ],
)
def test_relation_check_problems(field: dict[str, Any], problem: tuple[str, str]) -> None:
    assert list(RELATION.check(field, schema_ctx(ORDER, CUSTOMER))) == [problem]


def test_required_relation_with_restrict_is_fine() -> None:
    field = {"key": "c", "type": "relation", "target": "customer", "required": True, "on_delete": "restrict"}
    assert list(RELATION.check(field, schema_ctx(ORDER, CUSTOMER))) == []


def test_relation_options_schema() -> None:
    validator = Draft202012Validator({"type": "object", "properties": RELATION.options_schema})
    assert validator.is_valid(
        {"target": "customer", "many": True, "on_delete": "cascade", "display_field": "name"}
    )
    assert not validator.is_valid({"target": "Customer"})
    assert not validator.is_valid({"on_delete": "nothing"})


def test_one_and_many_differ_in_storage_type_and_sorting() -> None:
    one = {"key": "customer", "type": "relation", "target": "customer"}
    many = {**one, "many": True}
    assert (RELATION.storage_for(one), RELATION.storage_for(many)) == ("column", "link_table")
    assert isinstance(RELATION.column_type(one), Integer)
    assert RELATION.column_type(many) is None
    assert (RELATION.expr_type_for(one), RELATION.expr_type_for(many)) == ("any", "list")
    assert (RELATION.sortable_for(one), RELATION.sortable_for(many)) == (True, False)
    assert refs.field_expr_type(RELATION, many) == "list"
    assert refs.field_expr_type(USER, one) == "any"


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ({"target": "a"}, {"target": "a"}, "same"),
        ({"target": "a"}, {"target": "a", "many": True}, "widen"),
        ({"target": "a", "many": True}, {"target": "a"}, "narrow"),
        ({"target": "a"}, {"target": "b"}, "narrow"),
    ],
)
def test_relation_type_change(old: dict[str, Any], new: dict[str, Any], change: str) -> None:
    assert RELATION.type_change(old, new) == change


# ---------------------------------------------------------------------- relation: values

ONE = {"key": "customer", "type": "relation", "target": "customer"}
MANY = {**ONE, "many": True}


def test_one_relation_values() -> None:
    ctx = ctx_with({("record", "customer"): {12, 15}})
    assert RELATION.coerce(12, ONE, ctx) == 12
    assert RELATION.coerce({"id": 15}, ONE, ctx) == 15
    assert RELATION.coerce(None, ONE, ctx) is None
    with pytest.raises(FieldValueError, match=r"^customer 13 does not exist \(or was deleted\)$"):
        RELATION.coerce(13, ONE, ctx)
    assert ctx.lookup.calls[0] == ("record", "customer", {12})
    with pytest.raises(FieldValueError, match=r"^takes one customer id; got a list$"):
        RELATION.coerce([12], ONE, ctx)
    with pytest.raises(
        FieldValueError, match=r'^expects a customer id \(a whole number, or an object with "id"\); got'
    ):
        RELATION.coerce("twelve", ONE, ctx)


def test_many_relation_values() -> None:
    ctx = ctx_with({("record", "customer"): {1, 2, 3}})
    assert RELATION.coerce([1, {"id": 2}, 1, 3], MANY, ctx) == [1, 2, 3]
    assert RELATION.coerce(None, MANY, ctx) == []
    assert RELATION.coerce(2, MANY, ctx) == [2]
    with pytest.raises(FieldValueError, match=r"^customer 8, 9 do not exist \(or were deleted\)$"):
        RELATION.coerce([1, 9, 8], MANY, ctx)
    with pytest.raises(FieldValueError) as caught:
        RELATION.coerce([1, "x"], MANY, ctx)
    assert (
        str(caught.value) == "expects a list of customer ids (whole numbers, or objects with \"id\"); got 'x'"
    )
    with pytest.raises(FieldValueError, match=r"^links at most 1000 records; got 1001$"):
        RELATION.coerce(list(range(1, 1002)), MANY, PLAIN)


def test_many_relation_without_lookup_skips_existence() -> None:
    assert RELATION.coerce([5, 6], MANY, PLAIN) == [5, 6]


@pytest.mark.parametrize(
    ("field", "cell", "value"),
    [
        (ONE, "12", 12),
        (ONE, " ", None),
        (ONE, 12.0, 12),
        (MANY, "12, 15", [12, 15]),
        (MANY, "12\uff0c15,", [12, 15]),
        (MANY, "", []),
    ],
)
def test_relation_text(field: dict[str, Any], cell: Any, value: Any) -> None:
    assert RELATION.parse_text(cell, field, PLAIN) == value


def test_relation_text_errors() -> None:
    with pytest.raises(FieldValueError, match=r"^takes one customer id; got 2$"):
        RELATION.parse_text("12, 15", ONE, PLAIN)
    with pytest.raises(FieldValueError, match=r"^'acme' is not a customer id; give ids separated by commas$"):
        RELATION.parse_text("12, acme", MANY, PLAIN)


def test_relation_output_and_schema() -> None:
    assert RELATION.to_json(12, ONE, PLAIN) == 12
    assert RELATION.to_json([1, 2], MANY, PLAIN) == [1, 2]
    assert RELATION.to_json(None, MANY, PLAIN) == []
    assert RELATION.to_text([1, 2], MANY, PLAIN) == "1, 2"
    assert RELATION.parse_text(RELATION.to_text([1, 2], MANY, PLAIN), MANY, PLAIN) == [1, 2]
    assert RELATION.to_text(None, ONE, PLAIN) == ""
    many_schema = RELATION.json_schema(MANY)
    assert valid(many_schema, [1, {"id": 2}])
    assert valid(many_schema, None)
    assert not valid(many_schema, 1)
    assert valid(RELATION.json_schema(ONE), 1)
    assert not valid(RELATION.json_schema(ONE), [1])
