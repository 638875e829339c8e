"""Structured field types: subtable (rows checked cell by cell), file and image (refs to uploads)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.types import JSON

from opsloom.form_engine.fields import (
    FieldContext,
    FieldValueError,
    SchemaContext,
    computed,
    numbers,
    refs,
    structured,
    temporal,
    text,
)
from opsloom.form_engine.fields.structured import FileType, ImageType, SubtableType, format_size

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from opsloom.form_engine.fields import FieldType

MODULES = (text, numbers, temporal, refs, structured, computed)
TYPES: dict[str, FieldType] = {t.name: t for module in MODULES for t in module.FIELD_TYPES}
SUBTABLE, FILE, IMAGE = SubtableType(), FileType(), ImageType()
CTX = FieldContext(types=TYPES)
MB = 1024 * 1024

CONTACTS = {
    "key": "contacts",
    "type": "subtable",
    "fields": [
        {"key": "name", "type": "text", "required": True, "max_length": 5},
        {"key": "age", "type": "number", "integer": True},
        {"key": "since", "type": "date"},
        {"key": "tier", "type": "text", "default": "basic"},
    ],
}
CUSTOMER = {"key": "customer", "fields": [{"key": "name", "type": "text"}, CONTACTS]}


def schema_ctx(entity: Mapping[str, Any] = CUSTOMER) -> SchemaContext:
    return SchemaContext(entity=entity, types=TYPES, lookup_entity=lambda _key: None)


def problem_of(type_name: str, value: Any, field: Mapping[str, Any]) -> str:
    """What a sub-field's own type says about ``value`` (so these tests do not copy its wording)."""
    with pytest.raises(FieldValueError) as caught:
        TYPES[type_name].coerce(value, field, CTX)
    return str(caught.value)


def with_fields(*subs: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"key": "lines", "type": "subtable", "fields": list(subs), **options}


# ---------------------------------------------------------------------- subtable: definition


def test_a_good_subtable_has_no_problems() -> None:
    assert list(SUBTABLE.check(CONTACTS, schema_ctx())) == []


def test_subtable_may_link_back_to_its_parent() -> None:
    field = with_fields({"key": "referrer", "type": "relation", "target": "customer"})
    assert list(SUBTABLE.check(field, schema_ctx())) == []


@pytest.mark.parametrize(
    ("field", "problems"),
    [
        (with_fields(), [("/fields", "a subtable needs at least one field")]),
        (
            with_fields({"key": "a", "type": "text"}, {"key": "b", "type": "txt"}),
            [("/fields/1/type", "there is no field type 'txt'")],
        ),
        (
            with_fields({"key": "total", "type": "formula", "formula": "1"}),
            [("/fields/0/type", "a subtable cannot hold a formula field; use fields stored in one column")],
        ),
        (
            with_fields({"key": "inner", "type": "subtable", "fields": [{"key": "a", "type": "text"}]}),
            [("/fields/0/type", "a subtable cannot hold a subtable field; use fields stored in one column")],
        ),
        (
            with_fields({"key": "tags", "type": "relation", "target": "customer", "many": True}),
            [("/fields/0/type", "a subtable cannot hold a relation field; use fields stored in one column")],
        ),
        (
            with_fields(
                {"key": "a", "type": "text"}, {"key": "b", "type": "text"}, {"key": "a", "type": "number"}
            ),
            [("/fields/2/key", "'a' is used twice in this subtable (also field 0)")],
        ),
        (
            with_fields({"key": "id", "type": "number"}),
            [("/fields/0/key", "'id' is reserved for the row id")],
        ),
        (
            with_fields({"key": "a", "type": "text"}, {"key": "b", "type": "text", "foo": 1}),
            [("/fields/1/foo", "a text field has no property 'foo'")],
        ),
        (
            with_fields({"key": "a", "type": "text"}, min_rows=3, max_rows=2),
            [("/max_rows", "max_rows (2) is less than min_rows (3)")],
        ),
    ],
)
def test_subtable_check_problems(field: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    assert list(SUBTABLE.check(field, schema_ctx())) == problems


def test_sub_fields_are_checked_with_their_options_schema() -> None:
    field = with_fields({"key": "a", "type": "text"}, {"key": "b", "type": "text", "max_length": "long"})
    [(pointer, message)] = SUBTABLE.check(field, schema_ctx())
    assert pointer == "/fields/1/max_length"
    assert "'long' is not of type 'integer'" in message


def test_sub_fields_are_checked_by_their_own_type() -> None:
    sub = {"key": "b", "type": "text", "min_length": 9, "max_length": 3}
    expected = [
        (f"/fields/0{pointer}", message) for pointer, message in TYPES["text"].check(sub, schema_ctx())
    ]
    assert expected  # the text type does object to it
    assert list(SUBTABLE.check(with_fields(sub), schema_ctx())) == expected


def test_sub_field_relation_is_checked_in_the_app() -> None:
    field = with_fields({"key": "x", "type": "relation", "target": "nowhere"})
    assert list(SUBTABLE.check(field, schema_ctx())) == [
        ("/fields/0/target", "there is no entity 'nowhere' in this app")
    ]


def test_subtable_is_a_child_table() -> None:
    assert SUBTABLE.storage_for(CONTACTS) == "child_table"
    assert SUBTABLE.column_type(CONTACTS) is None
    assert (SUBTABLE.sortable, SUBTABLE.expr_type, SUBTABLE.widget) == (False, "list", "subtable")


@pytest.mark.parametrize(
    ("new_fields", "change"),
    [
        (CONTACTS["fields"], "same"),
        ([*CONTACTS["fields"], {"key": "email", "type": "email"}], "widen"),
        (CONTACTS["fields"][1:], "narrow"),
        ([{**CONTACTS["fields"][0], "type": "textarea"}, *CONTACTS["fields"][1:]], "narrow"),
    ],
)
def test_subtable_type_change(new_fields: list[dict[str, Any]], change: str) -> None:
    assert SUBTABLE.type_change(CONTACTS, {**CONTACTS, "fields": new_fields}) == change


def test_resolve_gives_the_row_schema() -> None:
    resolved = {**CONTACTS, **SUBTABLE.resolve(CONTACTS, schema_ctx())}
    assert [sub["key"] for sub in resolved["fields"]] == ["name", "age", "since", "tier"]
    validator = Draft202012Validator(SUBTABLE.json_schema(resolved))
    assert validator.is_valid([{"id": 3, "name": "Ann", "age": 30, "since": "2026-01-31"}])
    assert validator.is_valid(None)
    assert not validator.is_valid([{"name": 5}])  # the text type's schema
    assert not validator.is_valid([{"nmae": "Ann"}])
    # unresolved, the schema still knows the keys
    assert not Draft202012Validator(SUBTABLE.json_schema(CONTACTS)).is_valid([{"nmae": "Ann"}])


# ---------------------------------------------------------------------- subtable: values


def test_rows_are_coerced_by_their_sub_fields() -> None:
    rows = SUBTABLE.coerce(
        [{"name": " Ann ", "age": 30, "since": "2026-01-31"}, {"id": 7, "name": "Bo", "tier": "gold"}],
        CONTACTS,
        CTX,
    )
    assert rows == [
        {
            "name": "Ann",
            "age": 30,
            "since": temporal.DateType().coerce("2026-01-31", {}, CTX),
            "tier": "basic",
        },
        {"id": 7, "name": "Bo", "tier": "gold"},  # an existing row keeps what it does not give
    ]
    assert SUBTABLE.coerce(None, CONTACTS, CTX) == []
    assert SUBTABLE.row_errors(rows, CONTACTS, CTX) == {}


def test_one_error_names_every_bad_row_and_cell() -> None:
    value = [{"name": "Ann"}, {"nmae": "Bo"}, {"name": "Toolong", "age": 1.5}]
    with pytest.raises(FieldValueError) as caught:
        SUBTABLE.coerce(value, CONTACTS, CTX)
    too_long = problem_of("text", "Toolong", CONTACTS["fields"][0])
    not_whole = problem_of("number", 1.5, CONTACTS["fields"][1])
    assert str(caught.value) == (
        f"row 2: unknown field 'nmae'; row 2, name: is required; row 3, name: {too_long}; row 3, age: {not_whole}"
    )
    assert SUBTABLE.row_errors(value, CONTACTS, CTX) == {
        "1/nmae": "unknown field 'nmae'",
        "1/name": "is required",
        "2/name": too_long,
        "2/age": not_whole,
    }


@pytest.mark.parametrize(
    ("value", "message", "errors"),
    [
        (
            "Ann",
            "expects a list of rows (objects); got 'Ann'",
            {"": "expects a list of rows (objects); got 'Ann'"},
        ),
        (
            [{"name": "A"}, "B"],
            "row 2: expects an object of sub-field values; got 'B'",
            {"1": "expects an object of sub-field values; got 'B'"},
        ),
        (
            [{"id": "x", "name": "A"}],
            "row 1, id: must be the id of a row of this subtable; got 'x'",
            {"0/id": "must be the id of a row of this subtable; got 'x'"},
        ),
        (
            [{"id": 4, "name": "A"}, {"id": 4}],
            "row 2, id: row id 4 is given twice (also row 1)",
            {"1/id": "row id 4 is given twice (also row 1)"},
        ),
        (
            [{"id": 4, "name": ""}],
            "row 1, name: is required",
            {"0/name": "is required"},
        ),
    ],
)
def test_row_problems(value: Any, message: str, errors: dict[str, str]) -> None:
    with pytest.raises(FieldValueError) as caught:
        SUBTABLE.coerce(value, CONTACTS, CTX)
    assert str(caught.value) == message
    assert SUBTABLE.row_errors(value, CONTACTS, CTX) == errors


def test_row_counts() -> None:
    field = {**CONTACTS, "min_rows": 2, "max_rows": 3}
    with pytest.raises(FieldValueError, match=r"^needs at least 2 rows; got 1$"):
        SUBTABLE.coerce([{"name": "A"}], field, CTX)
    with pytest.raises(FieldValueError, match=r"^takes at most 3 rows; got 4$"):
        SUBTABLE.coerce([{"name": "A"}] * 4, field, CTX)
    with pytest.raises(FieldValueError, match=r"^takes at most 1000 rows; got 1001$"):
        SUBTABLE.coerce([{"name": "A"}] * 1001, CONTACTS, CTX)


def test_long_error_lists_are_cut() -> None:
    with pytest.raises(FieldValueError) as caught:
        SUBTABLE.coerce([{"x": 1}] * 12, with_fields({"key": "a", "type": "text"}), CTX)
    assert str(caught.value).endswith("; and 2 more")
    assert str(caught.value).count("unknown field 'x'") == 10


def test_rows_round_trip_through_json_and_text() -> None:
    rows = SUBTABLE.coerce([{"name": "Ann", "since": "2026-01-31"}, {"id": 9, "name": "张三"}], CONTACTS, CTX)
    out = SUBTABLE.to_json(rows, CONTACTS, CTX)
    assert out == [
        {"name": "Ann", "age": None, "since": "2026-01-31", "tier": "basic"},
        {"id": 9, "name": "张三"},
    ]
    cell = SUBTABLE.to_text(rows, CONTACTS, CTX)
    assert "张三" in cell
    assert SUBTABLE.coerce(SUBTABLE.parse_text(cell, CONTACTS, CTX), CONTACTS, CTX) == rows
    assert SUBTABLE.to_text([], CONTACTS, CTX) == ""
    assert SUBTABLE.parse_text("  ", CONTACTS, CTX) is None
    with pytest.raises(FieldValueError, match=r"^expects the rows as JSON text"):
        SUBTABLE.parse_text("Ann; Bo", CONTACTS, CTX)


# ---------------------------------------------------------------------- files

UPLOADS = {
    1: {"id": 1, "name": "report.pdf", "size": 2 * MB, "content_type": "application/pdf", "sha256": "…"},
    2: {"id": 2, "name": "photo.png", "size": 3 * MB, "content_type": "image/png"},
    3: {"id": 3, "name": "report.exe", "size": 1000, "content_type": "application/x-msdownload"},
    4: {"id": 4, "name": "big.pdf", "size": 25 * MB, "content_type": "application/pdf"},
    5: {"id": 5, "name": "scan.bmp", "size": MB, "content_type": "image/bmp"},
}


class FileLookup:
    """For kind ``file`` the lookup answers id -> metadata for the uploads that exist."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, set[int]]] = []

    def __call__(self, kind: str, target: str | None, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        self.calls.append((kind, target, set(ids)))
        return {i: UPLOADS[i] for i in ids if i in UPLOADS}


def uploads() -> FieldContext:
    return FieldContext(types=TYPES, lookup=FileLookup())


ATTACHMENTS = {"key": "attachments", "type": "file", "accept": [".pdf", "image/*"]}


def test_files_become_refs_from_the_upload_metadata() -> None:
    ctx = uploads()
    refs_ = FILE.coerce([1, {"id": 2, "name": "forged.pdf", "size": 1}, 1], ATTACHMENTS, ctx)
    assert refs_ == [
        {"id": 1, "name": "report.pdf", "size": 2 * MB, "content_type": "application/pdf"},
        {"id": 2, "name": "photo.png", "size": 3 * MB, "content_type": "image/png"},
    ]
    assert ctx.lookup.calls == [("file", None, {1, 2})]
    assert FILE.coerce([], ATTACHMENTS, ctx) is None
    assert FILE.coerce(None, ATTACHMENTS, ctx) is None


def test_without_lookup_refs_are_taken_as_given() -> None:
    assert FILE.coerce([7], {"type": "file"}, CTX) == [{"id": 7, "name": "", "size": 0, "content_type": ""}]
    given = {"id": 8, "name": "a.pdf", "size": 10, "content_type": "application/pdf", "extra": 1}
    assert FILE.coerce(given, ATTACHMENTS, CTX) == [{k: v for k, v in given.items() if k != "extra"}]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            ATTACHMENTS,
            [1, 3],
            "report.exe: files of type application/x-msdownload are not accepted (allowed: .pdf, image/*)",
        ),
        (ATTACHMENTS, [4], "big.pdf is 25 MB; files may be at most 20 MB"),
        ({**ATTACHMENTS, "max_size": 1 * MB}, [1], "report.pdf is 2 MB; files may be at most 1 MB"),
        (ATTACHMENTS, [1, 12], "file 12 does not exist (upload it first)"),
        (ATTACHMENTS, [13, 12], "files 12, 13 do not exist (upload them first)"),
        (ATTACHMENTS, [1, 2, 3, 4, 5, 6], "takes at most 5 files; got 6"),
        ({**ATTACHMENTS, "max_files": 1}, [1, 2], "takes at most 1 files; got 2"),
        (
            ATTACHMENTS,
            ["report.pdf"],
            "expects a list of uploaded file ids (or objects with \"id\"); got 'report.pdf'",
        ),
        (
            {"type": "image"},
            [5],
            (
                "scan.bmp: files of type image/bmp are not accepted "
                "(allowed: image/png, image/jpeg, image/gif, image/webp)"
            ),
        ),
        ({"type": "image"}, list(range(1, 11)), "takes at most 9 images; got 10"),
    ],
)
def test_file_problems(field: dict[str, Any], value: Any, message: str) -> None:
    ftype = IMAGE if field.get("type") == "image" else FILE
    with pytest.raises(FieldValueError) as caught:
        ftype.coerce(value, field, uploads())
    assert str(caught.value) == message


def test_several_bad_files_are_all_named() -> None:
    with pytest.raises(FieldValueError) as caught:
        FILE.coerce([3, 4], ATTACHMENTS, uploads())
    assert str(caught.value) == (
        "report.exe: files of type application/x-msdownload are not accepted (allowed: .pdf, image/*); "
        "big.pdf is 25 MB; files may be at most 20 MB"
    )


def test_check_upload_before_storing() -> None:
    assert FILE.check_upload(ATTACHMENTS, "Scan.PDF", "application/octet-stream", 100) is None
    assert FILE.check_upload(ATTACHMENTS, "photo", "image/jpeg; charset=binary", 100) is None
    assert FILE.check_upload({"type": "file"}, "anything.bin", "", 20 * MB) is None
    assert FILE.check_upload({"type": "file"}, "huge.iso", "", 20 * MB + 1) == (
        "huge.iso is 20 MB; files may be at most 20 MB"
    )
    assert FILE.check_upload(ATTACHMENTS, "report.exe", "application/x-msdownload", 10) == (
        "report.exe: files of type application/x-msdownload are not accepted (allowed: .pdf, image/*)"
    )
    assert IMAGE.check_upload({"type": "image"}, "me.webp", "image/webp", 10 * MB) is None
    assert IMAGE.check_upload({"type": "image"}, "me.webp", "image/webp", 11 * MB) == (
        "me.webp is 11 MB; images may be at most 10 MB"
    )


def test_image_accept_must_name_image_types() -> None:
    ctx = schema_ctx()
    assert list(IMAGE.check({"type": "image", "accept": ["image/*", ".png", ".JPG"]}, ctx)) == []
    assert list(IMAGE.check({"type": "image", "accept": ["image/png", ".pdf", "application/pdf"]}, ctx)) == [
        (
            "/accept/1",
            "'.pdf' is not an image type; an image field accepts image/* types and image extensions such as .png",
        ),
        (
            "/accept/2",
            "'application/pdf' is not an image type; an image field accepts image/* types and image extensions such as .png",
        ),
    ]
    assert list(FILE.check(ATTACHMENTS, ctx)) == []


def test_file_options_schema() -> None:
    validator = Draft202012Validator({"type": "object", "properties": FILE.options_schema})
    assert validator.is_valid(
        {"max_files": 50, "max_size": MB, "accept": [".pdf", "image/*", "application/pdf"]}
    )
    for bad in (
        {"max_files": 0},
        {"max_files": 51},
        {"accept": ["pdf"]},
        {"accept": ["*/*x"]},
        {"max_size": 0},
    ):
        assert not validator.is_valid(bad), bad


def test_files_storage_output_and_text() -> None:
    refs_ = FILE.coerce([1, 2], ATTACHMENTS, uploads())
    assert isinstance(FILE.column_type(ATTACHMENTS), JSON)
    assert (FILE.storage_for(ATTACHMENTS), FILE.sortable, FILE.widget, IMAGE.widget) == (
        "column",
        False,
        "file",
        "image",
    )
    assert FILE.to_json(refs_, ATTACHMENTS, CTX) == refs_
    assert FILE.to_json(None, ATTACHMENTS, CTX) is None
    assert FILE.to_text(refs_, ATTACHMENTS, CTX) == "report.pdf, photo.png"
    schema = Draft202012Validator(FILE.json_schema({"type": "file", "max_files": 2}))
    assert schema.is_valid(refs_)
    assert schema.is_valid([1, {"id": 2}])
    assert schema.is_valid(None)
    assert not schema.is_valid([1, 2, 3])
    assert not schema.is_valid(["a.pdf"])


def test_files_cannot_come_from_text() -> None:
    assert FILE.parse_text("", ATTACHMENTS, CTX) is None
    with pytest.raises(
        FieldValueError, match=r"^files cannot be imported from text; attach them to the record instead$"
    ):
        FILE.parse_text("report.pdf", ATTACHMENTS, CTX)
    with pytest.raises(FieldValueError, match=r"^images cannot be imported"):
        IMAGE.parse_text("a.png", {"type": "image"}, CTX)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KB"), (1536, "1.5 KB"), (20 * MB, "20 MB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text
