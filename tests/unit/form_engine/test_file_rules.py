"""Pure upload rules: safe names, the real content type, the download header."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from opsloom.form_engine import file_rules
from opsloom.form_engine.file_rules import content_disposition, content_type_for, safe_filename, sniff_image

PNG = b"\x89PNG\r\n\x1a\n\x00\x00"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"GIF87a\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"MZ\x90\x00", None),
        (b"", None),
    ],
)
def test_sniffing_knows_the_four_web_image_formats(head: bytes, expected: str | None) -> None:
    assert sniff_image(head) == expected


def test_an_image_name_needs_image_bytes() -> None:
    assert content_type_for("cat.png", b"MZ\x90\x00") == (
        "image/png",
        "cat.png is not a PNG image: its content does not match its name",
    )
    assert content_type_for("cat.jpg", PNG) == ("image/png", None)
    assert content_type_for("scan", PNG) == ("image/png", None)


def test_other_types_come_from_the_name_only() -> None:
    assert content_type_for("a.pdf", b"MZ") == ("application/pdf", None)
    assert content_type_for("a.docx", b"PK")[0].endswith("wordprocessingml.document")
    assert content_type_for("a.webp", b"nope")[1] is not None  # webp is sniffable, so the bytes must agree
    assert content_type_for("data.csv.gz", b"\x1f\x8b") == ("application/gzip", None)
    assert content_type_for("README", b"hello") == ("application/octet-stream", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("合同.pdf", "合同.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\报告.txt", "报告.txt"),
        ("invoice\u202etxt.exe", "invoicetxt.exe"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("  many   spaces .txt  ", "many spaces .txt"),
        ("trailing...", "trailing"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("e\u0301.txt", "\u00e9.txt"),  # NFC
    ],
)
def test_safe_filenames(raw: str | None, expected: str) -> None:
    assert safe_filename(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = safe_filename("长" * 300 + ".xlsx")
    assert len(name) == 255
    assert name.endswith("长.xlsx")
    assert len(safe_filename("x" * 400)) == 255


def test_content_disposition_always_carries_the_exact_name() -> None:
    assert content_disposition("合同.pdf", inline=False) == (
        "attachment; filename=\"__.pdf\"; filename*=UTF-8''%E5%90%88%E5%90%8C.pdf"
    )
    assert content_disposition('Café "final".png', inline=True) == (
        "inline; filename=\"Cafe _final_.png\"; filename*=UTF-8''Caf%C3%A9%20%22final%22.png"
    )


def test_the_rules_are_pure() -> None:
    source = Path(file_rules.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "functools", "mimetypes", "re", "unicodedata", "urllib"}
