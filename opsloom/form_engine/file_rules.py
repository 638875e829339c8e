"""Pure rules for uploaded files: a safe display name, the real content type, the download headers.

Pure: no Flask, no session, no disk. The storage service (``files.py``) asks these
questions; keeping them here lets them be tested on plain strings and bytes.

Why sniff: the name and the content type a client sends are its word, not a fact. For
the raster images browsers render (PNG, JPEG, GIF, WebP) the first bytes say what the
file really is, so an executable renamed ``photo.png`` is refused rather than stored as
an image and later shown inline. Other types are taken from the name (``mimetypes``
with Python's built-in table, so every machine answers the same), never from the
client's ``Content-Type``.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import unicodedata
from urllib.parse import quote

__all__ = [
    "HEAD_BYTES",
    "INLINE_TYPES",
    "content_disposition",
    "content_type_for",
    "safe_filename",
    "sniff_image",
    "type_from_name",
]

#: bytes of the upload's beginning that sniffing needs
HEAD_BYTES = 16
#: types that are sniffed from the content, and the only ones a download shows inline
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: the longest stored name (``stored_files.name``)
MAX_NAME = 255
#: common business formats missing from Python's built-in table
_EXTRA_TYPES = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".md": "text/markdown",
}
_UNKNOWN = "application/octet-stream"
_SPACES = re.compile(r"\s+")
# RFC 5987 attr-char beyond what ``quote`` always keeps (letters, digits, "_.-~")
_ATTR_SAFE = "!#$&+^`|"


def sniff_image(head: bytes) -> str | None:
    """The image type the first bytes prove (PNG, JPEG, GIF, WebP), or ``None``."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@functools.cache
def _types() -> mimetypes.MimeTypes:
    # built lazily (nothing at import); MimeTypes() starts from Python's own table, not /etc/mime.types
    table = mimetypes.MimeTypes()
    for extension, content_type in _EXTRA_TYPES.items():
        table.add_type(content_type, extension)
    return table


def type_from_name(name: str) -> str:
    """The content type the name's extension suggests (``application/octet-stream`` when none)."""
    guessed, encoding = _types().guess_type(name, strict=False)
    if encoding is not None:
        # "report.csv.gz" is a gzip file, not a CSV one
        return {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}.get(
            encoding, _UNKNOWN
        )
    return guessed or _UNKNOWN


def content_type_for(name: str, head: bytes) -> tuple[str, str | None]:
    """The upload's real content type and, when its content contradicts its name, why it is refused.

    :param name: the sanitised file name.
    :param head: the first ``HEAD_BYTES`` bytes of the content.
    :returns: ``(content_type, problem)``; ``problem`` is ``None`` for a consistent file.
    """
    sniffed = sniff_image(head)
    if sniffed is not None:
        # a JPEG named .png is still an image of a kind we know: trust the bytes
        return sniffed, None
    named = type_from_name(name)
    if named in INLINE_TYPES:
        kind = named.split("/", 1)[1].upper()
        return named, f"{name} is not a {kind} image: its content does not match its name"
    return named, None


def safe_filename(raw: str | None, default: str = "file") -> str:
    """A display name without folders or invisible characters; unicode kept (``合同.pdf``).

    The name is only shown and offered on download (the bytes are stored by hash), but a
    name with ``../``, control characters or a right-to-left override (``exe.txt`` that
    reads ``txt.exe``) would mislead whoever downloads it.
    """
    name = unicodedata.normalize("NFC", raw or "")
    # browsers on Windows send "C:\\Users\\me\\a.pdf"; keep the last segment whichever the separator
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    name = _SPACES.sub(" ", name).strip().rstrip(".").strip()
    if not name or name in {".", ".."}:
        return default
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= 16:
            name = stem[: MAX_NAME - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_NAME].rstrip()
    return name


def _ascii_fallback(name: str) -> str:
    """The name for clients that ignore ``filename*``: ASCII, no quotes or backslashes."""
    decomposed = unicodedata.normalize("NFKD", name)
    chars = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        chars.append(char if " " <= char <= "~" and char not in '"\\' else "_")
    return "".join(chars) or "download"


def content_disposition(name: str, *, inline: bool) -> str:
    """The ``Content-Disposition`` value: an ASCII ``filename`` and the exact RFC 5987 ``filename*``."""
    kind = "inline" if inline else "attachment"
    encoded = quote(name, safe=_ATTR_SAFE)
    return f"{kind}; filename=\"{_ascii_fallback(name)}\"; filename*=UTF-8''{encoded}"
