"""Masking: the text shown instead of a value the viewer may not read in full.

A field's ``mask`` (``"phone"``, or ``{"style": "custom", "keep_start": 2, ...}``) decides
how much of the value a viewer without the unmask permission sees. Pure code: no Flask,
no database.

``mask_text`` never raises. A mask sits between a secret and a viewer, so a surprising
input (an unknown style, a malformed custom mask, text of an odd shape) must still come
out hidden; an exception would at best fail the page and at worst carry the value into
an error report. Whatever goes wrong falls back to ``"******"``.

The rules, style by style:

``phone``
    A mainland mobile (11 digits) keeps the first 3 and last 4 digits (``138****5678``);
    an E.164 ``+86`` mobile masks the national part the same way (``+86138****5678``);
    anything else keeps the first 3 and last 2 characters.
``email``
    The local part keeps its first and last character with a fixed ``***`` between
    (``a***g@example.com``), or only its first when it has 1-2 characters (``a***@...``);
    the domain stays readable, since it tells the viewer which company, not who.
``id_number``
    An 18-character Chinese resident ID keeps the first 6 (the region) and last 4;
    other lengths keep the first 2 and last 2.
``name``
    Every word keeps its first character. A word of Han (or other unspaced) script hides
    each further character with one ``*`` (``张三丰`` -> ``张**``), as Chinese software
    does; a word of a spaced script hides the rest with a fixed ``***`` whatever its
    length (``Alice Wong`` -> ``A*** W***``), so the mask does not give the word lengths
    away. A single-character name is hidden completely (``张`` -> ``*``).
``custom``
    ``{"style": "custom", "keep_start": int, "keep_end": int, "char": "*"}``: keep that
    many characters at each end and replace each one between with ``char``.
``full``
    Always ``******``: a fixed length, so not even the length leaks.

Whatever the style keeps, at least a third of the characters (and at least one) is
hidden: for short text the kept ends shrink (the longer end first), so a ``keep_start``
of 3 cannot print a 3-character value in clear. The e-mail style is the exception: its
fixed ``***`` already hides how much was masked. Empty text stays empty.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["FULL_MASK", "MASK_STYLES", "mask_text"]

#: the known style names; a field's ``mask`` is one of these or a dict whose ``style`` is
MASK_STYLES: frozenset[str] = frozenset({"phone", "email", "id_number", "name", "custom", "full"})

#: what ``full`` (and every failure) shows: fixed, so the length of the value does not leak
FULL_MASK = "******"

_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_WORDS = re.compile(r"(\s+)")


def mask_text(text: str, style: str | Mapping[str, Any]) -> str:
    """``text`` as a viewer without the unmask permission sees it under ``style``.

    ``style`` is a name from ``MASK_STYLES`` or a dict with a ``style`` key (the form a
    field's ``mask`` property takes; ``custom`` needs the dict for its parameters). An
    unknown style hides everything. Never raises.
    """
    try:
        if text is None:
            return ""
        if not isinstance(text, str):
            text = str(text)
        if text == "":
            return ""
        name, params = _style(style)
        masker = _MASKERS.get(name)
        if masker is None:
            return FULL_MASK
        return masker(text, params)
    except Exception:  # a mask must never be the thing that leaks, not even through an error
        return FULL_MASK


def _style(style: str | Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    if isinstance(style, str):
        return style, {}
    name = style.get("style")
    return (name if isinstance(name, str) else "full"), style


def _keep(text: str, start: int, end: int, char: str = "*") -> str:
    """Keep ``start`` and ``end`` characters, one ``char`` per hidden character, hiding at least a third."""
    length = len(text)
    allowed = length - max(1, -(-length // 3))  # kept characters at most: all but ceil(len / 3)
    start, end = max(0, start), max(0, end)
    while start + end > allowed:
        if end >= start and end > 0:
            end -= 1
        else:
            start -= 1
    return text[:start] + char * (length - start - end) + (text[length - end :] if end else "")


def _phone(text: str, _params: Mapping[str, Any]) -> str:
    if _CN_MOBILE.fullmatch(text):
        return _keep(text, 3, 4)
    if text.startswith("+86") and _CN_MOBILE.fullmatch(text[3:]):
        return "+86" + _keep(text[3:], 3, 4)
    return _keep(text, 3, 2)


def _email(text: str, _params: Mapping[str, Any]) -> str:
    local, at, domain = text.rpartition("@")
    if not at:  # not an address at all: mask it like a local part
        local, domain = text, ""
    if not local:
        masked = "***"
    elif len(local) <= 2:
        masked = local[0] + "***"
    else:
        masked = local[0] + "***" + local[-1]
    return masked + ("@" + domain if at else "")


def _id_number(text: str, _params: Mapping[str, Any]) -> str:
    if len(text) == 18:
        return _keep(text, 6, 4)
    return _keep(text, 2, 2)


def _name(text: str, _params: Mapping[str, Any]) -> str:
    parts = _WORDS.split(text)
    words = [part for part in parts if part and not part.isspace()]
    if len(words) == 1 and len(words[0]) == 1:
        return "*"
    out = []
    for part in parts:
        if not part or part.isspace():
            out.append(part)
        elif _unspaced(part):
            out.append(part[0] + "*" * (len(part) - 1))
        else:
            out.append(part[0] + "***")
    return "".join(out)


def _unspaced(word: str) -> bool:
    """Whether ``word`` is written in a script without spaces between words (Han, kana, Hangul)."""
    return any(
        "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff" for ch in word
    )


def _custom(text: str, params: Mapping[str, Any]) -> str:
    char = params.get("char", "*")
    if not isinstance(char, str) or len(char) != 1 or char.isspace():
        char = "*"
    return _keep(text, _count(params.get("keep_start")), _count(params.get("keep_end")), char)


def _count(value: Any) -> int:
    """A keep count from a mask definition; anything but a non-negative int counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, min(value, 1000))


def _full(_text: str, _params: Mapping[str, Any]) -> str:
    return FULL_MASK


_MASKERS = {
    "phone": _phone,
    "email": _email,
    "id_number": _id_number,
    "name": _name,
    "custom": _custom,
    "full": _full,
}
