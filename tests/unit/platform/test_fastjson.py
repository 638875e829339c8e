"""``fastjson``: orjson's speed with the standard library's answers, for decoding, encoding and Flask's provider.

Every comparison is with the standard ``json`` module (or Flask's ``DefaultJSONProvider``),
because that is what the request path gave before: the same values, the same Python
types (an int stays an int), the same key order and the same errors.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from opsloom.platform.fastjson import FastJSONProvider, JSONText, json_text, loads

# ---------------------------------------------------------------- loads


VALID = [
    '{"a": 1, "b": [true, false, null], "c": {"d": "e", "f": []}}',
    "[]",
    "{}",
    '""',
    "null",
    "true",
    ' \n\t{ "x" : [ 1 , 2 ] } \r\n',
    '"二 é 😀 \u2028"',
    '{"名前": "山田", "emoji": "🎉"}',
    r'"\u4e8c\ud83d\ude00 \n\t\r\b\f \"\\ \/"',
    "3.14",
    "0.1",
    "1e-7",
    "-2.5E+3",
    "1E2",
    "1.7976931348623157e308",
    "5e-324",
    "2.2250738585072014e-308",
    "0.30000000000000004",
    "-0",
    "-0.0",
    "0",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "[NaN, Infinity, -Infinity, 1]",
    "123456789012345678",  # 18 digits: still a 64-bit integer
    "-123456789012345678",
    "999999999999999999",
    "1234567890123456789",  # 19 digits
    "9223372036854775807",  # 2**63 - 1
    "9223372036854775808",  # 2**63
    "-9223372036854775809",
    "18446744073709551615",  # 2**64 - 1
    "18446744073709551616",  # 2**64
    "1234567890123456789012345",  # 25 digits
    "-1234567890123456789012345",
    '{"n": 1234567890123456789012345, "m": [12345678901234567890]}',
    "1234567890123456789.5",
    "12345678901234567890e2",
    '"12345678901234567890123456789"',  # long digits inside a string: still a string
    '{"phone": "008613812345678901", "n": 5}',
    r'"\ud800"',  # a lone surrogate escape: json accepts it, orjson does not
    r'"\udc00x"',
    r'{"k\ud800": "\udfff"}',
    '{"a": 1, "b": 2, "a": 3}',  # duplicate keys: the last wins, at the first one's place
    "[" * 200 + "]" * 200,
    '"\x7f"',
]


def _outcome(parse: Any, text: Any) -> tuple[str, str]:
    """What ``parse(text)`` gives: ``repr`` tells 1 from 1.0 and True, -0.0 from 0.0, and shows nan and key order."""
    try:
        return ("value", repr(parse(text)))
    except (ValueError, RecursionError, TypeError) as error:
        return (type(error).__name__, str(error))


@pytest.mark.parametrize("text", VALID)
def test_loads_gives_what_json_loads_gives_for_text(text: str) -> None:
    assert _outcome(loads, text) == _outcome(json.loads, text)
    assert _outcome(json.loads, text)[0] == "value"


@pytest.mark.parametrize("text", VALID)
def test_loads_gives_what_json_loads_gives_for_utf8_bytes(text: str) -> None:
    data = text.encode("utf-8")
    assert _outcome(loads, data) == _outcome(json.loads, data)
    assert _outcome(loads, bytearray(data)) == _outcome(json.loads, bytearray(data))


@pytest.mark.parametrize(
    "text",
    [
        "1234567890123456789",
        "18446744073709551616",
        "-1234567890123456789012345",
        "123456789012345678901234567890123456789012345678901234567890",
    ],
)
def test_long_integers_stay_exact_integers(text: str) -> None:
    for given_text in (text, text.encode(), f'{{"n": {text}}}', f"[{text}]".encode()):
        value = loads(given_text)
        number = value["n"] if isinstance(value, dict) else value[0] if isinstance(value, list) else value
        assert type(number) is int
        assert number == int(text)


@pytest.mark.parametrize(
    "data",
    [
        '{"a": "二", "b": [1, 2.5]}'.encode("utf-16"),
        '{"a": "二", "b": [1, 2.5]}'.encode("utf-16-le"),
        '{"a": "二", "b": [1, 2.5]}'.encode("utf-16-be"),
        "[1]".encode("utf-32"),
        "[1]".encode("utf-32-le"),
        "12345678901234567890".encode("utf-16-le"),
        b'\xef\xbb\xbf{"bom": true}',  # json accepts a UTF-8 BOM on bytes
        b'"\xed\xa0\x80"',  # an encoded lone surrogate: json decodes bytes with surrogatepass
    ],
)
def test_loads_reads_every_encoding_json_loads_reads(data: bytes) -> None:
    assert _outcome(loads, data) == _outcome(json.loads, data)
    assert _outcome(loads, data)[0] == "value"


MALFORMED = [
    "",
    " ",
    "{",
    "}",
    "[1,]",
    '{"a": 1,}',
    "[1 2]",
    '{"a" 1}',
    "{a: 1}",
    "'a'",
    "01",
    "+1",
    ".5",
    "1.",
    "0x10",
    "nul",
    "tru",
    "True",
    "None",
    "nan",
    "inf",
    '"abc',
    '"a\tb"',  # a raw control character in a string
    '"a\x00b"',
    r'"\x41"',
    r'"\u12"',
    r'"\q"',
    "1 2",
    "[1] x",
    '{"a": 1} {"b": 2}',
    "\ufeff{}",  # json refuses a BOM in a str
    "12345678901234567890 x",  # long digits and an error: json's error, not orjson's
    "[" * 50,
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_text_raises_what_json_loads_raises(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads(text)
    assert type(got.value) is type(expected.value)
    assert isinstance(got.value, ValueError)
    assert (got.value.msg, got.value.pos) == (expected.value.msg, expected.value.pos)


@pytest.mark.parametrize("text", [t for t in MALFORMED if t.isascii()])
def test_malformed_bytes_raise_what_json_loads_raises(text: str) -> None:
    assert _outcome(loads, text.encode()) == _outcome(json.loads, text.encode())
    assert _outcome(loads, text.encode())[0] == "JSONDecodeError"


@pytest.mark.parametrize("data", [b"\xff", b'{"a": "\xc3"}', b"\x80[]", b'"\xf8\x88\x80\x80\x80"'])
def test_invalid_utf8_raises_what_json_loads_raises(data: bytes) -> None:
    expected = _outcome(json.loads, data)
    assert expected[0] != "value"
    assert _outcome(loads, data) == expected


def test_loads_refuses_what_is_not_text_as_json_loads_does() -> None:
    for value in (None, 12, ["[]"]):
        with pytest.raises(TypeError):
            json.loads(value)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            loads(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------- loads: property

BIG_INTS = st.integers(min_value=-(2**200), max_value=2**200)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | BIG_INTS
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**18, 10**19])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON_VALUES, ensure_ascii=st.booleans(), as_bytes=st.booleans())
def test_loads_agrees_with_json_loads_on_any_json_value(
    value: Any, ensure_ascii: bool, as_bytes: bool
) -> None:
    text: str | bytes = json.dumps(value, ensure_ascii=ensure_ascii)
    if as_bytes:
        text = text.encode("utf-8")
    got = loads(text)
    # repr: the same values of the same types (an int never becomes a float) in the same order
    assert repr(got) == repr(json.loads(text))
    assert got == value


# ---------------------------------------------------------------- json_text


def test_json_text_is_json_of_the_same_value() -> None:
    for value in [
        {"b": 1, "a": [1, 2.5, None, True, "二", "😀"]},
        [],
        "x",
        -0.0,
        1e-300,
        2**64,
        {"n": 2**70},
        {1: "int key", 2: [3]},
        "\ud800",
    ]:
        text = json_text(value)
        assert isinstance(text, JSONText)
        assert isinstance(text, str)
        assert repr(json.loads(text)) == repr(json.loads(json.dumps(value)))


def test_json_text_writes_non_finite_floats_as_null() -> None:
    # a documented difference: json.dumps writes the token NaN, which no strict reader
    # (a browser, PostgreSQL's jsonb) accepts; null is what they can read
    for value, text in [
        (float("nan"), "null"),
        ({"x": float("inf")}, '{"x":null}'),
        ([float("-inf")], "[null]"),
    ]:
        assert json_text(value) == text


# ---------------------------------------------------------------- FastJSONProvider.dumps


@dataclasses.dataclass
class Point:
    x: int
    label: str
    at: date


class Colour(enum.Enum):
    RED = "red"


class Unknown:
    pass


@pytest.fixture
def providers() -> tuple[FastJSONProvider, DefaultJSONProvider]:
    flask_app = Flask("fastjson-tests")
    return FastJSONProvider(flask_app), DefaultJSONProvider(flask_app)


ENCODABLE = {
    "nested dicts": {
        "b": {"z": 1, "a": {"y": [1, {"d": 2, "c": 3}]}},
        "a": None,
        "B": True,
        "_": "x",
        "é": 1,
        "😀": 2,
    },
    "unicode keys": {"\uffff": 1, "😀": 2, "z": 3, "二": 4, "Z": 5},
    "aware datetime": {"at": datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=timezone(timedelta(hours=8)))},
    "utc datetime": datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    "naive datetime": [datetime(2026, 3, 4, 5, 6, 7)],
    "date": {"day": date(2026, 2, 28)},
    "decimal": {
        "amount": Decimal("12.50"),
        "tiny": Decimal("1E-30"),
        "big": Decimal("123456789012345678901234.5"),
    },
    "uuid": {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    "dataclass": {"p": Point(1, "二", date(2026, 1, 1))},
    "markup": {"html": Markup("<b>bold</b> &amp;")},
    "big int": {"n": 2**64 + 1, "m": -(2**70), "list": [2**100]},
    "int keys": {10: "ten", 9: "nine", 1: {2: 3}},
    "tuple": {"t": (1, "a", None)},
    "floats": {"f": [0.1, -0.0, 1e300, 5e-324, 1.0]},
    "lone surrogate": {"s": "\ud800"},
    "str enum is a str": {"k": "plain"},
}


@pytest.mark.parametrize("name", list(ENCODABLE))
def test_dumps_reads_back_as_the_default_provider_s_answer_in_the_same_order(
    name: str, providers: tuple[FastJSONProvider, DefaultJSONProvider]
) -> None:
    fast, default = providers
    value = ENCODABLE[name]
    fast_text, default_text = fast.dumps(value), default.dumps(value)
    assert isinstance(fast_text, str)
    assert json.loads(fast_text) == json.loads(default_text)
    # keys sorted the same way, at every level
    assert json.loads(fast_text, object_pairs_hook=list) == json.loads(default_text, object_pairs_hook=list)


def test_dates_are_http_dates_as_flask_renders_them(
    providers: tuple[FastJSONProvider, DefaultJSONProvider],
) -> None:
    fast, _default = providers
    assert json.loads(fast.dumps({"at": datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))})) == {
        "at": "Thu, 01 Jan 2026 00:00:00 GMT"
    }
    assert json.loads(fast.dumps(date(2026, 1, 1))) == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert json.loads(fast.dumps(Decimal("0.10"))) == "0.10"


@pytest.mark.parametrize(
    "kwargs",
    # compact separators are what Flask asks for every answer: the fast path (tests below)
    [{"indent": 2}, {"indent": 2, "sort_keys": False}, {"ensure_ascii": False}],
)
def test_dumps_with_options_is_the_default_provider_s_text(
    kwargs: dict[str, Any], providers: tuple[FastJSONProvider, DefaultJSONProvider]
) -> None:
    fast, default = providers
    for value in ENCODABLE.values():
        assert fast.dumps(value, **kwargs) == default.dumps(value, **kwargs)


@pytest.mark.parametrize(
    "value",
    [
        Unknown(),
        {"x": Unknown()},
        {"s": {1, 2}},
        b"bytes",
        {"t": datetime(2026, 1, 1).time()},
        {(1, 2): "tuple key"},
    ],
)
def test_what_the_default_provider_refuses_is_refused_with_type_error(
    value: Any, providers: tuple[FastJSONProvider, DefaultJSONProvider]
) -> None:
    fast, default = providers
    with pytest.raises(TypeError) as expected:
        default.dumps(value)
    with pytest.raises(TypeError) as got:
        fast.dumps(value)
    assert type(got.value) is type(expected.value)


def test_a_plain_enum_is_written_as_its_value(
    providers: tuple[FastJSONProvider, DefaultJSONProvider],
) -> None:
    # a documented difference: the default provider refuses a plain Enum
    fast, default = providers
    with pytest.raises(TypeError):
        default.dumps({"c": Colour.RED})
    assert json.loads(fast.dumps({"c": Colour.RED})) == {"c": "red"}


def test_non_finite_floats_are_answered_as_null(
    providers: tuple[FastJSONProvider, DefaultJSONProvider],
) -> None:
    # a documented difference: the default provider answers the invalid token NaN
    fast, _default = providers
    for value, expected in [({"x": float("nan")}, {"x": None}), ([float("-inf")], [None])]:
        assert json.loads(fast.dumps(value)) == expected
        assert json.loads(fast.dumps(value, separators=(",", ":"))) == expected


def test_unsorted_provider_keeps_insertion_order() -> None:
    flask_app = Flask("unsorted")
    fast, default = FastJSONProvider(flask_app), DefaultJSONProvider(flask_app)
    fast.sort_keys = default.sort_keys = False
    value = {"b": 1, "a": {"d": 1, "c": 2}}
    assert json.loads(fast.dumps(value), object_pairs_hook=list) == json.loads(
        default.dumps(value), object_pairs_hook=list
    )


# ---------------------------------------------------------------- the provider in a Flask app


@pytest.fixture
def fast_app() -> Flask:
    flask_app = Flask("fastjson-app")
    flask_app.json = FastJSONProvider(flask_app)

    @flask_app.post("/echo")
    def echo() -> Any:
        body = request.get_json()
        return {"body": body, "types": {key: type(value).__name__ for key, value in body.items()}}

    @flask_app.get("/answer")
    def answer() -> Any:
        return {"name": "二", "at": datetime(2026, 1, 1, tzinfo=UTC), "n": 2**60}

    return flask_app


def test_a_request_body_s_long_integer_reaches_the_view_exactly(fast_app: Flask) -> None:
    got = fast_app.test_client().post(
        "/echo",
        data='{"id": 12345678901234567890, "small": 5, "f": 1.5, "s": "12345678901234567890123"}',
        content_type="application/json",
    )
    assert got.status_code == 200
    # read the answer with the standard library: the exact integer came back out too
    body = json.loads(got.get_data(as_text=True))
    assert body["body"] == {"id": 12345678901234567890, "small": 5, "f": 1.5, "s": "12345678901234567890123"}
    assert body["types"] == {"id": "int", "small": "int", "f": "float", "s": "str"}


def test_a_malformed_request_body_is_a_400_as_before(fast_app: Flask) -> None:
    got = fast_app.test_client().post("/echo", data='{"id": 1,', content_type="application/json")
    assert got.status_code == 400


def test_answers_read_back_as_the_default_provider_s(fast_app: Flask) -> None:
    got = fast_app.test_client().get("/answer")
    assert got.status_code == 200
    assert got.mimetype == "application/json"
    assert json.loads(got.get_data(as_text=True)) == {
        "name": "二",
        "at": "Thu, 01 Jan 2026 00:00:00 GMT",
        "n": 2**60,
    }


def test_answers_are_utf8_rather_than_escapes(fast_app: Flask) -> None:
    # the provider's documented answer format: Flask passes ``separators`` to ``dumps`` for
    # every response, and that must not send answers down the standard encoder's path
    data = fast_app.test_client().get("/answer").get_data()
    assert "二".encode() in data
    assert b"\\u4e8c" not in data


def test_an_answer_orjson_cannot_encode_falls_back_to_the_standard_encoder(fast_app: Flask) -> None:
    fast_app.add_url_rule("/big", "big", lambda: {"big": 2**70, "name": "二"})
    got = fast_app.test_client().get("/big")
    assert json.loads(got.get_data(as_text=True)) == {"big": 2**70, "name": "二"}
