"""Text field types (text, textarea, rich_text, email, phone, url), plus the contract every built-in keeps."""

from __future__ import annotations

import ast
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, insert, select

from opsloom.form_engine import masks
from opsloom.form_engine.fields import choice, data, numbers, temporal, text
from opsloom.form_engine.fields.base import (
    COMMON_FIELD_PROPERTIES,
    FieldContext,
    FieldType,
    FieldValueError,
    SchemaContext,
)
from opsloom.form_engine.fields.text import (
    EmailType,
    PhoneType,
    RichTextType,
    TextareaType,
    TextType,
    UrlType,
    cell_text,
    describe_value,
    localized,
    normalize_phone,
)
from opsloom.form_engine.masks import MASK_STYLES
from opsloom.platform.expr import default_registry
from opsloom.platform.expr.types import FIELD_TYPE_ALIASES

if TYPE_CHECKING:
    from collections.abc import Mapping

CTX = FieldContext(timezone="Asia/Shanghai")
SCHEMA_CTX = SchemaContext(entity={"key": "customer", "fields": []}, types={})
TEXT, TEXTAREA, RICH, EMAIL, PHONE, URL = (
    TextType(),
    TextareaType(),
    RichTextType(),
    EmailType(),
    PhoneType(),
    UrlType(),
)

WIDGETS = {"input", "textarea", "richtext", "number", "checkbox", "date", "datetime", "time", "select"}
WIDGETS |= {"multiselect", "json"}
ALL_TYPES = [t for module in (text, numbers, temporal, choice, data) for t in module.FIELD_TYPES]


def valid(ftype: FieldType, field: Mapping[str, Any], value: Any) -> bool:
    schema = ftype.json_schema(field)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(value)


def refused(ftype: FieldType, value: Any, field: Mapping[str, Any] | None = None) -> str:
    with pytest.raises(FieldValueError) as info:
        ftype.coerce(value, field or {}, CTX)
    return str(info.value)


def fullwidth(ascii_text: str) -> str:
    """``ascii_text`` in full-width forms, as a Chinese input method types it (``1`` -> U+FF11)."""
    return "".join(chr(ord(char) + 0xFEE0) for char in ascii_text)


def stored(ftype: FieldType, field: Mapping[str, Any], value: Any) -> Any:
    """``value`` written to and read back from a SQLite column of the field's type."""
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True), Column("v", ftype.column_type(field)))
    engine = create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, v=value))
        return conn.execute(select(table.c.v)).scalar_one()


# ---------------------------------------------------------------------- the contract of every built-in


def test_names_are_unique_and_cover_the_brief() -> None:
    names = [t.name for t in ALL_TYPES]
    assert len(names) == len(set(names))
    assert set(names) == {
        *("text", "textarea", "rich_text", "email", "phone", "url"),
        *("number", "currency", "percent", "rating", "date", "datetime", "time"),
        *("boolean", "select", "multi_select", "json"),
    }


@pytest.mark.parametrize("ftype", ALL_TYPES, ids=lambda t: t.name)
def test_builtin_contract(ftype: FieldType) -> None:
    assert ftype.label["en"]
    assert ftype.label["zh"]
    assert ftype.expr_type == FIELD_TYPE_ALIASES[ftype.name]
    assert ftype.widget in WIDGETS
    assert ftype.group in {"basic", "number", "choice", "date", "advanced"}
    registry = default_registry()
    assert all(op in registry for op in ftype.filter_operators), ftype.filter_operators
    Draft202012Validator.check_schema({"type": "object", "properties": ftype.options_schema})
    assert not set(ftype.options_schema) & COMMON_FIELD_PROPERTIES
    assert set(ftype.masks) <= MASK_STYLES
    assert ftype.storage_for({}) == "column"
    assert ftype.column_type({"options": ["a"]}) is not None
    schema = ftype.json_schema({"options": ["a"]})
    Draft202012Validator.check_schema(schema)
    assert valid(ftype, {"options": ["a"]}, None)
    assert ftype.coerce(None, {}, CTX) is None
    assert ftype.to_text(None, {}, CTX) == ""
    assert ftype.default({}, CTX) is None
    assert ftype.type_change({}, {}) == "same"
    assert list(ftype.check({"options": ["a"]}, SCHEMA_CTX)) == []
    assert repr(ftype) == f"<field type {ftype.name}>"


# ---------------------------------------------------------------------- shared helpers


def test_describe_value() -> None:
    assert describe_value(None) == "null"
    assert describe_value(True) == "true"
    assert describe_value(3.5) == "the number 3.5"
    assert describe_value("abc") == "'abc'"
    assert describe_value("x" * 100) == repr("x" * 39 + "…")
    assert describe_value([1]) == "a list"
    assert describe_value({}) == "an object"
    assert describe_value(object()) == "a object"
    assert describe_value(10**5000) == "a number with thousands of digits"


def test_cell_text() -> None:
    assert cell_text(13812345678.0) == "13812345678"
    assert cell_text(1.5) == "1.5"
    assert cell_text(Decimal("1E+3")) == "1000"
    assert cell_text(None) == ""
    assert cell_text(False) == "false"
    assert cell_text(7) == "7"


def test_localized() -> None:
    label = {"en": "Gold", "zh": "金卡"}
    assert localized(label, "zh") == "金卡"
    assert localized(label, "zh-CN") == "金卡"
    assert localized(label, "fr") == "Gold"
    assert localized({"zh": "金卡"}, "fr") == "金卡"
    assert localized("plain", "zh") == "plain"
    assert localized(None, "en", "fallback") == "fallback"
    assert localized({"en": 3}, "en", "fb") == "fb"


# ---------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice", "Alice"),
        ("  padded\t", "padded"),
        ("张三丰", "张三丰"),
        ("", None),
        ("   ", None),
        ("😀 ok", "😀 ok"),
    ],
)
def test_text_accepts(value: str, expected: str | None) -> None:
    assert TEXT.coerce(value, {}, CTX) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, "expects text; got the number 5"),
        (True, "expects text; got true"),
        (["a"], "expects text; got a list"),
        ({"a": 1}, "expects text; got an object"),
        ("a\nb", "contains a line break; this field takes a single line of text"),
        ("a\tb", "contains a control character (U+0009); remove it"),
        ("a\x00b", "contains a control character (U+0000); remove it"),
        ("\ud800", "contains a control character (U+D800); remove it"),
        ("x" * 201, "is 201 characters long; at most 200 are allowed"),
    ],
)
def test_text_refuses(value: Any, message: str) -> None:
    assert refused(TEXT, value) == message


def test_text_lengths() -> None:
    field = {"max_length": 5, "min_length": 2}
    assert TEXT.coerce("abcde", field, CTX) == "abcde"
    assert refused(TEXT, "abcdef", field) == "is 6 characters long; at most 5 are allowed"
    assert refused(TEXT, "a", field) == "is 1 character long; at least 2 are needed"
    assert refused(TEXT, "x" * 250, {"max_length": 200}) == "is 250 characters long; at most 200 are allowed"
    assert TEXT.coerce("张" * 5, field, CTX) == "张" * 5  # characters, not bytes


def test_text_pattern() -> None:
    field = {"pattern": r"[A-Z]{2}\d{4}"}
    assert TEXT.coerce("AB1234", field, CTX) == "AB1234"
    assert refused(TEXT, "AB12345", field) == "does not have the expected form"  # the whole value must match
    assert refused(TEXT, "xAB1234", field) == "does not have the expected form"
    messages = {"pattern": r"\d+", "pattern_message": {"en": "digits only", "zh": "只能是数字"}}
    assert refused(TEXT, "abc", messages) == "digits only"
    with pytest.raises(FieldValueError, match="只能是数字"):
        TEXT.coerce("abc", messages, FieldContext(locale="zh-CN"))
    assert TEXT.coerce("中文", {"pattern": r"\p{Han}+"}, CTX) == "中文"
    assert refused(TEXT, "abc", {"pattern": "(?=a)"}) == "cannot be checked: the field's pattern is invalid"


def test_text_pattern_is_linear_time() -> None:
    started = time.perf_counter()
    assert refused(TEXT, "a" * 5000 + "!", {"pattern": "(a+)+$", "max_length": 10000})
    assert time.perf_counter() - started < 1


def test_text_check() -> None:
    assert list(TEXT.check({"pattern": "[a-z]+", "max_length": 10, "min_length": 1}, SCHEMA_CTX)) == []
    problems = dict(TEXT.check({"pattern": "(a)\\1", "max_length": 3, "min_length": 5}, SCHEMA_CTX))
    assert problems["/min_length"] == "is 5, more than max_length (3)"
    assert problems["/pattern"].startswith("is not a valid regular expression (RE2 syntax): invalid escape")
    (pointer, message), *_ = TEXT.check({"pattern": "(?<=x)y"}, SCHEMA_CTX)
    assert pointer == "/pattern"
    assert "invalid perl operator" in message


def test_text_column_and_type_change() -> None:
    column = TEXT.column_type({"max_length": 80})
    assert isinstance(column, String)
    assert column.length == 80
    assert TEXT.column_type({}).length == 200
    assert TEXT.type_change({"max_length": 100}, {"max_length": 300}) == "widen"
    assert TEXT.type_change({"max_length": 300}, {}) == "narrow"
    assert TEXT.type_change({}, {"max_length": 200}) == "same"
    assert TEXT.type_change({"min_length": 1}, {"min_length": 5}) == "same"


def test_text_json_schema() -> None:
    assert TEXT.json_schema({}) == {"type": ["string", "null"], "maxLength": 200}
    assert TEXT.json_schema({"max_length": 9, "min_length": 2, "pattern": "x"}) == {
        "type": ["string", "null"],
        "maxLength": 9,
        "minLength": 2,
    }


@given(st.text(max_size=250))
def test_text_json_schema_accepts_what_coerce_gives(value: str) -> None:
    try:
        coerced = TEXT.coerce(value, {}, CTX)
    except FieldValueError:
        return
    assert valid(TEXT, {}, TEXT.to_json(coerced, {}, CTX))
    assert TEXT.coerce(TEXT.parse_text(TEXT.to_text(coerced, {}, CTX), {}, CTX), {}, CTX) == coerced


def test_text_parse_text() -> None:
    assert TEXT.parse_text("  Alice ", {}, CTX) == "Alice"
    assert TEXT.parse_text("", {}, CTX) is None
    assert TEXT.parse_text(13812345678.0, {}, CTX) == "13812345678"  # type: ignore[arg-type]
    assert TEXT.parse_text(42, {}, CTX) == "42"  # type: ignore[arg-type]


def test_text_round_trip_and_default() -> None:
    value = TEXT.coerce(" Alice ", {}, CTX)
    assert TEXT.to_json(value, {}, CTX) == "Alice"
    assert TEXT.to_text(value, {}, CTX) == "Alice"
    assert TEXT.default({"default": " guest "}, CTX) == "guest"
    assert stored(TEXT, {}, value) == "Alice"
    assert TEXT.searchable
    assert TEXT.is_empty(None)
    assert not TEXT.is_empty("x")


# ---------------------------------------------------------------------- textarea


def test_textarea() -> None:
    assert (
        TEXTAREA.coerce("line 1\r\nline 2\rline 3\n\tindented", {}, CTX)
        == "line 1\nline 2\nline 3\n\tindented"
    )
    assert TEXTAREA.coerce("\n\n  text  \n", {}, CTX) == "text"
    assert refused(TEXTAREA, "a\x07b") == "contains a control character (U+0007); remove it"
    assert refused(TEXTAREA, "x" * 5001) == "is 5001 characters long; at most 5000 are allowed"
    assert TEXTAREA.coerce("x" * 6000, {"max_length": 100000}, CTX) == "x" * 6000
    assert refused(TEXTAREA, "x", {"min_length": 3}) == "is 1 character long; at least 3 are needed"
    assert refused(TEXTAREA, 3) == "expects text; got the number 3"
    assert isinstance(TEXTAREA.column_type({}), Text)
    assert TEXTAREA.type_change({"max_length": 5000}, {"max_length": 10}) == "same"
    assert TEXTAREA.json_schema({}) == {"type": ["string", "null"], "maxLength": 5000}
    assert TEXTAREA.parse_text(" a\nb ", {}, CTX) == "a\nb"
    assert stored(TEXTAREA, {}, "a\nb") == "a\nb"
    assert TEXTAREA.options_schema["max_length"]["maximum"] == 100000


# ---------------------------------------------------------------------- rich text


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>Hello <b>bold</b> <em>it</em></p>", "<p>Hello <b>bold</b> <em>it</em></p>"),
        ("<p onclick='steal()'>x</p>", "<p>x</p>"),
        ("<script>alert(1)</script><p>after</p>", "<p>after</p>"),
        ("<style>p{}</style>text", "text"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="/admin/delete">x</a>', '<a rel="noopener noreferrer">x</a>'),
        (
            '<a href="https://example.com" title="t" target="_blank">x</a>',
            '<a href="https://example.com" title="t" rel="noopener noreferrer">x</a>',
        ),
        (
            '<a href="mailto:a@example.com">mail</a>',
            '<a href="mailto:a@example.com" rel="noopener noreferrer">mail</a>',
        ),
        (
            '<img src="https://cdn.example.com/a.png" alt="a">',
            '<img src="https://cdn.example.com/a.png" alt="a">',
        ),
        ('<p><img src="data:image/png;base64,AAAA">x</p>', "<p>x</p>"),
        ('<p><img src="mailto:x@y.z">x</p>', "<p>x</p>"),
        ('<span style="position:fixed" class="c">s</span>', "<span>s</span>"),
        ("<iframe src='https://evil'></iframe><p>x</p>", "<p>x</p>"),
        (
            "<table><tr><td colspan='2'>a</td></tr></table>",
            '<table><tbody><tr><td colspan="2">a</td></tr></tbody></table>',
        ),
        ("<h1>t</h1><ul><li>i</li></ul><blockquote>q</blockquote><pre><code>c</code></pre>", None),
        ("<!-- secret --><p>x</p>", "<p>x</p>"),
    ],
)
def test_rich_text_sanitises(markup: str, expected: str | None) -> None:
    assert RICH.coerce(markup, {}, CTX) == (markup if expected is None else expected)


@pytest.mark.parametrize(
    "markup", ["", "  ", "<p></p>", "<p><br></p>", "<script>x</script>", "<p>&nbsp;</p>"]
)
def test_rich_text_blank_is_empty(markup: str) -> None:
    assert RICH.coerce(markup, {}, CTX) is None


def test_rich_text_limits_and_errors() -> None:
    assert refused(RICH, 1) == "expects text; got the number 1"
    big = "<p>" + "x" * 20000 + "</p>"
    assert refused(RICH, big) == "is 20007 characters long as HTML; at most 20000 are allowed"
    assert RICH.coerce(big, {"max_length": 30000}, CTX) == big
    # measured after sanitising: a removed script does not count
    assert RICH.coerce("<script>" + "x" * 30000 + "</script><p>ok</p>", {}, CTX) == "<p>ok</p>"
    assert isinstance(RICH.column_type({}), Text)
    assert RICH.type_change({}, {"max_length": 10}) == "same"
    assert not RICH.sortable
    assert RICH.json_schema({}) == {"type": ["string", "null"], "maxLength": 20000}


def test_rich_text_to_text_and_parse_text() -> None:
    markup = RICH.coerce(
        "<h2>Title</h2><p>a &amp; b</p><ul><li>one</li><li>two</li></ul><p>c<br>d</p>", {}, CTX
    )
    assert RICH.to_text(markup, {}, CTX) == "Title a & b one two c d"
    assert RICH.to_json(markup, {}, CTX) == markup
    assert RICH.parse_text("a < b & c\nnext", {}, CTX) == "a &lt; b &amp; c<br>next"
    assert RICH.parse_text("<b>x</b>", {}, CTX) == "<b>x</b>"
    assert RICH.parse_text("  ", {}, CTX) is None
    again = RICH.coerce(RICH.parse_text(RICH.to_text(markup, {}, CTX), {}, CTX), {}, CTX)
    assert RICH.to_text(again, {}, CTX) == RICH.to_text(markup, {}, CTX)
    assert valid(RICH, {}, markup)


# ---------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice.Wong@Example.COM", "Alice.Wong@example.com"),  # the local part may be case-sensitive
        (" bob+tag@mail.example.co.uk ", "bob+tag@mail.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user@example.xn--fiqs8s", "user@example.xn--fiqs8s"),
        ("张三@例子.中国", "张三@例子.中国"),
        ("a@b-c.io", "a@b-c.io"),
    ],
)
def test_email_accepts(value: str, expected: str) -> None:
    coerced = EMAIL.coerce(value, {}, CTX)
    assert coerced == expected
    assert valid(EMAIL, {}, coerced)
    assert EMAIL.to_text(coerced, {}, CTX) == expected


@pytest.mark.parametrize(
    "value",
    [
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "a b@example.com",
        "a@@example.com",
        "a@b@example.com",
        "alice.@example.com",
        ".alice@example.com",
        "al..ice@example.com",
        "alice@-example.com",
        "alice@example.c",
        "alice@exa_mple.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_email_refuses(value: str) -> None:
    assert refused(EMAIL, value) == "is not an email address like name@example.com"


def test_email_schema_and_column() -> None:
    assert EMAIL.json_schema({}) == {"type": ["string", "null"], "maxLength": 254, "format": "email"}
    assert EMAIL.column_type({}).length == 254
    assert EMAIL.masks[0] == "email"
    assert refused(EMAIL, 5) == "expects text; got the number 5"
    assert EMAIL.options_schema == {}
    assert EMAIL.parse_text(" a@B.com ", {}, CTX) == "a@B.com"
    assert EMAIL.coerce(EMAIL.parse_text(" a@B.com ", {}, CTX), {}, CTX) == "a@b.com"


# ---------------------------------------------------------------------- phone

CN_MESSAGE = "is not a mainland China mobile number (11 digits starting with 1) or an international number starting with +"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("(138) 1234.5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+86-13812345678", "13812345678"),
        ("0086 138 1234 5678", "13812345678"),
        ("8613812345678", "13812345678"),
        (fullwidth("13812345678"), "13812345678"),
        (fullwidth("+86(") + "138" + fullwidth(")") + "12345678", "13812345678"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+852 9123 4567", "+85291234567"),
    ],
)
def test_phone_accepts(value: str, expected: str) -> None:
    assert PHONE.coerce(value, {}, CTX) == expected
    assert PHONE.coerce(value, {"region": "any"}, CTX) == expected


@pytest.mark.parametrize(
    "value",
    ["12812345678", "1381234567", "138123456789", "010-12345678", "abc", "+0123456789", "+86 1", "+1 2#3"],
)
def test_phone_refuses_in_cn(value: str) -> None:
    assert refused(PHONE, value, {"region": "cn"}) == CN_MESSAGE
    assert refused(PHONE, value) == CN_MESSAGE  # cn is the default


def test_phone_any_region_takes_landlines() -> None:
    field = {"region": "any"}
    assert PHONE.coerce("010-1234 5678", field, CTX) == "01012345678"
    assert PHONE.coerce("5551234", field, CTX) == "5551234"
    message = "is not a phone number (7 to 15 digits, or an international number starting with +)"
    assert refused(PHONE, "123456", field) == message
    assert refused(PHONE, "1" * 16, field) == message
    assert refused(PHONE, "call me", field) == message


def test_phone_other_facts() -> None:
    assert refused(PHONE, 13812345678) == "expects text; got the number 13812345678"
    assert PHONE.parse_text(13812345678.0, {}, CTX) == "13812345678"  # type: ignore[arg-type]
    assert PHONE.json_schema({}) == {"type": ["string", "null"], "maxLength": 32}
    assert PHONE.column_type({}).length == 32
    assert PHONE.searchable
    assert "phone" in PHONE.masks
    assert PHONE.options_schema == {"region": {"enum": ["cn", "any"]}}
    assert stored(PHONE, {}, PHONE.coerce("+86 138 1234 5678", {}, CTX)) == "13812345678"


def test_normalize_phone_function() -> None:
    assert normalize_phone("+86 138 1234 5678") == "13812345678"
    assert normalize_phone("010-12345678") == "01012345678"  # region "any" by default
    assert normalize_phone("010-12345678", region="cn") is None
    assert normalize_phone(13812345678) == "13812345678"  # type: ignore[arg-type]
    assert normalize_phone(None) is None  # type: ignore[arg-type]
    assert normalize_phone(True) is None  # type: ignore[arg-type]
    assert normalize_phone("") is None
    assert normalize_phone("+") is None
    assert normalize_phone(fullwidth("123")) is None


_MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
_SEPARATOR = st.sampled_from(["", " ", "-", ".", "  ", "\u3000", "\u00a0"])


@st.composite
def _spelled(draw: st.DrawFn, digits: str) -> str:
    """``digits`` with a random separator after each digit, sometimes in parentheses."""
    out = []
    for digit in digits:
        out.append(digit + draw(_SEPARATOR))
    spelled = "".join(out)
    if draw(st.booleans()):
        spelled = f"({spelled[:3]}){spelled[3:]}"
    return spelled


@given(
    data=st.data(),
    mobile=_MOBILES,
    prefix=st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", fullwidth("+") + "86"]),
)
def test_phone_normalisation_of_mobiles(data: st.DataObject, mobile: str, prefix: str) -> None:
    written = prefix + data.draw(_spelled(mobile))
    assert normalize_phone(written) == mobile
    assert normalize_phone(written, region="cn") == mobile
    assert PHONE.coerce(written, {}, CTX) == mobile


@given(data=st.data(), number=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True))
def test_phone_normalisation_of_international_numbers(data: st.DataObject, number: str) -> None:
    written = "+" + data.draw(_spelled(number))
    mainland = re.fullmatch(r"86(1[3-9][0-9]{9})", number)
    expected = mainland[1] if mainland else "+" + number
    assert normalize_phone(written) == expected
    assert normalize_phone("00" + written[1:]) == expected


@given(st.text(max_size=30))
def test_phone_normalisation_is_idempotent(value: str) -> None:
    once = normalize_phone(value)
    if once is not None:
        assert normalize_phone(once) == once
        assert len(once) <= 16


# ---------------------------------------------------------------------- url


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com",
        "http://example.com/path?q=1#frag",
        "HTTPS://Example.com/A",
        "https://user@example.com:8443/x",
        "https://[::1]/",
        "https://例子.中国/路径",
    ],
)
def test_url_accepts(value: str) -> None:
    assert URL.coerce(f"  {value} ", {}, CTX) == value
    assert valid(URL, {}, value)


@pytest.mark.parametrize(
    ("value", "suffix"),
    [
        ("example.com", ""),
        ("www.example.com/path", ""),
        ("ftp://example.com", ""),
        ("javascript:alert(1)", ""),
        ("data:text/html,hi", ""),
        ("http://", ""),
        ("https:///path", ""),
        ("/relative/path", ""),
        ("http://[::1", ""),
        ("http://example.com:99999", ""),
        ("https://exa mple.com", " (it contains a space)"),
    ],
)
def test_url_refuses(value: str, suffix: str) -> None:
    assert refused(URL, value) == "is not a web address starting with http:// or https://" + suffix


def test_url_other_facts() -> None:
    assert (
        refused(URL, "https://example.com/" + "x" * 2000)
        == "is 2020 characters long; at most 2000 are allowed"
    )
    assert URL.json_schema({}) == {"type": ["string", "null"], "maxLength": 2000, "format": "uri"}
    assert URL.column_type({}).length == 2000
    assert not URL.searchable
    assert URL.parse_text(" https://example.com ", {}, CTX) == "https://example.com"


# ---------------------------------------------------------------------- robustness of every built-in

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
_ANY_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
)
_PROPERTIES = st.dictionaries(
    st.sampled_from(
        [
            *("max_length", "min_length", "pattern", "pattern_message", "region", "min", "max", "precision"),
            *("integer", "currency", "options", "min_items", "max_items", "max_bytes", "default"),
        ]
    ),
    _ANY_JSON,
    max_size=4,
)


@pytest.mark.parametrize("ftype", ALL_TYPES, ids=lambda t: t.name)
@settings(max_examples=50)
@given(properties=_PROPERTIES)
def test_check_never_raises_on_malformed_properties(ftype: FieldType, properties: dict[str, Any]) -> None:
    for pointer, message in ftype.check(properties, SCHEMA_CTX):
        assert pointer.startswith("/")
        assert message


_SANE_FIELDS = {"select": {"options": ["a", "b"]}, "multi_select": {"options": ["a", "b"]}}


@pytest.mark.parametrize("ftype", ALL_TYPES, ids=lambda t: t.name)
@settings(max_examples=50)
@given(value=_ANY_JSON, cell=st.text(max_size=40))
def test_bad_input_only_ever_raises_field_value_error(ftype: FieldType, value: Any, cell: str) -> None:
    field = _SANE_FIELDS.get(ftype.name, {})
    for attempt in (lambda: ftype.coerce(value, field, CTX), lambda: ftype.parse_text(cell, field, CTX)):
        try:
            result = attempt()
        except FieldValueError:
            continue
        try:
            coerced = ftype.coerce(result, field, CTX)
        except FieldValueError:
            continue
        if coerced is not None:
            assert valid(ftype, field, ftype.to_json(coerced, field, CTX))
            assert isinstance(ftype.to_text(coerced, field, CTX), str)


@pytest.mark.parametrize("module", [text, numbers, temporal, choice, data, masks], ids=lambda m: m.__name__)
def test_modules_stay_pure(module: Any) -> None:
    """The built-in types and masks run in jobs, imports and tests without an app: no Flask, no sessions."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level
    }
    allowed = {"__future__", "calendar", "collections.abc", "dataclasses", "datetime", "decimal", "functools"}
    allowed |= {
        "html",
        "json",
        "math",
        "re",
        "typing",
        "unicodedata",
        "urllib.parse",
        "zoneinfo",
        "nh3",
        "re2",
    }
    allowed |= {"sqlalchemy", "sqlalchemy.dialects.postgresql", "sqlalchemy.types"}
    assert imported <= allowed, imported - allowed


def test_text_refuses_exactly_unicodes_control_and_surrogate_characters() -> None:
    """Every code point of category Cc or Cs is refused, any other is kept (tab and line breaks in a textarea)."""
    import unicodedata

    def accepted(ftype: FieldType, value: str) -> bool:
        try:
            ftype.coerce(value, {}, CTX)
        except FieldValueError:
            return False
        return True

    # Cc and Cs lie in the first plane; a sample of the others stands for the rest
    for point in [*range(0x10000), *range(0x10000, 0x110000, 997), 0x1F600, 0x10FFFF]:
        char = chr(point)
        single = f"a{char}b"
        if unicodedata.category(char) in ("Cc", "Cs"):
            assert not accepted(TEXT, single), hex(point)
            assert accepted(TEXTAREA, single) == (char in "\n\t\r"), hex(point)
        else:
            assert accepted(TEXT, single), hex(point)


COERCER_FIELDS: list[tuple[Mapping[str, Any], list[Any]]] = [
    ({"max_length": 5, "min_length": 2}, ["ab", " abc ", "a", "abcdef", "", "  ", None, 3, ["a"], "a\x00b", "a\nb"]),
    ({"options": ["gold", {"value": "vip", "label": "VIP"}], "region": "any", "max_length": 12},
     ["gold", " vip ", "VIP", "", None, 7, "13812345678", "+86 138 1234 5678", "x@Example.COM", "https://a.cn",
      "nope", "line\r\nbreak"]),
    ({}, ["2026-02-30", "12:30", 1.5, True, {"a": 1}, [1, 2], "<b>x</b><script>1</script>", "0x10", "1e400"]),
]


@pytest.mark.parametrize("ftype", ALL_TYPES, ids=lambda t: t.name)
def test_a_fields_coercer_gives_exactly_what_coerce_gives(ftype: FieldType) -> None:
    """Bulk writes use ``coercer``; it must agree with ``coerce`` value for value and message for message."""

    def outcome(run: Any, *args: Any) -> tuple[str, Any]:
        try:
            return "ok", run(*args)
        except FieldValueError as exc:
            return "error", str(exc)

    for field, samples in COERCER_FIELDS:
        coerce = ftype.coercer(field)
        for value in samples:
            expected = outcome(ftype.coerce, value, field, CTX)
            assert outcome(coerce, value, CTX) == expected, (field, value)
