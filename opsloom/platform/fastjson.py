"""JSON with orjson's speed and the standard library's answers.

Every API request decodes a body and encodes an answer, and every write encodes its audit
row and event; the standard ``json`` module is the slowest step of a small request after
the database. orjson is many times faster but differs at the edges: it encodes datetimes
and dataclasses itself, refuses integers beyond 64 bits and non-string keys, and decodes
big integers as floats. Here orjson only does what it does exactly as ``json`` would,
and everything else goes to ``json``, so callers see the same values and the same errors.

Two differences are deliberate. A non-finite float is written as ``null``: JSON has no
``NaN``, the token ``json`` writes instead breaks every strict reader (browsers, PostgreSQL's
``jsonb``), and validation keeps such numbers out of records anyway. A plain ``Enum`` is
written as its value, where ``json`` refuses it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

__all__ = ["FastJSONProvider", "JSONText", "json_text", "loads"]

# what the standard encoder refuses or encodes its own way goes to the fallback
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
# integers orjson would decode as floats (it keeps 64 bits; 19 digits may already overflow)
_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


class JSONText(str):
    """JSON already encoded (by ``json_text``): written as is where a JSON value is expected."""

    __slots__ = ()


def json_text(value: Any) -> JSONText:
    """``value`` as compact JSON text (orjson; the standard encoder for what orjson refuses).

    orjson refuses integers beyond 64 bits and non-string keys, which ``json`` accepts; a
    record's ``json`` field may hold either, so the fallback keeps such values writable.
    """
    try:
        return JSONText(orjson.dumps(value, option=_STRICT).decode())
    except TypeError:
        return JSONText(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``, by orjson when it gives the same value.

    orjson refuses what ``json`` accepts beyond the standard (``NaN``, lone surrogates,
    UTF-16 bytes) and decodes long integers as floats: those texts go to ``json``, which
    then gives its own value or its own error.
    """
    long_digits = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long_digits is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


_COMPACT = {"separators": (",", ":")}


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider (sorted keys, its ``default`` for dates, decimals and UUIDs), through orjson.

    Calls with options of their own (``indent`` when Flask pretty-prints, say) keep the
    standard path. Answers are UTF-8 rather than ``\\u`` escapes: the same JSON, shorter.
    """

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        # Flask's own answers ask for compact separators, which is what orjson writes
        if (not kwargs or kwargs == _COMPACT) and self.sort_keys:
            try:
                return orjson.dumps(obj, default=self.default, option=_STRICT | orjson.OPT_SORT_KEYS).decode()
            except TypeError:
                pass
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return loads(s)
