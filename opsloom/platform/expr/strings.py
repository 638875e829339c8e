"""Text functions: case, trimming, slicing (Excel's LEFT/RIGHT/MID) and bounded regular expressions.

Regular expressions run on RE2 (google-re2), whose matching time is linear in the
input, so no pattern an admin writes can hang a worker (no backtracking, no ReDoS).
``null`` propagates through the transforming functions, like SQL ``NULL`` does.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from .errors import ExprEvalError
from .values import is_array, is_nan, js_string, strict_eq, to_number

__all__ = [
    "contains",
    "ends_with",
    "left",
    "length",
    "lower",
    "mid",
    "regex_match",
    "right",
    "starts_with",
    "trim",
    "upper",
]

#: What ``trim`` strips at both ends (the same set in SQL, so both agree).
TRIM_CHARS = " \t\r\n"
MAX_REGEX_LENGTH = 1_000


def _text(value: Any) -> str | None:
    return None if value is None else js_string(value)


def lower(value: Any = None) -> str | None:
    text = _text(value)
    return None if text is None else text.lower()


def upper(value: Any = None) -> str | None:
    text = _text(value)
    return None if text is None else text.upper()


def trim(value: Any = None) -> str | None:
    text = _text(value)
    return None if text is None else text.strip(TRIM_CHARS)


def length(value: Any = None) -> int:
    """Characters of a text, items of a list; ``null`` has length 0."""
    if value is None:
        return 0
    if type(value) is str or is_array(value) or type(value) is dict:
        return len(value)
    return len(js_string(value))


def _count(value: Any) -> int:
    number = to_number(value)
    if is_nan(number):
        return 0
    try:
        return max(int(number), 0)
    except (OverflowError, ValueError):
        return 0 if number < 0 else 2**31


def left(value: Any = None, count: Any = 1) -> str | None:
    text = _text(value)
    return None if text is None else text[: _count(count)]


def right(value: Any = None, count: Any = 1) -> str | None:
    text = _text(value)
    if text is None:
        return None
    n = _count(count)
    return text[len(text) - n :] if n else ""


def mid(value: Any = None, start: Any = 1, count: Any = 0) -> str | None:
    """Excel MID: ``count`` characters from the 1-based position ``start``."""
    text = _text(value)
    if text is None:
        return None
    first = max(_count(start), 1) - 1
    return text[first : first + _count(count)]


def contains(haystack: Any = None, needle: Any = None) -> bool:
    """Substring test on text (case-sensitive), membership test on lists; ``null`` contains nothing."""
    if haystack is None:
        return False
    if is_array(haystack):
        return any(strict_eq(item, needle) for item in haystack)
    return js_string(needle) in js_string(haystack)


def starts_with(text: Any = None, prefix: Any = None) -> bool:
    if text is None or prefix is None:
        return False
    return js_string(text).startswith(js_string(prefix))


def ends_with(text: Any = None, suffix: Any = None) -> bool:
    if text is None or suffix is None:
        return False
    return js_string(text).endswith(js_string(suffix))


@functools.lru_cache(maxsize=256)
def _regex(pattern: str, ignore_case: bool) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.max_mem = 8 << 20
    try:
        return re2.compile(pattern, options)
    except Exception as exc:  # re2 raises its own error type; any failure is the pattern's fault
        raise ExprEvalError(
            f"`regex_match` pattern {pattern!r} is not a valid regular expression: {exc}"
        ) from None


def regex_match(
    text: Any = None, pattern: Any = None, flags: Any = "", *, max_length: int = MAX_REGEX_LENGTH
) -> bool:
    """True when ``pattern`` (RE2 syntax) matches anywhere in ``text``; flag ``"i"`` ignores case."""
    if text is None or pattern is None:
        return False
    if type(pattern) is not str:
        raise ExprEvalError("`regex_match` needs the pattern as text")
    if len(pattern) > max_length:
        raise ExprEvalError(f"`regex_match` patterns are limited to {max_length} characters")
    flag_text = "" if flags is None else js_string(flags)
    if set(flag_text) - {"i"}:
        raise ExprEvalError(f'`regex_match` knows only the flag "i"; got {flag_text!r}')
    return _regex(pattern, "i" in flag_text).search(js_string(text)) is not None
