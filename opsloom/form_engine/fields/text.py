"""Text field types: text, textarea, rich_text, email, phone and url.

Also the small helpers every built-in family shares (``describe_value``, ``cell_text``,
``localized``, ``int_option``): they live here, in the first family, so the other
modules depend on one sibling instead of repeating them.

Pure code: no Flask, no database I/O (SQLAlchemy only for column types). User patterns
are compiled with RE2 (``re2``), whose matching time is linear, so a field definition
cannot hang a request with a catastrophic regular expression.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import nh3
import re2
from sqlalchemy import String, Text

from .base import FieldType, FieldValueError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from sqlalchemy.types import TypeEngine

    from .base import FieldContext, SchemaContext, TypeChange

__all__ = [
    "FIELD_TYPES",
    "EmailType",
    "PhoneType",
    "RichTextType",
    "StringType",
    "TextType",
    "TextareaType",
    "UrlType",
    "cell_text",
    "compile_pattern",
    "describe_value",
    "int_option",
    "localized",
    "normalize_phone",
    "sanitize_html",
]

# ---------------------------------------------------------------------- shared helpers


def describe_value(value: Any) -> str:
    """A short description of a rejected value for an error message (``'abc'``, ``a list``).

    Texts are quoted and cut at 40 characters: enough to recognise a typo, not a way to
    echo a pasted document back.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        try:
            return f"the number {value}"
        except ValueError:  # an int beyond Python's 4300-digit printing limit
            return "a number with thousands of digits"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return repr(shown)
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: readers such as openpyxl hand over numbers and dates, not strings.

    An integral float (``13812345678.0``, how Excel stores a phone number) loses its ``.0``.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


def localized(value: Any, locale: str, fallback: str = "") -> str:
    """A text that may be given per locale (``{"en": "Gold", "zh": "金卡"}``) in ``locale``.

    Tries the exact locale, its language (``zh`` for ``zh-CN``), English, then any.
    """
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not value:
        return fallback
    for key in (locale, locale.split("-")[0].split("_")[0], "en"):
        text = value.get(key)
        if isinstance(text, str):
            return text
    first = next((text for text in value.values() if isinstance(text, str)), None)
    return fallback if first is None else first


def int_option(field: Mapping[str, Any], key: str, default: int | None) -> int | None:
    """An integer property of ``field``, or ``default`` when absent or not an integer (``True`` is not)."""
    value = field.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


# ---------------------------------------------------------------------- text and textarea

_LINE_BREAKS = re.compile(r"\r\n?")
# Unicode's control (Cc: U+0000-001F, U+007F-009F) and surrogate (Cs) characters
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled with RE2 (cached).

    :raises re2.error: not a valid RE2 expression (look-arounds and back-references are not).
    """
    options = re2.Options()
    options.log_errors = False  # a bad pattern is reported to the definition's author, not to stderr
    return re2.compile(pattern, options=options)


def _re2_message(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


class StringType(FieldType):
    """A text value in one column: type check, control characters, trimming, length.

    Subclasses set the limits and override ``normalize`` for their format (an e-mail
    address, a phone number, a URL). A length option exists only where ``options_schema``
    lists ``max_length`` / ``min_length``; otherwise ``default_max_length`` is fixed.
    """

    default_max_length: ClassVar[int] = 200
    multiline: ClassVar[bool] = False
    filter_operators = ("==", "!=", "contains", "starts_with", "ends_with", "in", "missing")
    searchable = True
    expr_type = "text"

    def max_length(self, field: Mapping[str, Any]) -> int:
        """The field's ``max_length`` when the type has that option and it is in range, else the default."""
        option = self.options_schema.get("max_length")
        value = int_option(field, "max_length", None)
        if option is None or value is None or not 1 <= value <= option["maximum"]:
            return self.default_max_length
        return value

    def min_length(self, field: Mapping[str, Any]) -> int | None:
        if "min_length" not in self.options_schema:
            return None
        return int_option(field, "min_length", None)

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        low, high = self.min_length(field), self.max_length(field)
        if low is not None and low > high:
            yield "/min_length", f"is {low}, more than max_length ({high})"

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return String(self.max_length(field))

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        before, after = self.max_length(old), self.max_length(new)
        if after > before:
            return "widen"
        return "narrow" if after < before else "same"

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["string", "null"], "maxLength": self.max_length(field)}
        low = self.min_length(field)
        if low:
            schema["minLength"] = low
        return schema

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise FieldValueError(f"expects text; got {describe_value(value)}")
        text = self.clean(value)
        if not text:
            return None
        text = self.normalize(text, field, ctx)
        self.check_length(text, field)
        return text

    def coercer(self, field: Mapping[str, Any]) -> Callable[[Any, FieldContext], Any]:
        own = type(self)
        if own.coerce is not StringType.coerce or own.check_length is not StringType.check_length:
            return super().coercer(field)
        high, low = self.max_length(field), self.min_length(field)
        clean, normalize = self.clean, self.normalize

        def coerce(value: Any, ctx: FieldContext) -> Any:
            if value is None:
                return None
            if not isinstance(value, str):
                raise FieldValueError(f"expects text; got {describe_value(value)}")
            text = clean(value)
            if not text:
                return None
            text = normalize(text, field, ctx)
            if len(text) > high or (low is not None and len(text) < low):
                self.check_length(text, field)  # raises with the message
            return text

        return coerce

    def clean(self, value: str) -> str:
        """``value`` trimmed, with Windows line breaks unified; control characters are refused.

        A control character is invisible in the form yet breaks exports and comparisons,
        so it is an error rather than something to drop silently.
        """
        text = value.strip()
        if self.multiline:
            text = _LINE_BREAKS.sub("\n", text)
            found = _CONTROL_MULTILINE.search(text)
        else:
            found = _CONTROL.search(text)
        if found is not None:
            char = found.group()
            if char in "\n\r":
                raise FieldValueError("contains a line break; this field takes a single line of text")
            raise FieldValueError(f"contains a control character (U+{ord(char):04X}); remove it")
        return text

    def normalize(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> str:
        """The trimmed, non-empty ``text`` in the form stored; raises ``FieldValueError`` when it is not one."""
        return text

    def check_length(self, text: str, field: Mapping[str, Any]) -> None:
        length, high, low = len(text), self.max_length(field), self.min_length(field)
        if length > high:
            raise FieldValueError(f"is {length} characters long; at most {high} are allowed")
        if low is not None and length < low:
            noun = "character" if length == 1 else "characters"
            raise FieldValueError(f"is {length} {noun} long; at least {low} are needed")

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        return cell_text(text).strip() or None


_LOCALIZED_TEXT = {
    "anyOf": [
        {"type": "string", "minLength": 1, "maxLength": 200},
        {"type": "object", "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 200}},
    ]
}


class TextType(StringType):
    """One line of text, optionally constrained by a pattern (RE2, matched against the whole value).

    The record schema leaves the pattern out: JSON Schema validators run patterns with
    backtracking engines (Python ``re``, JavaScript), where RE2's linear-time promise is
    lost. ``coerce`` enforces it.
    """

    name = "text"
    label = {"en": "Text", "zh": "单行文本"}
    widget = "input"
    masks = ("name", "id_number", "custom", "full")
    options_schema = {
        "max_length": {"type": "integer", "minimum": 1, "maximum": 10000},
        "min_length": {"type": "integer", "minimum": 0, "maximum": 10000},
        "pattern": {"type": "string", "minLength": 1, "maxLength": 1000},
        # shown instead of the generic message when the pattern does not match
        "pattern_message": _LOCALIZED_TEXT,
    }

    def check(self, field: Mapping[str, Any], ctx: SchemaContext) -> Iterable[tuple[str, str]]:
        yield from super().check(field, ctx)
        pattern = field.get("pattern")
        if isinstance(pattern, str):
            try:
                compile_pattern(pattern)
            except re2.error as exc:
                yield "/pattern", f"is not a valid regular expression (RE2 syntax): {_re2_message(exc)}"

    def normalize(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> str:
        pattern = field.get("pattern")
        if isinstance(pattern, str) and pattern:
            try:
                compiled = compile_pattern(pattern)
            except re2.error:
                raise FieldValueError("cannot be checked: the field's pattern is invalid") from None
            if compiled.fullmatch(text) is None:
                message = localized(field.get("pattern_message"), ctx.locale)
                raise FieldValueError(message or "does not have the expected form")
        return text


class TextareaType(StringType):
    """Several lines of text: line breaks and tabs are kept, Windows line breaks become ``\\n``."""

    name = "textarea"
    label = {"en": "Long text", "zh": "多行文本"}
    widget = "textarea"
    default_max_length = 5000
    multiline = True
    filter_operators = ("==", "!=", "contains", "missing")
    masks = ("custom", "full")
    options_schema = {
        "max_length": {"type": "integer", "minimum": 1, "maximum": 100000},
        "min_length": {"type": "integer", "minimum": 0, "maximum": 100000},
    }

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Text()

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        return "same"  # TEXT has no length; a smaller max_length only affects new input


# ---------------------------------------------------------------------- rich text

_ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "b", "strong", "i", "em", "u", "s", "a", "ul", "ol", "li", "blockquote"),
        *("code", "pre", "h1", "h2", "h3", "h4", "span", "img"),
        *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td"),
    }
)
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}
# mailto/tel are fine in a link; an image source must be a web address (no data: payloads)
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_BLOCK_END = re.compile(
    r"<(?:br|/p|/li|/h[1-4]|/blockquote|/pre|/tr|/td|/th|/caption)\b[^>]*>", re.IGNORECASE
)
_HTML_TAG = re.compile(r"<[a-zA-Z/!]")
# an image whose source the sanitiser removed (data:, javascript:) is an empty box: drop it
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\bsrc=)[^>]*>")


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.lower().startswith(("http://", "https://")):
        return None
    return value


def sanitize_html(markup: str) -> str:
    """``markup`` reduced to the rich-text allow-list (nh3 / ammonia).

    Scripts, styles, event handlers, ``javascript:`` and ``data:`` URLs and relative
    links are removed (a relative link would point into this application, where a
    crafted one could trigger an action); links get ``rel="noopener noreferrer"``.
    """
    cleaned = nh3.clean(
        markup,
        tags=set(_ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in _ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_attribute_filter,
        url_schemes=set(_URL_SCHEMES),
        url_relative="deny",
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    return _IMG_WITHOUT_SRC.sub("", cleaned)


def _html_to_text(markup: str) -> str:
    spaced = _BLOCK_END.sub(" ", markup)  # keep words of adjacent paragraphs apart
    plain = html.unescape(nh3.clean(spaced, tags=set()))
    return " ".join(plain.split())


class RichTextType(StringType):
    """Formatted text stored as sanitised HTML; ``max_length`` counts the sanitised HTML.

    Sanitising on the way in means every reader (page, API, export) gets safe markup
    without remembering to clean it. HTML whose text is blank (``<p><br></p>``, what an
    editor sends for an empty box) is empty, so ``required`` works.
    """

    name = "rich_text"
    label = {"en": "Rich text", "zh": "富文本"}
    widget = "richtext"
    default_max_length = 20000
    multiline = True
    filter_operators = ("contains", "missing")
    masks = ("full",)
    sortable = False
    options_schema = {"max_length": {"type": "integer", "minimum": 1, "maximum": 1000000}}

    def column_type(self, field: Mapping[str, Any]) -> TypeEngine[Any] | None:
        return Text()

    def type_change(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> TypeChange:
        return "same"

    def normalize(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return sanitize_html(text).strip()

    def coerce(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        markup = super().coerce(value, field, ctx)
        if markup is None or (not _html_to_text(markup) and "<img" not in markup):
            return None
        return markup

    def check_length(self, text: str, field: Mapping[str, Any]) -> None:
        length, high = len(text), self.max_length(field)
        if length > high:
            raise FieldValueError(f"is {length} characters long as HTML; at most {high} are allowed")

    def parse_text(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> Any:
        """A cell of plain text (no tags) becomes escaped HTML with its line breaks kept."""
        raw = cell_text(text).strip()
        if not raw:
            return None
        if _HTML_TAG.search(raw):
            return raw
        return "<br>".join(html.escape(line, quote=False) for line in _LINE_BREAKS.sub("\n", raw).split("\n"))

    def to_text(self, value: Any, field: Mapping[str, Any], ctx: FieldContext) -> str:
        return "" if value is None else _html_to_text(str(value))


# ---------------------------------------------------------------------- e-mail

_EMAIL_CHAR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a1-\uffff-]"
_DOMAIN_CHAR = r"[A-Za-z0-9\u00a1-\uffff]"
_EMAIL = re.compile(
    rf"(?P<local>{_EMAIL_CHAR}+(?:\.{_EMAIL_CHAR}+)*)"
    rf"@(?P<domain>(?:{_DOMAIN_CHAR}(?:[A-Za-z0-9\u00a1-\uffff-]{{0,61}}{_DOMAIN_CHAR})?\.)+"
    r"(?:[A-Za-z\u00a1-\uffff]{2,63}|xn--[A-Za-z0-9-]{1,59}))"
)


class EmailType(StringType):
    """An e-mail address of the practical shape ``local@domain.tld``; the domain is stored lower-case.

    Not RFC 5322 in full (no quoted local parts, comments or IP literals): those are
    valid, almost never typed on purpose, and refused by many mail systems.
    """

    name = "email"
    label = {"en": "Email", "zh": "邮箱"}
    widget = "input"
    default_max_length = 254
    filter_operators = ("==", "!=", "contains", "ends_with", "in", "missing")
    masks = ("email", "custom", "full")

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().json_schema(field), "format": "email"}

    def normalize(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> str:
        match = _EMAIL.fullmatch(text) if len(text) <= self.default_max_length else None
        if match is None or len(match["local"]) > 64:
            # the value is not echoed: it is personal data and the user can see what they typed
            raise FieldValueError("is not an email address like name@example.com")
        return f"{match['local']}@{match['domain'].lower()}"


# ---------------------------------------------------------------------- phone

_PHONE_SEPARATORS = re.compile(r"[\s\-.()\u2010-\u2015\u00b7]")
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_DIGITS = re.compile(r"[0-9]+")


def normalize_phone(text: str, *, region: str = "any") -> str | None:
    """The canonical form of a phone number, or ``None`` when ``text`` is not one.

    Spaces, dashes, dots and parentheses go (full-width forms too). A mainland China
    mobile, also written ``+86 138 1234 5678``, ``0086...`` or ``86...`` (13 digits),
    becomes its 11 digits; another international number becomes E.164 (``+`` and 7-15
    digits; a ``00`` prefix counts as ``+``). With ``region="any"`` a number of 7-15 digits
    without ``+`` (a landline, leading 0 allowed) is kept as those digits; with ``"cn"``
    it is refused. The default is ``"any"`` because the dedup and merge tools compare
    numbers whatever field they come from.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        return None
    compact = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        digits = compact[1:]
        if not _DIGITS.fullmatch(digits):
            return None
        if digits.startswith("86") and _CN_MOBILE.fullmatch(digits[2:]):
            return digits[2:]
        return compact if _E164.fullmatch(compact) else None
    if not _DIGITS.fullmatch(compact):
        return None
    if _CN_MOBILE.fullmatch(compact):
        return compact
    if len(compact) == 13 and compact.startswith("86") and _CN_MOBILE.fullmatch(compact[2:]):
        return compact[2:]
    if region == "any" and 7 <= len(compact) <= 15:
        return compact
    return None


class PhoneType(StringType):
    """A phone number stored in canonical form (see ``normalize_phone``), so equal numbers compare equal.

    ``region`` ``"cn"`` (the default) takes mainland mobiles and international numbers
    written with ``+``; ``"any"`` also takes landlines.
    """

    name = "phone"
    label = {"en": "Phone", "zh": "手机号"}
    widget = "input"
    default_max_length = 32
    filter_operators = ("==", "!=", "contains", "starts_with", "ends_with", "in", "missing")
    masks = ("phone", "custom", "full")
    options_schema = {"region": {"enum": ["cn", "any"]}}

    def normalize(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> str:
        region = "any" if field.get("region") == "any" else "cn"
        number = normalize_phone(text, region=region)
        if number is None:
            if region == "cn":
                raise FieldValueError(
                    "is not a mainland China mobile number (11 digits starting with 1) "
                    "or an international number starting with +"
                )
            raise FieldValueError(
                "is not a phone number (7 to 15 digits, or an international number starting with +)"
            )
        return number

    def check_length(self, text: str, field: Mapping[str, Any]) -> None:
        """Nothing to do: a canonical number has at most 16 characters."""


# ---------------------------------------------------------------------- url


class UrlType(StringType):
    """A web address: ``http`` or ``https`` with a host, stored as typed (no scheme is guessed)."""

    name = "url"
    label = {"en": "Link", "zh": "链接"}
    widget = "input"
    default_max_length = 2000
    searchable = False
    filter_operators = ("==", "!=", "contains", "starts_with", "missing")
    masks = ("full",)

    def json_schema(self, field: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().json_schema(field), "format": "uri"}

    def normalize(self, text: str, field: Mapping[str, Any], ctx: FieldContext) -> str:
        problem = "is not a web address starting with http:// or https://"
        if any(char.isspace() for char in text):
            raise FieldValueError(f"{problem} (it contains a space)")
        try:
            parts = urlsplit(text)
            host, _port = parts.hostname, parts.port  # .port raises on a bad port
        except ValueError:
            raise FieldValueError(problem) from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise FieldValueError(problem)
        return text


FIELD_TYPES: tuple[FieldType, ...] = (
    TextType(),
    TextareaType(),
    RichTextType(),
    EmailType(),
    PhoneType(),
    UrlType(),
)
